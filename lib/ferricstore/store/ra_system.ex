defmodule FerricStore.Store.RaSystem do
  @moduledoc false
  # Starts the instance's own ra system (its WAL, segment writer and directory) and
  # removes it again when the instance stops, so instances are fully isolated and a
  # restarted instance reopens the same directory.
  #
  # The system starts after `init/1` has returned (handle_continue), so the supervisor
  # goes on to start the shards, whose keydir load (most of a restart) overlaps it: its
  # DETS tables, WAL recovery and the first WAL file take 70-130 ms, mostly waiting on
  # the disk. A shard calls `await/1` before it starts its ra server.

  use GenServer

  def start_link(opts),
    do: GenServer.start_link(__MODULE__, opts, name: owner(Keyword.fetch!(opts, :name)))

  @doc """
  Returns once the ra system `name` is running (at once when it already is); exits
  when it failed to start.
  """
  @spec await(atom()) :: :ok
  def await(name), do: GenServer.call(owner(name), :await, :infinity)

  defp owner(name), do: :"#{name}.owner"

  def child_spec(opts) do
    %{id: __MODULE__, start: {__MODULE__, :start_link, [opts]}, shutdown: 30_000}
  end

  @impl true
  def init(opts) do
    Process.flag(:trap_exit, true)
    {:ok, {Keyword.fetch!(opts, :name), Keyword.fetch!(opts, :dir)}, {:continue, {:start, opts}}}
  end

  @impl true
  def handle_continue({:start, opts}, {_name, dir} = state) do
    case File.mkdir_p(dir) do
      :ok -> start_system(opts, state)
      {:error, reason} -> {:stop, {:data_dir, dir, reason}, state}
    end
  end

  @impl true
  def handle_call(:await, _from, state), do: {:reply, :ok, state}

  defp start_system(opts, {name, dir} = state) do
    {:ok, _} = Application.ensure_all_started(:ra)
    # A previous incarnation that died without cleaning up would make start fail.
    stop_system(name)

    config =
      :ra_system.default_config()
      |> Map.merge(%{
        name: name,
        data_dir: String.to_charlist(dir),
        wal_data_dir: String.to_charlist(dir),
        names: :ra_system.derive_names(name),
        # ra re-reads its whole current WAL file at start-up (entries below the snapshot
        # included): a small WAL keeps restarts fast. Entries move on into segments,
        # which snapshots (our checkpoints) delete.
        wal_max_size_bytes: Keyword.fetch!(opts, :wal_max_bytes),
        # ra deletes a segment only once all of it is below a snapshot, and bounds
        # segments by entry count only. One entry can carry megabytes (an MSET, or a
        # batch of many writes), so segments are kept short: with 4096 entries the log
        # grew to 10x the live data in the overwrite benchmark.
        segment_max_entries: Keyword.fetch!(opts, :segment_max_entries),
        # A WAL file is fallocated whole when opened: each fdatasync then only converts
        # extents instead of also growing the file. On this machine's ext4 that is the
        # difference between fio's fdatasync p50 with and without --fallocate (about
        # 180 against 260 us), and lone durable writes followed it.
        wal_pre_allocate: Keyword.get(opts, :wal_pre_allocate, true)
      })

    case :ra_system.start(config) do
      {:ok, _pid} -> {:noreply, state}
      {:error, reason} -> {:stop, reason, state}
    end
  end

  @impl true
  def terminate(reason, {name, dir}) when reason in [:normal, :shutdown] do
    flushed = roll_wal(name, dir)
    stop_system(name)
    if flushed == :ok, do: drop_empty_wals(dir)
  end

  def terminate(_reason, {name, _dir}), do: stop_system(name)

  # On a clean stop (the shards, and so the ra servers, are already stopped) the WAL is
  # rolled over and its entries written into segments before the system goes: ra reads
  # its whole current WAL at start-up, so the next start does not (about 0.25 s of a
  # 1M-key restart). Bounded: a WAL that is not flushed within 10 s is left for the next
  # start to recover, as after a crash.
  @wal_flush_ms 10_000

  defp roll_wal(name, dir) do
    case wal_files(dir) do
      [] ->
        :ok

      wals ->
        wal = :ra_system.derive_names(name).wal
        _ = if Process.whereis(wal), do: :ra_log_wal.force_roll_over(wal)
        await_flushed(dir, wals, System.monotonic_time(:millisecond) + @wal_flush_ms)
    end
  catch
    _, _ -> :error
  end

  defp await_flushed(dir, wals, deadline) do
    cond do
      Enum.all?(wals, &(&1 not in wal_files(dir))) -> :ok
      System.monotonic_time(:millisecond) > deadline -> :timeout
      true -> Process.sleep(10) && await_flushed(dir, wals, deadline)
    end
  end

  # The roll-over leaves a new, preallocated WAL that no entry reached (nothing writes
  # after the servers stopped). ra would read all of it (32 MiB of zeros) and then roll
  # over again at the next start (~40 ms); it is deleted once the system is down. Only a
  # file whose first 4 KiB after ra's 5-byte header ("RAWA", version) are all zeros is
  # deleted: any entry puts its writer id and index there.
  @wal_header 5
  @wal_probe 4096

  defp drop_empty_wals(dir) do
    for path <- wal_files(dir), empty_wal?(path), do: File.rm(path)
    :ok
  end

  @doc false
  @spec empty_wal?(Path.t()) :: boolean()
  def empty_wal?(path) do
    with {:ok, f} <- :file.open(path, [:read, :raw, :binary]) do
      bytes = :file.read(f, @wal_header + @wal_probe)
      :ok = :file.close(f)

      case bytes do
        {:ok, <<"RAWA", _version, rest::binary>>} -> rest == <<0::size(bit_size(rest))>>
        _ -> false
      end
    else
      _ -> false
    end
  end

  defp wal_files(dir), do: dir |> Path.join("*.wal") |> Path.wildcard()

  defp stop_system(name) do
    _ = Supervisor.terminate_child(:ra_systems_sup, name)
    _ = Supervisor.delete_child(:ra_systems_sup, name)
    :ok
  end
end
