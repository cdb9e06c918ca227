defmodule FerricStore.Store do
  @moduledoc false
  # The shared entry points of every command: route a key to its shard, submit a write
  # through that shard's batcher (Raft), or read the keydir directly in the caller's
  # process (no process hop: reads cost an ETS lookup, plus a pread for a cold value).

  alias FerricStore.Bitcask
  alias FerricStore.Store.{Batcher, Keydir, Router, Shard}

  @type instance :: atom()

  @doc "The running instance's settings (raises a clear error when it is not started)."
  @spec config(instance()) :: map()
  def config(instance) do
    :persistent_term.get({__MODULE__, instance})
  rescue
    ArgumentError ->
      raise ArgumentError,
            "FerricStore instance #{inspect(instance)} is not started; add " <>
              "{FerricStore, name: #{inspect(instance)}, data_dir: ...} to your supervision tree"
  end

  @spec put_config(instance(), map()) :: :ok
  def put_config(instance, config), do: :persistent_term.put({__MODULE__, instance}, config)

  @spec erase_config(instance()) :: boolean()
  def erase_config(instance), do: :persistent_term.erase({__MODULE__, instance})

  @spec now() :: non_neg_integer()
  def now, do: System.os_time(:millisecond)

  @spec shard(instance(), binary()) :: non_neg_integer()
  def shard(instance, key), do: Router.shard(key, config(instance).shards)

  @doc "The ETS tables of shard `n` (names cached in the instance config)."
  @spec tables(instance(), non_neg_integer()) :: Keydir.tables()
  def tables(instance, n), do: elem(config(instance).tables, n)

  @doc "The ETS tables of the shard that owns `key`."
  @spec tables_for(instance(), binary()) :: Keydir.tables()
  def tables_for(instance, key) do
    %{shards: shards, tables: tables} = config(instance)
    elem(tables, Router.shard(key, shards))
  end

  @spec shards(instance()) :: Range.t()
  def shards(instance), do: 0..(config(instance).shards - 1)

  @doc """
  Checkpoints every shard: its data files fsynced, and ra's log released up to the last
  applied write, so a restart replays nothing before it.
  """
  @spec save(instance()) :: :ok | {:error, FerricStore.Error.t()}
  def save(instance) do
    Enum.reduce_while(shards(instance), :ok, fn shard, :ok ->
      case Shard.checkpoint(instance, shard) do
        :ok -> {:cont, :ok}
        {:error, reason} -> {:halt, {:error, FerricStore.Error.new(:io, io_message(reason))}}
      end
    end)
  catch
    :exit, _ -> {:error, FerricStore.Error.new(:unavailable)}
  end

  defp io_message({:io, :enospc}), do: "ERR save failed: no space left on device"
  defp io_message(reason), do: "ERR save failed: #{inspect(reason)}"

  @doc """
  Compacts every sealed data file of every shard now, and waits for it; an error names
  the files that could not be compacted (the others were).
  """
  @spec compact(instance()) :: :ok | {:error, FerricStore.Error.t()}
  def compact(instance) do
    failed =
      for shard <- shards(instance),
          {:error, {:compaction_failed, fids}} <- [Shard.compact(instance, shard)],
          fid <- fids,
          do: fid

    if failed == [],
      do: :ok,
      else:
        {:error,
         FerricStore.Error.new(:io, "ERR compaction failed for data files #{inspect(failed)}")}
  catch
    :exit, _ -> {:error, FerricStore.Error.new(:unavailable)}
  end

  @doc "Runs a write operation of `family` on the shard that owns `key`."
  @spec write(instance(), binary(), atom(), tuple()) :: term()
  def write(instance, key, family, op) do
    %{shards: shards, tables: tables, timeout: timeout} = config(instance)
    batcher = elem(tables, Router.shard(key, shards)).batcher
    Batcher.submit_to(batcher, {now(), family, op}, timeout)
  end

  @doc "Runs a write on the one shard that owns all `keys` (CROSSSLOT error otherwise)."
  @spec write_keys(instance(), [binary()], atom(), tuple()) :: term()
  def write_keys(instance, keys, family, op) do
    config = config(instance)

    case Router.same_shard(keys, config.shards) do
      {:ok, shard} ->
        Batcher.submit_to(elem(config.tables, shard).batcher, {now(), family, op}, config.timeout)

      {:error, reason} ->
        {:error, FerricStore.Error.new(reason)}
    end
  end

  @doc "Runs a write on one given shard (flush, expiry)."
  @spec write_shard(instance(), non_neg_integer(), atom(), tuple()) :: term()
  def write_shard(instance, shard, family, op) do
    Batcher.submit(instance, shard, {now(), family, op}, config(instance).timeout)
  end

  # Where each INFO counter of an instance lives in its `stats` (:counters, in the
  # instance's config).
  @stats %{keyspace_hits: 1, keyspace_misses: 2, expired_keys: 3}

  @doc "The live keydir row of `key`, or nil (a read: counted as a keyspace hit or miss)."
  @spec lookup(instance(), binary()) :: Keydir.row() | nil
  def lookup(instance, key) do
    %{shards: shards, tables: tables, stats: stats} = config(instance)
    elem(tables, Router.shard(key, shards)) |> lookup_in(key) |> count_read(stats)
  end

  defp count_read(row, stats) do
    :counters.add(stats, @stats[if(row, do: :keyspace_hits, else: :keyspace_misses)], 1)
    row
  end

  @doc """
  An INFO counter of `instance`: `:keyspace_hits` and `:keyspace_misses` (reads through
  `lookup/2` and `get_string/2` that found a live key or none) and `:expired_keys`
  (keys the expirer deleted).
  """
  @spec stat(instance(), :keyspace_hits | :keyspace_misses | :expired_keys) ::
          non_neg_integer()
  def stat(instance, name), do: :counters.get(config(instance).stats, Map.fetch!(@stats, name))

  @doc "Counts `n` keys deleted by the expirer."
  @spec count_expired(instance(), non_neg_integer()) :: :ok
  def count_expired(instance, n),
    do: :counters.add(config(instance).stats, @stats.expired_keys, n)

  @doc "Zeroes the counters of `stat/2` (CONFIG RESETSTAT)."
  @spec reset_stats(instance()) :: :ok
  def reset_stats(instance) do
    stats = config(instance).stats
    for i <- Map.values(@stats), do: :counters.put(stats, i, 0)
    :ok
  end

  @doc "Like `lookup/2`, given the tables of the shard that owns `key`."
  @spec lookup_in(Keydir.tables(), binary()) :: Keydir.row() | nil
  def lookup_in(tables, key) do
    case :ets.lookup(tables.keydir, key) do
      [{_, _, _, 0, _, _, _} = row] -> row
      [{_, _, _, exp, _, _, _} = row] -> if exp > now(), do: row, else: nil
      [] -> nil
    end
  end

  @doc """
  The value of string `key`: `{:ok, value | nil}` or a WRONGTYPE error. The hot path of
  every GET: one config lookup, one ETS lookup, and a pread only for a cold value.
  """
  @spec get_string(instance(), binary()) ::
          {:ok, binary() | nil} | {:error, FerricStore.Error.t()}
  def get_string(instance, key) do
    %{shards: shards, tables: all, hot_cache: hot?, stats: stats} = config(instance)
    tables = elem(all, Router.shard(key, shards))

    case tables |> lookup_in(key) |> count_read(stats) do
      nil -> {:ok, nil}
      {_, type, _, _, _, _, _} when type != :string -> {:error, FerricStore.Error.new(:wrongtype)}
      {_, _, value, _, _, _, _} when is_binary(value) -> {:ok, value}
      row -> read_cold(instance, tables, hot?, row)
    end
  end

  @doc "The value of a keydir row: the hot copy, or a CRC-checked read of its record."
  @spec value(instance(), Keydir.row()) :: {:ok, binary()} | {:error, FerricStore.Error.t()}
  def value(_instance, {_key, _type, value, _exp, _fid, _off, _size}) when is_binary(value),
    do: {:ok, value}

  def value(instance, {key, _type, nil, _exp, _fid, _off, _size} = row) do
    read_cold(instance, tables_for(instance, key), config(instance).hot_cache, row)
  end

  defp read_cold(instance, tables, hot?, {key, _type, nil, _exp, fid, off, size} = row) do
    with [{_, file}] <- :ets.lookup(tables.files, fid),
         {:ok, value} <- Bitcask.pread_at(file, off, size) do
      if hot?, do: promote(tables.keydir, row, value)
      {:ok, value}
    else
      _ ->
        # The row moved (overwrite or compaction) between lookup and read: read again
        # (not counted as another read).
        case lookup_in(tables, key) do
          {_, _, _, _, ^fid, ^off, _} -> {:error, FerricStore.Error.new(:io)}
          nil -> {:ok, nil}
          newer -> value(instance, newer)
        end
    end
  end

  # Keeps the value in ETS, only if the row still points at the record just read
  # (an atomic compare-and-replace: a concurrent write always wins).
  defp promote(keydir, {key, type, nil, exp, fid, off, size}, value) do
    :ets.select_replace(keydir, [
      {{key, type, nil, exp, fid, off, size}, [], [{{key, type, value, exp, fid, off, size}}]}
    ])
  end
end
