defmodule FerricStore.Store.DurabilityTest do
  use FerricStore.StoreCase, async: true

  alias FerricStore.Store.{Keydir, Shard}

  @moduletag :tmp_dir

  test "a clean stop leaves the WAL flushed into segments; the data comes back", ctx do
    o = ctx.opts

    for batch <- Enum.chunk_every(1..3_000, 100) do
      :ok = FerricStore.mset(Enum.map(batch, &{"w#{&1}", String.duplicate("x", 100)}), o)
    end

    # WAL files are preallocated (zeros after the last entry): count the written bytes.
    wal_bytes = fn ->
      Path.join([ctx.tmp_dir, "raft", "*.wal"])
      |> Path.wildcard()
      |> Enum.map(&(&1 |> File.read!() |> String.trim_trailing(<<0>>) |> byte_size()))
      |> Enum.sum()
    end

    assert wal_bytes.() > 300_000
    stop_instance(ctx.name)
    # Only a fresh WAL's header is left: the next start does not re-read the entries.
    assert wal_bytes.() < 4_096

    start_instance(ctx.instance_opts)
    assert {:ok, 3_000} = FerricStore.dbsize(o)
    assert {:ok, "xxx" <> _} = FerricStore.get("w2999", o)
  end

  test "restart keeps every key, value and TTL", %{opts: o} = ctx do
    values = for i <- 1..300, into: %{}, do: {"k#{i}", :crypto.strong_rand_bytes(rem(i, 50) * 40)}
    Enum.each(values, fn {k, v} -> :ok = FerricStore.set(k, v, o) end)
    :ok = FerricStore.set("ttl", "v", [ttl: 100_000] ++ o)
    {:ok, 5} = FerricStore.incrby("counter", 5, o)
    {:ok, 1} = FerricStore.del("k1", o)

    restart(ctx)

    Enum.each(Map.delete(values, "k1"), fn {k, v} -> assert {:ok, ^v} = FerricStore.get(k, o) end)
    assert {:ok, nil} = FerricStore.get("k1", o)
    assert {:ok, "5"} = FerricStore.get("counter", o)
    assert {:ok, ms} = FerricStore.pttl("ttl", o)
    assert ms > 90_000 and ms <= 100_000
    assert {:ok, 301} = FerricStore.dbsize(o)
    # Writes continue after a restart, and survive the next one.
    {:ok, 6} = FerricStore.incr("counter", o)
    restart(ctx)
    assert {:ok, "6"} = FerricStore.get("counter", o)
  end

  test "after a restart values are cold and read from disk", %{opts: o, name: name} = ctx do
    :ok = FerricStore.set("a", "on disk", o)
    restart(ctx)
    [{"a", :string, nil, 0, _fid, _off, _size}] = :ets.lookup(Keydir.tables(name, 0).keydir, "a")
    assert {:ok, "on disk"} = FerricStore.get("a", o)
    # The read promoted it to the hot cache.
    [{"a", :string, "on disk", _, _, _, _}] = :ets.lookup(Keydir.tables(name, 0).keydir, "a")
  end

  test "flushdb and deletes stay done across restarts", %{opts: o} = ctx do
    :ok = FerricStore.mset([{"a", "1"}, {"b", "2"}], o)
    :ok = FerricStore.flushdb(o)
    :ok = FerricStore.set("c", "3", o)
    {:ok, 1} = FerricStore.del("c", o)
    :ok = FerricStore.set("d", "4", o)
    restart(ctx)

    assert {:ok, ["4"]} =
             FerricStore.keys("*", o) |> then(fn {:ok, ks} -> FerricStore.mget(ks, o) end)
  end

  test "expired keys do not come back after a restart", %{opts: o} = ctx do
    :ok = FerricStore.set("gone", "v", [px: 50] ++ o)
    :ok = FerricStore.set("kept", "v", o)
    Process.sleep(80)
    restart(ctx)
    assert {:ok, nil} = FerricStore.get("gone", o)
    assert {:ok, 1} = FerricStore.dbsize(o)
  end

  test "a torn tail of the active file is cut and everything before it kept",
       %{opts: o, name: name, tmp_dir: dir} = ctx do
    for i <- 1..20, do: :ok = FerricStore.set("k#{i}", "value-#{i}", o)
    stop_instance(name)
    path = Shard.data_path(Path.join(dir, "shard_0"), 1000)
    %{size: size} = File.stat!(path)
    # A crash in the middle of the last record: its entry was never acknowledged...
    # but ra's log still has it, so it is replayed and nothing is lost.
    {:ok, f} = :file.open(path, [:read, :write, :raw, :binary])
    {:ok, _} = :file.position(f, size - 7)
    :ok = :file.truncate(f)
    :ok = :file.close(f)
    start_instance(ctx.instance_opts)
    for i <- 1..20, do: assert({:ok, "value-#{i}"} == FerricStore.get("k#{i}", o))
    assert Shard.stats(name, 0).truncated_bytes > 0
    # ... and INFO reports it.
    ctx = FerricStore.Commands.Context.new(instance: name, authenticated?: true)
    {reply, _} = FerricStore.Commands.dispatch(["INFO", "persistence"], ctx)
    text = if is_binary(reply), do: reply, else: elem(reply, 2)
    [_, bytes] = Regex.run(~r/ferricstore_recovery_truncated_bytes:(\d+)/, text)
    assert String.to_integer(bytes) > 0
    # So is how long the keydir took to load.
    [_, ms] = Regex.run(~r/ferricstore_recovery_load_ms:(\d+)/, text)
    assert String.to_integer(ms) == Shard.stats(name, 0).load_ms
  end

  # Damage (not a torn tail) in the active file, below ra's snapshot: ra no longer holds
  # those entries (a small snapshot interval makes it snapshot at the checkpoint), so
  # cutting the file there would lose every record after the damage and bring back older
  # values of their keys. Only the damaged record is lost. Above the snapshot, ra still
  # holds the entries: the file is cut there and ra replays them, the damaged one
  # included, so nothing at all is lost.
  for {snapshot_interval, below_snapshot?} <- [{64, true}, {1_000_000, false}] do
    @tag instance_opts: [snapshot_interval: snapshot_interval, checkpoint_entries: 500]
    test "damage in the active file (below ra's snapshot: #{below_snapshot?})",
         %{opts: o, name: name, tmp_dir: dir} = ctx do
      value = fn i -> "value-#{i}-" <> :binary.copy("v", 100) end
      for i <- 1..2_000, do: :ok = FerricStore.set("k#{i}", "old", o)
      for i <- 1..2_000, do: :ok = FerricStore.set("k#{i}", value.(i), o)
      for _ <- 1..50, do: {:ok, _} = FerricStore.incr("counter", o)
      :ok = Shard.checkpoint(name, 0)
      # Applied after the checkpoint's entry: ra has released its log by now.
      :ok = FerricStore.set("last", "written", o)
      stop_instance(name)

      path = Shard.data_path(Path.join(dir, "shard_0"), 1000)
      %{size: size} = File.stat!(path)
      {:ok, f} = :file.open(path, [:read, :write, :raw, :binary])
      at = div(size * 3, 4)
      {:ok, <<byte>>} = :file.pread(f, at, 1)
      :ok = :file.pwrite(f, at, <<Bitwise.bxor(byte, 0xFF)>>)
      :ok = :file.close(f)
      ExUnit.CaptureLog.capture_log(fn -> start_instance(ctx.instance_opts) end)

      intact = Enum.count(1..2_000, fn i -> FerricStore.get("k#{i}", o) == {:ok, value.(i)} end)

      assert intact >= if(unquote(below_snapshot?), do: 1_999, else: 2_000)
      # The damaged record's key reads as its older value at worst, never as garbage.
      for i <- 1..2_000, do: assert(elem(FerricStore.get("k#{i}", o), 1) in ["old", value.(i)])
      assert {:ok, "50"} = FerricStore.get("counter", o)
      assert {:ok, "written"} = FerricStore.get("last", o)
      stats = Shard.stats(name, 0)

      if unquote(below_snapshot?),
        do: assert(stats.skipped == 1 and stats.truncated_bytes == 0),
        else: assert(stats.truncated_bytes > 0)
    end
  end

  test "data files rotate, sealed files get hint files, restart reads them",
       %{tmp_dir: dir} = ctx do
    name = :"#{ctx.name}_rot"
    opts = [name: name, data_dir: Path.join(dir, "rot"), max_file_size: 64 * 1024]
    start_instance(opts)
    o = [name: name]
    value = :binary.copy("x", 1000)
    for i <- 1..300, do: :ok = FerricStore.set("k#{i}", "#{i}:" <> value, o)
    shard_dir = Path.join([dir, "rot", "shard_0"])
    wait = fn -> length(Path.wildcard(Path.join(shard_dir, "*.hint"))) end
    wait_until(fn -> wait.() >= 3 end)
    assert length(Path.wildcard(Path.join(shard_dir, "*.data"))) >= 4
    stop_instance(name)
    start_instance(opts)
    for i <- 1..300, do: assert({:ok, "#{i}:" <> value} == FerricStore.get("k#{i}", o))
    stop_instance(name)
  end

  test "checkpoints let ra release its log", %{tmp_dir: dir} = ctx do
    name = :"#{ctx.name}_ckpt"

    opts = [
      name: name,
      data_dir: Path.join(dir, "ckpt"),
      checkpoint_entries: 50,
      snapshot_interval: 64
    ]

    start_instance(opts)

    for w <- 1..8, i <- 1..50, do: :ok = FerricStore.set("k#{w}:#{i}", "v", name: name)

    snapshots = Path.join([dir, "ckpt", "raft", "*", "snapshots", "*"])
    wait_until(fn -> Path.wildcard(snapshots) != [] end)
    stop_instance(name)
    start_instance(opts)
    assert {:ok, 400} = FerricStore.dbsize(name: name)
    assert {:ok, "v"} = FerricStore.get("k3:7", name: name)
    stop_instance(name)
  end

  test "after a failed fsync no checkpoint releases ra's log until the next start",
       %{tmp_dir: dir} = ctx do
    name = :"#{ctx.name}_fsyncfail"
    opts = [name: name, data_dir: Path.join(dir, "fsyncfail"), snapshot_interval: 64]
    start_instance(opts)
    for i <- 1..100, do: :ok = FerricStore.set("k#{i}", "v", name: name)
    assert :ok = FerricStore.save(name: name)

    # The machine reports that its fsync of a sealed file failed. A later fsync could
    # report success for pages the kernel dropped, so checkpoints stop.
    log =
      ExUnit.CaptureLog.capture_log(fn ->
        send(Shard.name(name, 0), {:sealed, 1, false})
        assert {:error, :fsync_failed_before} = Shard.checkpoint(name, 0)
      end)

    assert log =~ "checkpoints stop until the next start"
    assert {:error, %FerricStore.Error{reason: :io}} = FerricStore.save(name: name)
    for i <- 1..100, do: :ok = FerricStore.set("k#{i}", "w", name: name)

    # A restart starts over: checkpoints work again, nothing was lost.
    stop_instance(name)
    start_instance(opts)
    assert {:ok, 100} = FerricStore.dbsize(name: name)
    for i <- 1..100, do: assert({:ok, "w"} == FerricStore.get("k#{i}", name: name))
    assert :ok = FerricStore.save(name: name)
    stop_instance(name)
  end

  describe "several shards" do
    @describetag instance_opts: [shards: 4]

    test "keys live on their shard and multi-key writes must share one", %{opts: o} = ctx do
      for i <- 1..200, do: :ok = FerricStore.set("k#{i}", "#{i}", o)
      assert {:ok, 200} = FerricStore.dbsize(o)

      assert {:error, %FerricStore.Error{reason: :crossslot}} =
               FerricStore.mset(%{"a" => "1", "b" => "2", "c" => "3"}, o)

      assert :ok = FerricStore.mset(%{"{t}a" => "1", "{t}b" => "2"}, o)
      assert {:ok, ["1", "2"]} = FerricStore.mget(["{t}a", "{t}b"], o)
      assert length(scan(0, o, [])) == 202
      restart(ctx)
      assert {:ok, 202} = FerricStore.dbsize(o)
      assert {:ok, "77"} = FerricStore.get("k77", o)
    end
  end

  defp scan(cursor, o, acc) do
    {:ok, {next, keys}} = FerricStore.scan(cursor, [count: 7] ++ o)
    if next == 0, do: acc ++ keys, else: scan(next, o, acc ++ keys)
  end
end
