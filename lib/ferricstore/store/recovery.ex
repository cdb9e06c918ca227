defmodule FerricStore.Store.Recovery do
  @moduledoc false
  # Rebuilds a shard's keydir from its data files at start-up (docs/store.md, "Start-up"):
  # hint files for sealed files, read chunk by chunk (a scan of the data file when a hint
  # is missing or turns bad part-way), then a CRC-checked scan of the active file, cut at
  # the last complete Raft entry.
  #
  # Filling ETS is most of the work (a million keys: ~0.25 s of reading the hint, 1-1.5 s
  # of inserts on a 2-core machine), so the keys are split between loaders, one per
  # scheduler (at most 4), by a hash of the user key: each loader reads every file in
  # order and loads only its own keys, so every key still sees its records in file order
  # and no two loaders touch the same row. A FLUSHDB marker concerns all keys: the loaders
  # meet there and the coordinator (the caller) clears the tables once all of them
  # reached it. The hint reader already leaves out the string records of the other
  # loaders' keys (Bitcask.hint_step/3). Loaders that hand chunks to each other were
  # slower (~0.25 s per million keys for copying the chunks between processes).

  alias FerricStore.Bitcask
  alias FerricStore.Store.{Files, Keydir, Record}

  require Logger

  @scan_chunk 50_000
  @max_loaders 4

  @doc """
  Loads every data file of `dir` into the shard's empty `tables`, cuts a torn tail off
  the active file (never the records of entries up to `snapshot_index`, ra's snapshot,
  which nothing could replay), and records the active file, the last applied Raft index
  and the recovery stats in the meta table. `loaders` (default: one per online scheduler, at
  most #{@max_loaders}) processes share the work. Returns the stats.
  """
  @spec run(Path.t(), Keydir.tables(), pos_integer() | nil, non_neg_integer()) :: map()
  def run(dir, tables, loaders \\ nil, snapshot_index \\ 0) do
    started = System.monotonic_time(:millisecond)
    fids = Files.list(dir)
    now = System.os_time(:millisecond)
    loaders = loaders || min(System.schedulers_online(), @max_loaders)

    {sealed, active} =
      case fids do
        [] -> {[], Files.first()}
        _ -> {Enum.drop(fids, -1), List.last(fids)}
      end

    sealed =
      Enum.flat_map(sealed, fn fid ->
        with {:ok, file} <- open_repairing(Files.data_path(dir, fid), &Bitcask.open_read/1),
             {:ok, size} <- Bitcask.size(file) do
          :ets.insert(tables.files, {fid, file})
          Keydir.put_meta(tables.meta, {:size, fid}, size)
          [{fid, file}]
        else
          {:error, reason} -> unreadable(dir, fid, reason, tables)
        end
      end)

    {active, file} = open_active(dir, active)
    :ets.insert(tables.files, {active, file})
    stats = %{files: length(fids), loaded: 0, skipped: 0, truncated_bytes: 0, applied: 0}

    load = fn part ->
      tables = Map.put(tables, :part, part)
      load_files(dir, sealed, {active, file}, tables, now, stats, snapshot_index)
    end

    # Every loader reads the same files, so all of them find the same cut and skip the
    # same records; the keys they loaded add up.
    [{stats, cut} | others] =
      if loaders == 1, do: [load.(nil)], else: run_loaders(load, loaders, tables)

    stats = %{
      stats
      | loaded: Enum.reduce(others, stats.loaded, fn {s, _}, n -> n + s.loaded end),
        applied: Enum.reduce(others, stats.applied, fn {s, _}, n -> max(n, s.applied) end)
    }

    {:ok, size} = Bitcask.size(file)
    stats = if size > cut, do: cut_active(file, cut, size, stats), else: stats
    FerricStore.Store.Members.finish_load(tables)
    Keydir.put_meta(tables.meta, :active, {active, file, cut})
    Keydir.put_meta(tables.meta, :applied, stats.applied)
    stats = Map.put(stats, :load_ms, System.monotonic_time(:millisecond) - started)
    Keydir.put_meta(tables.meta, :recovery, stats)

    if stats.skipped > 0 or stats.truncated_bytes > 0 do
      Logger.warning("FerricStore recovery in #{dir}: #{inspect(stats)}")
    end

    stats
  end

  # A data file's header only says what the file is: every record after it carries its
  # own CRC. A damaged header is rewritten, and the records are loaded (and checked) as
  # usual; skipping the file would lose them all, and bring back older values of their
  # keys. A header with the right magic and another format version is not damage: the
  # start fails (a newer FerricStore wrote the file).
  defp open_repairing(path, open) do
    case open.(path) do
      {:error, :bad_header} ->
        case Bitcask.repair_header(path) do
          :ok ->
            Logger.error("FerricStore: data file #{path} had a damaged header: rewritten")
            open.(path)

          {:error, :bad_header} ->
            raise "FerricStore: data file #{path} has another format version than this build"

          error ->
            error
        end

      other ->
        other
    end
  end

  # Why a data file may be unopenable for good (a damaged file, a permission, something
  # that is not a file): the file is then skipped or set aside. Anything else (out of
  # file descriptors, out of memory, an I/O error) fails the start instead, to be tried
  # again: treating it as damage would set good data aside.
  @permanent [{:io, :eacces}, {:io, :eperm}, {:io, :eisdir}, :bad_header]

  defp permanent!(path, reason) do
    if reason not in @permanent,
      do: raise("FerricStore: cannot open data file #{path}: #{inspect(reason)}")

    :ok
  end

  # A sealed file that cannot be opened (no permission, say) is left where it is,
  # untouched, and the shard starts without it: its records are missing (a key
  # whose newest record was there reads as its older value, if any) until the file is
  # repaired and the node restarted. The error says so.
  #
  # It still counts as the oldest file where it is (Keydir meta `:unreadable`): a
  # compaction of a newer file must keep its tombstones, or the keys they deleted would
  # come back from it once it is repaired.
  defp unreadable(dir, fid, reason, tables) do
    permanent!(Files.data_path(dir, fid), reason)
    Keydir.put_meta(tables.meta, :unreadable, [fid | Keydir.meta(tables.meta, :unreadable, [])])

    Logger.error(
      "FerricStore: data file #{Files.data_path(dir, fid)} cannot be read (#{inspect(reason)}): " <>
        "started without its records; fix or remove the file and restart to load them"
    )

    []
  end

  # The active file cannot be opened: it is moved aside (`.damaged`) and a new active
  # file takes its place. ra replays the entries after its snapshot into it; the records
  # of older entries in the damaged file are lost, and the error says so.
  defp open_active(dir, fid) do
    path = Files.data_path(dir, fid)

    case open_repairing(path, &Bitcask.open/1) do
      {:ok, file} ->
        {fid, file}

      {:error, reason} ->
        permanent!(path, reason)
        aside = path <> ".damaged"
        next = Files.next_base(fid)
        # The new file first: should that fail, nothing was moved.
        {:ok, file} = Bitcask.open(Files.data_path(dir, next))
        File.rename!(path, aside)

        Logger.error(
          "FerricStore: active data file #{path} cannot be read (#{inspect(reason)}): " <>
            "moved to #{aside}; writing to #{Files.data_path(dir, next)}"
        )

        {next, file}
    end
  end

  # Records after the last BATCH_END belong to a Raft entry that was not completely
  # written: they were not loaded (ra replays that entry) and the file is cut there.
  defp cut_active(file, cut, size, stats) do
    :ok = Bitcask.truncate(file, cut)
    %{stats | truncated_bytes: stats.truncated_bytes + size - cut}
  end

  defp load_files(dir, sealed, {active, file}, tables, now, stats, snapshot_index) do
    stats =
      Enum.reduce(sealed, stats, fn {fid, f}, stats ->
        load_sealed(dir, fid, f, tables, now, stats)
      end)

    {stats, _pending, cut} =
      scan_all(file, active, tables, now, stats, {:snapshot, snapshot_index})

    {stats, cut}
  end

  # Starts `n` loaders (linked: a crash in one fails the start-up, as it would alone) and
  # waits for their results in order, meeting them at FLUSHDB markers.
  defp run_loaders(load, n, tables) do
    me = self()
    tasks = for i <- 0..(n - 1), do: Task.async(fn -> load.({i, n, me}) end)
    refs = Map.new(tasks, &{&1.ref, nil})
    results = await_loaders(refs, 0, [], tables)
    Enum.map(tasks, &Map.fetch!(results, &1.ref))
  end

  # `refs`: task ref => result (nil while it runs); `at_flush`: loaders waiting at a
  # FLUSHDB marker. When every loader still running waits there, all of them have
  # loaded their keys' records from before the marker: clear, and let them go on.
  defp await_loaders(refs, done, at_flush, tables) do
    cond do
      at_flush != [] and done + length(at_flush) == map_size(refs) ->
        clear(tables)
        Enum.each(at_flush, &send(&1, :recovery_flush_done))
        await_loaders(refs, done, [], tables)

      done == map_size(refs) ->
        refs

      true ->
        receive do
          {:recovery_flush, pid} ->
            await_loaders(refs, done, [pid | at_flush], tables)

          {ref, result} when is_map_key(refs, ref) ->
            Process.demonitor(ref, [:flush])
            await_loaders(%{refs | ref => result}, done + 1, at_flush, tables)
        end
    end
  end

  # A FLUSHDB marker: every row loaded so far is dead (as counted when it was applied).
  defp clear(tables) do
    Keydir.count_dead(tables.meta, Keydir.row_bytes(tables))
    :ets.delete_all_objects(tables.keydir)
    :ets.delete_all_objects(tables.expiry)
    FerricStore.Store.Members.clear(tables)
  end

  # A FLUSHDB marker: alone, clear; as one of several loaders, wait until the
  # coordinator has cleared (all loaders reached the marker).
  defp flush(%{part: nil} = tables), do: clear(tables)

  defp flush(%{part: {_i, _n, coordinator}}) do
    send(coordinator, {:recovery_flush, self()})

    receive do
      :recovery_flush_done -> :ok
    end
  end

  # Warnings about a file are logged by one loader only.
  defp first_loader?(%{part: part}), do: part == nil or elem(part, 0) == 0

  defp load_sealed(dir, fid, file, tables, now, stats) do
    start = Bitcask.header_size()
    path = Files.hint_path(dir, fid)

    case if(File.exists?(path), do: Bitcask.hint_open(path), else: :no_hint) do
      {:ok, hint} ->
        load_hints(hint, path, fid, file, tables, now, stats, start, start)

      other ->
        scan_after_hint(path, other, fid, file, tables, now, stats, start)
    end
  end

  # A sealed file is loaded from its hint file, chunk by chunk. When the hint turns bad
  # part-way, the entries already loaded are valid (each is CRC-checked) and the data
  # file is scanned from the end of the last one. The NIF leaves out the string records
  # of the other loaders' keys (Bitcask.hint_step/3), so they are not checked again.
  defp load_hints(hint, path, fid, file, tables, now, stats, offset, resume) do
    {i, n} = split(tables.part)

    case Bitcask.hint_step(hint, offset, {i, n}) do
      {:ok, entries, {:more, next}, data_end} ->
        stats = load_entries(entries, fid, tables, now, stats, :strings_split)
        load_hints(hint, path, fid, file, tables, now, stats, next, data_end || resume)

      {:ok, entries, :done, _data_end} ->
        load_entries(entries, fid, tables, now, stats, :strings_split)

      other ->
        scan_after_hint(path, other, fid, file, tables, now, stats, resume)
    end
  end

  defp split(nil), do: {0, 1}
  defp split({i, n, _coordinator}), do: {i, n}

  defp scan_after_hint(path, reason, fid, file, tables, now, stats, from) do
    if reason != :no_hint and first_loader?(tables),
      do:
        Logger.warning("hint file #{path} unusable (#{inspect(reason)}), scanning its data file")

    {stats, _pending, _end} = scan_all(file, fid, tables, now, stats, :sealed, from)
    stats
  end

  # Scans a whole data file, loading complete entries. Returns the records of a trailing
  # incomplete entry and the end of the last complete entry.
  #
  # What a bad record means depends on what is known to be on disk (`resync`):
  #
  #   * `:sealed`: the whole file was fsynced (by the machine, before it wrote to the
  #     next file), so a bad record is damage: it is counted and skipped, and the scan
  #     resumes at the next valid record.
  #   * `{:snapshot, index}`, the active file: ra's log starts after its snapshot
  #     `index`, and the entries up to there were fsynced before ra dropped them. A bad
  #     record followed by a valid one of such an entry is damage too, skipped the same
  #     way: cutting there would lose records that nothing replays. Otherwise it is the
  #     torn tail of writes the kernel had not flushed (maybe out of order): everything
  #     from it on is cut, and ra replays those entries, which all lie after its
  #     snapshot. (Skipping there instead would lose the damaged entry for good: its
  #     index would be below the applied one, which replay skips.)
  defp scan_all(file, fid, tables, now, stats, resync, start \\ Bitcask.header_size()) do
    scan_from(file, fid, start, tables, now, stats, [], start, resync)
  end

  defp scan_from(file, fid, offset, tables, now, stats, pending, good_end, resync) do
    {:ok, entries, status} = Bitcask.scan(file, offset, @scan_chunk)

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
        scan_from(file, fid, next, tables, now, stats, pending, good_end, resync)

      {:done, _end} ->
        {stats, Enum.reverse(pending), good_end}

      {bad, at} when bad in [:torn, :corrupt] ->
        case after_bad_record(file, at, resync) do
          {:skip, next} ->
            # The valid records before the bad one are loaded as they are (a flipped
            # length bit looks like a torn tail: the next valid record is looked for
            # either way).
            stats = pending |> Enum.reverse() |> load_entries(fid, tables, now, stats)
            if first_loader?(tables), do: log_damage(fid, at, next)
            stats = %{stats | skipped: stats.skipped + 1}
            scan_from(file, fid, next, tables, now, stats, [], good_end, resync)

          :end_of_file ->
            stats = pending |> Enum.reverse() |> load_entries(fid, tables, now, stats)
            {%{stats | skipped: stats.skipped + 1}, [], good_end}

          :cut when bad == :torn ->
            {stats, Enum.reverse(pending), good_end}

          :cut ->
            {%{stats | skipped: stats.skipped + 1}, Enum.reverse(pending), good_end}
        end
    end
  end

  defp after_bad_record(file, at, :sealed) do
    case Bitcask.next_record(file, at + 1) do
      {:ok, next} -> {:skip, next}
      :none -> :end_of_file
    end
  end

  defp after_bad_record(file, at, {:snapshot, snapshot}) when snapshot > 0 do
    with {:ok, next} <- Bitcask.next_record(file, at + 1),
         {:ok, [{_key, _off, _size, _exp, seq, _flags} | _], _} when seq <= snapshot <-
           Bitcask.scan(file, next, 1) do
      {:skip, next}
    else
      _ -> :cut
    end
  end

  defp after_bad_record(_file, _at, {:snapshot, _none}), do: :cut

  defp log_damage(fid, at, next) do
    Logger.error(
      "FerricStore: data file #{fid} is damaged at byte #{at}: #{next - at} bytes skipped " <>
        "(the records in them are lost; the records after them are loaded)"
    )
  end

  # Start-up cost is dominated by this loop (a million keys: about a million ETS
  # inserts), so the common case, a live string key seen for the first time, is one
  # insert_new; counters are kept outside the per-entry path. Each loader skips the keys
  # of the others (all of them take every record's Raft index into account); string
  # records from a hint chunk were split by the NIF already (`:strings_split`).
  defp load_entries(entries, fid, tables, now, stats, split \\ :all_records) do
    string_part = if split == :strings_split, do: nil, else: tables.part
    {applied, loaded} = load_loop(entries, fid, tables, now, string_part, stats.applied, 0)
    %{stats | loaded: stats.loaded + loaded, applied: applied}
  end

  defp load_loop([], _fid, _tables, _now, _string_part, applied, loaded), do: {applied, loaded}

  # <<0, key>> is a string record (Record); flags 0 or BATCH_END only: not a tombstone.
  defp load_loop(
         [{<<0, key::binary>>, off, size, exp, seq, flags} = entry | rest],
         fid,
         tables,
         now,
         string_part,
         applied,
         loaded
       )
       when flags in [0, 2] and (exp == 0 or exp > now) do
    if mine?(key, string_part) do
      if :ets.insert_new(tables.keydir, {key, :string, nil, exp, fid, off, size}) do
        if exp != 0, do: :ets.insert(tables.expiry, {{exp, key}})
      else
        load_entry(entry, fid, tables, now)
      end

      load_loop(rest, fid, tables, now, string_part, max(applied, seq), loaded + 1)
    else
      load_loop(rest, fid, tables, now, string_part, max(applied, seq), loaded)
    end
  end

  defp load_loop([{disk_key, _, _, _, seq, _} = entry | rest], fid, tables, now, sp, applied, n) do
    {load?, counted?} =
      case Record.user_key(disk_key) do
        # A FLUSHDB marker (or a record of an unknown kind): every loader's business.
        :all ->
          {true, first_loader?(tables)}

        <<_::binary>> = key ->
          part = if match?(<<0, _::binary>>, disk_key), do: sp, else: tables.part
          mine = mine?(key, part)
          {mine, mine}
      end

    if load?, do: load_entry(entry, fid, tables, now)
    loaded = if counted?, do: n + 1, else: n
    load_loop(rest, fid, tables, now, sp, max(applied, seq), loaded)
  end

  # Which loader loads `key`: the same for every record of a key, whatever its type, and
  # the same as the NIF's for the string records it filters out of hint chunks.
  defp mine?(_key, nil), do: true
  defp mine?(key, {i, n, _coordinator}), do: Bitcask.part_of(key, n) == i

  defp load_entry({disk_key, off, size, exp, seq, flags}, fid, tables, now) do
    case Record.decode(disk_key) do
      :flush ->
        flush(tables)

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
