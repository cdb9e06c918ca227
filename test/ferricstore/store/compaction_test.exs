defmodule FerricStore.Store.CompactionTest do
  use FerricStore.StoreCase, async: true

  alias FerricStore.Store.{Files, Shard}

  @moduletag :tmp_dir
  @moduletag instance_opts: [max_file_size: 32 * 1024, compaction_min_bytes: 0]

  defp shard_dir(%{tmp_dir: dir}), do: Path.join(dir, "shard_0")

  defp disk_bytes(ctx) do
    ctx
    |> shard_dir()
    |> Path.join("*.data")
    |> Path.wildcard()
    |> Enum.map(&file_size/1)
    |> Enum.sum()
  end

  # A file can vanish between listing and stat (compaction deletes it).
  defp file_size(path) do
    case File.stat(path) do
      {:ok, %{size: size}} -> size
      {:error, _} -> 0
    end
  end

  test "overwrites are compacted away by dead-bytes ratio, live data stays", %{opts: o} = ctx do
    value = :binary.copy("x", 500)
    for round <- 1..20, i <- 1..50, do: :ok = FerricStore.set("k#{i}", "#{round}:" <> value, o)
    live = 50 * 503

    # Compaction starts by itself; wait for the files to settle.
    wait_until(fn -> disk_bytes(ctx) < 4 * live end)
    for i <- 1..50, do: assert({:ok, "20:" <> value} == FerricStore.get("k#{i}", o))
    restart(ctx)
    for i <- 1..50, do: assert({:ok, "20:" <> value} == FerricStore.get("k#{i}", o))
  end

  test "overwritten hash fields are compacted away by dead-bytes ratio too", %{opts: o} = ctx do
    # Only member records die here (the hash's header is written once): their dead
    # bytes alone must start compaction.
    value = :binary.copy("x", 500)

    for round <- 1..20,
        i <- 1..50,
        do: {:ok, _} = FerricStore.hset("h", %{"f#{i}" => "#{round}:" <> value}, o)

    live = 50 * 503
    wait_until(fn -> disk_bytes(ctx) < 4 * live end)
    for i <- 1..50, do: assert({:ok, "20:" <> value} == FerricStore.hget("h", "f#{i}", o))
    restart(ctx)
    for i <- 1..50, do: assert({:ok, "20:" <> value} == FerricStore.hget("h", "f#{i}", o))
  end

  test "FLUSHDB makes every record dead: the files are compacted away", %{opts: o} = ctx do
    value = :binary.copy("z", 500)
    for i <- 1..200, do: :ok = FerricStore.set("k#{i}", value, o)
    for i <- 1..100, do: {:ok, _} = FerricStore.hset("h", %{"f#{i}" => value}, o)
    before = disk_bytes(ctx)
    assert before > 4 * 32 * 1024

    :ok = FerricStore.flushdb(o)
    # Only the active file and what compaction keeps of the others (the marker, the
    # newest tombstones) stay.
    wait_until(fn -> disk_bytes(ctx) < before / 3 end)
    assert {:ok, 0} == FerricStore.dbsize(o)
  end

  # Without compaction, the dead bytes start-up counts equal those counted live.
  @tag instance_opts: [max_file_size: 32 * 1024, compaction_ratio: 2.0]
  test "start-up counts what a FLUSHDB made dead, as apply did", %{name: name, opts: o} = ctx do
    value = :binary.copy("z", 500)
    for i <- 1..300, do: :ok = FerricStore.set("k#{i}", value, o)
    for i <- 1..50, do: {:ok, _} = FerricStore.del("k#{i * 3}", o)
    for i <- 1..50, do: {:ok, _} = FerricStore.zadd("z", [{i, "m#{rem(i, 20)}"}], o)
    :ok = FerricStore.flushdb(o)
    :ok = FerricStore.set("after", value, o)
    live = dead_by_file(name)
    # Every file written before the marker is dead but for its header.
    assert map_size(live) >= 3

    restart(ctx)
    assert dead_by_file(name) == live
    assert {:ok, 1} == FerricStore.dbsize(o)
  end

  # Records copied by a compaction and overwritten while it ran are dead in the new file:
  # counted there, or that file would never be compacted again (space leaked until a
  # restart recounted it).
  @tag instance_opts: [max_file_size: 16 * 1024, compaction_ratio: 2.0]
  test "overwrites during a compaction are counted in the file it wrote",
       %{name: name, opts: o} = ctx do
    value = :binary.copy("w", 200)
    for i <- 1..300, do: :ok = FerricStore.set("k#{i}", value, o)

    # Writers overwrite every key until told to stop; compactions run meanwhile, so
    # each overlaps writes.
    writers =
      for w <- 1..4 do
        Task.async(fn ->
          Stream.iterate(1, &(&1 + 1))
          |> Enum.reduce_while(0, fn round, _ ->
            for i <- w..300//4, do: :ok = FerricStore.set("k#{i}", "#{round}" <> value, o)

            receive do
              :stop -> {:halt, round}
            after
              0 -> {:cont, round}
            end
          end)
        end)
      end

    for _ <- 1..10, do: :ok = Shard.compact(name, 0)
    Enum.each(writers, &send(&1.pid, :stop))
    Enum.each(writers, &Task.await(&1, 120_000))
    # Compacted files go after their grace period; their late counts move on then.
    Process.sleep(2_300)
    live = dead_by_file(name)

    restart(ctx)
    assert dead_by_file(name) == live
    assert {:ok, 300} == FerricStore.dbsize(o)
  end

  defp dead_by_file(name) do
    meta = FerricStore.Store.Keydir.tables(name, 0).meta
    :ets.match(meta, {{:dead, :"$1"}, :"$2"}) |> Map.new(fn [f, d] -> {f, d} end)
  end

  test "forced compaction keeps exactly the live keys across restarts",
       %{opts: o, name: name} = ctx do
    value = :binary.copy("y", 300)
    for i <- 1..400, do: :ok = FerricStore.set("k#{i}", "#{i}" <> value, o)
    # Delete some, overwrite others, expire a few: old records become dead.
    for i <- 1..100, do: {:ok, 1} = FerricStore.del("k#{i}", o)
    for i <- 101..200, do: :ok = FerricStore.set("k#{i}", "new#{i}", o)
    for i <- 201..210, do: {:ok, true} = FerricStore.pexpire("k#{i}", 1, o)
    Process.sleep(20)
    before = disk_bytes(ctx)
    assert :ok = Shard.compact(name, 0)
    Process.sleep(2_100)
    assert disk_bytes(ctx) < before

    check = fn ->
      for i <- 1..100, do: assert({:ok, nil} == FerricStore.get("k#{i}", o))
      for i <- 101..200, do: assert({:ok, "new#{i}"} == FerricStore.get("k#{i}", o))
      for i <- 201..210, do: assert({:ok, nil} == FerricStore.get("k#{i}", o))
      for i <- 211..400, do: assert({:ok, "#{i}" <> value} == FerricStore.get("k#{i}", o))
      assert {:ok, 290} = FerricStore.dbsize(o)
    end

    check.()
    restart(ctx)
    check.()
    # Compacting again after the restart (now from hint files) changes nothing.
    assert :ok = Shard.compact(name, 0)
    restart(ctx)
    check.()
  end

  test "an interrupted compaction is discarded at start-up", %{opts: o, name: name} = ctx do
    for i <- 1..200, do: :ok = FerricStore.set("k#{i}", :binary.copy("z", 400), o)
    stop_instance(name)
    dir = shard_dir(ctx)
    [first | _] = Files.list(dir)
    # A compaction that died before writing its hint: a partial next generation.
    File.write!(Files.data_path(dir, Files.next_generation(first)), "partial")
    start_instance(ctx.instance_opts)
    refute File.exists?(Files.data_path(dir, Files.next_generation(first)))
    assert {:ok, 200} = FerricStore.dbsize(o)
  end

  test "reads during compaction never fail", %{opts: o, name: name} do
    for i <- 1..300, do: :ok = FerricStore.set("k#{i}", "v#{i}" <> :binary.copy("r", 300), o)
    for i <- 1..300, do: :ok = FerricStore.set("k#{i}", "w#{i}", o)

    restart_reader =
      Task.async(fn ->
        for _ <- 1..20, i <- 1..300, do: {:ok, "w" <> _} = FerricStore.get("k#{i}", o)
        :ok
      end)

    assert :ok = Shard.compact(name, 0)
    assert :ok = Task.await(restart_reader, 30_000)
  end
end
