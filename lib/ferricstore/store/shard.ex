defmodule FerricStore.Store.Shard do
  @moduledoc false
  # The process shell of one shard: owns its ETS tables, rebuilds the keydir from the
  # data files at start-up, starts (or restarts) the shard's ra server, and does the
  # slow file work the machine asks for (fsync for checkpoints, hint files for sealed
  # data files) so the machine never blocks on it.

  use GenServer

  alias FerricStore.Bitcask
  alias FerricStore.Store.{Compactor, Files, Keydir, Recovery}

  require Logger

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
  Compacts every sealed data file now (whatever its dead-bytes ratio) and waits for it:
  `:ok`, or `{:error, {:compaction_failed, fids}}` for files whose compaction failed (a
  damaged record; they are left as they are until the next start). Compaction otherwise
  starts by itself when a file's dead bytes pass the threshold.
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
      max_file_size: Keyword.fetch!(opts, :max_file_size),
      checkpoint_bytes: Keyword.fetch!(opts, :checkpoint_bytes),
      checkpoint_entries: Keyword.fetch!(opts, :checkpoint_entries),
      compaction_ratio: Keyword.fetch!(opts, :compaction_ratio),
      compaction_min_bytes: Keyword.fetch!(opts, :compaction_min_bytes)
    })

    Keydir.put_meta(tables.meta, :dir, dir)
    floor = ra_snapshot_index(Keyword.fetch!(opts, :ra_dir), ra_uid(instance, shard))
    stats = Recovery.run(dir, tables, nil, floor)
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
       # Files whose compaction failed (not tried again until the next start).
       failed: MapSet.new(),
       waiting: [],
       # Every file up to this id is sealed and fsynced (sync_files/2).
       synced: 0,
       dir_synced: 0,
       # Set by a failed fsync. Linux may drop the dirty pages of a failed write-back and
       # report a later fsync of the same file as a success, so from then on no checkpoint
       # lets ra drop its log: the entries stay there to replay at the next start.
       sync_failed: false,
       ra_monitor: nil
     }
     |> watch_ra()
     |> build_missing_hints()
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
    # Read before the active file: the records up to `index` are in it or before it.
    index = Keydir.meta(state.tables.meta, :applied, 0)
    {fid, _file, _end} = Keydir.meta(state.tables.meta, :active)
    {result, state} = do_checkpoint(index, fid, state)
    {:reply, result, state}
  end

  # `fid`: the file the machine was appending to when it applied `index`.
  @impl true
  def handle_info({:checkpoint, index, fid}, state),
    do: {:noreply, elem(do_checkpoint(index, fid, state), 1)}

  def handle_info({:raft_role, role}, state) do
    Keydir.put_meta(state.tables.meta, :leader, role == :leader)
    {:noreply, state}
  end

  def handle_info({:sealed, fid, synced?}, state) do
    state =
      case sync_sealed(state, fid, synced?) do
        {:ok, state} ->
          build_hint(state, fid)
          state

        {:error, reason} ->
          Logger.error("sealed file #{fid} not synced: #{inspect(reason)}")
          sync_failed(state)
      end

    # Its dead bytes may have passed the mark while it was active, when the machine does
    # not weigh a file.
    {:noreply, state |> enqueue_compactions(due(state, [fid])) |> next_compaction()}
  end

  def handle_info({:build_hint, fid}, state) do
    if fid in sealed_fids(state) and not File.exists?(hint_path(state.dir, fid)),
      do: build_hint(state, fid)

    {:noreply, state}
  end

  def handle_info({:compact, fids}, state) do
    {:noreply, state |> enqueue_compactions(fids) |> next_compaction()}
  end

  def handle_info({:compacted, fid, result}, %{compacting: {fid, _pid}} = state) do
    case result do
      {:ok, %{new_fid: new_fid}} ->
        # Readers that looked the row up just before it moved may still read the old
        # file: it goes away a little later.
        Process.send_after(self(), {:delete_file, fid}, 2_000)
        state = %{state | retiring: MapSet.put(state.retiring, fid)}
        # Records overwritten while it ran are dead in the new file already.
        {:noreply, state |> enqueue_compactions(due(state, [new_fid])) |> finish_compaction()}

      {:error, reason} ->
        # Not tried again before a restart: a damaged record fails every attempt, and
        # the machine asks again after each write that makes bytes in the file dead.
        Logger.error(
          "compaction of file #{fid} in #{state.dir} failed: #{inspect(reason)}; " <>
            "it is not compacted again until the next start"
        )

        {:noreply, finish_compaction(%{state | failed: MapSet.put(state.failed, fid)})}
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

  # ra's own supervisor restarts a ra server that crashed, up to its restart limit. Past
  # it (or when the server was stopped), every write of the shard would hang: the shard
  # exits instead, and its supervisor restarts it, which reloads the keydir and starts
  # the ra server again (or, failing that, fails the instance for all to see).
  def handle_info({:DOWN, ref, :process, _pid, reason}, %{ra_monitor: ref} = state) do
    Process.send_after(self(), {:check_ra, reason}, 500)
    {:noreply, %{state | ra_monitor: nil}}
  end

  def handle_info({:check_ra, reason}, state) do
    case watch_ra(state) do
      %{ra_monitor: nil} ->
        Logger.error("FerricStore shard #{state.shard}: ra server down (#{inspect(reason)})")
        {:stop, {:ra_server_down, reason}, state}

      state ->
        {:noreply, state}
    end
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

  defp watch_ra(%{server_id: {name, _node}} = state) do
    case Process.whereis(name) do
      nil -> %{state | ra_monitor: nil}
      pid -> %{state | ra_monitor: Process.monitor(pid)}
    end
  end

  # ra may drop its log up to `index` once every record up to there is on disk: in file
  # `fid` or in one before it. A file sealed after the checkpoint was asked for (its
  # `:sealed` message still waits behind this one) is among them, so every file not
  # synced yet up to `fid` is synced first, not just the active one.
  defp do_checkpoint(index, fid, state) do
    case sync_files(state, fid) do
      {:ok, state} ->
        :ra.pipeline_command(state.server_id, {:checkpoint, index}, :no_correlation, :normal)
        {:ok, state}

      {:error, :fsync_failed_before} = error ->
        {error, state}

      {:error, reason} ->
        Logger.error("checkpoint fsync failed: #{inspect(reason)}")
        {{:error, reason}, sync_failed(state)}
    end
  end

  defp sync_failed(%{sync_failed: true} = state), do: state

  defp sync_failed(state) do
    Logger.error(
      "FerricStore shard #{state.shard}: an fsync failed; checkpoints stop until the next " <>
        "start (the Raft log keeps every entry since the last one)"
    )

    %{state | sync_failed: true}
  end

  # Fsyncs, in order, every file above `synced` up to `upto`; `synced` then covers the
  # sealed ones (never written again; compactions sync their own output). It starts at
  # 0: the files found at start-up may hold records a crash left in the page cache only,
  # which the first sync makes durable before any checkpoint lets the log go.
  #
  # A file's name must survive a crash too: the directory is synced once for the files
  # created since the last time (`dir_synced`), before the files themselves.
  defp sync_files(%{sync_failed: true}, _upto), do: {:error, :fsync_failed_before}

  defp sync_files(%{tables: tables, synced: synced} = state, upto) do
    {active, _file, _end} = Keydir.meta(tables.meta, :active)

    files =
      tables.files
      |> :ets.tab2list()
      |> Enum.filter(fn {fid, _} -> fid > synced and fid <= upto end)
      |> Enum.sort()

    with {:ok, state} <- sync_dir(state, upto) do
      Enum.reduce_while(files, {:ok, state}, fn {fid, file}, {:ok, state} ->
        case Bitcask.fsync(file) do
          :ok when fid < active -> {:cont, {:ok, %{state | synced: fid}}}
          :ok -> {:cont, {:ok, state}}
          {:error, _} = error -> {:halt, error}
        end
      end)
    end
  end

  # The machine fsynced a sealed file before writing to the next one (`synced?`: it
  # worked), so only older files still unsynced (those found at start-up) are synced
  # here; its name is made durable by the next checkpoint's directory sync, before any
  # log goes.
  # The machine's own fsync of the file failed: trying again proves nothing (see
  # sync_failed in init/1).
  defp sync_sealed(_state, _fid, false), do: {:error, :machine_fsync_failed}

  defp sync_sealed(state, fid, true) do
    with {:ok, state} <- sync_files(state, fid - 1),
         do: {:ok, %{state | synced: max(state.synced, fid)}}
  end

  # Every file up to `upto` exists by now: one directory sync covers their names.
  defp sync_dir(%{dir_synced: done} = state, upto) when upto > done do
    with :ok <- Bitcask.fsync_dir(data_path(state.dir, upto)),
         do: {:ok, %{state | dir_synced: upto}}
  end

  defp sync_dir(state, _upto), do: {:ok, state}

  defp build_hint(state, fid) do
    with {:error, reason} <-
           Bitcask.hint_build(data_path(state.dir, fid), hint_path(state.dir, fid)) do
      Logger.warning(
        "sealed file #{fid} has no hint file, and none could be built " <>
          "(#{inspect(reason)}): it is scanned at each start"
      )
    end
  end

  # A sealed file found without its hint file (lost, or deleted by hand) was scanned at
  # start-up; it gets a new hint, built after the start, so the next start reads that.
  defp build_missing_hints(state) do
    for fid <- sealed_fids(state),
        not File.exists?(hint_path(state.dir, fid)),
        do: send(self(), {:build_hint, fid})

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

  defp due_for_compaction(state), do: due(state, sealed_fids(state))

  defp due(%{tables: tables} = state, fids) do
    config = Keydir.meta(tables.meta, :config)
    sealed = sealed_fids(state)

    for fid <- fids,
        fid in sealed,
        size = Keydir.meta(tables.meta, {:size, fid}, 0),
        dead = Keydir.meta(tables.meta, {:dead, fid}, 0),
        dead >= config.compaction_min_bytes and dead >= size * config.compaction_ratio,
        do: fid
  end

  defp enqueue_compactions(state, fids) do
    queued = :queue.to_list(state.compact_queue)
    current = if state.compacting, do: [elem(state.compacting, 0)], else: []

    Enum.reduce(fids, state, fn fid, state ->
      if fid in queued or fid in current or MapSet.member?(state.failed, fid),
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
          %{tables: tables, dir: dir, server_id: server_id} = state
          unreadable = Keydir.meta(tables.meta, :unreadable, [])
          oldest? = fid == Enum.min(sealed_fids(state) ++ unreadable)
          in_machine = &in_machine(server_id, &1)

          pid =
            spawn_link(fn ->
              result = Compactor.compact(tables, dir, fid, oldest?, in_machine)
              send(shard, {:compacted, fid, result})
            end)

          %{state | compacting: {fid, pid}}
        else
          next_compaction(state)
        end
    end
  end

  defp next_compaction(state), do: state

  # Runs `fun` in the shard's ra server, between two applied entries (a raise stays
  # there as an error: it must not take the server down).
  defp in_machine(server_id, fun) do
    query = fn _machine_state ->
      try do
        fun.()
      rescue
        exception -> {:error, exception}
      end
    end

    case :ra.local_query(server_id, query, 60_000) do
      {:ok, {_index_term, result}, _leader} -> result
      {:timeout, _} -> {:error, :ra_timeout}
      {:error, reason} -> {:error, reason}
    end
  end

  defp answer_waiting(%{waiting: []} = state), do: state

  defp answer_waiting(state) do
    busy = MapSet.new(:queue.to_list(state.compact_queue))
    busy = if state.compacting, do: MapSet.put(busy, elem(state.compacting, 0)), else: busy

    {done, waiting} =
      Enum.split_with(state.waiting, fn {_from, fids} ->
        not Enum.any?(fids, &MapSet.member?(busy, &1))
      end)

    Enum.each(done, fn {from, fids} ->
      case Enum.filter(fids, &MapSet.member?(state.failed, &1)) do
        [] -> GenServer.reply(from, :ok)
        failed -> GenServer.reply(from, {:error, {:compaction_failed, failed}})
      end
    end)

    %{state | waiting: waiting}
  end

  defp ra_uid(instance, shard), do: String.replace("#{instance}_#{shard}", ~r/[^A-Za-z0-9_]/, "_")

  # The index of the snapshot ra will start this shard from: as ra itself picks it
  # (ra_snapshot's init), the newest snapshot directory whose snapshot validates; 0
  # when there is none. Every entry up to it is on disk in the data files (ra drops its
  # log only at a checkpoint, after the fsync) and gone from ra's log; every entry after
  # it is in the log, and replayed.
  defp ra_snapshot_index(ra_dir, uid) do
    dir = Path.join([ra_dir, uid, "snapshots"])

    dir
    |> File.ls()
    |> case do
      {:ok, names} -> names |> Enum.sort(:desc) |> Enum.map(&Path.join(dir, &1))
      {:error, _} -> []
    end
    |> Enum.find_value(0, fn path ->
      charlist = String.to_charlist(path)

      with :ok <- :ra_log_snapshot.validate(charlist),
           {:ok, %{index: index}} <- :ra_log_snapshot.read_meta(charlist) do
        index
      else
        _ -> nil
      end
    end)
  end

  defp start_ra(system, server_id, instance, shard, opts) do
    machine = {:module, FerricStore.Raft.Machine, %{instance: instance, shard: shard}}
    uid = ra_uid(instance, shard)
    :ok = FerricStore.Store.RaSystem.await(system)
    :ok = follow_moved_dir(system, uid)

    case :ra.restart_server(system, server_id) do
      :ok ->
        :ok

      {:error, {:already_started, _}} ->
        :ok

      {:error, _not_known} ->
        config = %{
          id: server_id,
          uid: uid,
          cluster_name: :"#{instance}.shard.#{shard}",
          # ra snapshots (and drops log segments) at a release cursor once this many
          # entries passed since the previous snapshot.
          log_init_args: %{
            uid: uid,
            snapshot_interval: Keyword.fetch!(opts, :snapshot_interval)
          },
          initial_members: [server_id],
          machine: machine
        }

        :ok = :ra.start_server(system, config)
    end

    :ok = :ra.trigger_election(server_id)

    with :ok <- await_leader(server_id, 2_500) do
      apply_barrier(server_id)
    end
  end

  # ra restarts a server from the configuration it wrote when the server was created,
  # which holds the ra system's absolute directories: after the data directory was moved
  # or copied, the server would read and write its log and snapshots under the old path
  # while the WAL works under the new one. The stored system configuration is replaced
  # by the running system's (what ra stores for a new server) before the restart.
  defp follow_moved_dir(system, uid) do
    current = :ra_system.fetch(system)
    dir = :ra_env.server_data_dir(system, uid)

    case :ra_log.read_config(dir) do
      {:ok, %{system_config: stored} = config}
      when stored.data_dir != current.data_dir or stored.wal_data_dir != current.wal_data_dir ->
        text = :io_lib.format(~c"~p.", [%{config | system_config: current}])

        :ok =
          :ra_lib.write_file(
            :filename.join(dir, ~c"config"),
            :unicode.characters_to_binary(text)
          )

      _ ->
        :ok
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
        Process.sleep(2)
        await_leader(server_id, tries - 1)
    end
  end
end
