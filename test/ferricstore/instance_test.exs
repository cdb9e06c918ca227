defmodule FerricStore.InstanceTest do
  # start_link/1 checks its options before anything starts: an unknown option or an
  # ill-typed value raises ArgumentError naming it, and no process or file is made.
  use FerricStore.StoreCase, async: true

  @moduletag :tmp_dir

  defp raises(message, fun), do: assert_raise(ArgumentError, message, fun)

  @tag :no_instance
  test "start_link/1 checks its options before it starts anything", %{tmp_dir: dir} do
    start = fn opts -> FerricStore.start_link([name: :opts_check, data_dir: dir] ++ opts) end

    for {opts, message} <- [
          {[bogus: 1], ~r"^FerricStore.start_link/1: unknown option :bogus \(it takes :name, "},
          {[shards: 0], ~r"shards: must be a positive integer, got: 0"},
          {[timeout: :x], ~r"timeout: must be a positive integer \(ms\) or :infinity, got: :x"},
          {[hot_cache: 1], ~r"hot_cache: must be a boolean"},
          {[port: "6379"], ~r"port: must be nil or a TCP port number"},
          {[compaction_ratio: -1], ~r"compaction_ratio: must be a non-negative number"},
          {[password: :secret], ~r"password: must be nil or a binary"}
        ] do
      raises(message, fn -> start.(opts) end)
    end

    raises(~r"name: must be an atom, got: \"strname\"", fn ->
      FerricStore.start_link(name: "strname", data_dir: dir)
    end)

    raises(~r"data_dir: must be a binary", fn -> FerricStore.start_link(name: :x, data_dir: 1) end)

    raises(~r"options must be a keyword list", fn -> FerricStore.start_link([:x]) end)

    # Nothing was started, and nothing was written to disk.
    assert Process.whereis(:"opts_check.sup") == nil
    assert File.ls!(dir) == []
  end
end
