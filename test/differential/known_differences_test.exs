for file <- ~w(resp_client redis_server differences known_bugs runner) do
  Code.require_file("support/#{file}.exs", __DIR__)
end

defmodule FerricStore.Differential.KnownDifferencesTest do
  # One test per known FerricStore bug (support/known_bugs.exs): its minimal reproduction
  # runs on redis-server and FerricStore and must get the same replies. They fail until
  # the bug is fixed, so they are excluded unless `--include known_difference` is given
  # (they are marked skipped otherwise: the tag is checked when this file is loaded).
  use ExUnit.Case, async: true

  alias FerricStore.Test.RedisServer
  alias FerricStore.Test.Differential.{KnownBugs, Runner}

  @moduletag :known_difference
  @included :known_difference in Keyword.get(ExUnit.configuration(), :include, [])
  if not @included, do: @moduletag(skip: "known bug: run with --include known_difference")

  setup_all do
    redis = RedisServer.start!()
    name = :"diff_known_#{System.unique_integer([:positive])}"
    dir = Path.join(System.tmp_dir!(), "#{name}")
    File.rm_rf!(dir)
    {:ok, sup} = FerricStore.start_link(name: name, data_dir: dir, port: 0)
    Process.unlink(sup)

    on_exit(fn ->
      RedisServer.stop(redis)
      if Process.alive?(sup), do: Supervisor.stop(sup)
      File.rm_rf(dir)
    end)

    %{
      runner: %Runner{redis_port: redis.port, ferric_port: FerricStore.Server.Listener.port(name)}
    }
  end

  for bug <- KnownBugs.all() do
    @bug_id bug.id
    test "#{bug.id}: #{bug.title}", %{runner: runner} do
      bug = Enum.find(KnownBugs.all(), &(&1.id == @bug_id))

      for protocol <- [2, 3] do
        results = Runner.run(runner, bug.repro, protocol: protocol, pipeline: false)

        if Runner.first_mismatch(results) do
          flunk(Runner.report(runner, bug.repro, protocol: protocol, pipeline: false))
        end
      end
    end
  end
end
