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
  # on disk first. The machine syncs a full file before writing to the next one (test
  # below); the files found at start-up were synced by nobody in this run (a killed
  # process leaves its writes in the page cache), so the first checkpoint after a start
  # syncs them, and the directory, before the log goes. It synced the active file only.
  test "the first checkpoint after a start syncs the files found at start-up", ctx do
    %{name: name, opts: o} = ctx
    for i <- 1..40, do: :ok = FerricStore.set("k#{i}", :binary.copy("v", 600), o)
    restart(ctx)

    shard = Process.whereis(Shard.name(name, 0))
    %{files: files, meta: meta} = Keydir.tables(name, 0)
    {active, _, _} = Keydir.meta(meta, :active)
    found = for {fid, _} <- :ets.tab2list(files), fid < active, do: fid
    assert length(found) >= 5

    events =
      traced(shard, [{FerricStore.Bitcask, :fsync_dir, 1}], fn ->
        :ok = FerricStore.set("after", "v", o)
        :ok = Shard.checkpoint(name, 0)
      end)

    fid_of = Map.new(:ets.tab2list(files), fn {fid, file} -> {file, fid} end)

    before_checkpoint =
      Enum.take_while(events, &(not match?({:ra, :pipeline_command, _}, elem(&1, 0))))

    assert length(before_checkpoint) < length(events), "no checkpoint was sent"

    synced =
      for {{FerricStore.Bitcask, :fsync, 1}, [file]} <- before_checkpoint,
          Map.has_key?(fid_of, file),
          do: fid_of[file]

    assert Enum.sort(found) -- synced == []
    assert active in synced
    assert Enum.any?(before_checkpoint, &match?({{FerricStore.Bitcask, :fsync_dir, 1}, _}, &1))
  end

  # Calls `fun` with calls to Bitcask.fsync/1, ra:pipeline_command/4 and `more` traced
  # in `pid`; returns them in order as `{mfa, args}`.
  defp traced(pid, more, fun) do
    mfas = [{FerricStore.Bitcask, :fsync, 1}, {:ra, :pipeline_command, 4}] ++ more
    Enum.each(mfas, &:erlang.trace_pattern(&1, true, [:local]))
    :erlang.trace(pid, true, [:call])

    try do
      fun.()
    after
      :erlang.trace(pid, false, [:call])
      Enum.each(mfas, &:erlang.trace_pattern(&1, false, [:local]))
    end

    collect_calls(pid, [])
  end

  defp collect_calls(pid, acc) do
    receive do
      {:trace, ^pid, :call, {m, f, args}} ->
        collect_calls(pid, [{{m, f, length(args)}, args} | acc])
    after
      200 -> Enum.reverse(acc)
    end
  end

  # Start-up skips a bad record in a sealed file as damage; only the active file's bad
  # tail is cut (and replayed by ra). That is right only if a sealed file is on disk
  # before any record of the next one can be.
  test "a full file is synced before the first write to the next one", %{name: name, opts: o} do
    ra = Process.whereis(elem(Shard.server_id(name, 0), 0))
    %{files: files} = Keydir.tables(name, 0)

    calls =
      traced(ra, [{FerricStore.Bitcask, :append_batch, 3}], fn ->
        for i <- 1..40, do: :ok = FerricStore.set("k#{i}", :binary.copy("v", 600), o)
      end)

    fid_of = Map.new(:ets.tab2list(files), fn {fid, file} -> {file, fid} end)

    events =
      for {{FerricStore.Bitcask, f, _}, [file | _]} <- calls,
          do: {if(f == :fsync, do: :fsync, else: :append), Map.fetch!(fid_of, file)}

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
end
