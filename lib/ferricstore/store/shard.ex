defmodule FerricStore.Store.Shard do
  @moduledoc false
  # The process shell of one shard: owns its ETS tables, rebuilds the keydir from the
  # data files at start-up, starts (or restarts) the shard's ra server, and does the
  # slow file work the machine asks for (fsync for checkpoints, hint files for sealed
  # data files) so the machine never blocks on it.

  use GenServer

  alias FerricStore.Bitcask
  alias FerricStore.Store.{Compactor, Files, Keydir, Record}

  require Logger

  @scan_chunk 50_000

  ## Public API

  def start_link(opts) do
    GenServer.start_link(__MODULE__, opts, name: name(opts[:instance], opts[:shard]))
  end

  def child_spec(opts) do
    %{
      id: {__MODULE__, opts[:shard]},
      start: {__MODULE__, :start_link, [opts]},
      shutdown: 30_000
    }
  end

  @spec name(atom(), non_neg_integer()) :: atom()
  def name(instance, shard), do: :"#{instance}.shard.#{shard}"

  @spec server_id(atom(), non_neg_integer()) :: {atom(), node()}
  def server_id(instance, shard), do: {:"#{instance}.ra.#{shard}", node()}

  defdelegate data_path(dir, fid), to: Files
  defdelegate hint_path(dir, fid), to: Files

  @doc "Start-up statistics of the shard (files, records loaded, records skipped)."
  def stats(instance, shard), do: GenServer.call(name(instance, shard), :stats)

  @doc """
  Compacts every sealed data file now (whatever its dead-bytes ratio) and waits for it.
  Compaction otherwise starts by itself when a file's dead bytes pass the threshold.
  """
  def compact(instance, shard), do: GenServer.call(name(instance, shard), :compact_all, :infinity)

  @doc "Fsyncs every data file now and lets ra truncate its log (used on shutdown)."
  def checkpoint(instance, shard), do: GenServer.call(name(instance, shard), :checkpoint, 60_000)

  ## Callbacks

  @impl true
  def init(opts) do
    Process.flag(:trap_exit, true)
    instance = Keyword.fetch!(opts, :instance)
    shard = Keyword.fetch!(opts, :shard)
    dir = Path.join(Keyword.fetch!(opts, :data_dir), "shard_#{shard}")
    tables = Keydir.tables(instance, shard)
    File.mkdir_p!(dir)
    Keydir.create(tables)

    Keydir.put_meta(tables.meta, :config, %{
      max_file_size: Keyword.get(opts, :max_file_size, 256 * 1024 * 1024),
      checkpoint_bytes: Keyword.get(opts, :checkpoint_bytes, 32 * 1024 * 1024),
      checkpoint_entries: Keyword.get(opts, :checkpoint_entries, 100_000),
      compaction_ratio: Keyword.get(opts, :compaction_ratio, 0.35),
      compaction_min_bytes: Keyword.get(opts, :compaction_min_bytes, 1024 * 1024)
    })

    Keydir.put_meta(tables.meta, :dir, dir)
    stats = recover(dir, tables)
    server_id = server_id(instance, shard)
    :ok = start_ra(opts[:ra_system], server_id, instance, shard, opts)

    {:ok,
     %{
       instance: instance,
       shard: shard,
       dir: dir,
       tables: tables,
       server_id: server_id,
       ra_system: opts[:ra_system],
       stats: stats,
       compact_queue: :queue.new(),
       compacting: nil,
       # Compacted files kept readable for a grace period: never compacted again.
       retiring: MapSet.new(),
       waiting: []
     }
     |> then(&enqueue_compactions(&1, due_for_compaction(&1)))
     |> next_compaction()}
  end

  @impl true
  def handle_call(:stats, _from, state), do: {:reply, state.stats, state}

  def handle_call(:compact_all, from, state) do
    sealed = sealed_fids(state)
    state = %{state | waiting: [{from, sealed} | state.waiting]}
    {:noreply, state |> enqueue_compactions(sealed) |> next_compaction() |> answer_waiting()}
  end

  def handle_call(:checkpoint, _from, state) do
    index = Keydir.meta(state.tables.meta, :applied, 0)
    {:reply, :ok, do_checkpoint(index, state)}
  end

  @impl true
  def handle_info({:checkpoint, index}, state), do: {:noreply, do_checkpoint(index, state)}

  def handle_info({:raft_role, role}, state) do
    Keydir.put_meta(state.tables.meta, :leader, role == :leader)
    {:noreply, state}
  end

  def handle_info({:sealed, fid}, state) do
    [{_, file}] = :ets.lookup(state.tables.files, fid)

    with :ok <- Bitcask.fsync(file),
         :ok <- Bitcask.hint_build(data_path(state.dir, fid), hint_path(state.dir, fid)) do
      :ok
    else
      {:error, reason} -> Logger.warning("hint file for #{fid} not written: #{inspect(reason)}")
    end

    {:noreply, state}
  end

  def handle_info({:compact, fids}, state) do
    {:noreply, state |> enqueue_compactions(fids) |> next_compaction()}
  end

  def handle_info({:compacted, fid, result}, %{compacting: {fid, _pid}} = state) do
    case result do
      {:ok, %{new_fid: new_fid, bytes: bytes}} ->
        Keydir.put_meta(state.tables.meta, {:size, new_fid}, bytes + Bitcask.header_size())
        :ets.delete(state.tables.meta, {:size, fid})
        # Readers that looked the row up just before it moved may still read the old
        # file: it goes away a little later.
        Process.send_after(self(), {:delete_file, fid}, 2_000)
        {:noreply, finish_compaction(%{state | retiring: MapSet.put(state.retiring, fid)})}

      {:error, reason} ->
        Logger.warning("compaction of file #{fid} in #{state.dir} failed: #{inspect(reason)}")
        {:noreply, finish_compaction(state)}
    end
  end

  def handle_info({:delete_file, fid}, state) do
    :ets.delete(state.tables.files, fid)
    Files.remove(state.dir, fid)
    {:noreply, %{state | retiring: MapSet.delete(state.retiring, fid)}}
  end

  def handle_info({:EXIT, pid, _reason}, %{compacting: {fid, pid}} = state) do
    # The compaction process died without reporting: its output has no effect.
    handle_info({:compacted, fid, {:error, :crashed}}, state)
  end

  def handle_info({:EXIT, _pid, :normal}, state), do: {:noreply, state}
  def handle_info({:EXIT, _pid, reason}, state), do: {:stop, reason, state}
  def handle_info(_msg, state), do: {:noreply, state}

  @impl true
  def terminate(_reason, state) do
    # The ra system may already be gone (it failed, e.g. on a full disk).
    try do
      :ra.stop_server(state.ra_system, state.server_id)
    catch
      _, _ -> :ok
    end

    # Everything the machine appended is made durable before the tables go away.
    for {_fid, file} <- :ets.tab2list(state.tables.files), do: Bitcask.fsync(file)
    :ok
  end

  ## Helpers

  defp do_checkpoint(index, state) do
    {_fid, active, _} = Keydir.meta(state.tables.meta, :active)

    case Bitcask.fsync(active) do
      :ok ->
        :ra.pipeline_command(state.server_id, {:checkpoint, index}, :no_correlation, :normal)

      {:error, reason} ->
        Logger.error("checkpoint fsync failed: #{inspect(reason)}")
    end

    state
  end

  defp finish_compaction(state),
    do: %{state | compacting: nil} |> next_compaction() |> answer_waiting()

  # Sealed files that may be compacted: not the active one, not one already compacted
  # and waiting to be deleted.
  defp sealed_fids(%{tables: tables, retiring: retiring}) do
    {active, _, _} = Keydir.meta(tables.meta, :active)

    for {fid, _} <- :ets.tab2list(tables.files),
        fid != active and not MapSet.member?(retiring, fid),
        do: fid
  end

  defp due_for_compaction(state) do
    %{tables: tables} = state
    config = Keydir.meta(tables.meta, :config)

    for fid <- sealed_fids(state),
        size = Keydir.meta(tables.meta, {:size, fid}, 0),
        dead = Keydir.meta(tables.meta, {:dead, fid}, 0),
        dead >= config.compaction_min_bytes and dead >= size * config.compaction_ratio,
        do: fid
  end

  defp enqueue_compactions(state, fids) do
    queued = :queue.to_list(state.compact_queue)
    current = if state.compacting, do: [elem(state.compacting, 0)], else: []

    Enum.reduce(fids, state, fn fid, state ->
      if fid in queued or fid in current,
        do: state,
        else: %{state | compact_queue: :queue.in(fid, state.compact_queue)}
    end)
  end

  # One compaction at a time, in a linked process so the shard keeps serving
  # checkpoints and hint requests meanwhile.
  defp next_compaction(%{compacting: nil} = state) do
    case :queue.out(state.compact_queue) do
      {:empty, _} ->
        state

      {{:value, fid}, queue} ->
        state = %{state | compact_queue: queue}

        if fid in sealed_fids(state) do
          shard = self()
          %{tables: tables, dir: dir} = state
          oldest? = fid == Enum.min(sealed_fids(state))

          pid =
            spawn_link(fn ->
              send(shard, {:compacted, fid, Compactor.compact(tables, dir, fid, oldest?)})
            end)

          %{state | compacting: {fid, pid}}
        else
          next_compaction(state)
        end
    end
  end

  defp next_compaction(state), do: state

  defp answer_waiting(%{waiting: []} = state), do: state

  defp answer_waiting(state) do
    busy = MapSet.new(:queue.to_list(state.compact_queue))
    busy = if state.compacting, do: MapSet.put(busy, elem(state.compacting, 0)), else: busy

    {done, waiting} =
      Enum.split_with(state.waiting, fn {_from, fids} ->
        not Enum.any?(fids, &MapSet.member?(busy, &1))
      end)

    Enum.each(done, fn {from, _} -> GenServer.reply(from, :ok) end)
    %{state | waiting: waiting}
  end

  defp start_ra(system, server_id, instance, shard, opts) do
    machine = {:module, FerricStore.Raft.Machine, %{instance: instance, shard: shard}}

    case :ra.restart_server(system, server_id) do
      :ok ->
        :ok

      {:error, {:already_started, _}} ->
        :ok

      {:error, _not_known} ->
        uid = "#{instance}_#{shard}" |> String.replace(~r/[^A-Za-z0-9_]/, "_")

        config = %{
          id: server_id,
          uid: uid,
          cluster_name: :"#{instance}.shard.#{shard}",
          # ra snapshots (and drops log segments) at a release cursor once this many
          # entries passed since the previous snapshot.
          log_init_args: %{
            uid: uid,
            snapshot_interval: Keyword.get(opts, :snapshot_interval, 4096)
          },
          initial_members: [server_id],
          machine: machine
        }

        :ok = :ra.start_server(system, config)
    end

    :ok = :ra.trigger_election(server_id)

    with :ok <- await_leader(server_id, 200) do
      apply_barrier(server_id)
    end
  end

  # Entries a killed node had committed but not applied are re-applied only once the
  # new leader commits in its new term. An empty batch through the log is applied after
  # all of them: when it returns, every acknowledged write is in the keydir, before the
  # instance serves its first read.
  defp apply_barrier(server_id) do
    case :ra.process_command(server_id, {:batch, []}, 30_000) do
      {:ok, _reply, _leader} -> :ok
      other -> {:error, {:apply_barrier, other}}
    end
  end

  defp await_leader(_server_id, 0), do: {:error, :no_leader}

  defp await_leader(server_id, tries) do
    case :ra.members(server_id, 1_000) do
      {:ok, _members, {_, _} = _leader} ->
        :ok

      _ ->
        Process.sleep(25)
        await_leader(server_id, tries - 1)
    end
  end

  # Rebuilds the keydir from the data files: hint files for sealed files (a scan when a
  # hint is missing or corrupt), a CRC-checked scan of the active file cut at the last
  # complete Raft entry.
  defp recover(dir, tables) do
    started = System.monotonic_time(:millisecond)
    fids = Files.list(dir)
    now = System.os_time(:millisecond)
    stats = %{files: length(fids), loaded: 0, skipped: 0, truncated_bytes: 0, applied: 0}

    {sealed, active} =
      case fids do
        [] -> {[], Files.first()}
        _ -> {Enum.drop(fids, -1), List.last(fids)}
      end

    sealed =
      Enum.map(sealed, fn fid ->
        {:ok, file} = Bitcask.open_read(data_path(dir, fid))
        {:ok, size} = Bitcask.size(file)
        :ets.insert(tables.files, {fid, file})
        Keydir.put_meta(tables.meta, {:size, fid}, size)
        {fid, file}
      end)

    {:ok, file} = Bitcask.open(data_path(dir, active))
    :ets.insert(tables.files, {active, file})

    # Reading the files (hint files, scans) and filling ETS take about as long each:
    # a reader process reads ahead while this process inserts.
    plan =
      Enum.map(sealed, fn {fid, f} -> {:sealed, fid, f, hint_path(dir, fid)} end) ++
        [{:active, active, file}]

    reader = start_reader(plan)

    stats =
      Enum.reduce(sealed, stats, fn {fid, f}, stats ->
        load_sealed(dir, fid, f, tables, now, stats)
      end)

    {stats, end_offset} = load_active(file, active, tables, now, stats)
    stop_reader(reader)
    FerricStore.Store.Members.finish_load(tables)
    Keydir.put_meta(tables.meta, :active, {active, file, end_offset})
    Keydir.put_meta(tables.meta, :applied, stats.applied)
    stats = Map.put(stats, :load_ms, System.monotonic_time(:millisecond) - started)
    Keydir.put_meta(tables.meta, :recovery, stats)

    if stats.skipped > 0 or stats.truncated_bytes > 0 do
      Logger.warning("FerricStore recovery in #{dir}: #{inspect(stats)}")
    end

    stats
  end

  ## Read-ahead at start-up
  #
  # The reader performs, in order, exactly the reads the loader will ask for: per sealed
  # file its hint file, and a scan of the file when the hint is missing or unusable; then
  # the scan of the active file. Scans follow {:more, next} and stop at any other status
  # (a resync after corruption is read by the loader itself). At most two results wait
  # in the loader's mailbox.

  @read_ahead 2

  defp start_reader(plan) do
    loader = self()
    pid = spawn_link(fn -> read_plan(plan, loader, @read_ahead) end)
    Process.put(:ferricstore_reader, pid)
    pid
  end

  defp stop_reader(pid) do
    Process.delete(:ferricstore_reader)
    Process.unlink(pid)
    Process.exit(pid, :kill)
    flush_reads()
  end

  defp flush_reads do
    receive do
      {:read_ahead, _, _} -> flush_reads()
    after
      0 -> :ok
    end
  end

  defp read_plan([], _loader, _credits), do: :ok

  defp read_plan([{:sealed, fid, file, hint} | rest], loader, credits) do
    start = Bitcask.header_size()

    {credits, resume} =
      case if(File.exists?(hint), do: Bitcask.hint_open(hint), else: :no_hint) do
        {:ok, h} -> read_hints(h, fid, start, start, loader, credits)
        other -> {emit(loader, {:hint, fid, start}, other, credits), start}
      end

    credits = if resume, do: read_scans(file, fid, resume, loader, credits), else: credits
    read_plan(rest, loader, credits)
  end

  defp read_plan([{:active, fid, file} | rest], loader, credits) do
    credits = read_scans(file, fid, Bitcask.header_size(), loader, credits)
    read_plan(rest, loader, credits)
  end

  # Hint chunks one by one (the loader inserts one while the next is read). Returns the
  # data offset to scan from when the hint turns out bad part-way, nil when it was whole.
  defp read_hints(hint, fid, offset, resume, loader, credits) do
    result = Bitcask.hint_step(hint, offset)
    credits = emit(loader, {:hint, fid, offset}, result, credits)

    case result do
      {:ok, entries, {:more, next}} ->
        read_hints(hint, fid, next, resume_after(entries, resume), loader, credits)

      {:ok, _entries, :done} ->
        {credits, nil}

      _error ->
        {credits, resume}
    end
  end

  # Where the data file continues after the records of these hint entries.
  defp resume_after([], resume), do: resume

  defp resume_after(entries, _resume) do
    {_key, off, size, _exp, _seq, _flags} = List.last(entries)
    off + size
  end

  defp read_scans(file, fid, offset, loader, credits) do
    result = Bitcask.scan(file, offset, @scan_chunk)
    credits = emit(loader, {:scan, fid, offset}, result, credits)

    case result do
      {:ok, _, {:more, next}} -> read_scans(file, fid, next, loader, credits)
      _ -> credits
    end
  end

  defp emit(loader, key, result, 0) do
    receive do
      :read_credit -> emit(loader, key, result, 1)
    end
  end

  defp emit(loader, key, result, credits) do
    send(loader, {:read_ahead, key, result})
    credits - 1
  end

  # The loader's side: a planned read comes from the reader, in order.
  defp planned_read(key) do
    reader = Process.get(:ferricstore_reader)

    receive do
      {:read_ahead, ^key, result} ->
        send(reader, :read_credit)
        result
    end
  end

  defp load_sealed(dir, fid, file, tables, now, stats) do
    start = Bitcask.header_size()
    load_hints(dir, fid, file, tables, now, stats, start, start)
  end

  # A sealed file is loaded from its hint file, chunk by chunk. When the hint is missing
  # or bad part-way, the entries already loaded are valid (each is CRC-checked) and the
  # data file is scanned from the end of the last one.
  defp load_hints(dir, fid, file, tables, now, stats, offset, resume) do
    case planned_read({:hint, fid, offset}) do
      {:ok, entries, {:more, next}} ->
        stats = load_entries(entries, fid, tables, now, stats)
        load_hints(dir, fid, file, tables, now, stats, next, resume_after(entries, resume))

      {:ok, entries, :done} ->
        load_entries(entries, fid, tables, now, stats)

      other ->
        if other != :no_hint do
          Logger.warning(
            "hint file #{hint_path(dir, fid)} unusable (#{inspect(other)}), scanning its data file"
          )
        end

        {stats, _pending, _end} = scan_all(file, fid, tables, now, stats, true, resume)
        stats
    end
  end

  defp load_active(file, fid, tables, now, stats) do
    # Records after the last BATCH_END belong to a Raft entry that was not completely
    # written: drop them (ra replays that entry) and cut the file there.
    {stats, _pending, cut} = scan_all(file, fid, tables, now, stats, false)
    {:ok, size} = Bitcask.size(file)

    if size > cut do
      :ok = Bitcask.truncate(file, cut)
      {%{stats | truncated_bytes: stats.truncated_bytes + size - cut}, cut}
    else
      {stats, cut}
    end
  end

  # Scans a whole data file, loading complete entries. Returns the records of a trailing
  # incomplete entry and the end of the last complete entry.
  #
  # In a sealed file (fsynced when it was sealed) a corrupt record is counted and
  # skipped: the scan resumes at the next valid record. In the active file everything
  # from the first bad record on is cut instead: the records after it may come from
  # writes the kernel had not flushed in order, and ra replays every entry after the
  # last checkpoint, which is where any such hole must lie.
  defp scan_all(file, fid, tables, now, stats, resync?, start \\ Bitcask.header_size()) do
    scan_from(file, fid, start, tables, now, stats, [], start, {resync?, true})
  end

  # `planned?`: this scan step is one the reader reads ahead (false after a resync).
  defp scan_from(file, fid, offset, tables, now, stats, pending, good_end, {resync?, planned?}) do
    {:ok, entries, status} =
      if planned?,
        do: planned_read({:scan, fid, offset}),
        else: Bitcask.scan(file, offset, @scan_chunk)

    {stats, pending, good_end} =
      Enum.reduce(entries, {stats, pending, good_end}, fn entry, {stats, pending, good_end} ->
        {_key, off, size, _exp, _seq, flags} = entry

        if Bitcask.batch_end?(flags) do
          stats =
            [entry | pending]
            |> Enum.reverse()
            |> load_entries(fid, tables, now, stats)

          {stats, [], off + size}
        else
          {stats, [entry | pending], good_end}
        end
      end)

    case status do
      {:more, next} ->
        scan_from(file, fid, next, tables, now, stats, pending, good_end, {resync?, planned?})

      {:done, _end} ->
        {stats, Enum.reverse(pending), good_end}

      {bad, at} when bad in [:torn, :corrupt] and resync? ->
        # In a sealed file a flipped length bit looks like a torn tail: look for the
        # next valid record either way.
        # A sealed file holds whole entries only: the valid records before the bad
        # one are loaded as they are.
        stats = pending |> Enum.reverse() |> load_entries(fid, tables, now, stats)

        stats = %{stats | skipped: stats.skipped + 1}

        case Bitcask.next_record(file, at + 1) do
          {:ok, next} ->
            scan_from(file, fid, next, tables, now, stats, [], good_end, {true, false})

          :none ->
            {stats, [], good_end}
        end

      {:torn, _at} ->
        {stats, Enum.reverse(pending), good_end}

      {:corrupt, _at} ->
        {%{stats | skipped: stats.skipped + 1}, Enum.reverse(pending), good_end}
    end
  end

  # Start-up cost is dominated by this loop (a million keys: about a million ETS
  # inserts), so the common case, a live string key seen for the first time, is one
  # insert_new; counters are kept outside the per-entry path.
  defp load_entries(entries, fid, tables, now, stats) do
    applied = load_loop(entries, fid, tables, now, stats.applied)
    %{stats | loaded: stats.loaded + length(entries), applied: applied}
  end

  defp load_loop([], _fid, _tables, _now, applied), do: applied

  # <<0, key>> is a string record (Record); flags 0 or BATCH_END only: not a tombstone.
  defp load_loop(
         [{<<0, key::binary>>, off, size, exp, seq, flags} = entry | rest],
         fid,
         tables,
         now,
         applied
       )
       when flags in [0, 2] and (exp == 0 or exp > now) do
    if :ets.insert_new(tables.keydir, {key, :string, nil, exp, fid, off, size}) do
      if exp != 0, do: :ets.insert(tables.expiry, {{exp, key}})
    else
      load_entry(entry, fid, tables, now)
    end

    load_loop(rest, fid, tables, now, max(applied, seq))
  end

  defp load_loop([{_, _, _, _, seq, _} = entry | rest], fid, tables, now, applied) do
    load_entry(entry, fid, tables, now)
    load_loop(rest, fid, tables, now, max(applied, seq))
  end

  defp load_entry({disk_key, off, size, exp, seq, flags}, fid, tables, now) do
    case Record.decode(disk_key) do
      :flush ->
        :ets.delete_all_objects(tables.keydir)
        :ets.delete_all_objects(tables.expiry)
        FerricStore.Store.Members.clear(tables)

      {type, key} ->
        old_exp =
          case :ets.lookup(tables.keydir, key) do
            [{_, _, _, e, old_fid, _, old_size}] ->
              :ets.update_counter(tables.meta, {:dead, old_fid}, old_size, {{:dead, old_fid}, 0})
              e

            [] ->
              0
          end

        if Bitcask.tombstone?(flags) or (exp != 0 and exp <= now) do
          :ets.delete(tables.keydir, key)
          Keydir.reindex_expiry(tables.expiry, key, old_exp, 0)
        else
          :ets.insert(tables.keydir, {key, type, nil, exp, fid, off, size})
          Keydir.reindex_expiry(tables.expiry, key, old_exp, exp)
        end

      collection when elem(collection, 0) in [:header, :member] ->
        entry = {disk_key, off, size, exp, seq, flags}
        FerricStore.Store.Members.load_entry(collection, entry, fid, tables, now)

      :unknown ->
        :ok
    end
  end
end
