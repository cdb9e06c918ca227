defmodule FerricStore.Store.Compactor do
  @moduledoc false
  # Compaction of one sealed data file, run by the shard outside the Raft machine.
  #
  # 1. Read the file's entries (its hint file, or a scan).
  # 2. Keep the records the keydir still points at, plus tombstones and FLUSHDB markers
  #    (they hide older records in older files) unless this is the oldest file.
  # 3. `Bitcask.compact/4` copies them into generation + 1 of the same base and writes
  #    its hint file (both fsynced before anything points at them).
  # 4. Move each keydir row that STILL points at its old location (an atomic
  #    compare-and-replace per row, so a concurrent write always wins).
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

  @spec compact(map(), Path.t(), pos_integer(), boolean()) :: result() | {:error, term()}
  def compact(tables, dir, fid, oldest?) do
    new_fid = Files.next_generation(fid)

    with {:ok, entries} <- entries(dir, fid),
         {:ok, keep} <- select(entries, tables, fid, oldest?),
         {:ok, moved} <- copy(dir, fid, new_fid, keep),
         {:ok, file} <- Bitcask.open_read(Files.data_path(dir, new_fid)) do
      :ets.insert(tables.files, {new_fid, file})

      Enum.zip_with(keep, moved, fn {kind, {_k, _off, _size, _e, _s, _f}},
                                    {old_off, new_off, _} ->
        move(tables, kind, fid, old_off, new_fid, new_off)
      end)

      :ets.delete(tables.meta, {:dead, fid})
      bytes = Enum.reduce(moved, 0, fn {_, _, size}, acc -> acc + size end)
      {:ok, %{new_fid: new_fid, kept: length(moved), bytes: bytes}}
    end
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

  defp do_copy(dir, fid, new_fid, locations) do
    Bitcask.compact(
      Files.data_path(dir, fid),
      locations,
      Files.data_path(dir, new_fid),
      Files.hint_path(dir, new_fid)
    )
  end

  defp move(_tables, :marker, _fid, _old_off, _new_fid, _new_off), do: :ok

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
