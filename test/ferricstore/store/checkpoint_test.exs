defmodule FerricStore.Store.CheckpointTest do
  # Call tracing is global: not beside other tests.
  use FerricStore.StoreCase, async: false

  alias FerricStore.Store.{Keydir, Shard}

  @moduletag :tmp_dir
  @moduletag instance_opts: [
               max_file_size: 4096,
               checkpoint_entries: 4,
               checkpoint_bytes: 1_073_741_824,
               compaction_ratio: 2.0
             ]

  # A checkpoint lets ra drop its log up to an index: every record up to there must be
  # on disk first, in the file the machine was appending to or in one before it. When
  # that file is sealed before the shard gets to the checkpoint, syncing the active file
  # alone is not enough.
  test "a checkpoint syncs every file holding its entries, also one sealed since",
       %{name: name, opts: o} do
    shard = Process.whereis(Shard.name(name, 0))
    %{files: files, meta: meta, keydir: keydir} = Keydir.tables(name, 0)

    # The shard waits while the machine asks it for checkpoints and seals files. One
    # write per Raft entry: the entry after `before` writes k1, and so on.
    before = Keydir.meta(meta, :applied)
    :ok = :sys.suspend(shard)
    for i <- 1..40, do: :ok = FerricStore.set("k#{i}", :binary.copy("v", 600), o)
    {:messages, queued} = Process.info(shard, :messages)
    fid_of = Map.new(:ets.tab2list(files), fn {fid, file} -> {file, fid} end)

    # A checkpoint at `index` needs the file of k<index - before> and every file before.
    expected =
      for msg <- queued, is_tuple(msg), elem(msg, 0) == :checkpoint, into: %{} do
        index = elem(msg, 1)
        [{_, _, _, _, holder, _, _}] = :ets.lookup(keydir, "k#{index - before}")
        {index, MapSet.new(for {_, fid} <- fid_of, fid <= holder, do: fid)}
      end

    assert map_size(expected) >= 5
    # The case at stake: a checkpoint queued before the sealing of its own file.
    assert Enum.any?(Enum.with_index(queued), fn
             {{:sealed, fid}, at} ->
               Enum.any?(Enum.take(queued, at), fn msg ->
                 elem(msg, 0) == :checkpoint and Enum.max(expected[elem(msg, 1)]) == fid
               end)

             _ ->
               false
           end)

    :erlang.trace_pattern({FerricStore.Bitcask, :fsync, 1}, true, [:local])
    :erlang.trace_pattern({:ra, :pipeline_command, 4}, true, [:local])
    :erlang.trace_pattern({FerricStore.Bitcask, :fsync_dir, 1}, true, [:local])
    :erlang.trace(shard, true, [:call])

    try do
      :ok = :sys.resume(shard)
      # Answered after every queued message.
      :ok = Shard.checkpoint(name, 0)
    after
      :erlang.trace(shard, false, [:call])
      :erlang.trace_pattern({FerricStore.Bitcask, :fsync, 1}, false, [:local])
      :erlang.trace_pattern({:ra, :pipeline_command, 4}, false, [:local])
      :erlang.trace_pattern({FerricStore.Bitcask, :fsync_dir, 1}, false, [:local])
    end

    events = trace_events(shard, fid_of, [])

    # The new files' names are made durable too (the directory synced) before the log
    # lets their entries go.
    assert Enum.find(events, &(&1 == :dir or match?({:checkpoint, _}, &1))) == :dir

    Enum.reduce(events, MapSet.new(), fn
      :dir, synced ->
        synced

      {:fsync, fid}, synced ->
        MapSet.put(synced, fid)

      {:checkpoint, index}, synced ->
        missing = MapSet.difference(Map.get(expected, index, MapSet.new()), synced)
        assert MapSet.size(missing) == 0, "checkpoint #{index} before syncing #{inspect(missing)}"
        synced
    end)

    assert Enum.count(events, &match?({:checkpoint, _}, &1)) > map_size(expected)
  end

  # Start-up skips a bad record in a sealed file as damage; only the active file's bad
  # tail is cut (and replayed by ra). That is right only if a sealed file is on disk
  # before any record of the next one can be.
  test "a full file is synced before the first write to the next one", %{name: name, opts: o} do
    ra = Process.whereis(elem(Shard.server_id(name, 0), 0))
    %{files: files} = Keydir.tables(name, 0)

    :erlang.trace_pattern({FerricStore.Bitcask, :fsync, 1}, true, [:local])
    :erlang.trace_pattern({FerricStore.Bitcask, :append_batch, 3}, true, [:local])
    :erlang.trace(ra, true, [:call])

    try do
      for i <- 1..40, do: :ok = FerricStore.set("k#{i}", :binary.copy("v", 600), o)
    after
      :erlang.trace(ra, false, [:call])
      :erlang.trace_pattern({FerricStore.Bitcask, :fsync, 1}, false, [:local])
      :erlang.trace_pattern({FerricStore.Bitcask, :append_batch, 3}, false, [:local])
    end

    fid_of = Map.new(:ets.tab2list(files), fn {fid, file} -> {file, fid} end)
    events = ra_events(ra, fid_of, [])
    written = for {:append, fid} <- events, uniq: true, do: fid
    assert length(written) >= 5

    # Before the first append to each file, the file before it was synced.
    Enum.reduce(events, {nil, MapSet.new()}, fn
      {:fsync, fid}, {current, synced} ->
        {current, MapSet.put(synced, fid)}

      {:append, fid}, {current, synced} when fid == current ->
        {current, synced}

      {:append, fid}, {current, synced} ->
        assert current == nil or MapSet.member?(synced, current),
               "first write to #{fid} before #{current} was synced"

        {fid, synced}
    end)
  end

  defp ra_events(ra, fid_of, acc) do
    receive do
      {:trace, ^ra, :call, {FerricStore.Bitcask, :fsync, [file]}} ->
        ra_events(ra, fid_of, [{:fsync, Map.fetch!(fid_of, file)} | acc])

      {:trace, ^ra, :call, {FerricStore.Bitcask, :append_batch, [file, _, _]}} ->
        ra_events(ra, fid_of, [{:append, Map.fetch!(fid_of, file)} | acc])
    after
      200 -> Enum.reverse(acc)
    end
  end

  defp trace_events(shard, fid_of, acc) do
    receive do
      # Data files only (hint files are synced too).
      {:trace, ^shard, :call, {FerricStore.Bitcask, :fsync, [file]}} ->
        case fid_of do
          %{^file => fid} -> trace_events(shard, fid_of, [{:fsync, fid} | acc])
          _ -> trace_events(shard, fid_of, acc)
        end

      {:trace, ^shard, :call, {FerricStore.Bitcask, :fsync_dir, [_path]}} ->
        trace_events(shard, fid_of, [:dir | acc])

      {:trace, ^shard, :call, {:ra, :pipeline_command, [_, {:checkpoint, index}, _, _]}} ->
        trace_events(shard, fid_of, [{:checkpoint, index} | acc])
    after
      200 -> Enum.reverse(acc)
    end
  end
end
