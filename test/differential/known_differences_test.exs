for file <- ~w(resp_client redis_server differences known_bugs runner) do
  Code.require_file("support/#{file}.exs", __DIR__)
end

defmodule FerricStore.Differential.KnownDifferencesTest do
  # One test per FerricStore bug found by the harness (support/known_bugs.exs): its minimal
  # reproduction runs on redis-server and FerricStore and must get the same replies. Open
  # bugs fail until fixed, so they are tagged :known_difference and skipped unless
  # `--include known_difference` is given (checked when this file is loaded); fixed ones
  # run by default as regression tests.
  use ExUnit.Case, async: true

  alias FerricStore.Test.RedisServer
  alias FerricStore.Test.Differential.{KnownBugs, Runner}

  setup_all do
    %{redis: redis, ferric_port: ferric_port} = RedisServer.start_with_ferricstore!(:diff_known)
    %{runner: %Runner{redis_port: redis.port, ferric_port: ferric_port}}
  end

  for bug <- KnownBugs.all() do
    @bug_id bug.id
    if not bug.fixed, do: @tag(:known_difference)

    test "#{bug.id}#{if bug.fixed, do: " (fixed)"}: #{bug.title}", %{runner: runner} do
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
