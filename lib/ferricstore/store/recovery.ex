defmodule FerricStore.Store.Recovery do
  @moduledoc false
  # Rebuilds a shard's keydir from its data files at start-up.
  #
  # The calling process (the shard) reads: for each sealed file its hint file, chunk by
  # chunk, or a scan of the data file when the hint is missing or turns bad part-way;
  # then a scan of the active file. Filling ETS costs about four times as much as
  # reading (a million keys: ~0.25 s to read, ~0.9 s of inserts on one core), so the
  # inserts run in loader processes, one per scheduler. A loader owns the keys whose
  # user key hashes to it: every record of one key (string, tombstone, collection header
  # and members) goes to the same loader, in file order, so each key ends in the state
  # of its last record, as with a single loader. Keys are independent of each other
  # except for FLUSH records: a FLUSH waits until every loader has applied what came
  # before it, then clears the tables.
  #
  # At most two chunks per loader are in flight, so a fast reader never queues a whole
  # file in the loaders' mailboxes.

  alias FerricStore.Bitcask
  alias FerricStore.Store.{Files, Keydir, Members, Record}

  require Logger

  @scan_chunk 50_000
  @in_flight_per_loader 2

  @type stats :: %{
          files: non_neg_integer(),
          loaded: non_neg_integer(),
          skipped: non_neg_integer(),
          truncated_bytes: non_neg_integer(),
          applied: non_neg_integer(),
          load_ms: non_neg_integer()
        }

  ## Public API

  @doc """
  Loads every data file of `dir` into the shard's (empty) `tables`, cuts a torn tail off
  the active file, and records the active file, the last applied Raft index and the
  stats in the meta table. Returns the stats.
  """
  @spec run(Path.t(), Keydir.tables()) :: stats()
  def run(dir, tables) do
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
        {:ok, file} = Bitcask.open_read(Files.data_path(dir, fid))
        {:ok, size} = Bitcask.size(file)
        :ets.insert(tables.files, {fid, file})
        Keydir.put_meta(tables.meta, {:size, fid}, size)
        {fid, file}
      end)

    {:ok, file} = Bitcask.open(Files.data_path(dir, active))
    :ets.insert(tables.files, {active, file})

    pool = start_loaders(tables, now, System.schedulers_online())

    {pool, stats} =
      Enum.reduce(sealed, {pool, stats}, fn {fid, f}, {pool, stats} ->
        load_sealed(dir, fid, f, pool, stats)
      end)

    {pool, stats, end_offset} = load_active(file, active, pool, stats)
    stop_loaders(pool)
    Members.finish_load(tables)
    Keydir.put_meta(tables.meta, :active, {active, file, end_offset})
    Keydir.put_meta(tables.meta, :applied, stats.applied)
    stats = Map.put(stats, :load_ms, System.monotonic_time(:millisecond) - started)
    Keydir.put_meta(tables.meta, :recovery, stats)

    if stats.skipped > 0 or stats.truncated_bytes > 0 do
      Logger.warning("FerricStore recovery in #{dir}: #{inspect(stats)}")
    end

    stats
  end

  ## Reading (the calling process)

  defp load_sealed(dir, fid, file, pool, stats) do
    start = Bitcask.header_size()
    hint = Files.hint_path(dir, fid)

    case if(File.exists?(hint), do: Bitcask.hint_open(hint), else: :no_hint) do
      {:ok, h} -> load_hints(h, hint, fid, file, pool, stats, start, start)
      other -> scan_after_hint(hint, other, fid, file, pool, stats, start)
    end
  end

  # A sealed file is loaded from its hint file, chunk by chunk. When the hint turns bad
  # part-way, the entries already loaded are valid (each is CRC-checked) and the data
  # file is scanned from the end of the last one.
  defp load_hints(h, hint, fid, file, pool, stats, offset, resume) do
    case Bitcask.hint_step(h, offset) do
      {:ok, entries, {:more, next}} ->
        {pool, stats} = dispatch(entries, fid, pool, stats)
        load_hints(h, hint, fid, file, pool, stats, next, resume_after(entries, resume))

      {:ok, entries, :done} ->
        dispatch(entries, fid, pool, stats)

      other ->
        scan_after_hint(hint, other, fid, file, pool, stats, resume)
    end
  end

  defp scan_after_hint(hint, reason, fid, file, pool, stats, from) do
    if reason != :no_hint,
      do:
        Logger.warning("hint file #{hint} unusable (#{inspect(reason)}), scanning its data file")

    {pool, stats, _pending, _end} = scan_from(file, fid, from, pool, stats, [], from, true)
    {pool, stats}
  end

  # Where the data file continues after the records of these hint entries.
  defp resume_after([], resume), do: resume

  defp resume_after(entries, _resume) do
    {_key, off, size, _exp, _seq, _flags} = List.last(entries)
    off + size
  end

  defp load_active(file, fid, pool, stats) do
    # Records after the last BATCH_END belong to a Raft entry that was not completely
    # written: drop them (ra replays that entry) and cut the file there.
    start = Bitcask.header_size()
    {pool, stats, _pending, cut} = scan_from(file, fid, start, pool, stats, [], start, false)
    {:ok, size} = Bitcask.size(file)

    if size > cut do
      :ok = Bitcask.truncate(file, cut)
      {pool, %{stats | truncated_bytes: stats.truncated_bytes + size - cut}, cut}
    else
      {pool, stats, cut}
    end
  end

  # Scans a data file from `offset`, loading complete entries. Returns the records of a
  # trailing incomplete entry and the end of the last complete entry.
  #
  # In a sealed file (fsynced when it was sealed; `resync?`) a corrupt record is counted
  # and skipped: the scan resumes at the next valid record. In the active file
  # everything from the first bad record on is cut instead: the records after it may
  # come from writes the kernel had not flushed in order, and ra replays every entry
  # after the last checkpoint, which is where any such hole must lie.
  defp scan_from(file, fid, offset, pool, stats, pending, good_end, resync?) do
    {:ok, entries, status} = Bitcask.scan(file, offset, @scan_chunk)

    {pool, stats, pending, good_end} =
      Enum.reduce(entries, {pool, stats, pending, good_end}, fn entry,
                                                                {pool, stats, pending, good_end} ->
        {_key, off, size, _exp, _seq, flags} = entry

        if Bitcask.batch_end?(flags) do
          {pool, stats} = dispatch(Enum.reverse([entry | pending]), fid, pool, stats)
          {pool, stats, [], off + size}
        else
          {pool, stats, [entry | pending], good_end}
        end
      end)

    case status do
      {:more, next} ->
        scan_from(file, fid, next, pool, stats, pending, good_end, resync?)

      {:done, _end} ->
        {pool, stats, Enum.reverse(pending), good_end}

      {bad, at} when bad in [:torn, :corrupt] and resync? ->
        # In a sealed file a flipped length bit looks like a torn tail: look for the
        # next valid record either way. A sealed file holds whole entries only: the
        # valid records before the bad one are loaded as they are.
        {pool, stats} = dispatch(Enum.reverse(pending), fid, pool, stats)
        stats = %{stats | skipped: stats.skipped + 1}

        case Bitcask.next_record(file, at + 1) do
          {:ok, next} -> scan_from(file, fid, next, pool, stats, [], good_end, true)
          :none -> {pool, stats, [], good_end}
        end

      {:torn, _at} ->
        {pool, stats, Enum.reverse(pending), good_end}

      {:corrupt, _at} ->
        {pool, %{stats | skipped: stats.skipped + 1}, Enum.reverse(pending), good_end}
    end
  end

  ## Dispatching to the loaders

  defp start_loaders(tables, now, n) do
    reader = self()
    pids = for _ <- 1..n, do: spawn_link(fn -> loader(reader, tables, now) end)
    %{pids: List.to_tuple(pids), n: n, in_flight: 0, tables: tables}
  end

  # Splits entries by owner (in order) and sends each loader its share; a FLUSH record
  # in between is a barrier.
  defp dispatch([], _fid, pool, stats), do: {pool, stats}

  defp dispatch(entries, fid, pool, stats) do
    empty = Tuple.duplicate([], pool.n)

    {pool, shares, applied} =
      Enum.reduce(entries, {pool, empty, stats.applied}, fn {disk_key, _, _, _, seq, _} = entry,
                                                            {pool, shares, applied} ->
        case owner(disk_key, pool.n) do
          :flush ->
            pool = pool |> send_shares(fid, shares) |> barrier()
            :ets.delete_all_objects(pool.tables.keydir)
            :ets.delete_all_objects(pool.tables.expiry)
            Members.clear(pool.tables)
            {pool, empty, max(applied, seq)}

          i ->
            {pool, put_elem(shares, i, [entry | elem(shares, i)]), max(applied, seq)}
        end
      end)

    pool = send_shares(pool, fid, shares)
    {pool, %{stats | loaded: stats.loaded + length(entries), applied: applied}}
  end

  defp owner(<<0, key::binary>>, n), do: :erlang.phash2(key, n)

  defp owner(disk_key, n) do
    case Record.decode(disk_key) do
      :flush -> :flush
      {:header, _type, key, _meta} -> :erlang.phash2(key, n)
      {:member, _type, key, _gen, _member, _score} -> :erlang.phash2(key, n)
      _unknown -> 0
    end
  end

  defp send_shares(pool, fid, shares) do
    Enum.reduce(0..(pool.n - 1), pool, fn i, pool ->
      case elem(shares, i) do
        [] ->
          pool

        share ->
          pool = await_room(pool)
          send(elem(pool.pids, i), {:load, fid, share})
          %{pool | in_flight: pool.in_flight + 1}
      end
    end)
  end

  defp await_room(%{in_flight: in_flight, n: n} = pool)
       when in_flight < n * @in_flight_per_loader,
       do: pool

  defp await_room(pool), do: pool |> await_one() |> await_room()

  defp await_one(pool) do
    receive do
      :loaded -> %{pool | in_flight: pool.in_flight - 1}
      {:EXIT, pid, reason} when reason != :normal -> exit({:loader_failed, pid, reason})
    end
  end

  # Returns once every loader has applied everything sent to it.
  defp barrier(%{in_flight: 0} = pool), do: pool
  defp barrier(pool), do: pool |> await_one() |> barrier()

  defp stop_loaders(pool) do
    pool = barrier(pool)

    pool.pids
    |> Tuple.to_list()
    |> Enum.each(fn pid ->
      send(pid, :stop)

      receive do
        {:EXIT, ^pid, _} -> :ok
      end
    end)
  end

  ## Loading (the loader processes)

  defp loader(reader, tables, now) do
    receive do
      {:load, fid, share} ->
        load_loop(Enum.reverse(share), fid, tables, now)
        send(reader, :loaded)
        loader(reader, tables, now)

      :stop ->
        :ok
    end
  end

  defp load_loop([], _fid, _tables, _now), do: :ok

  # The common case, a live string key seen for the first time, is one insert_new.
  # <<0, key>> is a string record (Record); flags 0 or BATCH_END only: not a tombstone.
  defp load_loop([{<<0, key::binary>>, off, size, exp, _seq, flags} = entry | rest], fid, t, now)
       when flags in [0, 2] and (exp == 0 or exp > now) do
    if :ets.insert_new(t.keydir, {key, :string, nil, exp, fid, off, size}) do
      if exp != 0, do: :ets.insert(t.expiry, {{exp, key}})
    else
      load_entry(entry, fid, t, now)
    end

    load_loop(rest, fid, t, now)
  end

  defp load_loop([entry | rest], fid, tables, now) do
    load_entry(entry, fid, tables, now)
    load_loop(rest, fid, tables, now)
  end

  defp load_entry({disk_key, off, size, exp, _seq, flags} = entry, fid, tables, now) do
    case Record.decode(disk_key) do
      {:string, key} ->
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
          :ets.insert(tables.keydir, {key, :string, nil, exp, fid, off, size})
          Keydir.reindex_expiry(tables.expiry, key, old_exp, exp)
        end

      collection when elem(collection, 0) in [:header, :member] ->
        Members.load_entry(collection, entry, fid, tables, now)

      _flush_or_unknown ->
        # FLUSH is applied by the reader (a barrier across loaders).
        :ok
    end
  end
end
