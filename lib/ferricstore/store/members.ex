defmodule FerricStore.Store.Members do
  @moduledoc false
  # The members of collections (hashes, lists, sets, sorted sets) in a shard's ETS
  # tables, one row per member (docs/collections.md):
  #
  #   members (:ordered_set)  {{key, member}, value | nil, gen, file_id, offset, size}
  #   scores  (:ordered_set)  {{key, score_key, member}}                 (sorted sets)
  #
  # and, mirroring `scores`, the rank index of the sorted sets (Store.Ranks), written at
  # the same places.
  #
  # member is the hash field, the list position (integer), the set member or the zset
  # member. value is the hash value / list element (nil when cold: read it from its
  # record), "" for a set member, the score for a zset member.
  #
  # This module owns: point lookups, ordered walks merged with a Batch's overlay,
  # publishing a committed entry's member writes, and rebuilding the rows at start-up.

  alias FerricStore.Bitcask
  alias FerricStore.Store.{Ranks, Record}

  ## Lookups

  @doc "`{value_or_cold, gen}` of a member in ETS, or nil."
  def lookup(members, key, member) do
    case :ets.lookup(members, {key, member}) do
      [{_, nil, gen, fid, off, size}] -> {{:cold, fid, off, size}, gen}
      [{_, value, gen, _, _, _}] -> {value, gen}
      [] -> nil
    end
  end

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

    merge(members, key, dir, ets_k, sort(ov_items, dir), ov, acc, fun, &member_item/2)
  end

  @doc """
  Like `walk/7` in score order over the `scores` index; items are `{member, score}` and
  `start` is `:edge` or `{:at, {score_key, member}}`.
  """
  def walk_scores(scores, key, start, dir, view, acc, fun) do
    {ov, dropped?} = view

    ov_items =
      for {m, {:m, s, _g, _i}} <- ov, o = {score_key(s), m}, after?(o, start, dir), do: {o, m, s}

    ets_k =
      if dropped?,
        do: :"$end_of_table",
        else: ets_start_scores(scores, key, start, dir)

    merge(scores, key, dir, ets_k, sort(ov_items, dir), ov, acc, fun, &score_item/2)
  end

  defp member_item(tab, {_key, m} = k) do
    case :ets.lookup(tab, k) do
      [{_, nil, _gen, fid, off, size}] -> {m, m, {:cold, fid, off, size}}
      [{_, v, _gen, _, _, _}] -> {m, m, v}
      [] -> :gone
    end
  end

  defp score_item(_tab, {_key, sk, m}), do: {{sk, m}, m, score_of_key(sk)}

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

  defp ets_start_scores(tab, key, :edge, :asc), do: in_key(:ets.next(tab, {key, 0, 0}), key)

  defp ets_start_scores(tab, key, :edge, :desc),
    do: in_key(:ets.prev(tab, {key <> <<0>>, 0, 0}), key)

  defp ets_start_scores(tab, key, {:at, {sk, m}}, dir) do
    k = {key, sk, m}

    if :ets.member(tab, k),
      do: k,
      else: in_key(if(dir == :asc, do: :ets.next(tab, k), else: :ets.prev(tab, k)), key)
  end

  defp in_key({key, _} = k, key), do: k
  defp in_key({key, _, _} = k, key), do: k
  defp in_key(_other, _key), do: :"$end_of_table"

  defp step(tab, k, :asc, key), do: in_key(:ets.next(tab, k), key)
  defp step(tab, k, :desc, key), do: in_key(:ets.prev(tab, k), key)

  defp merge(tab, key, dir, ets_k, ov_items, ov, acc, fun, item_fun) do
    # ETS rows of members the overlay rewrote or deleted are skipped: the overlay has
    # their current state.
    e =
      case ets_k do
        :"$end_of_table" ->
          nil

        k ->
          case item_fun.(tab, k) do
            {_o, m, _v} = item -> if Map.has_key?(ov, m), do: :skip, else: item
            :gone -> :skip
          end
      end

    cond do
      e == :skip ->
        merge(tab, key, dir, step(tab, ets_k, dir, key), ov_items, ov, acc, fun, item_fun)

      e == nil and ov_items == [] ->
        acc

      e == nil or (ov_items != [] and first?(hd(ov_items), e, dir)) ->
        [{_o, m, v} | rest] = ov_items

        case fun.({m, v}, acc) do
          {:cont, acc} -> merge(tab, key, dir, ets_k, rest, ov, acc, fun, item_fun)
          {:halt, acc} -> acc
        end

      true ->
        {_o, m, v} = e

        case fun.({m, v}, acc) do
          {:cont, acc} ->
            merge(tab, key, dir, step(tab, ets_k, dir, key), ov_items, ov, acc, fun, item_fun)

          {:halt, acc} ->
            acc
        end
    end
  end

  defp first?({o1, _, _}, {o2, _, _}, :asc), do: o1 < o2
  defp first?({o1, _, _}, {o2, _, _}, :desc), do: o1 > o2

  ## Commit (called by the machine after the entry's records are appended)

  @doc """
  Publishes the member writes of a committed batch into the shard's tables and the rank
  index (Store.Ranks), which follows `scores` exactly.
  """
  def publish(batch, locations, fid, tables) do
    %{meta: meta} = tables

    if batch.flushed or batch.dropped != %{} or batch.members != %{} do
      # Odd while ETS and the rank index may disagree (see ZSets.zrank/4).
      :ets.update_counter(meta, :member_writes, 1, {:member_writes, 0})
      publish_members(batch, locations, fid, tables, Ranks.of(tables))
      :ets.update_counter(meta, :member_writes, 1, {:member_writes, 0})
    end

    :ok
  end

  defp publish_members(batch, locations, fid, tables, ranks) do
    %{members: members, scores: scores, meta: meta} = tables

    if batch.flushed do
      :ets.delete_all_objects(members)
      :ets.delete_all_objects(scores)
      Ranks.clear(ranks)
    end

    Enum.each(batch.dropped, fn {key, _} -> drop(tables, ranks, key) end)

    rank_ops =
      Enum.reduce(batch.members, [], fn {key, ms}, ops ->
        Enum.reduce(ms, ops, fn {member, entry}, ops ->
          k = {key, member}

          ops =
            case :ets.lookup(members, k) do
              [{_, old, _gen, old_fid, _, size}] ->
                :ets.update_counter(meta, {:dead, old_fid}, size, {{:dead, old_fid}, 0})

                if score?(old) do
                  :ets.delete(scores, {key, score_key(old), member})
                  [{:del, key, old, member} | ops]
                else
                  ops
                end

              [] ->
                ops
            end

          case entry do
            :deleted ->
              :ets.delete(members, k)
              ops

            {:m, value, gen, i} ->
              {off, size} = elem(locations, i)
              :ets.insert(members, {k, value, gen, fid, off, size})

              if score?(value) do
                :ets.insert(scores, {{key, score_key(value), member}})
                [{:add, key, value, member} | ops]
              else
                ops
              end
          end
        end)
      end)

    Ranks.update(ranks, Enum.reverse(rank_ops))
  end

  defp score?(value), do: is_float(value) or value in [:inf, :neg_inf]

  # Removes every member row of `key` (O(N) in memory; on disk the header tombstone or
  # a new generation already hides them).
  defp drop(%{members: members, scores: scores, meta: meta}, ranks, key) do
    pattern = {{key, :_}, :_, :_, :"$1", :_, :"$2"}

    members
    |> :ets.select([{pattern, [], [{{:"$1", :"$2"}}]}])
    |> Enum.reduce(%{}, fn {fid, size}, acc -> Map.update(acc, fid, size, &(&1 + size)) end)
    |> Enum.each(fn {fid, size} ->
      :ets.update_counter(meta, {:dead, fid}, size, {{:dead, fid}, 0})
    end)

    :ets.select_delete(members, [{{{key, :_}, :_, :_, :_, :_, :_}, [], [true]}])
    :ets.select_delete(scores, [{{{key, :_, :_}}, [], [true]}])
    Ranks.drop_key(ranks, key)
  end

  ## Start-up

  @doc "Clears every member row (FLUSHDB marker)."
  def clear(tables) do
    :ets.delete_all_objects(tables.members)
    :ets.delete_all_objects(tables.scores)
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
        [{_, _, _, e, _, _, _}] -> e
        [] -> 0
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
        [{_, _, g, _, _, _}] -> g > gen
        [] -> false
      end

    cond do
      newer? ->
        :ok

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
  Drops members without a live header of their generation; rebuilds the score index and
  then the rank index from it.
  """
  def finish_load(tables) do
    %{members: members, scores: scores, keydir: keydir} = tables

    :ets.foldl(
      fn {{key, member} = k, value, gen, _, _, _}, acc ->
        case :ets.lookup(keydir, key) do
          [{_, type, %{gen: ^gen}, _, _, _, _}] ->
            if type == :zset, do: :ets.insert(scores, {{key, score_key(value), member}})

          _ ->
            :ets.delete(members, k)
        end

        acc
      end,
      :ok,
      members
    )

    # In `scores` order: each set is built by appends, which leave its chunks full.
    ranks = Ranks.of(tables)
    Ranks.clear(ranks)
    load_ranks(ranks, :ets.select(scores, [{{:"$1"}, [], [:"$1"]}], 1000))
  end

  defp load_ranks(_ranks, :"$end_of_table"), do: :ok

  defp load_ranks(ranks, {rows, cont}) do
    Ranks.update(ranks, for({key, sk, m} <- rows, do: {:add, key, score_of_key(sk), m}))
    load_ranks(ranks, :ets.select(cont))
  end

  @doc false
  def collection?(type), do: type in Record.collections()
end
