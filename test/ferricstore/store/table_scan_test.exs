defmodule FerricStore.Store.TableScanTest do
  use ExUnit.Case, async: true

  alias FerricStore.Store.TableScan

  defp table,
    do: :ets.new(:scan, [:set, :public, read_concurrency: true, write_concurrency: true])

  test "next/2 is Redis' reverse-binary increment" do
    order = Stream.iterate(0, &TableScan.next(&1, 7)) |> Enum.take(9)
    assert order == [0, 4, 2, 6, 1, 5, 3, 7, 0]
    # Bits of a bigger table's cursor are dropped.
    assert TableScan.next(12, 7) == TableScan.next(4, 7)
    assert TableScan.mask(256) == 255
    assert TableScan.mask(257) == 511
    assert TableScan.mask(512) == 511
  end

  test "slots/1 finds the table's slot count" do
    t = table()
    assert TableScan.slots(t) == 256
    for i <- 1..5_000, do: :ets.insert(t, {i})
    n = TableScan.slots(t)
    assert :ets.slot(t, n) == :"$end_of_table"
    assert is_list(:ets.slot(t, n - 1))
    assert_raise ArgumentError, fn -> :ets.slot(t, n + 1) end
  end

  test "a stable table is walked exactly once" do
    t = table()
    for i <- 1..3_000, do: :ets.insert(t, {i})
    keys = full_scan(t, 17, fn _ -> :ok end)
    assert Enum.sort(keys) == Enum.to_list(1..3_000)
  end

  # Redis' guarantee: every key present for the whole iteration comes back; keys come
  # back at most as they were ever written. Writes between the steps grow and shrink
  # the table (from ~20k rows to ~1k and back), which moves keys between slots.
  for {name, plan} <- [
        shrink: [{:del, 1..18_000}],
        grow: [{:add, 30_001..60_000}],
        shrink_then_grow: [{:del, 1..18_000}, {:add, 30_001..70_000}],
        grow_then_shrink: [{:add, 30_001..70_000}, {:del, 30_001..70_000}, {:del, 1..15_000}]
      ] do
    test "keys present throughout come back when the table #{name}s between steps" do
      for count <- [1, 10, 100] do
        t = table()
        stay = 20_001..22_000
        for i <- Enum.concat(1..20_000, stay), do: :ets.insert(t, {i})
        steps = unquote(Macro.escape(plan))

        # One planned batch of writes after each of the first steps.
        {:ok, agent} = Agent.start_link(fn -> steps end)

        write = fn _step ->
          case Agent.get_and_update(agent, fn
                 [] -> {nil, []}
                 [w | rest] -> {w, rest}
               end) do
            {:del, range} -> for i <- range, do: :ets.delete(t, i)
            {:add, range} -> for i <- range, do: :ets.insert(t, {i})
            nil -> :ok
          end
        end

        got = MapSet.new(full_scan(t, count, write))
        missing = Enum.reject(stay, &MapSet.member?(got, &1))
        assert missing == [], "count #{count}: #{length(missing)} keys missing"
        assert Enum.all?(got, &(&1 in 1..70_000))
      end
    end
  end

  defp full_scan(t, count, between, v \\ 0, acc \\ [], step \\ 0) do
    {next, rows} = TableScan.step(t, v, count, fn _ -> true end)
    acc = acc ++ Enum.map(rows, &elem(&1, 0))
    between.(step)

    if next == 0, do: acc, else: full_scan(t, count, between, next, acc, step + 1)
  end
end
