defmodule FerricStore.Store.TableScan do
  @moduledoc false
  # SCAN over an ETS `set` table with Redis' guarantee: a full iteration returns every
  # key that was in the table from its start to its end, at least once, however much
  # the table grew or shrank in between (keys may come twice).
  #
  # Walking the table's slots in order (`:ets.slot/2`) does not give that: ETS hash
  # tables are linear hash tables, and a shrink merges the last slot into a lower one,
  # behind a cursor that already passed it (a SCAN while half the keys were deleted
  # missed half of those that stayed).
  #
  # The layout (erts/emulator/beam/erl_db_hash.c, the same since long before OTP 25): a
  # table has `nactive` slots, at least 256; with `m + 1` the smallest power of two that
  # is >= nactive, a key whose hash is `h` lives in slot `h &&& m`, or in
  # slot `h &&& (m >>> 1)` when that is not below `nactive`. So for the hash classes
  # `x = h &&& m` the table is a Redis dict of size m + 1 whose "bucket" x is found in
  # slot x or, unsplit, in slot x - (m + 1) / 2 together with class x - (m + 1) / 2.
  # The cursor walks the classes in Redis' reverse-binary order (dictScan), which stays
  # right when m doubles or halves between two calls.
  #
  # Each call fixes the table (`:ets.safe_fixtable/2`) while it reads, so no grow or
  # shrink moves a key between slots in the middle of one call; between calls they
  # may, and the cursor order covers that. `scan_test.exs` deletes and inserts most of
  # the table while a SCAN runs.

  import Bitwise

  @min_slots 256

  @doc """
  One SCAN step over `table` from cursor `v` (0 to start). Visits classes until `count`
  rows were seen or `10 * count` slots were read, as Redis does; `keep?` picks the rows
  to return. Returns `{next, rows}`, `next` 0 at the end.
  """
  @spec step(:ets.tid() | atom(), non_neg_integer(), pos_integer(), (tuple() -> boolean())) ::
          {non_neg_integer(), [tuple()]}
  def step(table, v, count, keep?) do
    :ets.safe_fixtable(table, true)

    try do
      nactive = slots(table)

      # A table with no more rows than `count` is read whole, as Redis reads a small
      # dict in one call.
      if :ets.info(table, :size) <= count do
        {0, walk_all(table, 0, nactive, keep?, [])}
      else
        m = mask(nactive)
        walk(table, v, m, nactive, count, count * 10, keep?, [], 0)
      end
    after
      :ets.safe_fixtable(table, false)
    end
  end

  defp walk(table, v, m, nactive, count, budget, keep?, acc, seen) do
    half = (m + 1) >>> 1
    x = v &&& m

    # Class x and, when the slot also holds it, the class that follows it in cursor
    # order (x + half, unsplit): read once, stepped over together.
    {slot, v} =
      cond do
        x < half and x + half >= nactive -> {x, next(next(v, m), m)}
        x < nactive -> {x, next(v, m)}
        true -> {x - half, next(v, m)}
      end

    rows = :ets.slot(table, slot)
    acc = keep(rows, keep?, acc)
    seen = seen + length(rows)
    budget = budget - 1

    if v == 0 or seen >= count or budget <= 0,
      do: {v, Enum.reverse(acc)},
      else: walk(table, v, m, nactive, count, budget, keep?, acc, seen)
  end

  defp walk_all(_table, slot, nactive, _keep?, acc) when slot >= nactive, do: Enum.reverse(acc)

  defp walk_all(table, slot, nactive, keep?, acc),
    do: walk_all(table, slot + 1, nactive, keep?, keep(:ets.slot(table, slot), keep?, acc))

  # `rows` that `keep?` picks, pushed onto `acc` (reversed at the end).
  defp keep(rows, keep?, acc),
    do: Enum.reduce(rows, acc, fn row, acc -> if keep?.(row), do: [row | acc], else: acc end)

  @doc """
  Redis' cursor increment: the next class after `v` in reverse-binary order over the
  bits of `m` (0 after the last). Bits of `v` above `m` (from a bigger table) are
  dropped, as Redis drops them.
  """
  @spec next(non_neg_integer(), non_neg_integer()) :: non_neg_integer()
  def next(v, m) do
    bits = bit_count(m)
    r = reverse(v &&& m, bits) + 1
    if r > m, do: 0, else: reverse(r, bits)
  end

  @doc "`m` for a table of `nactive` slots: `m + 1` is the smallest power of two >= nactive."
  @spec mask(pos_integer()) :: non_neg_integer()
  def mask(nactive), do: (1 <<< bit_count(nactive - 1)) - 1

  # The number of slots of a fixed table: the slot index that answers `$end_of_table`
  # (one past the last slot; a higher one raises). Found by doubling, then bisecting.
  @doc false
  def slots(table), do: grow_probe(table, @min_slots)

  defp grow_probe(table, i) do
    case probe(table, i) do
      :below -> grow_probe(table, i * 2)
      :at -> i
      :above -> bisect(table, div(i, 2), i)
    end
  end

  # The answer lies in (lo, hi): lo is below the end, hi past it.
  defp bisect(table, lo, hi) do
    mid = div(lo + hi, 2)

    case probe(table, mid) do
      :at -> mid
      :below -> bisect(table, mid, hi)
      :above -> bisect(table, lo, mid)
    end
  end

  defp probe(table, i) do
    case :ets.slot(table, i) do
      :"$end_of_table" -> :at
      _rows -> :below
    end
  rescue
    ArgumentError -> :above
  end

  defp bit_count(0), do: 0
  defp bit_count(n), do: 1 + bit_count(n >>> 1)

  defp reverse(x, bits), do: reverse(x, bits, 0)
  defp reverse(_x, 0, acc), do: acc
  defp reverse(x, bits, acc), do: reverse(x >>> 1, bits - 1, acc <<< 1 ||| (x &&& 1))
end
