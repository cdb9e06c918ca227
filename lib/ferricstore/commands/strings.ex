defmodule FerricStore.Commands.Strings do
  @moduledoc false
  # String commands: one code path for the embedded API and RESP.
  #
  # - caller side (`get/2`, `set/4`, ...): validates arguments, stamps absolute expiry
  #   times, reads the keydir directly or submits an operation through Raft;
  # - machine side (`execute/2`): applies an operation to a `Batch` (pure given the
  #   batch; time comes from the caller);
  # - RESP side (`commands/0`, `handle/3`): Redis' argument syntax and replies.

  import FerricStore.Commands.Spec
  alias FerricStore.{Error, Store}
  alias FerricStore.Commands.{Args, LongDouble}
  alias FerricStore.Store.Batch

  import Args, only: [is_int64: 1]

  @max_len 512 * 1024 * 1024

  ## Caller side

  def get(instance, key), do: Store.get_string(instance, key)

  def mget(instance, keys), do: {:ok, Enum.map(keys, &mget_one(instance, &1))}

  defp mget_one(instance, key) do
    case get(instance, key) do
      {:ok, value} -> value
      {:error, _} -> nil
    end
  end

  def strlen(instance, key) do
    case get(instance, key) do
      {:ok, nil} -> {:ok, 0}
      {:ok, value} -> {:ok, byte_size(value)}
      error -> error
    end
  end

  # Integers beyond 64 bits (only the embedded API can pass them) fail as Redis fails
  # to parse them.
  def getrange(_instance, _key, start, stop) when not is_int64(start) or not is_int64(stop),
    do: {:error, Error.new(:not_integer)}

  def getrange(instance, key, start, stop) do
    with {:ok, value} <- get(instance, key) do
      {:ok, range(value || "", start, stop)}
    end
  end

  @doc """
  SET. `opts`: ttl/px/ex/pxat/exat, keepttl, nx, xx, get. `cmd` names the command in
  the invalid expire time error (SETEX and PSETEX are SETs too).
  """
  def set(instance, key, value, opts, cmd \\ "set")

  def set(instance, key, value, [], _cmd) when is_binary(key) and is_binary(value),
    do: Store.write(instance, key, :strings, {:set, key, value, 0, nil, false})

  def set(instance, key, value, opts, cmd) when is_binary(key) and is_binary(value) do
    with {:ok, exp} <- expiry(opts, Store.now(), cmd),
         {:ok, cond} <- condition(opts) do
      Store.write(instance, key, :strings, {:set, key, value, exp, cond, opts[:get] == true})
    end
  end

  def mset(instance, pairs) do
    Store.write_keys(instance, Enum.map(pairs, &elem(&1, 0)), :strings, {:mset, pairs, false})
  end

  def msetnx(instance, pairs) do
    Store.write_keys(instance, Enum.map(pairs, &elem(&1, 0)), :strings, {:mset, pairs, true})
  end

  def incrby(instance, key, by) when is_int64(by),
    do: Store.write(instance, key, :strings, {:incrby, key, by})

  def incrby(_instance, _key, _by), do: {:error, Error.new(:not_integer)}

  # The increment travels as text and is parsed by the machine, after the stored value,
  # in Redis' order (and as a long double, see LongDouble).
  def incrbyfloat(instance, key, by) when is_float(by),
    do: incrbyfloat(instance, key, Float.to_string(by))

  def incrbyfloat(instance, key, by) when is_integer(by),
    do: incrbyfloat(instance, key, Integer.to_string(by))

  def incrbyfloat(instance, key, by) when is_binary(by),
    do: Store.write(instance, key, :strings, {:incrbyfloat, key, by})

  def append(instance, key, value),
    do: Store.write(instance, key, :strings, {:append, key, value})

  def setrange(_instance, _key, offset, _value) when not is_int64(offset),
    do: {:error, Error.new(:not_integer)}

  def setrange(_instance, _key, offset, _value) when offset < 0,
    do: {:error, Error.new(:offset_out_of_range)}

  # Redis replies the current length to an empty value before checking the offset.
  def setrange(instance, key, _offset, ""), do: strlen(instance, key)

  # An existing key's type is checked before the length, as in Redis.
  def setrange(instance, key, offset, value) when offset + byte_size(value) > @max_len do
    with {:ok, _} <- strlen(instance, key), do: {:error, Error.new(:string_too_long)}
  end

  def setrange(instance, key, offset, value),
    do: Store.write(instance, key, :strings, {:setrange, key, offset, value})

  def getdel(instance, key), do: Store.write(instance, key, :strings, {:getdel, key})

  @doc "GETEX. `opts`: ttl/px/ex/pxat/exat or persist: true; none = plain GET."
  def getex(instance, key, opts) do
    cond do
      opts[:persist] ->
        Store.write(instance, key, :strings, {:getex, key, 0})

      Enum.any?([:ttl, :px, :ex, :pxat, :exat], &Keyword.has_key?(opts, &1)) ->
        with {:ok, exp} <- expiry(opts, Store.now(), "getex") do
          Store.write(instance, key, :strings, {:getex, key, exp})
        end

      true ->
        get(instance, key)
    end
  end

  @doc "CAS: sets `key` to `new` only if its current value is `expected` (nil: missing)."
  def cas(instance, key, expected, new, opts) do
    relative? = Enum.any?([:ttl, :px, :ex, :pxat, :exat], &Keyword.has_key?(opts, &1))
    opts = if relative?, do: opts, else: Keyword.put_new(opts, :keepttl, true)

    with {:ok, exp} <- expiry(opts, Store.now(), "cas") do
      Store.write(instance, key, :strings, {:cas, key, expected, new, exp})
    end
  end

  # Absolute expiry (ms) from the relative or absolute options; :keep or 0 (none).
  defp expiry(opts, now, cmd) do
    case Keyword.take(opts, [:ttl, :px, :ex, :pxat, :exat]) do
      [] -> {:ok, if(opts[:keepttl], do: :keep, else: 0)}
      [{unit, n}] when is_integer(n) -> to_abs(unit, n, now, cmd, opts[:keepttl])
      _ -> {:error, Error.new(:syntax)}
    end
  end

  defp to_abs(_unit, _n, _now, _cmd, true), do: {:error, Error.new(:syntax)}

  defp to_abs(unit, n, now, cmd, _keep) do
    ms =
      case unit do
        :ttl -> n + now
        :px -> n + now
        :ex -> n * 1000 + now
        :pxat -> n
        :exat -> n * 1000
      end

    scaled = if unit in [:ex, :exat], do: n * 1000, else: n

    if n <= 0 or not is_int64(ms) or not is_int64(scaled),
      do: {:error, Error.new(:invalid_expire, "ERR invalid expire time in '#{cmd}' command")},
      else: {:ok, ms}
  end

  defp condition(opts) do
    case {opts[:nx] == true, opts[:xx] == true} do
      {true, true} -> {:error, Error.new(:syntax)}
      {true, false} -> {:ok, :nx}
      {false, true} -> {:ok, :xx}
      _ -> {:ok, nil}
    end
  end

  @doc false
  # getrangeCommand: both negative and start > stop is empty; negatives count from the
  # end and are clamped to 0; the end is clamped to the last byte.
  def range(_value, start, stop) when start < 0 and stop < 0 and start > stop, do: ""

  def range(value, start, stop) do
    len = byte_size(value)
    start = if start < 0, do: max(len + start, 0), else: start
    stop = if stop < 0, do: max(len + stop, 0), else: stop
    stop = min(stop, len - 1)

    if start > stop or len == 0,
      do: "",
      else: binary_part(value, start, stop - start + 1)
  end

  ## Machine side

  @doc false
  # A plain SET needs nothing of the current value.
  def execute({:set, key, value, exp, nil, false}, b) when is_integer(exp),
    do: {:ok, Batch.put(b, key, :string, value, exp)}

  def execute({:set, key, value, exp, cond, get?}, b) do
    cur = Batch.get(b, key)

    with {:ok, old} <- if(get?, do: string_value(b, cur), else: {:ok, nil}) do
      if (cond == :nx and cur != nil) or (cond == :xx and cur == nil) do
        {set_reply(cond, get?, old, false), b}
      else
        exp = if exp == :keep, do: cur_exp(cur), else: exp
        {set_reply(cond, get?, old, true), Batch.put(b, key, :string, value, exp)}
      end
    else
      error -> {error, b}
    end
  end

  def execute({:mset, pairs, nx?}, b) do
    if nx? and Enum.any?(pairs, fn {k, _} -> Batch.get(b, k) != nil end) do
      {{:ok, false}, b}
    else
      b = Enum.reduce(pairs, b, fn {k, v}, b -> Batch.put(b, k, :string, v, 0) end)
      {if(nx?, do: {:ok, true}, else: :ok), b}
    end
  end

  def execute({:incrby, key, by}, b) do
    cur = Batch.get(b, key)

    with {:ok, value} <- string_value(b, cur),
         {:ok, n} <- Args.int!(value || "0") do
      new = n + by

      if is_int64(new),
        do: {{:ok, new}, Batch.put(b, key, :string, Integer.to_string(new), cur_exp(cur))},
        else: {{:error, Error.new(:overflow)}, b}
    else
      error -> {error, b}
    end
  end

  def execute({:incrbyfloat, key, by}, b) do
    cur = Batch.get(b, key)

    with {:ok, value} <- string_value(b, cur),
         {:ok, current} <- parse_float(value || "0"),
         {:ok, incr} <- parse_float(by),
         {:ok, new} <- add_finite(current, incr) do
      text = LongDouble.format(new)
      # Redis stores the result as a string object: "embstr" even for "3" (OBJECT ENCODING).
      {{:ok, text}, Batch.put_raw(b, key, text, cur_exp(cur), :no_int)}
    else
      error -> {error, b}
    end
  end

  def execute({:append, key, suffix}, b) do
    cur = Batch.get(b, key)

    with {:ok, value} <- string_value(b, cur),
         new = (value || "") <> suffix,
         :ok <- check_len(byte_size(new)) do
      # Redis appends in place, which makes the value raw; a new key is encoded by content.
      b =
        if value == nil,
          do: Batch.put(b, key, :string, new, cur_exp(cur)),
          else: Batch.put_raw(b, key, new, cur_exp(cur))

      {{:ok, byte_size(new)}, b}
    else
      error -> {error, b}
    end
  end

  def execute({:setrange, key, offset, patch}, b) do
    cur = Batch.get(b, key)

    with {:ok, value} <- string_value(b, cur) do
      value = value || ""

      cond do
        patch == "" ->
          {{:ok, byte_size(value)}, b}

        true ->
          padded =
            if byte_size(value) < offset,
              do: value <> :binary.copy(<<0>>, offset - byte_size(value)),
              else: value

          tail_start = offset + byte_size(patch)

          tail =
            if byte_size(padded) > tail_start,
              do: binary_part(padded, tail_start, byte_size(padded) - tail_start),
              else: ""

          new = binary_part(padded, 0, offset) <> patch <> tail
          {{:ok, byte_size(new)}, Batch.put_raw(b, key, new, cur_exp(cur))}
      end
    else
      error -> {error, b}
    end
  end

  def execute({:getdel, key}, b) do
    cur = Batch.get(b, key)

    case string_value(b, cur) do
      {:ok, nil} -> {{:ok, nil}, b}
      {:ok, value} -> {{:ok, value}, Batch.delete(b, key, :string)}
      error -> {error, b}
    end
  end

  def execute({:getex, key, exp}, b) do
    cur = Batch.get(b, key)

    case string_value(b, cur) do
      {:ok, nil} ->
        {{:ok, nil}, b}

      {:ok, value} ->
        cond do
          exp != 0 and exp <= b.now -> {{:ok, value}, Batch.delete(b, key, :string)}
          exp == cur_exp(cur) -> {{:ok, value}, b}
          true -> {{:ok, value}, Batch.put(b, key, :string, value, exp)}
        end

      error ->
        {error, b}
    end
  end

  def execute({:cas, key, expected, new, exp}, b) do
    cur = Batch.get(b, key)

    case string_value(b, cur) do
      {:ok, ^expected} ->
        exp = if exp == :keep, do: cur_exp(cur), else: exp
        {{:ok, true}, Batch.put(b, key, :string, new, exp)}

      {:ok, _other} ->
        {{:ok, false}, b}

      error ->
        {error, b}
    end
  end

  defp set_reply(_cond, true, old, _written), do: {:ok, old}
  defp set_reply(nil, false, _old, true), do: :ok
  defp set_reply(_cond, false, _old, written), do: {:ok, written}

  defp cur_exp(nil), do: 0
  defp cur_exp({_type, _value, exp}), do: exp

  defp string_value(_b, nil), do: {:ok, nil}
  defp string_value(b, {:string, value, _exp}), do: Batch.value(b, value) |> io_error()
  defp string_value(_b, _other), do: {:error, Error.new(:wrongtype)}

  defp io_error({:ok, _} = ok), do: ok
  defp io_error({:error, _}), do: {:error, Error.new(:io)}

  defp parse_float(value) do
    case LongDouble.parse(value) do
      {:ok, f} -> {:ok, f}
      :error -> {:error, Error.new(:not_float)}
    end
  end

  defp add_finite(a, b) do
    case LongDouble.add(a, b) do
      {:ok, sum} -> {:ok, sum}
      :error -> {:error, Error.new(:nan_or_infinity)}
    end
  end

  defp check_len(len) when len > @max_len, do: {:error, Error.new(:string_too_long)}
  defp check_len(_len), do: :ok

  ## RESP side

  @doc false
  def commands do
    [
      cmd("get", 2, ["readonly", "fast"]),
      cmd("set", -3, ["write", "denyoom"]),
      cmd("setnx", 3, ["write", "denyoom", "fast"]),
      cmd("setex", 4, ["write", "denyoom"]),
      cmd("psetex", 4, ["write", "denyoom"]),
      cmd("getset", 3, ["write", "denyoom", "fast"]),
      cmd("getdel", 2, ["write", "fast"]),
      cmd("getex", -2, ["write", "fast"]),
      cmd("mget", -2, ["readonly", "fast"], 1, -1),
      cmd("mset", -3, ["write", "denyoom"], 1, -1, 2),
      cmd("msetnx", -3, ["write", "denyoom"], 1, -1, 2),
      cmd("incr", 2, ["write", "denyoom", "fast"]),
      cmd("decr", 2, ["write", "denyoom", "fast"]),
      cmd("incrby", 3, ["write", "denyoom", "fast"]),
      cmd("decrby", 3, ["write", "denyoom", "fast"]),
      cmd("incrbyfloat", 3, ["write", "denyoom", "fast"]),
      cmd("append", 3, ["write", "denyoom", "fast"]),
      cmd("strlen", 2, ["readonly", "fast"]),
      cmd("getrange", 4, ["readonly"]),
      cmd("substr", 4, ["readonly"]),
      cmd("setrange", 4, ["write", "denyoom"]),
      cmd("cas", -4, ["write", "denyoom"])
    ]
  end

  @doc false
  def handle("get", [key], ctx), do: reply(get(ctx.instance, key))

  def handle("set", [key, value | opts], ctx) do
    with {:ok, opts} <- parse_set_opts(opts, []) do
      case set(ctx.instance, key, value, opts) do
        {:ok, false} -> nil
        {:ok, true} -> :ok
        other -> reply(other)
      end
    end
  end

  def handle("setnx", [key, value], ctx), do: bool(set(ctx.instance, key, value, nx: true))

  def handle("setex", [key, secs, value], ctx), do: setex(ctx, key, secs, value, :ex, "setex")
  def handle("psetex", [key, ms, value], ctx), do: setex(ctx, key, ms, value, :px, "psetex")

  def handle("getset", [key, value], ctx), do: reply(set(ctx.instance, key, value, get: true))
  def handle("getdel", [key], ctx), do: reply(getdel(ctx.instance, key))

  def handle("getex", [key | opts], ctx) do
    with {:ok, opts} <- parse_getex_opts(opts, []) do
      case get(ctx.instance, key) do
        {:ok, nil} ->
          nil

        {:ok, _} ->
          with {:ok, opts} <- expire_value(opts), do: reply(getex(ctx.instance, key, opts))

        {:error, e} ->
          e
      end
    end
  end

  def handle("mget", keys, ctx), do: reply(mget(ctx.instance, keys))

  def handle(name, args, ctx) when name in ["mset", "msetnx"] do
    if rem(length(args), 2) == 1 do
      Error.new(:arity, "ERR wrong number of arguments for '#{name}' command")
    else
      pairs = args |> Enum.chunk_every(2) |> Enum.map(fn [k, v] -> {k, v} end)

      if name == "mset",
        do: reply(mset(ctx.instance, pairs)),
        else: bool(msetnx(ctx.instance, pairs))
    end
  end

  def handle("incr", [key], ctx), do: reply(incrby(ctx.instance, key, 1))
  def handle("decr", [key], ctx), do: reply(incrby(ctx.instance, key, -1))

  def handle("incrby", [key, by], ctx) do
    with {:ok, by} <- Args.int!(by), do: reply(incrby(ctx.instance, key, by))
  end

  def handle("decrby", [key, by], ctx) do
    with {:ok, by} <- Args.int!(by) do
      if by == Args.min_int(),
        do: Error.new(:overflow, "ERR decrement would overflow"),
        else: reply(incrby(ctx.instance, key, -by))
    end
  end

  def handle("incrbyfloat", [key, by], ctx), do: reply(incrbyfloat(ctx.instance, key, by))

  def handle("append", [key, value], ctx), do: reply(append(ctx.instance, key, value))
  def handle("strlen", [key], ctx), do: reply(strlen(ctx.instance, key))

  def handle(name, [key, start, stop], ctx) when name in ["getrange", "substr"] do
    with {:ok, start} <- Args.int!(start),
         {:ok, stop} <- Args.int!(stop),
         do: reply(getrange(ctx.instance, key, start, stop))
  end

  def handle("setrange", [key, offset, value], ctx) do
    case Args.int(offset) do
      {:ok, offset} -> reply(setrange(ctx.instance, key, offset, value))
      :error -> Error.new(:not_integer)
    end
  end

  def handle("cas", [key, expected, new | opts], ctx) do
    with {:ok, opts} <- parse_cas_opts(opts, []) do
      bool(cas(ctx.instance, key, expected, new, opts))
    end
  end

  defp setex(ctx, key, n, value, unit, name) do
    with {:ok, n} <- Args.int!(n) do
      if n <= 0,
        do: Error.new(:invalid_expire, "ERR invalid expire time in '#{name}' command"),
        else: reply(set(ctx.instance, key, value, [{unit, n}], name))
    end
  end

  @expire_opts %{"EX" => :ex, "PX" => :px, "EXAT" => :exat, "PXAT" => :pxat}
  @units [:ex, :px, :exat, :pxat]

  # SET/GETEX options as Redis parses them (parseExtendedStringArgumentsOrReply): flags
  # may repeat, only conflicting ones are a syntax error, the last expire value wins,
  # and the number is checked after every option was read.
  defp parse_set_opts(args, acc) do
    with {:ok, opts} <- parse_string_opts(args, :set, acc), do: expire_value(opts)
  end

  # GETEX checks the number only after the key was found and is a string.
  defp parse_getex_opts(args, acc), do: parse_string_opts(args, :get, acc)

  defp parse_string_opts([], _cmd, acc), do: {:ok, acc}

  defp parse_string_opts([opt | rest], cmd, acc) do
    up = FerricStore.Commands.upcase(opt)
    unit = Map.get(@expire_opts, up)

    cond do
      up == "NX" and cmd == :set and not Keyword.has_key?(acc, :xx) ->
        parse_string_opts(rest, cmd, Keyword.put(acc, :nx, true))

      up == "XX" and cmd == :set and not Keyword.has_key?(acc, :nx) ->
        parse_string_opts(rest, cmd, Keyword.put(acc, :xx, true))

      up == "GET" and cmd == :set ->
        parse_string_opts(rest, cmd, Keyword.put(acc, :get, true))

      up == "KEEPTTL" and cmd == :set and not has_any?(acc, [:persist | @units]) ->
        parse_string_opts(rest, cmd, Keyword.put(acc, :keepttl, true))

      up == "PERSIST" and cmd == :get and not has_any?(acc, [:keepttl | @units]) ->
        parse_string_opts(rest, cmd, Keyword.put(acc, :persist, true))

      unit != nil and rest != [] and not has_any?(acc, [:keepttl, :persist | @units -- [unit]]) ->
        parse_string_opts(tl(rest), cmd, Keyword.put(acc, unit, hd(rest)))

      true ->
        Error.new(:syntax)
    end
  end

  defp has_any?(acc, keys), do: Enum.any?(keys, &Keyword.has_key?(acc, &1))

  defp expire_value(acc) do
    case Enum.find(@units, &Keyword.has_key?(acc, &1)) do
      nil ->
        {:ok, acc}

      unit ->
        case Args.int(acc[unit]) do
          {:ok, n} -> {:ok, Keyword.put(acc, unit, n)}
          :error -> Error.new(:not_integer)
        end
    end
  end

  defp parse_cas_opts([], acc), do: {:ok, acc}

  defp parse_cas_opts([opt, n | rest], acc) do
    case {Map.fetch(@expire_opts, FerricStore.Commands.upcase(opt)), Args.int(n)} do
      {{:ok, unit}, {:ok, n}} when acc == [] -> parse_cas_opts(rest, [{unit, n}])
      {{:ok, _}, :error} -> Error.new(:not_integer)
      _ -> Error.new(:syntax)
    end
  end

  defp parse_cas_opts(_other, _acc), do: Error.new(:syntax)

  defp reply(:ok), do: :ok
  defp reply({:ok, value}), do: value
  defp reply({:error, %Error{} = error}), do: error

  defp bool({:ok, true}), do: 1
  defp bool({:ok, false}), do: 0
  defp bool(other), do: reply(other)
end
