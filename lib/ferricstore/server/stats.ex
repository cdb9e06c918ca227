defmodule FerricStore.Server.Stats do
  @moduledoc false
  # The pure part of a connection's bookkeeping: its INFO commandstats counts and the
  # SLOWLOG entry of a slow command, as Redis 7.0 keeps them.

  alias FerricStore.Commands
  alias FerricStore.Commands.Args
  alias FerricStore.Error

  @typedoc "Command name => {calls, usec, rejected_calls, failed_calls}."
  @type cmdstats :: %{String.t() => {integer(), integer(), integer(), integer()}}

  @doc """
  Counts one command: Redis counts a rejected call (arity, authentication) apart and
  not as a call, without its time; a failed one (an error reply) as a call too.

      iex> stats = FerricStore.Server.Stats.add(%{}, {"get", :ran}, "v", 5)
      iex> stats = FerricStore.Server.Stats.add(stats, {"get", :rejected}, nil, 7)
      iex> FerricStore.Server.Stats.add(stats, {"get", :ran}, FerricStore.Error.new(:syntax), 3)
      %{"get" => {2, 8, 1, 1}}
  """
  @spec add(cmdstats(), Commands.stat(), term(), non_neg_integer()) :: cmdstats()
  def add(stats, {name, outcome}, reply, usec) do
    add = count(outcome, reply, usec)

    Map.update(stats, name, add, fn {c, u, r, f} ->
      {c2, u2, r2, f2} = add
      {c + c2, u + u2, r + r2, f + f2}
    end)
  end

  defp count(:rejected, _reply, _usec), do: {0, 0, 1, 0}
  defp count(:ran, reply, usec), do: if(error?(reply), do: {1, usec, 0, 1}, else: {1, usec, 0, 0})

  defp error?(%Error{}), do: true
  defp error?({:error, %Error{}}), do: true
  defp error?(_reply), do: false

  @typedoc "Command name => %{bucket => count} (INFO latencystats)."
  @type latency :: %{String.t() => %{non_neg_integer() => pos_integer()}}

  @doc """
  Counts one run of `name` that took `usec` in its latency histogram. Buckets keep the
  top 4 significant bits of the time (exact below 16 us, within 6% above), as an HDR
  histogram keeps a few significant digits.

      iex> FerricStore.Server.Stats.add_latency(%{}, "get", 5)
      %{"get" => %{5 => 1}}
      iex> FerricStore.Server.Stats.bucket(1000)
      960
  """
  @spec add_latency(latency(), String.t(), non_neg_integer()) :: latency()
  def add_latency(latency, name, usec) do
    b = bucket(usec)

    Map.update(latency, name, %{b => 1}, fn buckets ->
      Map.update(buckets, b, 1, &(&1 + 1))
    end)
  end

  @doc false
  def bucket(usec) when usec < 16, do: usec

  def bucket(usec) do
    shift = Args.bit_length(usec) - 4
    Bitwise.bsl(Bitwise.bsr(usec, shift), shift)
  end

  # The highest time a bucket holds (the value an HDR histogram reports).
  defp bucket_top(b) when b < 16, do: b
  defp bucket_top(b), do: b + Bitwise.bsl(1, Args.bit_length(b) - 4) - 1

  @doc """
  The INFO latencystats value of one command: `p<percentile>=<usec>` for each of
  `percentiles`, from its `[{bucket, count}]`, as Redis prints them.

      iex> FerricStore.Server.Stats.percentiles([{5, 98}, {960, 2}], [50.0, 99.0, 99.9])
      "p50=5.000,p99=1023.000,p99.9=1023.000"
  """
  @spec percentiles([{non_neg_integer(), pos_integer()}], [float()]) :: String.t()
  def percentiles(buckets, percentiles) do
    buckets = Enum.sort(buckets)
    total = buckets |> Enum.map(&elem(&1, 1)) |> Enum.sum()

    Enum.map_join(percentiles, ",", fn p ->
      wanted = max(trunc(p / 100 * total + 0.5), 1)

      {b, _} =
        Enum.reduce_while(buckets, {0, 0}, fn {b, n}, {_, seen} ->
          if seen + n >= wanted, do: {:halt, {b, seen + n}}, else: {:cont, {b, seen + n}}
        end)

      "p#{format_percentile(p)}=#{:erlang.float_to_binary(bucket_top(b) * 1.0, decimals: 3)}"
    end)
  end

  @doc """
  latency-tracking-info-percentiles: its numbers (read as strtod reads them), or nil when
  a word is not one.

      iex> FerricStore.Server.Stats.parse_percentiles("50 99 99.9")
      [50.0, 99.0, 99.9]
      iex> FerricStore.Server.Stats.parse_percentiles("50 x")
      nil
  """
  @spec parse_percentiles(binary()) :: [float() | :inf | :neg_inf] | nil
  def parse_percentiles(value) do
    value
    |> String.split(" ", trim: true)
    |> Enum.reduce_while([], fn word, acc ->
      case Args.double(word) do
        {:ok, p} -> {:cont, [p | acc]}
        :error -> {:halt, nil}
      end
    end)
    |> then(&(&1 && Enum.reverse(&1)))
  end

  @doc """
  A percentile as Redis writes it back (C's %g): `50`, `99.9`.

      iex> FerricStore.Server.Stats.format_percentile(99.0)
      "99"
      iex> FerricStore.Server.Stats.format_percentile(99.99)
      "99.99"
  """
  def format_percentile(p) when p == trunc(p), do: Integer.to_string(trunc(p))
  def format_percentile(p), do: :erlang.float_to_binary(p, [:short])

  @doc "A SLOWLOG entry: `{unix_seconds, usec, args, peer, client_name}`."
  @spec slowlog_entry(Commands.Context.t(), [binary()], non_neg_integer()) :: tuple()
  def slowlog_entry(ctx, command, usec),
    do:
      {System.os_time(:second), usec, slowlog_args(command), ctx.peer || "",
       ctx.client_name || ""}

  @slowlog_args 32
  @slowlog_bytes 128

  @doc """
  The arguments as Redis keeps them in SLOWLOG: at most 32 (the last one then says how
  many more there were), each cut to 128 bytes, passwords redacted.

      iex> FerricStore.Server.Stats.slowlog_args(["AUTH", "user", "secret"])
      ["AUTH", "(redacted)", "(redacted)"]
      iex> FerricStore.Server.Stats.slowlog_args(["HELLO", "3", "AUTH", "u", "p", "SETNAME", "n"])
      ["HELLO", "3", "AUTH", "(redacted)", "(redacted)", "SETNAME", "n"]
      iex> FerricStore.Server.Stats.slowlog_args(["config", "set", "requirepass", "x", "hz", "5"])
      ["config", "set", "requirepass", "(redacted)", "hz", "5"]
      iex> [_, long] = FerricStore.Server.Stats.slowlog_args(["ECHO", String.duplicate("a", 130)])
      iex> long == String.duplicate("a", 128) <> "... (2 more bytes)"
      true
      iex> args = FerricStore.Server.Stats.slowlog_args(["DEL" | Enum.map(1..40, &to_string/1)])
      iex> {length(args), List.last(args)}
      {32, "... (10 more arguments)"}
  """
  @spec slowlog_args([binary()]) :: [binary()]
  def slowlog_args(command) do
    args = redact(command)
    n = length(args)

    kept =
      if n > @slowlog_args,
        do:
          Enum.take(args, @slowlog_args - 1) ++ ["... (#{n - @slowlog_args + 1} more arguments)"],
        else: args

    Enum.map(kept, fn
      arg when byte_size(arg) > @slowlog_bytes ->
        more = byte_size(arg) - @slowlog_bytes
        binary_part(arg, 0, @slowlog_bytes) <> "... (#{more} more bytes)"

      arg ->
        arg
    end)
  end

  defp redact([name | args] = command) do
    case {Commands.downcase(name), args} do
      {"auth", _} -> [name | Enum.map(args, fn _ -> "(redacted)" end)]
      {"hello", _} -> [name | redact_hello(args)]
      {"config", [sub | pairs]} -> [name, sub | redact_config(Commands.downcase(sub), pairs)]
      _ -> command
    end
  end

  # CONFIG SET of a password: its value (Redis' sensitive settings).
  defp redact_config("set", [param, value | rest]) do
    value =
      if Commands.downcase(param) in ~w(requirepass masterauth), do: "(redacted)", else: value

    [param, value | redact_config("set", rest)]
  end

  defp redact_config(_sub, args), do: args

  defp redact_hello([]), do: []

  defp redact_hello([opt, user, pass | rest]) do
    if Commands.downcase(opt) == "auth",
      do: [opt, "(redacted)", "(redacted)" | redact_hello(rest)],
      else: [opt | redact_hello([user, pass | rest])]
  end

  defp redact_hello([arg | rest]), do: [arg | redact_hello(rest)]
end
