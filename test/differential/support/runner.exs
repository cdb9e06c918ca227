defmodule FerricStore.Test.Differential.Runner do
  @moduledoc false
  # Runs a command sequence against redis-server and FerricStore, compares the replies step
  # by step, and shrinks a failing sequence to a minimal reproduction.
  #
  # Both servers are flushed and reached over fresh connections for every run, so a run
  # depends on its sequence only. Replies are compared exactly, except:
  #   - KEYS: as sorted lists (Redis does not specify the order);
  #   - a `{:scan_all, opts}` step: the union of a whole SCAN iteration, as a sorted set;
  #   - TTL/PTTL/EXPIRETIME/PEXPIRETIME: exact for negative replies, within 1 s otherwise;
  #   - the intended differences listed in test/differential/DIFFERENCES.md (`Differences`).

  alias FerricStore.Test.RESPClient
  alias FerricStore.Test.Differential.Differences

  defstruct [:redis_port, :ferric_port]

  @doc "Runs `seq` on both servers: a list of `{step, redis_reply, ferric_reply}`."
  def run(%__MODULE__{} = t, seq, opts \\ []) do
    protocol = Keyword.get(opts, :protocol, 2)
    pipelined? = Keyword.get(opts, :pipeline, true)
    redis = results(t.redis_port, seq, protocol, pipelined?)
    ferric = results(t.ferric_port, seq, protocol, pipelined?)
    Enum.zip([seq, redis, ferric])
  end

  @doc """
  The first step whose replies differ (and is not an intended difference), as
  `{index, step, redis_reply, ferric_reply}`, or nil.
  """
  def first_mismatch(results) do
    results
    |> Enum.with_index()
    |> Enum.reduce_while([], fn {{step, r, f}, i}, history ->
      if same?(step, r, f, history),
        do: {:cont, [step | history]},
        else: {:halt, {i, step, r, f}}
    end)
    |> case do
      {_, _, _, _} = mismatch -> mismatch
      _history -> nil
    end
  end

  @doc "What identifies a mismatch when shrinking: the command and the kinds of the replies."
  def signature({_i, step, r, f}), do: {step_name(step), kind(r), kind(f)}

  @doc """
  Shrinks a failing sequence: drops steps one at a time (last first) while the shrunk
  sequence still fails with the same signature. At most `budget` re-runs.
  """
  def shrink(t, seq, opts, signature, budget \\ 120) do
    case shrink_pass(t, seq, opts, signature, budget) do
      {^seq, _} -> seq
      {smaller, 0} -> smaller
      {smaller, budget} -> shrink(t, smaller, opts, signature, budget)
    end
  end

  defp shrink_pass(t, seq, opts, signature, budget) do
    Enum.reduce((length(seq) - 1)..0//-1, {seq, budget}, fn
      _i, {seq, 0} ->
        {seq, 0}

      i, {seq, budget} ->
        candidate = List.delete_at(seq, i)

        case candidate != [] && first_mismatch(run(t, candidate, opts)) do
          m when is_tuple(m) ->
            if signature(m) == signature, do: {candidate, budget - 1}, else: {seq, budget - 1}

          _ ->
            {seq, budget - 1}
        end
    end)
  end

  @doc "A readable report of a (shrunk) failing sequence with both servers' replies."
  def report(t, seq, opts) do
    results = run(t, seq, opts)
    {bad, _, _, _} = first_mismatch(results) || {-1, nil, nil, nil}

    lines =
      results
      |> Enum.with_index()
      |> Enum.map(fn {{step, r, f}, i} ->
        mark = if i == bad, do: ">>", else: "  "

        if i != bad and (r == f or same?(step, r, f, [])) do
          "#{mark} #{format_step(step)}\n       both:   #{inspect(r, binaries: :as_strings)}"
        else
          "#{mark} #{format_step(step)}\n       redis:  #{inspect(r, binaries: :as_strings)}" <>
            "\n       ferric: #{inspect(f, binaries: :as_strings)}"
        end
      end)

    "protocol #{Keyword.get(opts, :protocol, 2)}, " <>
      "#{if Keyword.get(opts, :pipeline, true), do: "pipelined", else: "one by one"}\n" <>
      Enum.join(lines, "\n")
  end

  def format_step({:cmd, args}), do: Enum.map_join(args, " ", &quote_arg/1)
  def format_step({:scan_all, opts}), do: "SCAN <full iteration> " <> format_step({:cmd, opts})

  defp quote_arg(arg) do
    if arg =~ ~r/^[\x21-\x7e]+$/ and not String.contains?(arg, ["\"", "'", "\\"]),
      do: arg,
      else: inspect(arg, binaries: :as_strings)
  end

  ## Comparison

  @doc """
  Are two replies to `step` the same (up to the tolerances above)? `history` holds the
  steps before it, most recent first.
  """
  def same?(step, r, f, history) do
    r == f or tolerated?(step_name(step), r, f) or Differences.intended?(step, r, f, history)
  end

  defp tolerated?(name, r, f)
       when name in ["ttl", "expiretime"] and is_integer(r) and is_integer(f) and r >= 0 and
              f >= 0,
       do: abs(r - f) <= 1

  defp tolerated?(name, r, f)
       when name in ["pttl", "pexpiretime"] and is_integer(r) and is_integer(f) and r >= 0 and
              f >= 0,
       do: abs(r - f) <= 1000

  defp tolerated?(_, _, _), do: false

  def step_name({:cmd, [name | _]}), do: String.downcase(name)
  def step_name({:scan_all, _}), do: "scan_all"

  defp kind({:error, msg}), do: {:error, msg |> String.split(" ", parts: 2) |> hd()}
  defp kind(r) when is_integer(r), do: :integer
  defp kind(r) when is_binary(r), do: :bulk
  defp kind(r) when is_list(r), do: :array
  defp kind(r) when is_tuple(r), do: elem(r, 0)
  defp kind(r), do: r

  ## Running

  defp results(port, seq, protocol, pipelined?) do
    sock = RESPClient.connect!(port)

    try do
      if protocol == 3, do: {:map, _} = RESPClient.command(sock, ["HELLO", "3"])
      {:simple, "OK"} = RESPClient.command(sock, ["FLUSHALL"])

      seq
      |> Enum.chunk_by(&match?({:cmd, _}, &1))
      |> Enum.flat_map(fn
        [{:cmd, _} | _] = cmds when pipelined? ->
          sock |> RESPClient.pipeline(Enum.map(cmds, &elem(&1, 1))) |> normalise(cmds)

        steps ->
          Enum.flat_map(steps, &run_one(sock, &1))
      end)
    after
      RESPClient.close(sock)
    end
  end

  defp run_one(sock, {:cmd, args} = step),
    do: normalise([RESPClient.command(sock, args)], [step])

  defp run_one(sock, {:scan_all, opts}), do: [scan_all(sock, opts, "0", [], 0)]

  defp scan_all(_sock, _opts, _cursor, _acc, 10_000), do: {:error, "SCAN did not terminate"}

  defp scan_all(sock, opts, cursor, acc, rounds) do
    case RESPClient.command(sock, ["SCAN", cursor | opts]) do
      [next, keys] when is_binary(next) and is_list(keys) ->
        acc = keys ++ acc

        if next == "0",
          do: {:keys, acc |> Enum.uniq() |> Enum.sort()},
          else: scan_all(sock, opts, next, acc, rounds + 1)

      other ->
        other
    end
  end

  # A single SCAN page's cursor and keys are implementation-defined (only full iterations
  # are compared): of a raw SCAN step only whether it was an error matters.
  defp normalise(replies, steps) do
    Enum.zip_with(replies, steps, fn
      [cursor, keys], {:cmd, [name | _]} when is_binary(cursor) and is_list(keys) ->
        if String.downcase(name) == "scan", do: :scan_page, else: [cursor, keys]

      keys, {:cmd, [name | _]} when is_list(keys) ->
        if String.downcase(name) == "keys", do: Enum.sort(keys), else: keys

      {:set, keys}, {:cmd, [name | _]} ->
        if String.downcase(name) == "keys", do: {:set, Enum.sort(keys)}, else: {:set, keys}

      reply, _ ->
        reply
    end)
  end
end
