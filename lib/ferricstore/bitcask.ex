defmodule FerricStore.Bitcask do
  @moduledoc false
  # Elixir face of the Rust Bitcask engine (native/ferricstore_engine, format documented in
  # docs/bitcask-format.md). Stateless: every function takes a file resource or a path.
  #
  # Scheduler discipline: each NIF call does a bounded amount of work (~512 KiB of file
  # data or a few thousand records, well under 1 ms). Functions whose work grows with their
  # input (append_batch of big batches, pread_many, fold, hint_build, hint_read, compact,
  # next_record) loop over such steps here. fsync and each compaction step's copy run on a
  # Rust thread that messages us: they can block in the kernel (fsync, dirty-page write
  # throttling) for far longer than a scheduler may be held.

  alias FerricStore.Bitcask.NIF

  @typedoc "An open data or hint file (NIF resource); closed when garbage collected."
  @type file :: reference()
  @type reason ::
          :checksum_mismatch
          | :eof
          | :bad_header
          | :too_large
          | :tombstone
          | :timeout
          | {:io, atom()}
  @type entry ::
          {key :: binary(), offset :: non_neg_integer(), size :: pos_integer(),
           expire_at :: non_neg_integer(), seq :: non_neg_integer(), flags :: non_neg_integer()}
  @type new_record ::
          {key :: binary(), value :: binary() | :tombstone, expire_at_ms :: non_neg_integer(),
           seq :: non_neg_integer()}
  @type location :: {offset :: non_neg_integer(), size :: pos_integer()}
  @type scan_status ::
          {:more, non_neg_integer()}
          | {:done, non_neg_integer()}
          | {:torn, non_neg_integer()}
          | {:corrupt, non_neg_integer()}

  @tombstone 0b01
  @batch_end 0b10
  @fsync_timeout 120_000
  @fold_step 4096
  @pread_step 64

  @doc "Opens (creating with a header if missing or empty) a data file for reading and writing."
  @spec open(Path.t()) :: {:ok, file()} | {:error, reason()}
  def open(path), do: NIF.open(path(path))

  @doc "Opens an existing data file read-only."
  @spec open_read(Path.t()) :: {:ok, file()} | {:error, reason()}
  def open_read(path), do: NIF.open_read(path(path))

  @doc """
  Rewrites the damaged header of the data file at `path` (wrong magic, or too short),
  keeping its records, and fsyncs it. `{:error, :bad_header}` when the header has the
  data magic and another format version: that is not damage, and nothing is written.
  """
  @spec repair_header(Path.t()) :: :ok | {:error, reason()}
  def repair_header(path), do: NIF.repair_header(path(path))

  @doc "Current length of the file on disk."
  @spec size(file()) :: {:ok, non_neg_integer()} | {:error, reason()}
  def size(file), do: NIF.size(file)

  @doc "Bytes available on the file system that holds `path` (statvfs; microseconds)."
  @spec available_space(Path.t()) :: {:ok, non_neg_integer()} | {:error, reason()}
  def available_space(path), do: NIF.available_space(path(path))

  @doc "Offset of the first record in a data file."
  @spec header_size() :: pos_integer()
  def header_size, do: NIF.header_size()

  # RECORD_HEADER_LEN in native/ferricstore_engine/src/format.rs (checked by bitcask_test).
  @record_header 29

  @doc "The bytes of a record's value, from the record's size and its key's length."
  @spec value_size(non_neg_integer(), non_neg_integer()) :: non_neg_integer()
  def value_size(record_size, key_size), do: record_size - @record_header - key_size

  @doc """
  Appends `entries` contiguously at `offset` (no fsync). Batches up to ~1 MiB are one
  write syscall; larger ones are written in ~1 MiB steps. Only the last record carries
  BATCH_END, so a crash in the middle leaves an incomplete batch that recovery discards.
  """
  @spec append_batch(file(), non_neg_integer(), [new_record()]) ::
          {:ok, [location()]} | {:error, reason()}
  def append_batch(file, offset, entries), do: append_loop(file, offset, entries, [])

  defp append_loop(file, offset, entries, acc) do
    case NIF.append_batch(file, offset, entries) do
      {:ok, locs} -> {:ok, finish(acc, locs)}
      {:more, locs, rest, next} -> append_loop(file, next, rest, [locs | acc])
      {:error, _} = error -> error
    end
  end

  defp finish([], last), do: last
  defp finish(acc, last), do: Enum.concat(Enum.reverse([last | acc]))

  @doc "Reads and CRC-checks the record at `{offset, size}`; returns its value."
  @spec pread_at(file(), non_neg_integer(), pos_integer()) ::
          {:ok, binary()} | {:error, reason()}
  def pread_at(file, offset, size), do: NIF.pread_at(file, offset, size)

  @doc "Like `pread_at/3` for many locations; results in the same order."
  @spec pread_many(file(), [location()]) :: [{:ok, binary()} | {:error, reason()}]
  def pread_many(file, locs) when length(locs) <= @pread_step, do: NIF.pread_many(file, locs)

  def pread_many(file, locs) do
    locs |> Enum.chunk_every(@pread_step) |> Enum.flat_map(&NIF.pread_many(file, &1))
  end

  @doc """
  Flushes the file to stable storage. The fsync runs on a Rust thread; only the calling
  process waits (for its message), never a scheduler.
  """
  @spec fsync(file()) :: :ok | {:error, reason()}
  def fsync(file) do
    ref = make_ref()

    case NIF.fsync_async(file, ref) do
      :ok -> await(ref)
      {:error, _} = error -> error
    end
  end

  @doc "Flushes the directory holding `path` (its entries: a new file's name survives a crash)."
  @spec fsync_dir(Path.t()) :: :ok | {:error, reason()}
  def fsync_dir(path) do
    ref = make_ref()

    case NIF.fsync_dir_async(path(Path.dirname(path)), ref) do
      :ok -> await(ref)
      {:error, _} = error -> error
    end
  end

  defp await(ref) do
    receive do
      {^ref, result} -> result
    after
      @fsync_timeout -> {:error, :timeout}
    end
  end

  @doc "Cuts the file at `offset` (a torn tail reported by `scan/3`)."
  @spec truncate(file(), non_neg_integer()) :: :ok | {:error, reason()}
  def truncate(file, offset), do: NIF.truncate(file, offset)

  @doc """
  Reads up to `max_records` CRC-valid records from `from_offset` (fewer when a step's byte
  budget runs out). Ends with `{:more, next}`, `{:done, end}`, `{:torn, valid_end}` (file
  ends inside a record) or `{:corrupt, at}` (a complete-looking record is bad).
  """
  @spec scan(file(), non_neg_integer(), pos_integer()) ::
          {:ok, [entry()], scan_status()} | {:error, reason()}
  def scan(file, from_offset, max_records), do: NIF.scan(file, from_offset, max_records)

  @doc "Folds `fun` over every record from the first one; returns the final scan status."
  @spec fold(file(), acc, (entry(), acc -> acc)) :: {:ok, acc, scan_status()} | {:error, reason()}
        when acc: term()
  def fold(file, acc, fun), do: fold_loop(file, header_size(), acc, fun)

  defp fold_loop(file, from, acc, fun) do
    case NIF.scan(file, from, @fold_step) do
      {:ok, entries, {:more, next}} -> fold_loop(file, next, Enum.reduce(entries, acc, fun), fun)
      {:ok, entries, status} -> {:ok, Enum.reduce(entries, acc, fun), status}
      {:error, _} = error -> error
    end
  end

  @doc "The first offset >= `from_offset` where a CRC-valid record starts (resync after corruption)."
  @spec next_record(file(), non_neg_integer()) ::
          {:ok, non_neg_integer()} | :none | {:error, reason()}
  def next_record(file, from_offset) do
    case NIF.next_record_step(file, from_offset) do
      {:more, next} -> next_record(file, next)
      other -> other
    end
  end

  @doc "True when the flags mark a tombstone."
  @spec tombstone?(non_neg_integer()) :: boolean()
  def tombstone?(flags), do: Bitwise.band(flags, @tombstone) != 0

  @doc "True when the flags mark the last record of an `append_batch/3` call."
  @spec batch_end?(non_neg_integer()) :: boolean()
  def batch_end?(flags), do: Bitwise.band(flags, @batch_end) != 0

  @doc """
  Writes the hint file of a sealed data file: one entry per record, in file order,
  tombstones included. Written to `hint_path <> ".tmp"`, fsynced, renamed, directory
  fsynced. A torn data file gives `{:error, :eof}`, a corrupt one `{:error, :checksum_mismatch}`.
  """
  @spec hint_build(Path.t(), Path.t()) :: :ok | {:error, reason()}
  def hint_build(data_path, hint_path) do
    hint_path = path(hint_path)
    tmp = hint_path <> ".tmp"

    with {:ok, data} <- NIF.open_read(path(data_path)),
         {:ok, hint} <- NIF.hint_create(tmp),
         :ok <- hint_loop(data, hint, header_size(), header_size()),
         :ok <- fsync(hint),
         :ok <- rename(tmp, hint_path) do
      fsync_dir(hint_path)
    else
      {:error, _} = error ->
        _ = File.rm(tmp)
        error
    end
  end

  defp hint_loop(data, hint, data_off, hint_off) do
    case NIF.hint_build_step(data, hint, data_off, hint_off) do
      {:more, d, h} -> hint_loop(data, hint, d, h)
      :done -> :ok
      {:error, _} = error -> error
    end
  end

  @doc """
  Opens a hint file for `hint_step/2` (checks its header). Start reading at
  `header_size/0`.
  """
  @spec hint_open(Path.t()) :: {:ok, file()} | {:error, reason()}
  def hint_open(hint_path), do: NIF.hint_open(path(hint_path))

  @doc """
  Reads one bounded chunk of a hint file from `offset`: `{:ok, entries, {:more, next}}`,
  `{:ok, entries, :done}` at the end, or an error (a bad record: the entries before it
  came in earlier chunks and are valid).
  """
  @spec hint_step(file(), non_neg_integer()) ::
          {:ok, [entry()], {:more, non_neg_integer()} | :done} | {:error, reason()}
  def hint_step(hint, offset), do: NIF.hint_read_step(hint, offset)

  @doc """
  `hint_step/2` for loader `part` of `parts` (start-up splits the keys between
  loaders): a string record (key byte 0, `Store.Record`) comes only to the loader
  `part_of/2` names for the rest of its key, every other record to every loader. Also
  returns where the data file continues after the chunk's last entry, returned or not
  (`nil` when the chunk had none). With `{0, 1}` every entry is returned.
  """
  @spec hint_step(file(), non_neg_integer(), {non_neg_integer(), pos_integer()}) ::
          {:ok, [entry()], {:more, non_neg_integer()} | :done, non_neg_integer() | nil}
          | {:error, reason()}
  def hint_step(hint, offset, {part, parts}), do: NIF.hint_read_part(hint, offset, part, parts)

  @doc """
  Which of `parts` loaders takes `key`: CRC-32 modulo `parts`, as the NIF computes it
  for the records it filters.
  """
  @spec part_of(binary(), pos_integer()) :: non_neg_integer()
  def part_of(key, parts), do: rem(:erlang.crc32(key), parts)

  @doc "Reads every entry of a hint file (same shape as `scan/3` entries)."
  @spec hint_read(Path.t()) :: {:ok, [entry()]} | {:error, reason()}
  def hint_read(hint_path) do
    with {:ok, hint} <- NIF.hint_open(path(hint_path)) do
      hint_read_loop(hint, header_size(), [])
    end
  end

  defp hint_read_loop(hint, off, acc) do
    case NIF.hint_read_step(hint, off) do
      {:ok, entries, {:more, next}} -> hint_read_loop(hint, next, [entries | acc])
      {:ok, entries, :done} -> {:ok, finish(acc, entries)}
      {:error, _} = error -> error
    end
  end

  @doc """
  Copies exactly the records at `locations` (each CRC-verified; any bad one fails the
  whole call with `{:error, :checksum_mismatch}`) into a new data file `dst_path`, in the
  given order with seq and expiry preserved, fsyncs it, and writes its hint file
  (tmp, fsync, rename, directory fsync). Returns `{old_offset, new_offset, size}` per record.
  """
  @spec compact(Path.t(), [location()], Path.t(), Path.t()) ::
          {:ok, [{non_neg_integer(), non_neg_integer(), pos_integer()}]} | {:error, reason()}
  def compact(src_path, locations, dst_path, dst_hint_path) do
    dst_hint_path = path(dst_hint_path)
    tmp = dst_hint_path <> ".tmp"

    with {:ok, src} <- NIF.open_read(path(src_path)),
         {:ok, dst} <- NIF.create(path(dst_path)),
         {:ok, hint} <- NIF.hint_create(tmp),
         {:ok, moved} <-
           compact_loop(src, dst, hint, locations, header_size(), header_size(), []),
         :ok <- fsync(dst),
         :ok <- fsync(hint),
         :ok <- rename(tmp, dst_hint_path),
         :ok <- fsync_dir(dst_hint_path) do
      {:ok, moved}
    else
      {:error, _} = error ->
        _ = File.rm(tmp)
        error
    end
  end

  defp compact_loop(_src, _dst, _hint, [], _d, _h, acc), do: {:ok, finish(acc, [])}

  defp compact_loop(src, dst, hint, locs, d, h, acc) do
    ref = make_ref()

    with {:ok, rest} <- NIF.compact_step(src, dst, hint, locs, d, h, ref),
         {:ok, moved, d, h} <- await(ref) do
      compact_loop(src, dst, hint, rest, d, h, [moved | acc])
    end
  end

  defp rename(from, to) do
    case :file.rename(from, to) do
      :ok -> :ok
      {:error, posix} -> {:error, {:io, posix}}
    end
  end

  defp path(path), do: IO.chardata_to_string(path)
end
