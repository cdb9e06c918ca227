for file <- ~w(resp_client redis_server generator differences known_bugs runner) do
  Code.require_file("support/#{file}.exs", __DIR__)
end

defmodule FerricStore.Differential.StringsKeyspaceTest do
  # Differential test: the same seeded random command sequences go to Debian's redis-server
  # and to a FerricStore RESP server, and every reply must be the same (see Runner for the
  # tolerances and DIFFERENCES.md for the intended differences). On failure, each distinct
  # mismatch is shrunk to a minimal sequence and printed with both replies and the seed.
  #
  # Reproduce a run: `mix test test/differential --seed N` (or FERRIC_DIFF_SEED=N);
  # FERRIC_DIFF_SEQUENCES / FERRIC_DIFF_LENGTH change the size (default 300 x 30).
  use ExUnit.Case, async: true

  alias FerricStore.Test.RedisServer
  alias FerricStore.Test.Differential.{Differences, Generator, KnownBugs, Runner}

  # Tests of known bugs are excluded unless asked for (see known_differences_test.exs).
  @known_included :known_difference in Keyword.get(ExUnit.configuration(), :include, [])

  @moduletag timeout: 180_000

  setup_all do
    if not RedisServer.available?(), do: raise("redis-server is not installed (scripts/setup.sh)")
    redis = RedisServer.start!()
    name = :"diff_strings_#{System.unique_integer([:positive])}"
    dir = Path.join(System.tmp_dir!(), "#{name}")
    File.rm_rf!(dir)
    {:ok, _} = FerricStore.start_link(name: name, data_dir: dir, port: 0)

    on_exit(fn ->
      RedisServer.stop(redis)
      File.rm_rf(dir)
    end)

    on_exit(fn -> FerricStore.StoreCase.stop_instance(name) end)

    runner = %Runner{redis_port: redis.port, ferric_port: FerricStore.Server.Listener.port(name)}
    %{runner: runner}
  end

  defp env_int(name, default),
    do: name |> System.get_env(Integer.to_string(default)) |> String.to_integer()

  test "random string and keyspace command sequences get the same replies", %{runner: runner} do
    random_sequences(runner, false)
  end

  @tag :known_difference
  if not @known_included, do: @tag(skip: "known bugs: run with --include known_difference")

  test "random sequences get the same replies, known bugs included", %{runner: runner} do
    random_sequences(runner, true)
  end

  defp random_sequences(runner, strict?) do
    seed = env_int("FERRIC_DIFF_SEED", ExUnit.configuration()[:seed])
    count = env_int("FERRIC_DIFF_SEQUENCES", 300)
    len = env_int("FERRIC_DIFF_LENGTH", 30)
    :rand.seed(:exsss, {seed, 4, 2})

    # Generate everything first: running never touches the :rand state.
    cases =
      for seq <- Generator.sequences(count, len) do
        opts = [
          protocol: Generator.pick([2, 2, 2, 3]),
          pipeline: Generator.pick([true, true, false])
        ]

        {seq, opts}
      end

    outcomes =
      cases
      |> Enum.with_index()
      |> Enum.map(fn {{seq, opts}, i} -> check(runner, seq, opts, i, strict?, 8) end)

    failures = Enum.filter(outcomes, &match?({_, _, _, _}, &1))

    if failures != [] do
      # One minimal reproduction per distinct kind of mismatch (at most 10).
      distinct =
        failures
        |> Enum.uniq_by(fn {_, _, _, m} -> Runner.signature(m) end)
        |> Enum.take(10)

      reports =
        for {i, seq, opts, {_, step, r, f} = m} <- distinct do
          small = Runner.shrink(runner, seq, opts, Runner.signature(m))
          known = KnownBugs.explain(step, r, f)
          note = if known, do: " (known bug #{known})", else: ""

          "sequence ##{i}#{note}: #{Runner.format_step(step)}\n" <>
            "  redis #{inspect(r, binaries: :as_strings)}, ferric #{inspect(f, binaries: :as_strings)}\n" <>
            "minimal reproduction: " <> Runner.report(runner, small, opts)
        end

      flunk("""
      #{length(failures)} of #{count} sequences differ from redis-server \
      (seed #{seed}: mix test #{Path.relative_to_cwd(__ENV__.file)} --seed #{seed}).
      #{length(distinct)} distinct mismatches:

      #{Enum.join(reports, "\n\n")}
      """)
    end
  end

  # Not strict: a step whose mismatch is a known bug is dropped and the sequence run again
  # (the bug's own test covers it), so a known bug does not hide what comes after it.
  defp check(runner, seq, opts, i, strict?, retries) do
    case Runner.first_mismatch(Runner.run(runner, seq, opts)) do
      nil ->
        :ok

      {at, step, r, f} = mismatch ->
        known = KnownBugs.explain(step, r, f)

        if known && not strict? && retries > 0,
          do: check(runner, List.delete_at(seq, at), opts, i, strict?, retries - 1),
          else: {i, seq, opts, mismatch}
    end
  end

  test "a key with a short TTL expires on both servers", %{runner: runner} do
    seq = [
      {:cmd, ["SET", "k1", "v", "PX", "150"]},
      {:cmd, ["SET", "k2", "v"]},
      {:cmd, ["PEXPIRE", "k2", "150"]},
      {:cmd, ["SET", "k3", "v", "EX", "100"]}
    ]

    after_sleep = [
      {:cmd, ["GET", "k1"]},
      {:cmd, ["EXISTS", "k1", "k2", "k3"]},
      {:cmd, ["TTL", "k2"]},
      {:cmd, ["KEYS", "*"]},
      {:scan_all, []},
      {:cmd, ["DBSIZE"]},
      {:cmd, ["INCR", "k1"]},
      {:cmd, ["APPEND", "k2", "x"]}
    ]

    # Run each step list on both servers over one connection per server, with a pause
    # between the two halves so that the TTLs run out.
    results =
      for port <- [runner.redis_port, runner.ferric_port] do
        sock = FerricStore.Test.RESPClient.connect!(port)
        FerricStore.Test.RESPClient.command(sock, ["FLUSHALL"])
        FerricStore.Test.RESPClient.pipeline(sock, Enum.map(seq, &elem(&1, 1)))
        Process.sleep(400)
        replies = for step <- after_sleep, do: run_step(sock, step)
        FerricStore.Test.RESPClient.close(sock)
        replies
      end

    [redis, ferric] = results
    assert ferric == redis
    assert Enum.at(redis, 0) == {:null, :bulk}
  end

  defp run_step(sock, {:cmd, ["KEYS" | _] = args}),
    do: sock |> FerricStore.Test.RESPClient.command(args) |> Enum.sort()

  defp run_step(sock, {:cmd, args}), do: FerricStore.Test.RESPClient.command(sock, args)

  defp run_step(sock, {:scan_all, _}) do
    [_, keys] = FerricStore.Test.RESPClient.command(sock, ["SCAN", "0", "COUNT", "1000"])
    Enum.sort(keys)
  end

  test "D2: SCAN TYPE none lists keys set in the past on Redis only, and only those pass",
       %{runner: runner} do
    past = Integer.to_string(System.os_time(:second) - 1000)
    seq = [{:cmd, ["SET", "d2k", "1", "EXAT", past]}, {:scan_all, ["TYPE", "none"]}]
    results = Runner.run(runner, seq, protocol: 2, pipeline: false)

    # Redis lists the expired key (this is the difference) unless its active expiry
    # reclaimed it in between; FerricStore does not.
    assert [_, {_, {:keys, redis_keys}, {:keys, []}}] = results
    assert redis_keys in [["d2k"], []]
    assert Runner.first_mismatch(results) == nil

    # A key Redis lists that was not set in the past is still a mismatch.
    step = {:scan_all, ["TYPE", "none"]}
    refute Differences.intended?(step, {:keys, ["d2k"]}, {:keys, []}, [])
    refute Differences.intended?(step, {:keys, ["other"]}, {:keys, []}, Enum.reverse(seq))
    refute Differences.intended?({:scan_all, []}, {:keys, ["d2k"]}, {:keys, []}, seq)
  end

  test "DIFFERENCES.md and the harness list the same intended differences" do
    assert Enum.sort(Differences.documented_ids()) == Enum.sort(Differences.ids())
  end
end
