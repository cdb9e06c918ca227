defmodule FerricStore.Store.Batch do
  @moduledoc false
  # The machine's view of a shard while it applies one Raft entry (a batch of operations
  # from many callers). Operations read through an overlay of the batch's own writes and
  # only add to it; nothing touches ETS or the data file until the whole entry has been
  # executed and its records appended, so a failed append leaves the keydir exactly as
  # it was (no half-applied entry, no double-applied increment on retry).

  alias FerricStore.Bitcask
  alias FerricStore.Store.{Keydir, Record}

  import Keydir, only: [expired?: 2]

  defstruct [:tables, :seq, now: 0, overlay: %{}, records: [], count: 0, flushed: false]

  @type t :: %__MODULE__{}

  @spec new(Keydir.tables(), non_neg_integer()) :: t()
  def new(tables, seq), do: %__MODULE__{tables: tables, seq: seq}

  @doc "Sets the caller-stamped time used for expiry decisions of the next operation."
  @spec at(t(), non_neg_integer()) :: t()
  def at(b, now), do: %{b | now: now}

  @doc """
  The live entry for `key`: `{type, value_or_cold, expire_at}` or nil. A cold value is
  returned as `{:cold, file_id, offset, size}`; use `value/2` to read it.
  """
  @spec get(t(), binary()) :: {atom(), term(), non_neg_integer()} | nil
  def get(%__MODULE__{overlay: overlay, now: now} = b, key) do
    case overlay do
      %{^key => {:row, _type, _value, exp, _}} when expired?(exp, now) -> nil
      %{^key => {:row, type, value, exp, _}} -> {type, value, exp}
      %{^key => {:deleted, _}} -> nil
      _ when b.flushed -> nil
      _ -> from_ets(b, key)
    end
  end

  defp from_ets(%__MODULE__{tables: %{keydir: keydir}, now: now}, key) do
    case Keydir.lookup(keydir, key, now) do
      nil -> nil
      {_, type, nil, exp, fid, off, size} -> {type, {:cold, fid, off, size}, exp}
      {_, type, value, exp, _, _, _} -> {type, value, exp}
    end
  end

  @doc "The bytes of a value returned by `get/2` (reads a cold value from its data file)."
  @spec value(t(), term()) :: {:ok, binary()} | {:error, term()}
  def value(_b, value) when is_binary(value), do: {:ok, value}

  def value(%__MODULE__{tables: %{files: files}}, {:cold, fid, off, size}) do
    case :ets.lookup(files, fid) do
      [{_, file}] -> Bitcask.pread_at(file, off, size)
      [] -> {:error, :eof}
    end
  end

  @doc "Writes `key` (a string value; collections add their own types later)."
  @spec put(t(), binary(), atom(), binary(), non_neg_integer()) :: t()
  def put(b, key, type, value, expire_at) do
    rec = {Record.disk_key(type, key), value, expire_at, b.seq}

    %{b | overlay: Map.put(b.overlay, key, {:row, type, value, expire_at, b.count})}
    |> add_record(rec)
  end

  @doc "Deletes `key` (writes a tombstone)."
  @spec delete(t(), binary(), atom()) :: t()
  def delete(b, key, type) do
    rec = {Record.disk_key(type, key), :tombstone, 0, b.seq}
    %{b | overlay: Map.put(b.overlay, key, {:deleted, b.count})} |> add_record(rec)
  end

  @doc "Deletes every key of the shard (FLUSHDB): one marker record, not one per key."
  @spec flush(t()) :: t()
  def flush(b) do
    %{b | overlay: %{}, flushed: true}
    |> add_record({Record.flush_key(), "", 0, b.seq})
  end

  defp add_record(b, rec), do: %{b | records: [rec | b.records], count: b.count + 1}

  @doc "Is `key` still present with exactly `expire_at`, and due at the batch's time?"
  @spec due?(t(), binary(), non_neg_integer()) :: boolean()
  def due?(%__MODULE__{overlay: overlay} = b, key, expire_at) do
    expire_at <= b.now and
      case overlay do
        %{^key => {:row, _, _, ^expire_at, _}} -> true
        %{^key => _} -> false
        _ when b.flushed -> false
        _ -> match?([{_, _, _, ^expire_at, _, _, _}], :ets.lookup(b.tables.keydir, key))
      end
  end
end
