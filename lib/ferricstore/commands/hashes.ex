defmodule FerricStore.Commands.Hashes do
  @moduledoc false
  # Hash commands, one record per field (docs/collections.md): caller side (reads in the
  # caller's process, writes through Raft), machine side (`execute/2`), RESP side.

  import FerricStore.Commands.Collection, only: [safely: 1, reply: 1, bool: 1]

  import FerricStore.Commands.Spec
  alias FerricStore.{Error, Store}
  alias FerricStore.Commands.{Args, Collection, LongDouble}
  alias FerricStore.Store.Batch

  import Args, only: [is_int64: 1]

  ## Caller side

  def hset(instance, key, pairs), do: write(instance, key, {:hset, key, pairs(pairs), false})

  # HSETNX of a field that is there, HDEL of fields that are not: answered without a Raft
  # entry, as Redis answers them without touching its AOF (Collection.no_op?/5).
  def hsetnx(instance, key, field, value) do
    if Collection.no_op?(instance, key, :hash, [field], true),
      do: {:ok, false},
      else: write(instance, key, {:hset, key, [{field, value}], true})
  end

  def hmset(instance, key, pairs) do
    case hset(instance, key, pairs) do
      {:ok, _} -> :ok
      error -> error
    end
  end

  def hdel(instance, key, fields) do
    fields = List.wrap(fields)

    if Collection.no_op?(instance, key, :hash, fields, false),
      do: {:ok, 0},
      else: write(instance, key, {:hdel, key, fields})
  end

  def hincrby(instance, key, field, by) when is_int64(by),
    do: write(instance, key, {:hincrby, key, field, by})

  def hincrby(_instance, _key, _field, _by), do: {:error, Error.new(:not_integer)}

  # Like INCRBYFLOAT: the increment travels as text and the sum is a long double
  # (FerricStore.Commands.LongDouble), as in Redis.
  def hincrbyfloat(instance, key, field, by) when is_float(by),
    do: hincrbyfloat(instance, key, field, Float.to_string(by))

  def hincrbyfloat(instance, key, field, by) when is_integer(by),
    do: hincrbyfloat(instance, key, field, Integer.to_string(by))

  def hincrbyfloat(instance, key, field, by) when is_binary(by) do
    case LongDouble.parse(by) do
      {:ok, {_, _}} -> write(instance, key, {:hincrbyfloat, key, field, by})
      {:ok, _infinite} -> {:error, Error.new(:nan_or_infinity, "ERR value is NaN or Infinity")}
      :error -> {:error, Error.new(:not_float)}
    end
  end

  defp write(instance, key, op), do: Store.write(instance, key, :hashes, op)

  defp pairs(pairs) when is_map(pairs), do: Map.to_list(pairs)
  defp pairs(pairs), do: pairs

  def hget(instance, key, field) do
    safely do
      with {:ok, found} <- Collection.read(instance, key, :hash) do
        case found do
          nil -> {:ok, nil}
          {_meta, tables} -> {:ok, Collection.member(tables, key, field)}
        end
      end
    end
  end

  def hmget(instance, key, fields) do
    safely do
      with {:ok, found} <- Collection.read(instance, key, :hash) do
        case found do
          nil -> {:ok, Enum.map(fields, fn _ -> nil end)}
          {_meta, tables} -> {:ok, Enum.map(fields, &Collection.member(tables, key, &1))}
        end
      end
    end
  end

  @doc "Every `{field, value}` pair, in field order."
  def hgetall(instance, key),
    do: all(instance, key, fn {f, v}, t -> {f, Collection.bytes(t, v)} end)

  def hkeys(instance, key), do: all(instance, key, fn {f, _v}, _t -> f end)
  def hvals(instance, key), do: all(instance, key, fn {_f, v}, t -> Collection.bytes(t, v) end)

  defp all(instance, key, map) do
    safely do
      with {:ok, found} <- Collection.read(instance, key, :hash) do
        case found do
          nil ->
            {:ok, []}

          {_, tables} ->
            {:ok, Collection.collect(tables, key, :edge, :asc, :all, &map.(&1, tables))}
        end
      end
    end
  end

  def hlen(instance, key) do
    with {:ok, found} <- Collection.read(instance, key, :hash) do
      {:ok, if(found, do: elem(found, 0).n, else: 0)}
    end
  end

  def hexists(instance, key, field) do
    with {:ok, found} <- Collection.read(instance, key, :hash) do
      case found do
        nil -> {:ok, false}
        {_, tables} -> {:ok, :ets.member(tables.members, {key, field})}
      end
    end
  end

  def hstrlen(instance, key, field) do
    with {:ok, value} <- hget(instance, key, field), do: {:ok, byte_size(value || "")}
  end

  @doc """
  HRANDFIELD: `count` nil returns one field or nil; a positive count distinct fields, a
  negative one abs(count) fields that may repeat. `with_values` returns pairs.
  """
  def hrandfield(instance, key, count \\ nil, with_values \\ false) do
    safely do
      many = fn {f, v}, t -> if with_values, do: {f, Collection.bytes(t, v)}, else: f end
      Collection.random(instance, key, :hash, count, fn {f, _}, _t -> f end, many)
    end
  end

  def hscan(instance, key, cursor, opts \\ []) do
    safely do
      with {:ok, found} <- Collection.read(instance, key, :hash) do
        case found do
          nil ->
            {:ok, {0, []}}

          {meta, tables} ->
            {:ok,
             Collection.scan(tables, key, meta.n, cursor, opts, fn {f, v} ->
               {f, Collection.bytes(tables, v)}
             end)}
        end
      end
    end
  end

  ## Machine side

  @doc false
  def execute({:hset, key, pairs, nx?}, b) do
    with {:ok, {meta, exp}, b} <- Collection.open(b, key, :hash) do
      # As Redis, long fields or values convert the hash before anything is written
      # (HSETNX: only when it writes).
      long? = Enum.any?(pairs, fn {f, v} -> byte_size(f) > 64 or byte_size(v) > 64 end)
      meta = if long? and not nx?, do: Map.put(meta, :big, true), else: meta

      {added, meta, b} =
        Enum.reduce(pairs, {0, meta, b}, fn {f, v}, {added, meta, b} ->
          case Batch.fetch_member(b, key, f) do
            {nil, b} ->
              {added + 1, %{meta | n: meta.n + 1},
               Batch.put_member(b, :hash, key, meta.gen, f, v)}

            {_, b} when nx? ->
              {added, meta, b}

            {_, b} ->
              {added, meta, Batch.put_member(b, :hash, key, meta.gen, f, v)}
          end
        end)

      meta = if long? and added > 0, do: Map.put(meta, :big, true), else: meta
      meta = grown(meta)
      reply = if nx?, do: {:ok, added == 1}, else: {:ok, added}
      if meta.n == 0, do: {reply, b}, else: {reply, Collection.save(b, key, :hash, meta, exp)}
    else
      error -> {error, b}
    end
  end

  def execute({:hdel, key, fields}, b) do
    case Collection.get(b, key, :hash) do
      {:ok, nil} ->
        {{:ok, 0}, b}

      {:ok, {meta, exp}} ->
        {n, b} =
          Enum.reduce(fields, {0, b}, fn f, {n, b} ->
            if Batch.member(b, key, f),
              do: {n + 1, Batch.delete_member(b, :hash, key, meta.gen, f)},
              else: {n, b}
          end)

        b = if n > 0, do: Collection.save(b, key, :hash, %{meta | n: meta.n - n}, exp), else: b
        {{:ok, n}, b}

      error ->
        {error, b}
    end
  end

  def execute({:hincrby, key, field, by}, b) do
    incr(b, key, field, fn cur ->
      with {:ok, n} <- int_value(cur) do
        new = n + by

        if is_int64(new),
          do: {:ok, new, Integer.to_string(new)},
          else: {:error, Error.new(:overflow)}
      end
    end)
  end

  def execute({:hincrbyfloat, key, field, by}, b) do
    incr(b, key, field, fn cur ->
      with {:ok, current} <- float_value(cur),
           {:ok, incr} <- LongDouble.parse(by) do
        case LongDouble.add(current, incr) do
          {:ok, sum} ->
            text = LongDouble.format(sum)
            {:ok, text, text}

          :error ->
            {:error, Error.new(:nan_or_infinity)}
        end
      end
    end)
  end

  defp incr(b, key, field, fun) do
    with {:ok, {meta, exp}, b} <- Collection.open(b, key, :hash),
         cur = Collection.member_bytes(b, key, field),
         {:ok, reply, text} <- fun.(cur) do
      b = Batch.put_member(b, :hash, key, meta.gen, field, text)
      meta = if cur == nil, do: grown(%{meta | n: meta.n + 1}), else: meta
      {{:ok, reply}, Collection.save(b, key, :hash, meta, exp)}
    else
      {:error, _} = error -> {error, b}
    end
  end

  # Redis converts a listpack hash to a hashtable for good (OBJECT ENCODING) past 512
  # fields or with a field or value longer than 64 bytes; `big: true` in the header
  # remembers it.
  defp grown(%{n: n} = meta) when n > 512, do: Map.put(meta, :big, true)
  defp grown(meta), do: meta

  defp int_value(nil), do: {:ok, 0}

  defp int_value(v) do
    case Args.int(v) do
      {:ok, n} -> {:ok, n}
      :error -> {:error, Error.new(:not_integer, "ERR hash value is not an integer")}
    end
  end

  defp float_value(nil), do: {:ok, {0, 1}}

  defp float_value(v) do
    case LongDouble.parse(v) do
      {:ok, f} -> {:ok, f}
      :error -> {:error, Error.new(:not_float, "ERR hash value is not a float")}
    end
  end

  ## RESP side

  @doc false
  def commands do
    [
      cmd("hset", -4, ["write", "denyoom", "fast"]),
      cmd("hsetnx", 4, ["write", "denyoom", "fast"]),
      cmd("hmset", -4, ["write", "denyoom", "fast"]),
      cmd("hget", 3, ["readonly", "fast"]),
      cmd("hmget", -3, ["readonly", "fast"]),
      cmd("hgetall", 2, ["readonly"]),
      cmd("hdel", -3, ["write", "fast"]),
      cmd("hexists", 3, ["readonly", "fast"]),
      cmd("hlen", 2, ["readonly", "fast"]),
      cmd("hkeys", 2, ["readonly"]),
      cmd("hvals", 2, ["readonly"]),
      cmd("hincrby", 4, ["write", "denyoom", "fast"]),
      cmd("hincrbyfloat", 4, ["write", "denyoom", "fast"]),
      cmd("hstrlen", 3, ["readonly", "fast"]),
      cmd("hrandfield", -2, ["readonly"]),
      cmd("hscan", -3, ["readonly"])
    ]
  end

  @doc false
  def handle(name, [key | args], ctx) when name in ["hset", "hmset"] do
    if rem(length(args), 2) == 1 do
      FerricStore.Commands.arity_error(name)
    else
      pairs = args |> Enum.chunk_every(2) |> Enum.map(fn [f, v] -> {f, v} end)

      if name == "hset",
        do: reply(hset(ctx.instance, key, pairs)),
        else: reply(hmset(ctx.instance, key, pairs))
    end
  end

  def handle("hsetnx", [key, f, v], ctx), do: bool(hsetnx(ctx.instance, key, f, v))
  def handle("hget", [key, f], ctx), do: reply(hget(ctx.instance, key, f))
  def handle("hmget", [key | fs], ctx), do: reply(hmget(ctx.instance, key, fs))

  def handle("hgetall", [key], ctx) do
    with {:ok, pairs} <- hgetall(ctx.instance, key), do: {:map, pairs}
  end

  def handle("hdel", [key | fs], ctx), do: reply(hdel(ctx.instance, key, fs))
  def handle("hexists", [key, f], ctx), do: bool(hexists(ctx.instance, key, f))
  def handle("hlen", [key], ctx), do: reply(hlen(ctx.instance, key))
  def handle("hkeys", [key], ctx), do: reply(hkeys(ctx.instance, key))
  def handle("hvals", [key], ctx), do: reply(hvals(ctx.instance, key))
  def handle("hstrlen", [key, f], ctx), do: reply(hstrlen(ctx.instance, key, f))

  def handle("hincrby", [key, f, by], ctx) do
    with {:ok, by} <- Args.int!(by), do: reply(hincrby(ctx.instance, key, f, by))
  end

  def handle("hincrbyfloat", [key, f, by], ctx), do: reply(hincrbyfloat(ctx.instance, key, f, by))

  def handle("hrandfield", [key], ctx), do: reply(hrandfield(ctx.instance, key))

  def handle("hrandfield", [key, count | rest], ctx) do
    with {:ok, count} <- Collection.count_arg(count),
         {:ok, wv} <- withvalues(rest) do
      cond do
        # Redis 7.0 bounds the count both ways when values come with it.
        wv and abs(count) > div(Args.max_int(), 2) ->
          Error.new(:out_of_range, "ERR value is out of range")

        count < 0 ->
          repeated_random(ctx.instance, key, -count, wv, ctx)

        true ->
          case hrandfield(ctx.instance, key, count, wv) do
            {:ok, items} when wv -> pairs_reply(items, ctx)
            other -> reply(other)
          end
      end
    end
  end

  def handle("hscan", [key, cursor | opts], ctx) do
    with {:ok, cursor, opts} <- Collection.scan_args(ctx.instance, key, :hash, cursor, opts),
         {:ok, {next, pairs}} <- hscan(ctx.instance, key, cursor, opts) do
      [Integer.to_string(next), Enum.flat_map(pairs, fn {f, v} -> [f, v] end)]
    else
      :missing -> ["0", []]
      error -> error
    end
  end

  defp withvalues([]), do: {:ok, false}

  defp withvalues([opt]) do
    if FerricStore.Commands.upcase(opt) == "WITHVALUES",
      do: {:ok, true},
      else: {:error, Error.new(:syntax)}
  end

  defp withvalues(_), do: {:error, Error.new(:syntax)}

  # HRANDFIELD with a negative count: fields may repeat; a long reply is streamed.
  defp repeated_random(instance, key, picks, wv, ctx) do
    safely do
      Collection.repeated_random(
        instance,
        key,
        :hash,
        picks,
        wv,
        ctx.protocol,
        &Collection.bytes/2
      )
    end
  end

  # RESP3 replies pairs as an array of 2-element arrays, RESP2 flat.
  defp pairs_reply(items, %{protocol: 3}), do: Enum.map(items, fn {f, v} -> [f, v] end)
  defp pairs_reply(items, _ctx), do: Enum.flat_map(items, fn {f, v} -> [f, v] end)
end
