defmodule FerricStore.Store.Compactor do
  @moduledoc false
  # Compaction of one sealed data file, run by the shard outside the Raft machine.
  #
  # 1. Read the file's entries (its hint file, or a scan).
  # 2. Keep the records the keydir still points at, plus tombstones and FLUSHDB markers
  #    (they hide older records in older files) unless this is the oldest file.
  # 3. `Bitcask.compact/4` copies them into generation + 1 of the same base and writes
  #    its hint file (both fsynced before anything points at them).
  # 4. Move each keydir row that STILL points at its old location (a compare-and-replace
  #    per row, run inside the ra server between two entries, so a concurrent write
  #    always wins); a copied record whose row moved on is dead in the new file.
  # 5. The caller deletes the old file after a grace period, so a reader that looked up
  #    a row just before the move can still read the old location.
  #
  # Records of a kind this module does not know how to move make it leave the file
  # alone rather than risk a row pointing at a deleted file.

  alias FerricStore.Bitcask
  alias FerricStore.Store.{Files, Record}

  require Logger

  @type result ::
          {:ok, %{new_fid: pos_integer(), kept: non_neg_integer(), bytes: non_neg_integer()}}

  @spec compact(map(), Path.t(), pos_integer(), boolean(), (function() -> term())) ::
          result() | {:error, term()}
  def compact(tables, dir, fid, oldest?, in_machine) do
    new_fid = Files.next_generation(fid)

    with {:ok, entries} <- entries(dir, fid),
         {:ok, keep} <- select(entries, tables, fid, oldest?),
         {:ok, moved} <- copy(dir, fid, new_fid, keep),
         {:ok, file} <- Bitcask.open_read(Files.data_path(dir, new_fid)) do
      :ets.insert(tables.files, {new_fid, file})

      moves =
        Enum.zip_with(keep, moved, fn {kind, _entry}, {old_off, new_off, size} ->
          {kind, old_off, new_off, size}
        end)

      bytes = Enum.reduce(moved, 0, fn {_, _, size}, acc -> acc + size end)

      with :ok <- move_all(tables, fid, new_fid, moves, in_machine),
           :ok <- in_machine.(fn -> settle(tables.meta, fid, new_fid, bytes) end) do
        {:ok, %{new_fid: new_fid, kept: length(moved), bytes: bytes}}
      end
    end
  end

  # Rows are moved inside the ra server, between two applied entries: an entry reads
  # the rows it replaces and publishes its own later in the same apply, so a row can
  # not change between the two without the entry seeing it. A record copied here whose
  # row changed since select/4 read it is dead in the new file and counted there (the
  # entry that replaced it counted the old file, which goes away), so the new file's
  # dead bytes are exact and it is compacted in its turn. Chunks keep each stop of the
  # apply loop short.
  @chunk 1_000

  defp move_all(tables, fid, new_fid, moves, in_machine) do
    moves
    |> Enum.chunk_every(@chunk)
    |> Enum.reduce_while(:ok, fn chunk, :ok ->
      case in_machine.(fn -> move_chunk(tables, fid, new_fid, chunk) end) do
        :ok -> {:cont, :ok}
        error -> {:halt, error}
      end
    end)
  end

  defp move_chunk(tables, fid, new_fid, chunk) do
    dead =
      Enum.reduce(chunk, 0, fn {kind, old_off, new_off, size}, dead ->
        case move(tables, kind, fid, old_off, new_fid, new_off) do
          0 -> dead + size
          _moved -> dead
        end
      end)

    if dead > 0,
      do: :ets.update_counter(tables.meta, {:dead, new_fid}, dead, {{:dead, new_fid}, 0})

    :ok
  end

  # Nothing points into the old file any more: its counter goes, the new file's size
  # comes (the machine only weighs files whose size it knows).
  defp settle(meta, fid, new_fid, bytes) do
    :ets.insert(meta, {{:size, new_fid}, bytes + Bitcask.header_size()})
    :ets.delete(meta, {:dead, fid})
    :ets.delete(meta, {:size, fid})
    :ok
  end

  defp entries(dir, fid) do
    hint = Files.hint_path(dir, fid)

    case File.exists?(hint) && Bitcask.hint_read(hint) do
      {:ok, entries} ->
        {:ok, entries}

      _ ->
        with {:ok, file} <- Bitcask.open_read(Files.data_path(dir, fid)),
             {:ok, acc, _status} <- Bitcask.fold(file, [], &[&1 | &2]) do
          {:ok, Enum.reverse(acc)}
        end
    end
  end

  defp select(entries, tables, fid, oldest?) do
    Enum.reduce_while(entries, {:ok, []}, fn {disk_key, off, _, _, _, flags} = entry,
                                             {:ok, acc} ->
      case classify(Record.decode(disk_key), Bitcask.tombstone?(flags), tables, fid, off) do
        :drop ->
          {:cont, {:ok, acc}}

        {:keep_unless_oldest, kind} ->
          {:cont, {:ok, if(oldest?, do: acc, else: [{kind, entry} | acc])}}

        {:keep, kind} ->
          {:cont, {:ok, [{kind, entry} | acc]}}

        :unknown ->
          {:halt, {:error, {:unknown_record, disk_key}}}
      end
    end)
    |> case do
      {:ok, keep} -> {:ok, Enum.reverse(keep)}
      error -> error
    end
  end

  defp classify(:flush, _tombstone?, _tables, _fid, _off), do: {:keep_unless_oldest, :marker}
  defp classify({_type, _key}, true, _tables, _fid, _off), do: {:keep_unless_oldest, :marker}

  defp classify({_type, key}, false, tables, fid, off) do
    case :ets.lookup(tables.keydir, key) do
      [{_, _, _, _, ^fid, ^off, _}] -> {:keep, {:row, key}}
      _ -> :drop
    end
  end

  # Collections (docs/collections.md): a header lives in the keydir like a string; a
  # member in the members table, tagged with its collection's generation.
  defp classify({:header, _type, _key, _meta}, true, _tables, _fid, _off),
    do: {:keep_unless_oldest, :marker}

  defp classify({:header, type, key, _meta}, false, tables, fid, off),
    do: classify({type, key}, false, tables, fid, off)

  defp classify({:member, _type, _key, _gen, _member, _score}, true, _tables, _fid, _off),
    do: {:keep_unless_oldest, :marker}

  defp classify({:member, _type, key, gen, member, _score}, false, tables, fid, off) do
    case :ets.lookup(tables.members, {key, member}) do
      [{_, _, ^gen, ^fid, ^off, _}] -> {:keep, {:member, key, member}}
      _ -> :drop
    end
  end

  defp classify(_other, _tombstone?, _tables, _fid, _off), do: :unknown

  defp copy(dir, fid, new_fid, keep) do
    locations = Enum.map(keep, fn {_kind, {_, off, size, _, _, _}} -> {off, size} end)

    # The next generation must not exist yet: rows may point into it.
    if File.exists?(Files.data_path(dir, new_fid)),
      do: {:error, {:exists, new_fid}},
      else: do_copy(dir, fid, new_fid, locations)
  end

  # A copy that fails (a damaged record in the old file) leaves no partial new file
  # behind: nothing points into it yet, and its name must stay free.
  defp do_copy(dir, fid, new_fid, locations) do
    new_path = Files.data_path(dir, new_fid)
    hint_path = Files.hint_path(dir, new_fid)

    case Bitcask.compact(Files.data_path(dir, fid), locations, new_path, hint_path) do
      {:error, _} = error ->
        File.rm(hint_path)
        File.rm(new_path)
        error

      ok ->
        ok
    end
  end

  # Markers (tombstones, FLUSHDB) have no row: they stay live in the new file.
  defp move(_tables, :marker, _fid, _old_off, _new_fid, _new_off), do: 1

  defp move(tables, {:member, key, member}, fid, old_off, new_fid, new_off) do
    :ets.select_replace(tables.members, [
      {{{key, member}, :"$1", :"$2", fid, old_off, :"$3"}, [],
       [{{{{key, member}}, :"$1", :"$2", new_fid, new_off, :"$3"}}]}
    ])
  end

  defp move(tables, {:row, key}, fid, old_off, new_fid, new_off) do
    :ets.select_replace(tables.keydir, [
      {{key, :"$1", :"$2", :"$3", fid, old_off, :"$4"}, [],
       [{{key, :"$1", :"$2", :"$3", new_fid, new_off, :"$4"}}]}
    ])
  end
end
