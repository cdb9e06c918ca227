defmodule FerricStore.Store.Keydir do
  @moduledoc false
  # The per-shard ETS tables. Only the shard's Raft machine writes them (plus read
  # promotion of cold values, which is guarded by the value's location); any process
  # reads them.
  #
  #   keydir  (:set)          {key, type, value | nil, expire_at, file_id, offset, size}
  #                           value nil = cold (on disk only); offset :pending while the
  #                           record of the current Raft entry is being written.
  #   expiry  (:ordered_set)  {{expire_at, key}} for every key with a TTL, so the expirer
  #                           finds due keys without scanning the keydir.
  #   files   (:set)          {file_id, file_handle} data files readable by everyone
  #   meta    (:set)          shard bookkeeping owned by the machine (applied index, active
  #                           file, bytes since checkpoint); never replicated state. Also
  #                           {:ranks, index}: the sorted sets' rank index (Store.Ranks), a
  #                           NIF resource holding the sorted-set members in score order;
  #                           it dies with the tables.
  #   members (:ordered_set)  {{key, member}, value | nil, gen, file_id, offset, size}: the
  #                           members of collections, contiguous per key (docs/collections.md)

  @type row ::
          {binary(), atom(), binary() | nil, non_neg_integer(), non_neg_integer(),
           non_neg_integer() | :pending, non_neg_integer()}

  @type tables :: %{
          keydir: atom(),
          expiry: atom(),
          files: atom(),
          meta: atom(),
          members: atom()
        }

  @doc "Table names for shard `n` of `instance` (named tables: cheap lookups by atom)."
  @spec tables(atom(), non_neg_integer()) :: tables()
  def tables(instance, n) do
    %{
      keydir: :"#{instance}.keydir.#{n}",
      expiry: :"#{instance}.expiry.#{n}",
      files: :"#{instance}.files.#{n}",
      meta: :"#{instance}.meta.#{n}",
      members: :"#{instance}.members.#{n}",
      # Not a table: the shard's batcher, named here so writers find it without
      # building an atom per call.
      batcher: FerricStore.Store.Batcher.name(instance, n)
    }
  end

  @doc """
  Creates the shard's tables, owned by the calling process. The tables that start-up
  fills take writes from several loaders at once (Store.Recovery), hence
  write_concurrency; after that only the machine writes them.
  """
  @spec create(tables()) :: :ok
  def create(%{keydir: k, expiry: e, files: f, meta: m} = tables) do
    concurrent = [read_concurrency: true, write_concurrency: true]
    :ets.new(k, [:set, :public, :named_table] ++ concurrent)
    :ets.new(e, [:ordered_set, :public, :named_table, write_concurrency: true])
    :ets.new(f, [:set, :public, :named_table, read_concurrency: true])
    :ets.new(m, [:set, :public, :named_table, read_concurrency: true])
    :ets.new(tables.members, [:ordered_set, :public, :named_table] ++ concurrent)
    :ets.insert(m, {:ranks, FerricStore.Store.Ranks.new()})
    :ok
  end

  @doc "Expired at `now`? (0 means no expiry.)"
  defguard expired?(expire_at, now) when expire_at != 0 and expire_at <= now

  @doc "The live row for `key` at `now`, or nil when missing or expired."
  @spec lookup(atom(), binary(), non_neg_integer()) :: row() | nil
  def lookup(keydir, key, now) do
    case :ets.lookup(keydir, key) do
      [{_, _, _, exp, _, _, _}] when expired?(exp, now) -> nil
      [row] -> row
      [] -> nil
    end
  end

  @doc "Reads a meta value."
  @spec meta(atom(), term(), term()) :: term()
  def meta(meta, key, default \\ nil) do
    case :ets.lookup(meta, key) do
      [{_, value}] -> value
      [] -> default
    end
  end

  @doc "Writes a meta value."
  @spec put_meta(atom(), term(), term()) :: true
  def put_meta(meta, key, value), do: :ets.insert(meta, {key, value})

  @doc """
  The record bytes of every row, keydir and members, by file id: what a FLUSHDB makes
  dead. O(rows), as FLUSHDB is in Redis.
  """
  @spec row_bytes(tables()) :: map()
  def row_bytes(%{keydir: keydir, members: members}) do
    dead = :ets.foldl(fn {_, _, _, _, fid, _, size}, d -> add_dead(d, fid, size) end, %{}, keydir)
    :ets.foldl(fn {_, _, _, fid, _, size}, d -> add_dead(d, fid, size) end, dead, members)
  end

  @doc "Adds `size` dead bytes of file `fid` to a `%{fid => bytes}` tally."
  @spec add_dead(map(), non_neg_integer(), non_neg_integer()) :: map()
  def add_dead(dead, fid, size), do: Map.update(dead, fid, size, &(&1 + size))

  @doc """
  Adds a tally of dead bytes to the files' counters in `meta`: one update per file, not
  one per overwrite (meta has read_concurrency, so each write takes its write lock).
  """
  @spec count_dead(atom(), map()) :: :ok
  def count_dead(meta, dead) do
    Enum.each(dead, fn {fid, n} ->
      :ets.update_counter(meta, {:dead, fid}, n, {{:dead, fid}, 0})
    end)
  end

  @doc "A string key's encoding mark (`FerricStore.Store.Batch.put_raw/5`), or nil."
  @spec raw_mark(atom(), binary()) :: :raw | :no_int | nil
  def raw_mark(meta, key) do
    case :ets.lookup(meta, {:raw, key}) do
      [{_, kind}] -> kind
      [] -> nil
    end
  end

  @doc "Keeps the expiry index in step with a row's expire_at change."
  @spec reindex_expiry(atom(), binary(), non_neg_integer(), non_neg_integer()) :: :ok
  def reindex_expiry(_expiry, _key, same, same), do: :ok

  def reindex_expiry(expiry, key, old, new) do
    if old != 0, do: :ets.delete(expiry, {old, key})
    if new != 0, do: :ets.insert(expiry, {{new, key}})
    :ok
  end

  @doc "Up to `limit` `{key, expire_at}` pairs due at `now`, oldest first."
  @spec due(atom(), non_neg_integer(), pos_integer()) :: [{binary(), non_neg_integer()}]
  def due(expiry, now, limit), do: due(expiry, :ets.first(expiry), now, limit, [])

  defp due(_expiry, :"$end_of_table", _now, _limit, acc), do: Enum.reverse(acc)
  defp due(_expiry, _k, _now, 0, acc), do: Enum.reverse(acc)

  defp due(expiry, {exp, key} = k, now, limit, acc) when exp <= now do
    due(expiry, :ets.next(expiry, k), now, limit - 1, [{key, exp} | acc])
  end

  defp due(_expiry, _k, _now, _limit, acc), do: Enum.reverse(acc)
end
