defmodule FerricStore.Store.ShardTest do
  use ExUnit.Case, async: true

  alias FerricStore.Store.Shard

  # ra restarts a crashed ra server itself, up to a limit; a server that stopped for good
  # used to leave every write of the shard hanging while reads went on.
  @tag :tmp_dir
  @tag capture_log: true
  test "the shard restarts itself, and its ra server, when the ra server is gone", %{
    tmp_dir: dir
  } do
    name = :"shard_ra_down_#{System.unique_integer([:positive])}"
    {:ok, sup} = FerricStore.start_link(name: name, data_dir: dir, timeout: 5_000)
    :ok = FerricStore.set("before", "1", name: name)
    shard = Process.whereis(Shard.name(name, 0))

    :ok = :ra.stop_server(:"#{name}.ra_system", Shard.server_id(name, 0))

    assert wait_until(fn ->
             pid = Process.whereis(Shard.name(name, 0))
             pid != nil and pid != shard and Process.whereis(:"#{name}.ra.0") != nil
           end)

    # The batcher restarts after the shard, and the new ra server elects itself: the
    # first writes may find neither ready yet.
    assert wait_until(fn -> FerricStore.set("after", "2", name: name) == :ok end)
    assert {:ok, "1"} = FerricStore.get("before", name: name)
    assert {:ok, "2"} = FerricStore.get("after", name: name)
    Supervisor.stop(sup)
  end

  defp wait_until(fun, tries \\ 100) do
    cond do
      fun.() -> true
      tries == 0 -> false
      true -> Process.sleep(50) && wait_until(fun, tries - 1)
    end
  end
end
