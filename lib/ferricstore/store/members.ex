defmodule FerricStore.Store.Members do
  @moduledoc false
  # The members of collections (hashes, lists, sets, sorted sets) in a shard's ETS
  # tables, one row per member (docs/collections.md):
  #
  #   members (:ordered_set)  {{key, member}, value | nil, gen, file_id, offset, size}
  #
  # and, for sorted sets, the rank index (Store.Ranks): the members in score order,
  # written right after the members table. It is the only score-ordered view: walks in
  # score order page through it.
  #
  # member is the hash field, the list position (integer), the set member or the zset
  # member. value is the hash value / list element (nil when cold: read it from its
  # record), "" for a set member, the score for a zset member.
  #
  # This module owns: point lookups, ordered walks merged with a Batch's overlay,
  # publishing a committed entry's member writes, and rebuilding the rows at start-up.

  alias FerricStore.Bitcask
  alias FerricStore.Store.{Keydir, Ranks, Record}

  ## Lookups

  @doc "`{value_or_cold, gen}` of a member in ETS, or nil."
  def lookup(members, key, member), do: members |> row(key, member) |> from_row()

  @doc "The ETS row of a member, or nil."
  def row(members, key, member) do
    case :ets.lookup(members, {key, member}) do
      [row] -> row
      [] -> nil
    end
  end

  @doc "`lookup/3`'s answer for a row returned by `row/3`."
  def from_row({_, nil, gen, fid, off, size}), do: {{:cold, fid, off, size}, gen}
  def from_row({_, value, gen, _, _, _}), do: {value, gen}
  def from_row(nil), do: nil

  @doc "The bytes of a member value (reads a cold one from its data file)."
  def read(_files, value) when is_binary(value), do: {:ok, value}

  def read(files, {:cold, fid, off, size}) do
    case :ets.lookup(files, fid) do
      [{_, file}] -> Bitcask.pread_at(file, off, size)
      [] -> {:error, :eof}
    end
  end

  @doc "The order of scores in the index: -inf < finite < +inf (-0.0 sorts as 0.0)."
  def score_key(:neg_inf), do: {0, 0}
  def score_key(:inf), do: {2, 0}
  def score_key(f) when is_float(f), do: {1, f + 0.0}

  ## Ordered walks

  @doc """
  Walks the members of `key` in member order (`:asc` or `:desc`) from `start`
  (`:edge` or `{:at, member}`, inclusive), merged with a batch overlay `{overlay, dropped?}`
  (`{%{}, false}` for plain reads). Calls `fun.({member, value_or_cold}, acc)` which
  returns `{:cont, acc}` or `{:halt, acc}`.
  """
  def walk(members, key, start, dir, view, acc, fun) do
    {ov, dropped?} = view

    ov_items = for {m, {:m, v, _g, _i}} <- ov, after?(m, start, dir), do: {m, m, v}

    ets_k =
      if dropped?,
        do: :"$end_of_table",
        else: ets_start(members, {key, lo(start)}, start, dir, key)

    merge(ets_source(members, ets_k, dir, key), sort(ov_items, dir), ov, dir, acc, fun)
  end

  @doc """
  Like `walk/7` in score order, through the rank index (a page of members per NIF
  call); items are `{member, score}` and `start` is `:edge` or
  `{:at, {score_key, member}}`.
  """
  def walk_scores(ranks, key, start, dir, view, acc, fun) do
    {ov, dropped?} = view

    ov_items =
      for {m, {:m, s, _g, _i}} <- ov, o = {score_key(s), m}, after?(o, start, dir), do: {o, m, s}

    source =
      case start do
        _ when dropped? -> fn -> nil end
        :edge -> rank_source(ranks, key, :edge, dir)
        {:at, {sk, m}} -> rank_source(ranks, key, {:from, score_of_key(sk), m}, dir)
      end

    merge(source, sort(ov_items, dir), ov, dir, acc, fun)
  end

  # Sources: functions that return `{item, next_source}` or nil, items `{order, member,
  # value}` (or :gone for a row that vanished meanwhile).
  defp ets_source(tab, k, dir, key) do
    fn ->
      case k do
        :"$end_of_table" -> nil
        k -> {member_item(tab, k), ets_source(tab, step(tab, k, dir, key), dir, key)}
      end
    end
  end

  defp member_item(tab, {_key, m} = k) do
    case :ets.lookup(tab, k) do
      [{_, nil, _gen, fid, off, size}] -> {m, m, {:cold, fid, off, size}}
      [{_, v, _gen, _, _, _}] -> {m, m, v}
      [] -> :gone
    end
  end

  @page 256

  defp rank_source(ranks, key, from, dir) do
    fn ->
      case Ranks.page(ranks, key, from, dir == :desc, @page) do
        {[], _more?} -> nil
        {items, more?} -> from_page(items, more?, ranks, key, dir)
      end
    end
  end

  defp from_page([{m, s}], more?, ranks, key, dir) do
    next = if more?, do: rank_source(ranks, key, {:after, s, m}, dir), else: fn -> nil end
    {{{score_key(s), m}, m, s}, next}
  end

  defp from_page([{m, s} | rest], more?, ranks, key, dir),
    do: {{{score_key(s), m}, m, s}, fn -> from_page(rest, more?, ranks, key, dir) end}

  defp score_of_key({0, _}), do: :neg_inf
  defp score_of_key({2, _}), do: :inf
  defp score_of_key({1, f}), do: f

  defp after?(_o, :edge, _dir), do: true
  defp after?(o, {:at, s}, :asc), do: o >= s
  defp after?(o, {:at, s}, :desc), do: o <= s

  defp sort(items, :asc), do: Enum.sort(items)
  defp sort(items, :desc), do: Enum.sort(items, :desc)

  defp lo(:edge), do: -1.0e300
  defp lo({:at, m}), do: m

  # First ETS key of `key` at or after (asc) / before (desc) the start.
  defp ets_start(tab, _k, :edge, :asc, key), do: in_key(:ets.next(tab, {key, -1.0e300}), key)

  defp ets_start(tab, _k, :edge, :desc, key),
    do: in_key(:ets.prev(tab, {key <> <<0>>, -1.0e300}), key)

  defp ets_start(tab, k, {:at, _}, dir, key) do
    if :ets.member(tab, k),
      do: k,
      else: in_key(if(dir == :asc, do: :ets.next(tab, k), else: :ets.prev(tab, k)), key)
  end

  defp in_key({key, _} = k, key), do: k
  defp in_key(_other, _key), do: :"$end_of_table"

  defp step(tab, k, :asc, key), do: in_key(:ets.next(tab, k), key)
  defp step(tab, k, :desc, key), do: in_key(:ets.prev(tab, k), key)

  # The source's rows of members the overlay rewrote or deleted are skipped: the
  # overlay has their current state.
  defp merge(source, ov_items, ov, dir, acc, fun),
    do: merge_next(next(source, ov), ov_items, ov, dir, acc, fun)

  defp next(source, ov) do
    case source.() do
      nil -> nil
      {:gone, rest} -> next(rest, ov)
      {{_o, m, _v} = item, rest} -> if Map.has_key?(ov, m), do: next(rest, ov), else: {item, rest}
    end
  end

  defp merge_next(nil, [], _ov, _dir, acc, _fun), do: acc

  defp merge_next(e, ov_items, ov, dir, acc, fun) do
    if e == nil or (ov_items != [] and first?(hd(ov_items), elem(e, 0), dir)) do
      [{_o, m, v} | rest] = ov_items

      case fun.({m, v}, acc) do
        {:cont, acc} -> merge_next(e, rest, ov, dir, acc, fun)
        {:halt, acc} -> acc
      end
    else
      {{_o, m, v}, source} = e

      case fun.({m, v}, acc) do
        {:cont, acc} -> merge_next(next(source, ov), ov_items, ov, dir, acc, fun)
        {:halt, acc} -> acc
      end
    end
  end

  defp first?({o1, _, _}, {o2, _, _}, :asc), do: o1 < o2
  defp first?({o1, _, _}, {o2, _, _}, :desc), do: o1 > o2

  ## Commit (called by the machine after the entry's records are appended)

  @doc """
  Publishes the member writes of a committed batch into the shard's tables and the rank
  index (Store.Ranks). Adds the bytes the writes made dead to the `dead` tally
  (`%{fid => bytes}`, see Keydir.add_dead/3) and returns it.
  """
  def publish(batch, locations, fid, tables, dead) do
    %{meta: meta} = tables

    if batch.flushed or batch.dropped != %{} or batch.members != %{} do
      # Odd while ETS and the rank index may disagree (see ZSets.zrank/4).
      :ets.update_counter(meta, :member_writes, 1, {:member_writes, 0})
      dead = publish_members(batch, locations, fid, tables, Ranks.of(tables), dead)
      :ets.update_counter(meta, :member_writes, 1, {:member_writes, 0})
      dead
    else
      dead
    end
  end

  defp publish_members(batch, locations, fid, tables, ranks, dead) do
    %{members: members} = tables

    if batch.flushed do
      :ets.delete_all_objects(members)
      Ranks.clear(ranks)
    end

    dead =
      Enum.reduce(batch.dropped, dead, fn {key, _}, dead -> drop(tables, ranks, key, dead) end)

    {rank_ops, dead} =
      Enum.reduce(batch.members, {[], dead}, fn {key, ms}, acc ->
        Enum.reduce(ms, acc, fn {member, entry}, {ops, dead} ->
          k = {key, member}

          {ops, dead} =
            case old_row(batch, members, key, member) do
              {_, old, _gen, old_fid, _, size} ->
                dead = Keydir.add_dead(dead, old_fid, size)
                if score?(old), do: {[{:del, key, old, member} | ops], dead}, else: {ops, dead}

              nil ->
                {ops, dead}
            end

          case entry do
            :deleted ->
              :ets.delete(members, k)
              {ops, dead}

            {:m, value, gen, i} ->
              {off, size} = elem(locations, i)
              :ets.insert(members, {k, value, gen, fid, off, size})

              if score?(value),
                do: {[{:add, key, value, member} | ops], dead},
                else: {ops, dead}
          end
        end)
      end)

    Ranks.update(ranks, Enum.reverse(rank_ops))
    dead
  end

  # The row a member write replaces: the one the entry's command read, when it did
  # (`Batch.fetch_member/3`; a point lookup in this ordered_set costs several
  # microseconds on millions of rows).
  defp old_row(batch, members, key, member) do
    case batch.old_members do
      %{^key => %{^member => row}} -> row
      _ -> row(members, key, member)
    end
  end

  defp score?(value), do: is_float(value) or value in [:inf, :neg_inf]

  # Start-up: a record replaced or deleted by a later one is dead, as apply/3 counted it.
  defp count_dead(tables, fid, size),
    do: :ets.update_counter(tables.meta, {:dead, fid}, size, {{:dead, fid}, 0})

  # Removes every member row of `key` (O(N) in memory; on disk the header tombstone or
  # a new generation already hides them).
  defp drop(%{members: members}, ranks, key, dead) do
    pattern = {{key, :_}, :_, :_, :"$1", :_, :"$2"}

    dead =
      members
      |> :ets.select([{pattern, [], [{{:"$1", :"$2"}}]}])
      |> Enum.reduce(dead, fn {fid, size}, dead -> Keydir.add_dead(dead, fid, size) end)

    :ets.select_delete(members, [{{{key, :_}, :_, :_, :_, :_, :_}, [], [true]}])
    Ranks.drop_key(ranks, key)
    dead
  end

  ## Start-up

  @doc "Clears every member row (FLUSHDB marker)."
  def clear(tables) do
    :ets.delete_all_objects(tables.members)
    Ranks.clear(Ranks.of(tables))
  end

  @doc """
  Loads one header or member record found at start-up. Members of other generations
  than their header's are removed by `finish_load/1` once every file was read.
  """
  def load_entry({:header, type, key, meta}, {_dk, off, size, exp, _seq, flags}, fid, tables, now) do
    keydir = tables.keydir

    old_exp =
      case :ets.lookup(keydir, key) do
        [{_, _, _, e, old_fid, _, old_size}] ->
          count_dead(tables, old_fid, old_size)
          e

        [] ->
          0
      end

    if Bitcask.tombstone?(flags) or (exp != 0 and exp <= now) do
      :ets.delete(keydir, key)
      FerricStore.Store.Keydir.reindex_expiry(tables.expiry, key, old_exp, 0)
    else
      :ets.insert(keydir, {key, type, meta, exp, fid, off, size})
      FerricStore.Store.Keydir.reindex_expiry(tables.expiry, key, old_exp, exp)
    end
  end

  def load_entry({:member, type, key, gen, member, score}, entry, fid, tables, _now) do
    {_dk, off, size, _exp, _seq, flags} = entry
    k = {key, member}

    newer? =
      case :ets.lookup(tables.members, k) do
        [{_, _, g, _, _, _}] when g > gen ->
          true

        [{_, _, _, old_fid, _, old_size}] ->
          count_dead(tables, old_fid, old_size)
          false

        [] ->
          false
      end

    cond do
      # A member of a collection replaced since: dead already.
      newer? ->
        count_dead(tables, fid, size)

      Bitcask.tombstone?(flags) ->
        :ets.delete(tables.members, k)

      true ->
        value =
          case type do
            :zset -> score
            :set -> ""
            _ -> nil
          end

        :ets.insert(tables.members, {k, value, gen, fid, off, size})
    end
  end

  @doc """
  Drops members without a live header of their generation, then builds the rank index
  of the sorted sets, one set at a time in score order (appends leave its chunks full).
  """
  def finish_load(tables) do
    %{members: members, keydir: keydir} = tables
    ranks = Ranks.of(tables)
    Ranks.clear(ranks)

    # The members table is ordered by key: each set's members come together, and a set
    # is added to the index when the next key starts.
    {last, items} =
      :ets.foldl(
        fn {{key, member} = k, value, gen, fid, _, size}, {cur, items} = acc ->
          case :ets.lookup(keydir, key) do
            [{_, :zset, %{gen: ^gen}, _, _, _, _}] when key == cur ->
              {key, [{score_key(value), member} | items]}

            [{_, :zset, %{gen: ^gen}, _, _, _, _}] ->
              load_ranks(ranks, cur, items)
              {key, [{score_key(value), member}]}

            [{_, _type, %{gen: ^gen}, _, _, _, _}] ->
              acc

            _ ->
              :ets.delete(members, k)
              count_dead(tables, fid, size)
              acc
          end
        end,
        {nil, []},
        members
      )

    load_ranks(ranks, last, items)
  end

  defp load_ranks(_ranks, _key, []), do: :ok

  defp load_ranks(ranks, key, items) do
    ops = for {sk, m} <- Enum.sort(items), do: {:add, key, score_of_key(sk), m}
    Ranks.update(ranks, ops)
  end

  @doc false
  def collection?(type), do: type in Record.collections()
end
