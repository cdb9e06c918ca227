defmodule FerricStore.Crash.RestartReplayTest do
  # Regressions found by the SIGKILL harness (issue #6), both about the Raft entries a
  # killed instance had committed but not applied:
  #
  # 1. start_link used to return before ra re-applied them (ra does so only once the
  #    restarted leader commits in its new term), so a read right after start-up could
  #    miss a write that appeared moments later. The shard now waits for an empty entry
  #    to go through the log before the instance serves anything.
  # 2. ra notifies the pid stored in each re-applied entry. Pids repeat across OS
  #    restarts and the batcher's correlation ids restarted at 0, so the new batcher
  #    answered its own callers with the replies of old entries. Correlations now carry
  #    a random per-incarnation tag.
  use ExUnit.Case, async: false

  alias FerricStore.{CrashClient, CrashNode}

  @moduletag :crash
  @moduletag :tmp_dir
  @moduletag timeout: 180_000

  @cycles 8
  @writers 16

  setup %{tmp_dir: dir} do
    code = CrashNode.snapshot_code(Path.join(dir, "code"))
    test_pid = self()

    on_exit(fn ->
      CrashNode.cleanup(:persistent_term.get({__MODULE__, test_pid}, nil))
      :persistent_term.erase({__MODULE__, test_pid})
    end)

    {:ok, code: code, data: Path.join(dir, "data"), port: CrashNode.free_port()}
  end

  test "the first writes after a restart get their own replies", ctx do
    failures =
      kill_cycles(ctx, fn sock, cycle ->
        # Fresh keys: SET must answer OK, INCR must answer 1, and the values are there.
        replies =
          for i <- 1..8 do
            {:ok, set} = CrashClient.command(sock, ["SET", "fresh:#{cycle}:#{i}", "v"])
            {:ok, incr} = CrashClient.command(sock, ["INCR", "fresh:n:#{cycle}:#{i}"])
            {:ok, got} = CrashClient.command(sock, ["GET", "fresh:#{cycle}:#{i}"])
            {set, incr, got}
          end

        for {r, i} <- Enum.with_index(replies, 1),
            r != {{:simple, "OK"}, 1, "v"},
            do: {cycle, i, r}
      end)

    assert failures == []
  end

  test "a read right after start-up sees every committed write", ctx do
    failures =
      kill_cycles(ctx, fn sock, cycle ->
        keys = for i <- 1..@writers, do: "counter:#{i}"
        {:ok, before} = CrashClient.command(sock, ["MGET" | keys])
        # Any acknowledged write is applied after every entry already in the log.
        {:ok, _} = CrashClient.command(sock, ["SET", "barrier", "#{cycle}"])
        {:ok, later} = CrashClient.command(sock, ["MGET" | keys])
        if before == later, do: [], else: [{cycle, before, later}]
      end)

    assert failures == []
  end

  # Kills a loaded instance @cycles times; after each restart runs `check` on a fresh
  # connection first thing, and collects what it returns.
  defp kill_cycles(ctx, check) do
    Enum.flat_map(1..@cycles, fn cycle ->
      {child, _} = CrashNode.start(ctx.code, ctx.data, ctx.port)
      :persistent_term.put({__MODULE__, self()}, child)
      {:ok, sock} = CrashClient.connect(ctx.port)
      found = check.(sock, cycle)
      :gen_tcp.close(sock)

      tasks =
        for i <- 1..@writers do
          Task.async(fn ->
            {:ok, s} = CrashClient.connect(ctx.port)
            incr_until_closed(s, "counter:#{i}")
          end)
        end

      # Short lives too: the entries ra re-applies then carry low correlation ids.
      Process.sleep(if(rem(cycle, 2) == 0, do: :rand.uniform(40), else: 200 + :rand.uniform(300)))
      CrashNode.kill(child)
      Enum.each(tasks, &Task.await(&1, 30_000))
      found
    end)
  end

  defp incr_until_closed(sock, key) do
    case CrashClient.pipeline(sock, for(_ <- 1..4, do: ["INCR", key])) do
      {:ok, _} -> incr_until_closed(sock, key)
      {:error, :closed} -> :ok
    end
  end
end
