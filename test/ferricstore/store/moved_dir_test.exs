defmodule FerricStore.Store.MovedDirTest do
  # ra restarts a server from the configuration it stored when the server was created,
  # with the ra system's absolute paths in it: a moved data directory must not keep
  # using (or recreate) the Raft log under its old path.
  use FerricStore.StoreCase, async: true

  @moduletag :tmp_dir
  @moduletag :no_instance

  test "a moved data directory restarts on its own Raft log", %{tmp_dir: tmp} do
    old = Path.join(tmp, "a")
    new = Path.join(tmp, "b")
    name = :"moved_#{System.unique_integer([:positive])}"
    # Small checkpoints: ra snapshots, and segments sit on both sides of the snapshot.
    opts = [name: name, checkpoint_bytes: 16 * 1024, max_file_size: 64 * 1024]

    start_instance([data_dir: old] ++ opts)
    for i <- 1..2_000, do: :ok = FerricStore.set("k#{i}", "old-#{i}", name: name)
    stop_instance(name)

    File.rename!(old, new)

    for round <- 1..3 do
      start_instance([data_dir: new] ++ opts)
      for i <- 1..200, do: :ok = FerricStore.set("k#{i}", "new-#{round}-#{i}", name: name)
      stop_instance(name)
      refute File.exists?(old), "the restart used the old path (round #{round})"
    end

    start_instance([data_dir: new] ++ opts)
    assert {:ok, "new-3-1"} = FerricStore.get("k1", name: name)
    assert {:ok, "old-2000"} = FerricStore.get("k2000", name: name)
    stop_instance(name)
  end
end
