defmodule FerricStore.Store.Batch do
  @moduledoc false
  # The machine's view of a shard while it applies one Raft entry (a batch of operations
  # from many callers). Operations read through an overlay of the batch's own writes and
  # only add to it; nothing touches ETS or the data file until the whole entry has been
  # executed and its records appended, so a failed append leaves the keydir exactly as
  # it was (no half-applied entry, no double-applied increment on retry).

  alias FerricStore.Bitcask
  alias FerricStore.Store.{Keydir, Members, Record}

  import Keydir, only: [expired?: 2]

  defstruct [
    :tables,
    :seq,
    now: 0,
    overlay: %{},
    records: [],
    count: 0,
    flushed: false,
    # Collections (FerricStore.Store.Members): member writes of this entry by key, and
    # the keys whose members as of the entry's start are gone (deleted or replaced).
    members: %{},
    dropped: %{},
    # String keys whose Redis encoding this entry fixed, by key: `:raw` (APPEND,
    # SETRANGE change the value in place) or `:no_int` (INCRBYFLOAT stores its result as a
    # string even when it reads as an integer). OBJECT ENCODING answers by the mark until
    # the key's next write (a `{:raw, key}` mark in meta).
    raw: %{},
    # Keydir rows as of the entry's start (nil: no row), by key, as read while it ran:
    # publishing the entry needs the rows it replaces, and need not read them twice.
    old: %{},
    # The same for member rows, by key then member, as read by `fetch_member/3`. Only
    # rows still in ETS at publishing: a key's go when the entry drops its members
    # (drop_members/2), all of them on FLUSHDB.
    old_members: %{}
  ]

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
  def value(_b, meta) when is_map(meta), do: {:ok, meta}

  def value(%__MODULE__{tables: %{files: files}}, {:cold, fid, off, size}) do
    case :ets.lookup(files, fid) do
      [{_, file}] -> Bitcask.pread_at(file, off, size)
      [] -> {:error, :eof}
    end
  end

  @doc "Writes `key`: a string value, or the header (meta map) of a collection."
  @spec put(t(), binary(), atom(), binary() | map(), non_neg_integer()) :: t()
  # Values reach the data file's NIF as they are: one that is not a binary must fail here,
  # inside its operation (which the machine rescues alone), never at the append, which
  # would fail the whole entry on every replay.
  def put(b, key, :string, value, expire_at) when is_binary(key) and is_binary(value) do
    rec = {Record.disk_key(:string, key), value, expire_at, b.seq}
    {collection?, b} = collection?(b, key)
    b = if collection?, do: drop_members(b, key), else: b
    put_row(%{b | raw: Map.delete(b.raw, key)}, key, :string, value, expire_at, rec)
  end

  # A collection header is written once per entry, at `seal/1`: forty HSETs of one hash
  # in an entry write forty member records and one header, not forty headers.
  def put(b, key, type, meta, expire_at) when is_map(meta),
    do: %{b | overlay: Map.put(b.overlay, key, {:row, type, meta, expire_at, :header})}

  @doc """
  Adds the records of the collection headers this entry changed (their final state),
  after everything else. Called once, when the entry has been executed.
  """
  @spec seal(t()) :: t()
  def seal(b) do
    Enum.reduce(b.overlay, b, fn
      {key, {:row, type, meta, exp, :header}}, b ->
        if unchanged?(b, key, type, meta, exp) do
          # Only members changed (values overwritten): the header on disk still holds.
          %{b | overlay: Map.delete(b.overlay, key)}
        else
          rec = {Record.header_key(type, key, meta), "", exp, b.seq}
          put_row(b, key, type, meta, exp, rec)
        end

      _, b ->
        b
    end)
  end

  defp unchanged?(%__MODULE__{flushed: true}, _key, _type, _meta, _exp), do: false

  defp unchanged?(b, key, type, meta, exp),
    do: match?([{_, ^type, ^meta, ^exp, _, _, _}], :ets.lookup(b.tables.keydir, key))

  @doc """
  Like `put/5` for a string whose Redis encoding is not its content's: `:raw` for a
  value changed in place (APPEND, SETRANGE, or a copy of such a string), `:no_int` for a
  number stored as a string (INCRBYFLOAT: "embstr" even for "3").
  """
  @spec put_raw(t(), binary(), binary(), non_neg_integer(), :raw | :no_int) :: t()
  def put_raw(b, key, value, expire_at, kind \\ :raw) do
    b = put(b, key, :string, value, expire_at)
    %{b | raw: Map.put(b.raw, key, kind)}
  end

  @doc "The encoding mark of string `key` as of this entry (see `put_raw/5`), or nil."
  @spec raw_mark(t(), binary()) :: :raw | :no_int | nil
  def raw_mark(b, key) do
    case b.overlay do
      %{^key => {:row, :string, _, _, _}} -> Map.get(b.raw, key)
      %{^key => _} -> nil
      _ when b.flushed -> nil
      _ -> Keydir.raw_mark(b.tables.meta, key)
    end
  end

  defp put_row(b, key, type, value, expire_at, rec) do
    %{b | overlay: Map.put(b.overlay, key, {:row, type, value, expire_at, b.count})}
    |> add_record(rec)
  end

  @doc "Deletes `key` (writes a tombstone; one for a whole collection)."
  @spec delete(t(), binary(), atom()) :: t()
  def delete(b, key, :string) do
    rec = {Record.disk_key(:string, key), :tombstone, 0, b.seq}
    delete_row(b, key, rec)
  end

  def delete(b, key, type) do
    rec = {Record.header_key(type, key, %{}), :tombstone, 0, b.seq}
    b |> drop_members(key) |> delete_row(key, rec)
  end

  defp delete_row(b, key, rec) do
    %{b | overlay: Map.put(b.overlay, key, {:deleted, b.count})} |> add_record(rec)
  end

  @doc "Deletes every key of the shard (FLUSHDB): one marker record, not one per key."
  @spec flush(t()) :: t()
  def flush(b) do
    %{b | overlay: %{}, members: %{}, dropped: %{}, old: %{}, old_members: %{}, flushed: true}
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

  ## Collections (see FerricStore.Store.Members and docs/collections.md)

  @doc "A fresh generation for a collection created by the current operation."
  @spec new_gen(t()) :: non_neg_integer()
  def new_gen(b), do: Bitwise.bsl(b.seq, 24) + b.count

  @doc "Starts a new collection at `key`: members left by an earlier one are gone."
  @spec drop_members(t(), binary()) :: t()
  def drop_members(b, key) do
    %{
      b
      | members: Map.delete(b.members, key),
        dropped: Map.put(b.dropped, key, true),
        old_members: Map.delete(b.old_members, key)
    }
  end

  # Is the row of `key` (live or expired, as of this entry) a collection header? The
  # keydir row read to tell is kept (see `old_row/2`).
  defp collection?(b, key) do
    case b.overlay do
      %{^key => {:row, type, _, _, _}} ->
        {type != :string, b}

      %{^key => {:deleted, _}} ->
        {false, b}

      _ when b.flushed ->
        {false, b}

      _ ->
        row = keydir_row(b, key)
        {row != nil and elem(row, 1) != :string, %{b | old: Map.put(b.old, key, row)}}
    end
  end

  @doc """
  The keydir row of `key` as of the entry's start (nil if none), for publishing the
  entry: read from the keydir unless the entry already read it. The keydir must not
  have been changed by this entry yet (a FLUSHDB in it forgets what was read before).
  """
  @spec old_row(t(), binary()) :: tuple() | nil
  def old_row(b, key) do
    case b.old do
      %{^key => row} -> row
      _ -> keydir_row(b, key)
    end
  end

  defp keydir_row(b, key) do
    case :ets.lookup(b.tables.keydir, key) do
      [row] -> row
      [] -> nil
    end
  end

  @doc "A member of `key`: `{value_or_cold, gen}` or nil (zset: the value is the score)."
  @spec member(t(), binary(), term()) :: {term(), non_neg_integer()} | nil
  def member(b, key, member), do: b |> fetch_member(key, member) |> elem(0)

  @doc """
  `member/3` for a command about to write the member: the row read from ETS is kept
  for publishing the entry, which needs the row a write replaces (dead bytes, the old
  score) and then need not look it up again.
  """
  @spec fetch_member(t(), binary(), term()) :: {{term(), non_neg_integer()} | nil, t()}
  def fetch_member(b, key, member) do
    case b.members do
      %{^key => %{^member => {:m, value, gen, _i}}} ->
        {{value, gen}, b}

      %{^key => %{^member => :deleted}} ->
        {nil, b}

      _ ->
        if b.flushed or Map.has_key?(b.dropped, key) do
          {nil, b}
        else
          row = Members.row(b.tables.members, key, member)
          old = Map.update(b.old_members, key, %{member => row}, &Map.put(&1, member, row))
          {Members.from_row(row), %{b | old_members: old}}
        end
    end
  end

  @doc """
  Writes a member. `value` is the bytes of a hash value or list element, "" for a set
  member, the score (float, `:inf`, `:neg_inf`) for a zset member.
  """
  @spec put_member(t(), atom(), binary(), non_neg_integer(), term(), term()) :: t()
  def put_member(b, :zset, key, gen, member, score) do
    rec = {Record.member_key(:zset, key, gen, member, score), "", 0, b.seq}
    put_member_row(b, key, member, {:m, score, gen, b.count}) |> add_record(rec)
  end

  def put_member(b, type, key, gen, member, value) when is_binary(value) do
    rec = {Record.member_key(type, key, gen, member, nil), value, 0, b.seq}
    put_member_row(b, key, member, {:m, value, gen, b.count}) |> add_record(rec)
  end

  @doc "Deletes a member (a tombstone record)."
  @spec delete_member(t(), atom(), binary(), non_neg_integer(), term()) :: t()
  def delete_member(b, type, key, gen, member) do
    score = if type == :zset, do: 0.0
    rec = {Record.member_key(type, key, gen, member, score), :tombstone, 0, b.seq}
    put_member_row(b, key, member, :deleted) |> add_record(rec)
  end

  defp put_member_row(b, key, member, entry) do
    ms = Map.get(b.members, key, %{})
    %{b | members: Map.put(b.members, key, Map.put(ms, member, entry))}
  end

  @doc "The member overlay of `key` and whether its members as of the entry start are gone."
  @spec member_view(t(), binary()) :: {map(), boolean()}
  def member_view(b, key),
    do: {Map.get(b.members, key, %{}), b.flushed or Map.has_key?(b.dropped, key)}
end
