defmodule FerricStore.Raft.Machine do
  @moduledoc false
  # The ra state machine of one shard.
  #
  # Commands:
  #   {:batch, [{now, family, op}]}  operations from many callers in one Raft entry; the
  #                                  reply is the list of their results, in order
  #   {:checkpoint, index}           the shard fsynced every data file up to `index`:
  #                                  ra may drop the log up to there
  #
  # Invariants:
  # - apply/3 is deterministic: time comes from the caller (`now` in each op), never
  #   from the clock; replicas replay it and must reach the same keydir.
  # - The machine state is tiny and constant (instance and shard). The data set lives
  #   in the Bitcask files and the ETS keydir, which are a materialised view of the log.
  # - Every entry with index <= the shard's applied index is already reflected in the
  #   keydir and the files (start-up recovered it from them), so replay skips it.
  # - Only the last record of an entry carries BATCH_END; start-up drops a trailing
  #   entry without it, so an entry is on disk whole or not at all.

  @behaviour :ra_machine

  alias FerricStore.Bitcask
  alias FerricStore.Store.{Batch, Keydir}

  require Logger

  @families %{
    strings: FerricStore.Commands.Strings,
    keyspace: FerricStore.Commands.Keyspace,
    hashes: FerricStore.Commands.Hashes,
    lists: FerricStore.Commands.Lists,
    sets: FerricStore.Commands.Sets,
    zsets: FerricStore.Commands.ZSets,
    objects: FerricStore.Commands.Objects
  }

  @impl true
  def init(%{instance: instance, shard: shard}),
    do: %{instance: instance, shard: shard, tables: Keydir.tables(instance, shard)}

  @impl true
  def apply(%{index: index}, {:batch, ops}, state) do
    tables = state.tables

    if index <= Keydir.meta(tables.meta, :applied, 0) do
      {state, :replayed}
    else
      apply_batch(index, ops, tables, state)
    end
  end

  # Checkpoints can reach the log out of order with respect to the indexes they name
  # (a later one can be snapshotted before an earlier one's entry is applied), and on
  # replay after a restart an old one can name an index below ra's snapshot, whose term
  # ra no longer knows (ra exits with term_not_found_for_index). So the state, which is
  # what ra snapshots, remembers the highest released index and older ones do nothing.
  def apply(%{index: index}, {:checkpoint, upto}, state) when upto < index do
    if upto > Map.get(state, :released, 0) do
      state = Map.put(state, :released, upto)
      {state, :ok, [{:release_cursor, upto, state}]}
    else
      {state, :ok}
    end
  end

  def apply(_meta, _unknown, state), do: {state, {:error, :unknown_command}}

  # Leader-only duties (active expiry) follow the Raft role. The shard process is
  # registered before its ra server starts, so it can always receive this.
  @impl true
  def state_enter(role, %{instance: instance, shard: shard}) do
    [{:send_msg, FerricStore.Store.Shard.name(instance, shard), {:raft_role, role}, [:local]}]
  end

  # ra asks the machine's aux handler after every applied entry; without this callback
  # each ask raises and catches `undef` inside ra (a few microseconds per entry).
  @impl true
  def handle_aux(_role, _type, _command, aux, log, _state), do: {:no_reply, aux, log}

  ## Helpers

  defp apply_batch(index, ops, tables, state) do
    {results, batch} = run_ops(ops, Batch.new(tables, index), [])
    batch = Batch.seal(batch)

    case commit(batch, tables, index, state) do
      {:ok, effects} ->
        {state, {:results, results}, effects}

      {:error, reason} ->
        Logger.error("FerricStore shard #{state.shard}: append failed: #{inspect(reason)}")
        Keydir.put_meta(tables.meta, :applied, index)
        error = {:error, FerricStore.Error.new(:io, io_message(reason))}
        {state, {:results, Enum.map(results, fn _ -> error end)}}
    end
  end

  defp io_message({:io, :enospc}), do: "ERR write failed: no space left on device"
  defp io_message(reason), do: "ERR write failed: #{inspect(reason)}"

  defp run_ops([], batch, acc), do: {Enum.reverse(acc), batch}

  defp run_ops([{now, family, op} | rest], batch, acc) do
    {result, batch} = execute(Map.fetch!(@families, family), op, Batch.at(batch, now))
    run_ops(rest, batch, [result | acc])
  end

  # A bug in one operation must not take the shard down: it fails alone, and the
  # batch continues from the state before it (identically on every replica).
  defp execute(module, op, batch) do
    module.execute(op, batch)
  rescue
    exception ->
      Logger.error(
        "FerricStore operation failed: " <> Exception.format(:error, exception, __STACKTRACE__)
      )

      {{:error, FerricStore.Error.new(:internal, "ERR internal error")}, batch}
  end

  # Appends the entry's records in one write, then publishes the new rows.
  defp commit(%Batch{count: 0}, tables, index, _state) do
    Keydir.put_meta(tables.meta, :applied, index)
    {:ok, []}
  end

  defp commit(batch, tables, index, state) do
    {fid, file, offset} = Keydir.meta(tables.meta, :active)
    records = Enum.reverse(batch.records)

    with {:ok, locations} <- append(file, offset, records) do
      locations = List.to_tuple(locations)
      {last_off, last_size} = elem(locations, tuple_size(locations) - 1)
      new_end = last_off + last_size
      dead = if batch.flushed, do: flush_tables(tables), else: %{}
      dead = publish(batch, locations, fid, tables, dead)
      dead = FerricStore.Store.Members.publish(batch, locations, fid, tables, dead)
      Keydir.count_dead(tables.meta, dead)
      dead_fids = for {f, _} <- dead, f != fid, do: f
      Keydir.put_meta(tables.meta, :active, {fid, file, new_end})
      Keydir.put_meta(tables.meta, :applied, index)
      effects = after_write(tables, state, index, {fid, file}, new_end, new_end - offset)
      {:ok, compaction_effects(tables, state, dead_fids) ++ effects}
    end
  end

  # Batch only builds records of binaries (Batch.put/5, put_member/6); should a record
  # still be refused, the entry fails like an I/O error instead of crashing the ra
  # server, which would crash again on every replay of the entry.
  defp append(file, offset, records) do
    Bitcask.append_batch(file, offset, records)
  rescue
    exception -> {:error, {:refused, Exception.message(exception)}}
  end

  # Returns the bytes of every row, now dead (members are cleared by Members.publish/5).
  defp flush_tables(tables) do
    dead = Keydir.row_bytes(tables)
    :ets.delete_all_objects(tables.keydir)
    :ets.delete_all_objects(tables.expiry)
    :ets.match_delete(tables.meta, {{:raw, :_}, :_})
    dead
  end

  # Adds the bytes the entry made dead, by file id, to `dead`.
  defp publish(batch, locations, fid, %{keydir: keydir, expiry: expiry, meta: meta}, dead) do
    Enum.reduce(batch.overlay, dead, fn {key, entry}, dead ->
      {old_exp, dead} =
        case Batch.old_row(batch, key) do
          {_, _, _, exp, old_fid, _, size} -> {exp, Keydir.add_dead(dead, old_fid, size)}
          nil -> {0, dead}
        end

      case entry do
        {:deleted, _} ->
          :ets.delete(keydir, key)
          unmark_raw(meta, key)
          Keydir.reindex_expiry(expiry, key, old_exp, 0)

        {:row, type, value, exp, i} ->
          {off, size} = elem(locations, i)
          :ets.insert(keydir, {key, type, value, exp, fid, off, size})

          case batch.raw do
            %{^key => kind} when type == :string -> :ets.insert(meta, {{:raw, key}, kind})
            _ -> unmark_raw(meta, key)
          end

          Keydir.reindex_expiry(expiry, key, old_exp, exp)
      end

      dead
    end)
  end

  # meta has read_concurrency: a write takes its write lock, a read does not, so a raw
  # mark (rare) is looked for before it is deleted.
  defp unmark_raw(meta, key) do
    if :ets.member(meta, {:raw, key}), do: :ets.delete(meta, {:raw, key})
  end

  # Rotation and checkpoints: cheap counters here, the slow work (fsync, hint files)
  # in the shard process, which the effects ask for.
  #
  # A full file is fsynced here, before any record goes to the next one: start-up reads
  # a sealed file's bad record as damage to skip, not as the torn tail of unsynced writes
  # (which ra would replay), and that holds only if no later record can reach the disk
  # before the sealed file's last one. At most `checkpoint_bytes` of it are unsynced.
  defp after_write(tables, state, index, {fid, file}, new_end, written) do
    unsynced = :ets.update_counter(tables.meta, :unsynced, {2, written}, {:unsynced, 0})
    entries = :ets.update_counter(tables.meta, :unsynced_entries, 1, {:unsynced_entries, 0})
    config = Keydir.meta(tables.meta, :config)

    rotate =
      if new_end >= config.max_file_size do
        synced? = sync_sealed(file, fid)
        next = FerricStore.Store.Files.next_base(fid)
        {:ok, file} = rotate(tables, next)
        Keydir.put_meta(tables.meta, {:size, fid}, new_end)
        Keydir.put_meta(tables.meta, :active, {next, file, Bitcask.header_size()})
        [{:send_msg, shard_name(state), {:sealed, fid, synced?}, [:local]}]
      else
        []
      end

    if unsynced >= config.checkpoint_bytes or entries >= config.checkpoint_entries do
      Keydir.put_meta(tables.meta, :unsynced, 0)
      Keydir.put_meta(tables.meta, :unsynced_entries, 0)
      rotate ++ [{:send_msg, shard_name(state), {:checkpoint, index, fid}, [:local]}]
    else
      rotate
    end
  end

  # An fsync that fails leaves the entries in ra's log: checkpoints sync every file up to
  # theirs first (the shard), so none releases them while this file is not on disk.
  # The shard is told whether it worked (`{:sealed, fid, synced?}`): if not, it stops
  # checkpointing (a later fsync of the file could report success for lost pages).
  defp sync_sealed(file, fid) do
    case Bitcask.fsync(file) do
      :ok ->
        true

      {:error, reason} ->
        Logger.error("FerricStore: fsync of sealed file #{fid}: #{inspect(reason)}")
        false
    end
  end

  # A sealed file whose dead bytes passed the configured share of its size is handed to
  # the shard for compaction (counted on every overwrite and delete: no polling).
  defp compaction_effects(_tables, _state, []), do: []

  defp compaction_effects(tables, state, dead_fids) do
    config = Keydir.meta(tables.meta, :config)

    due =
      for fid <- Enum.uniq(dead_fids),
          size = Keydir.meta(tables.meta, {:size, fid}),
          is_integer(size),
          dead = Keydir.meta(tables.meta, {:dead, fid}, 0),
          dead >= config.compaction_min_bytes and dead >= size * config.compaction_ratio,
          do: fid

    case due do
      [] ->
        []

      fids ->
        [
          {:send_msg, shard_name(state), {:compact, fids}, [:local]}
        ]
    end
  end

  defp shard_name(state), do: FerricStore.Store.Shard.name(state.instance, state.shard)

  defp rotate(tables, fid) do
    dir = Keydir.meta(tables.meta, :dir)
    path = FerricStore.Store.Files.data_path(dir, fid)

    with {:ok, file} <- Bitcask.open(path) do
      :ets.insert(tables.files, {fid, file})
      {:ok, file}
    end
  end
end
