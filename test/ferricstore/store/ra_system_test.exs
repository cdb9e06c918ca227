defmodule FerricStore.Store.RaSystemTest do
  use FerricStore.StoreCase, async: true

  @moduletag :tmp_dir

  test "a clean stop leaves no WAL for the next start to read, and loses nothing", ctx do
    raft = Path.join(ctx.tmp_dir, "raft")

    for round <- 1..3 do
      for i <- 1..200, do: :ok = FerricStore.set("k#{i}", "v#{round}.#{i}", ctx.opts)
      assert Path.wildcard(Path.join(raft, "*.wal")) != []

      stop_instance(ctx.name)
      assert Path.wildcard(Path.join(raft, "*.wal")) == []

      start_instance(ctx.instance_opts)
      for i <- 1..200, do: assert({:ok, "v#{round}.#{i}"} == FerricStore.get("k#{i}", ctx.opts))
    end
  end

  @tag capture_log: true
  test "the system starts after init returns; await/1 waits for it, or exits if it failed",
       %{tmp_dir: dir} do
    alias FerricStore.Store.RaSystem
    Process.flag(:trap_exit, true)
    name = :"ra_system_test_#{System.unique_integer([:positive])}"

    settings = [wal_max_bytes: 1024 * 1024, segment_max_entries: 64]
    {:ok, pid} = RaSystem.start_link([name: name, dir: Path.join(dir, "raft")] ++ settings)
    assert :ok = RaSystem.await(name)
    assert %{name: ^name} = :ra_system.fetch(name)
    assert Process.whereis(:ra_system.derive_names(name).wal)
    GenServer.stop(pid)

    # The directory cannot be created (a file is in the way): the start fails after
    # init/1 returned, and whoever waits for the system exits instead of hanging.
    File.write!(Path.join(dir, "blocked"), "")
    bad = :"#{name}_bad"

    {:ok, pid} =
      RaSystem.start_link([name: bad, dir: Path.join([dir, "blocked", "raft"])] ++ settings)

    # {reason, call} while it was still there, {:noproc, call} after.
    assert {_reason, {GenServer, :call, _}} = catch_exit(RaSystem.await(bad))
    assert_receive {:EXIT, ^pid, {:data_dir, _, :enotdir}}
  end

  test "only a WAL with nothing after its header counts as empty", %{tmp_dir: dir} do
    path = Path.join(dir, "00000001.wal")
    zeros = :binary.copy(<<0>>, 64 * 1024)

    File.write!(path, ["RAWA", 1, zeros])
    assert FerricStore.Store.RaSystem.empty_wal?(path)

    File.write!(path, ["RAWA", 1])
    assert FerricStore.Store.RaSystem.empty_wal?(path)

    # Anything in the first 4 KiB after the header is (the start of) an entry.
    File.write!(path, ["RAWA", 1, :binary.copy(<<0>>, 4000), 1, zeros])
    refute FerricStore.Store.RaSystem.empty_wal?(path)

    File.write!(path, ["RAWB", 1, zeros])
    refute FerricStore.Store.RaSystem.empty_wal?(path)

    refute FerricStore.Store.RaSystem.empty_wal?(Path.join(dir, "missing.wal"))
  end
end
