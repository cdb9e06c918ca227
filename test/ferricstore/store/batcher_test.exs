defmodule FerricStore.Store.BatcherTest do
  # Group commit: concurrent writers share Raft entries, and keep sharing them round
  # after round instead of splitting into groups that alternate.
  use FerricStore.StoreCase, async: true

  @moduletag :tmp_dir

  test "20 writers in a loop share each Raft entry", %{name: name, opts: o} do
    batcher = FerricStore.Store.Batcher.name(name, 0)

    # All 20 in every round gives 100 entries; writers split in two alternating groups
    # gave 200-360 every time. A host busy with other tests can delay a writer for a
    # round or two, so the best of three tries counts.
    best =
      Enum.reduce_while(1..3, :infinity, fn try, best ->
        before = :sys.get_state(batcher).next_corr

        1..20
        |> Enum.map(fn w ->
          Task.async(fn ->
            for i <- 1..100, do: :ok = FerricStore.set("k#{w}", "#{try}:#{i}", o)
          end)
        end)
        |> Enum.each(&Task.await(&1, 60_000))

        entries = :sys.get_state(batcher).next_corr - before
        IO.puts("2000 writes from 20 writers in #{entries} Raft entries")
        assert {:ok, ["#{try}:100", "#{try}:100"]} == FerricStore.mget(["k1", "k20"], o)
        best = min(best, entries)
        if best <= 150, do: {:halt, best}, else: {:cont, best}
      end)

    assert best <= 150
  end

  test "writers that write once and go: one wait in vain, then rounds go out at once",
       %{name: name, opts: o} do
    batcher = FerricStore.Store.Batcher.name(name, 0)
    assert :sys.get_state(batcher).eager_rounds == 0

    # Five writers write once together and leave: after their round the batcher
    # expects them back, waits 1 ms in vain, and sends the next rounds at once.
    1..5
    |> Enum.map(fn i -> Task.async(fn -> :ok = FerricStore.set("once#{i}", "v", o) end) end)
    |> Enum.each(&Task.await/1)

    Process.sleep(20)
    eager = :sys.get_state(batcher).eager_rounds
    assert eager in 14..16

    :ok = FerricStore.set("later", "v", o)
    assert :sys.get_state(batcher).eager_rounds == eager - 1
    assert {:ok, "v"} = FerricStore.get("later", o)
  end
end
