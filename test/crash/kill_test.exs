defmodule FerricStore.Crash.KillTest do
  # Issue #6: nothing acknowledged is ever lost. A FerricStore server runs in its own OS
  # process; 32+ writers drive mixed writes over RESP and record every acknowledged
  # operation; the process is killed with SIGKILL at random moments and restarted on the
  # same directory; after every restart the whole key space is checked against what the
  # writers were told.
  use ExUnit.Case, async: false

  alias FerricStore.{CrashClient, CrashNode}

  @moduletag :crash
  @moduletag :tmp_dir
  @moduletag timeout: 300_000

  @writers 32
  @string_keys 40
  @counter_keys 4
  @shared_counters 4
  @cycles 12
  @ttl_seconds 100_000

  # The child runs with small files so that every cycle rotates data files, writes hint
  # files, and checkpoints (ra truncates its log behind them).
  @child_opts [max_file_size: 1_048_576, checkpoint_bytes: 2_097_152, checkpoint_entries: 400]

  test "SIGKILL at random moments never loses an acknowledged write", %{tmp_dir: dir} do
    seed = System.get_env("CRASH_SEED", "#{:erlang.unique_integer([:positive])}")
    seed = String.to_integer(seed)
    IO.puts("\n[crash] seed #{seed} (CRASH_SEED=#{seed} to replay the kill schedule)")
    :rand.seed(:exsss, {seed, 6, 6})
    tcp_port = CrashNode.free_port()
    code = CrashNode.snapshot_code(Path.join(dir, "code"))
    dir = Path.join(dir, "data")
    test_pid = self()

    on_exit(fn ->
      case :persistent_term.get({__MODULE__, test_pid}, nil) do
        nil -> :ok
        child -> CrashNode.cleanup(child)
      end

      :persistent_term.erase({__MODULE__, test_pid})
    end)

    writers = for w <- 1..@writers, do: new_writer(w, seed)
    shared = %{max_acked: %{}, attempts: %{}, observed: %{}}

    {writers, shared, totals} =
      Enum.reduce(1..@cycles, {writers, shared, %{acked: 0, checked_keys: 0}}, fn cycle, acc ->
        {writers, shared, totals} = acc
        {child, recovery} = CrashNode.start(code, dir, tcp_port, @child_opts)
        :persistent_term.put({__MODULE__, test_pid}, child)

        # Check everything acknowledged so far, and settle the in-flight ops.
        {writers, shared, checked} = verify(tcp_port, writers, shared)

        # Mostly load for a while; now and then kill early (during or right after replay).
        kill_after = if rem(cycle, 4) == 0, do: :rand.uniform(50), else: 150 + :rand.uniform(1200)

        tasks =
          for writer <- writers do
            Task.async(fn -> run_writer(tcp_port, %{writer | cycle: cycle}) end)
          end

        Process.sleep(kill_after)
        CrashNode.kill(child)
        results = Enum.map(tasks, &Task.await(&1, 60_000))
        writers = Enum.map(results, &elem(&1, 0))
        failures = Enum.flat_map(writers, & &1.failures)
        assert failures == [], "wrong replies while running: #{inspect(Enum.take(failures, 5))}"
        shared = merge_shared(shared, Enum.map(results, &elem(&1, 1)))
        acked = Enum.sum(Enum.map(writers, & &1.acked))
        errors = Enum.sum(Enum.map(writers, & &1.errors))

        IO.puts(
          "[crash] cycle #{cycle}: killed after #{kill_after} ms, #{acked} ops acknowledged " <>
            "(#{errors} error replies, outcome unknown) " <>
            "in total, #{checked} keys checked at start-up, recovery #{inspect(recovery)}"
        )

        {writers, shared, %{totals | acked: acked, checked_keys: totals.checked_keys + checked}}
      end)

    # The final restart checks the last cycle's writes too.
    {child, _recovery} = CrashNode.start(code, dir, tcp_port, @child_opts)
    :persistent_term.put({__MODULE__, test_pid}, child)
    {_writers, _shared, checked} = verify(tcp_port, writers, shared)
    CrashNode.kill(child)

    IO.puts(
      "[crash] #{@cycles} SIGKILL cycles: #{totals.acked} acknowledged operations checked " <>
        "(#{totals.checked_keys + checked} key checks) by #{@writers} writers"
    )

    assert totals.acked > 1_000
  end

  ## Writers

  # Every writer owns its keys, so the state it expects for them is exact; at most one
  # operation (the one in flight at the kill) is uncertain. Shared counters are INCRed
  # by everyone: they may only grow, and never below the highest acknowledged reply.
  defp new_writer(w, seed) do
    strings = for j <- 1..@string_keys, into: %{}, do: {"w#{w}:s#{j}", [:none]}
    counters = for j <- 1..@counter_keys, into: %{}, do: {"w#{w}:c#{j}", [:none]}

    %{
      id: w,
      seed: seed,
      cycle: 0,
      model: Map.merge(strings, counters),
      inflight: nil,
      history: %{},
      acked: 0,
      errors: 0,
      seq: 0,
      failures: []
    }
  end

  defp run_writer(tcp_port, writer) do
    :rand.seed(:exsss, {writer.seed, writer.id, writer.cycle})
    {:ok, sock} = CrashClient.connect(tcp_port)
    loop(sock, writer, %{max_acked: %{}, attempts: %{}})
  end

  defp loop(sock, writer, shared) do
    op = random_op(writer)
    writer = %{writer | seq: writer.seq + 1}

    shared =
      case op do
        {:incr_shared, key} ->
          %{shared | attempts: Map.update(shared.attempts, key, 1, &(&1 + 1))}

        _ ->
          shared
      end

    case CrashClient.command(sock, command(op)) do
      {:error, :closed} ->
        {%{writer | inflight: op}, shared}

      {:ok, reply} ->
        {writer, shared} = acknowledge(writer, shared, op, reply)
        acked = if match?({:error_reply, _}, reply), do: 0, else: 1
        loop(sock, %{writer | acked: writer.acked + acked}, shared)
    end
  end

  defp random_op(writer) do
    string = "w#{writer.id}:s#{:rand.uniform(@string_keys)}"
    counter = "w#{writer.id}:c#{:rand.uniform(@counter_keys)}"

    case :rand.uniform(100) do
      n when n <= 40 -> {:set, string, value(writer, string), false}
      n when n <= 48 -> {:set, string, value(writer, string), true}
      n when n <= 60 -> {:del, string}
      n when n <= 68 -> {:expire, string}
      n when n <= 72 -> {:persist, string}
      n when n <= 77 -> {:append, string, value(writer, string) |> binary_part(0, 1)}
      n when n <= 90 -> {:incrby, counter, :rand.uniform(1000)}
      n when n <= 93 -> {:del, counter}
      _ -> {:incr_shared, "shared:c#{:rand.uniform(@shared_counters)}"}
    end
  end

  # 1 B to 64 KiB, mostly small; the bytes name the writer, the key and the sequence.
  defp value(writer, key) do
    size =
      case :rand.uniform(100) do
        n when n <= 70 -> :rand.uniform(200)
        n when n <= 95 -> 200 + :rand.uniform(3900)
        _ -> 4096 + :rand.uniform(65_536 - 4096)
      end

    tag = "#{key}@#{writer.cycle}.#{writer.seq}|"
    body = :binary.copy(tag, div(size, byte_size(tag)) + 1)
    binary_part(body, 0, size)
  end

  defp command({:set, k, v, false}), do: ["SET", k, v]
  defp command({:set, k, v, true}), do: ["SET", k, v, "EX", @ttl_seconds]
  defp command({:del, k}), do: ["DEL", k]
  defp command({:expire, k}), do: ["EXPIRE", k, @ttl_seconds]
  defp command({:persist, k}), do: ["PERSIST", k]
  defp command({:append, k, v}), do: ["APPEND", k, v]
  defp command({:incrby, k, n}), do: ["INCRBY", k, n]
  defp command({:incr_shared, k}), do: ["INCR", k]

  defp acknowledge(writer, shared, {:incr_shared, _key}, {:error_reply, _}),
    do: {%{writer | errors: writer.errors + 1}, shared}

  defp acknowledge(writer, shared, {:incr_shared, key}, reply) do
    if is_integer(reply) do
      {writer, %{shared | max_acked: Map.update(shared.max_acked, key, reply, &max(&1, reply))}}
    else
      {fail(writer, {:incr_shared, key, reply}), shared}
    end
  end

  # An error reply (CLUSTERDOWN, timeout) leaves the outcome unknown: the key may be in
  # the state before or after the operation. Every acknowledged reply narrows the
  # possible states to those that give exactly that reply.
  defp acknowledge(writer, shared, op, {:error_reply, _} = reply) do
    key = elem(op, 1)
    entry = {writer.cycle, writer.seq, op_summary(op), reply}
    history = Map.update(writer.history, key, [entry], &Enum.take([entry | &1], 6))
    states = Map.fetch!(writer.model, key)
    states = Enum.uniq(states ++ Enum.map(states, &step_state(&1, op)))

    {%{
       writer
       | model: Map.put(writer.model, key, states),
         history: history,
         errors: writer.errors + 1
     }, shared}
  end

  defp acknowledge(writer, shared, op, reply) do
    key = elem(op, 1)
    entry = {writer.cycle, writer.seq, op_summary(op), reply}
    history = Map.update(writer.history, key, [entry], &Enum.take([entry | &1], 6))

    states =
      for state <- Map.fetch!(writer.model, key),
          {^reply, new} <- [step(state, op)],
          uniq: true,
          do: new

    if states != [] do
      {%{writer | model: Map.put(writer.model, key, states), history: history}, shared}
    else
      {fail(writer, {op_summary(op), Map.fetch!(writer.model, key), reply}), shared}
    end
  end

  defp fail(writer, what), do: %{writer | failures: [what | writer.failures]}

  defp op_summary(op), do: op |> Tuple.to_list() |> Enum.map(&short/1)
  defp short(b) when is_binary(b) and byte_size(b) > 40, do: binary_part(b, 0, 40) <> "..."
  defp short(x), do: x

  # The model of one key: :none, or {value, has_ttl?}. Returns the reply Redis gives.
  defp step(_state, {:set, _k, v, ttl?}), do: {{:simple, "OK"}, {v, ttl?}}
  defp step(:none, {:del, _}), do: {0, :none}
  defp step(_, {:del, _}), do: {1, :none}
  defp step(:none, {:expire, _}), do: {0, :none}
  defp step({v, _}, {:expire, _}), do: {1, {v, true}}
  defp step({v, true}, {:persist, _}), do: {1, {v, false}}
  defp step(state, {:persist, _}), do: {0, state}
  defp step(:none, {:append, _, a}), do: {byte_size(a), {a, false}}
  defp step({v, t}, {:append, _, a}), do: {byte_size(v) + byte_size(a), {v <> a, t}}
  defp step(:none, {:incrby, _, n}), do: {n, {Integer.to_string(n), false}}

  defp step({v, t}, {:incrby, _, n}) do
    new = String.to_integer(v) + n
    {new, {Integer.to_string(new), t}}
  end

  defp merge_shared(shared, per_writer) do
    Enum.reduce(per_writer, shared, fn w, acc ->
      %{
        acc
        | max_acked: Map.merge(acc.max_acked, w.max_acked, fn _, a, b -> max(a, b) end),
          attempts: Map.merge(acc.attempts, w.attempts, fn _, a, b -> a + b end)
      }
    end)
  end

  ## Checks after a restart

  defp verify(tcp_port, writers, shared) do
    {:ok, sock} = CrashClient.connect(tcp_port)

    # No barrier of our own: the instance must not serve before every entry committed
    # before the kill is applied (see restart_replay_test.exs).

    {writers, checked} =
      Enum.map_reduce(writers, 0, fn writer, checked ->
        keys = Map.keys(writer.model)
        cmds = Enum.flat_map(keys, &[["GET", &1], ["PTTL", &1]])
        {:ok, replies} = CrashClient.pipeline(sock, cmds)

        actual =
          keys
          |> Enum.zip(Enum.chunk_every(replies, 2))
          |> Map.new(fn {k, [v, pttl]} -> {k, observed(v, pttl)} end)

        {settle(writer, actual), checked + length(keys)}
      end)

    {:ok, counters} = CrashClient.pipeline(sock, for(k <- shared_keys(), do: ["GET", k]))
    shared = check_shared(shared, Enum.zip(shared_keys(), counters))

    # Nothing appears that was never written: the key space is exactly what the
    # writers expect (own keys per the model, shared counters once INCRed).
    {:ok, all_keys} = CrashClient.command(sock, ["KEYS", "*"])

    expected_keys =
      for(w <- writers, {k, [{_, _}]} <- w.model, do: k) ++
        for {k, v} <- shared.observed, v > 0, do: k

    assert Enum.sort(all_keys) == Enum.sort(expected_keys)
    :gen_tcp.close(sock)
    {writers, shared, checked + length(shared_keys())}
  end

  defp shared_keys, do: for(j <- 1..@shared_counters, do: "shared:c#{j}")

  defp observed(nil, -2), do: :none
  defp observed(v, -1) when is_binary(v), do: {v, false}
  defp observed(v, ms) when is_binary(v) and ms > 0, do: {v, true}
  defp observed(v, pttl), do: {:inconsistent, v, pttl}

  # Each key must hold the state after its acknowledged operations, or (only for the key
  # of the operation in flight at the kill) the state after that operation too.
  defp settle(writer, actual) do
    model =
      case writer.inflight do
        {:incr_shared, _} ->
          writer.model

        nil ->
          writer.model

        op ->
          key = elem(op, 1)
          states = Map.fetch!(writer.model, key)
          Map.put(writer.model, key, Enum.uniq(states ++ Enum.map(states, &step_state(&1, op))))
      end

    Enum.each(model, fn {key, allowed} ->
      got = Map.fetch!(actual, key)

      assert got in allowed,
             "writer #{writer.id} key #{key}: expected #{describe(allowed)}, " <>
               "found #{describe([got])} (in flight: #{inspect(writer.inflight && op_summary(writer.inflight))}; " <>
               "acknowledged before, newest first: #{inspect(Map.get(writer.history, key))})"
    end)

    %{writer | model: Map.new(actual, fn {k, v} -> {k, [v]} end), inflight: nil}
  end

  defp step_state(state, op) do
    {_reply, new} = step(state, op)
    new
  rescue
    # e.g. INCRBY in flight on a key whose value is not an integer cannot happen here,
    # but a failed op leaves the state as it was.
    _ -> state
  end

  defp check_shared(shared, values) do
    observed =
      Map.new(values, fn {key, value} ->
        got = if value, do: String.to_integer(value), else: 0
        acked = Map.get(shared.max_acked, key, 0)
        before = Map.get(shared.observed, key, 0)
        attempts = Map.get(shared.attempts, key, 0)
        assert got >= acked, "#{key} = #{got}, but INCR acknowledged #{acked}"
        assert got >= before, "#{key} went backwards: #{before} -> #{got}"
        assert got <= attempts, "#{key} = #{got}, more than the #{attempts} INCRs sent"
        {key, got}
      end)

    %{shared | observed: observed}
  end

  defp describe(states) do
    states
    |> Enum.map(fn
      {v, t} when is_binary(v) -> "{#{inspect(short(v))} (#{byte_size(v)} B), ttl: #{t}}"
      other -> inspect(other)
    end)
    |> Enum.join(" or ")
  end
end
