defmodule FerricStore.Commands.Keyspace do
  @moduledoc false
  # Keyspace commands (DEL, EXISTS, the EXPIRE family, TTL, TYPE, KEYS, SCAN, DBSIZE,
  # FLUSHDB): caller side, machine side (`execute/2`) and RESP side, as in Strings.

  import FerricStore.Commands.Spec
  alias FerricStore.{Error, Store}
  alias FerricStore.Commands.{Args, Glob}
  alias FerricStore.Store.{Batch, TableScan}

  import Args, only: [is_int64: 1]

  ## Caller side

  def del(instance, keys) when is_list(keys),
    do: Store.write_keys(instance, keys, :keyspace, {:del, keys})

  def exists(instance, keys) when is_list(keys),
    do: {:ok, Enum.count(keys, &(Store.lookup(instance, &1) != nil))}

  def type(instance, key) do
    case Store.lookup(instance, key) do
      nil -> {:ok, "none"}
      {_, type, _, _, _, _, _} -> {:ok, Atom.to_string(type)}
    end
  end

  @doc "Sets an absolute expiry in ms; `flags` is a list of :nx, :xx, :gt, :lt."
  def expire_at(instance, key, at_ms, flags) when is_int64(at_ms) and is_list(flags) do
    with :ok <- compatible(flags),
         do: Store.write(instance, key, :keyspace, {:expire, key, at_ms, flags})
  end

  def expire_at(_instance, _key, _at_ms, _flags), do: {:error, Error.new(:not_integer)}

  @doc """
  EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT (`cmd`) of `n` seconds or ms, checked in Redis'
  order: the flags, then `n` as a 64-bit integer, then the absolute time in ms
  ("ERR invalid expire time in 'expireat' command" when it leaves 64 bits).
  """
  def expire(instance, key, cmd, n, flags) do
    with :ok <- compatible(flags),
         {:ok, n} <- if(is_int64(n), do: {:ok, n}, else: {:error, Error.new(:not_integer)}),
         {:ok, at} <- expire_abs(cmd, n),
         do: expire_at(instance, key, at, flags)
  end

  defp compatible(flags) do
    cond do
      :nx in flags and Enum.any?([:xx, :gt, :lt], &(&1 in flags)) ->
        {:error,
         Error.new(:syntax, "ERR NX and XX, GT or LT options at the same time are not compatible")}

      :gt in flags and :lt in flags ->
        {:error, Error.new(:syntax, "ERR GT and LT options at the same time are not compatible")}

      true ->
        :ok
    end
  end

  def persist(instance, key), do: Store.write(instance, key, :keyspace, {:persist, key})

  @doc "Remaining time to live in ms: -2 when the key is missing, -1 when it has no TTL."
  def pttl(instance, key) do
    case Store.lookup(instance, key) do
      nil -> {:ok, -2}
      {_, _, _, 0, _, _, _} -> {:ok, -1}
      {_, _, _, exp, _, _, _} -> {:ok, max(exp - Store.now(), 0)}
    end
  end

  def ttl(instance, key) do
    case pttl(instance, key) do
      {:ok, ms} when ms < 0 -> {:ok, ms}
      {:ok, ms} -> {:ok, div(ms + 500, 1000)}
    end
  end

  @doc "Absolute expiry in ms (-2 missing, -1 no TTL)."
  def pexpiretime(instance, key) do
    case Store.lookup(instance, key) do
      nil -> {:ok, -2}
      {_, _, _, 0, _, _, _} -> {:ok, -1}
      {_, _, _, exp, _, _, _} -> {:ok, exp}
    end
  end

  def dbsize(instance) do
    {:ok,
     Enum.reduce(Store.shards(instance), 0, fn n, acc ->
       acc + :ets.info(Store.tables(instance, n).keydir, :size)
     end)}
  end

  def flushdb(instance) do
    Enum.reduce_while(Store.shards(instance), :ok, fn n, :ok ->
      case Store.write_shard(instance, n, :keyspace, {:flush}) do
        :ok -> {:cont, :ok}
        error -> {:halt, error}
      end
    end)
  end

  def keys(instance, pattern) do
    regex = Glob.compile(pattern)
    now = Store.now()

    keys =
      Enum.flat_map(Store.shards(instance), fn n ->
        :ets.foldl(
          fn {key, _, _, exp, _, _, _}, acc ->
            if live?(exp, now) and Glob.match?(regex, key), do: [key | acc], else: acc
          end,
          [],
          Store.tables(instance, n).keydir
        )
      end)

    {:ok, keys}
  end

  @doc """
  SCAN. Each shard's keydir is walked with Redis' reverse-binary cursor over its hash
  classes (`FerricStore.Store.TableScan`; shard = cursor mod shards): a full iteration
  returns every key present from its start to its end at least once, whatever was
  written or deleted meanwhile.
  """
  def scan(instance, cursor, opts) do
    shards = Store.config(instance).shards
    count = opts[:count] || 10
    regex = if opts[:match], do: Glob.compile(opts[:match])
    type = opts[:type]

    scan_shards(
      instance,
      rem(cursor, shards),
      div(cursor, shards),
      shards,
      count,
      {regex, type},
      []
    )
  end

  defp scan_shards(_instance, shard, _v, shards, _count, _filter, acc) when shard >= shards,
    do: {:ok, {0, acc}}

  defp scan_shards(instance, shard, v, shards, count, {regex, type}, acc) do
    keydir = Store.tables(instance, shard).keydir
    now = Store.now()

    keep? = fn {key, t, _, exp, _, _, _} ->
      live?(exp, now) and Glob.match?(regex, key) and (type == nil or type == t)
    end

    {next, rows} = TableScan.step(keydir, v, count, keep?)
    acc = acc ++ Enum.map(rows, &elem(&1, 0))

    # A shard done within the call hands on to the next one (from its start) only when
    # the call has seen nothing yet, so an empty shard costs no round trip.
    cond do
      next != 0 -> {:ok, {next * shards + shard, acc}}
      shard + 1 >= shards -> {:ok, {0, acc}}
      acc == [] -> scan_shards(instance, shard + 1, 0, shards, count, {regex, type}, acc)
      true -> {:ok, {shard + 1, acc}}
    end
  end

  @doc false
  # One hash slot of a keydir table, or the end for a slot past its size (the table may
  # have shrunk since the cursor was handed out).
  def safe_slot(keydir, slot) do
    :ets.slot(keydir, slot)
  rescue
    ArgumentError -> :"$end_of_table"
  end

  @doc false
  def live?(0, _now), do: true
  def live?(exp, now), do: exp > now

  ## Machine side

  @doc false
  def execute({:del, keys}, b) do
    Enum.reduce(keys, {{:ok, 0}, b}, fn key, {{:ok, n}, b} ->
      case Batch.get(b, key) do
        nil -> {{:ok, n}, b}
        {type, _, _} -> {{:ok, n + 1}, Batch.delete(b, key, type)}
      end
    end)
  end

  def execute({:expire, key, at, flags}, b) do
    case Batch.get(b, key) do
      nil ->
        {{:ok, false}, b}

      {type, value, cur} ->
        cond do
          not Enum.all?(flags, &expire_allowed?(&1, cur, at)) -> {{:ok, false}, b}
          at <= b.now -> {{:ok, true}, Batch.delete(b, key, type)}
          true -> rewrite(b, key, type, value, at)
        end
    end
  end

  def execute({:persist, key}, b) do
    case Batch.get(b, key) do
      {type, value, exp} when exp != 0 -> rewrite(b, key, type, value, 0)
      _ -> {{:ok, false}, b}
    end
  end

  def execute({:expire_due, due}, b) do
    Enum.reduce(due, {{:ok, 0}, b}, fn {key, exp}, {{:ok, n}, b} ->
      case Batch.due?(b, key, exp) && Batch.get(%{b | now: 0}, key) do
        {type, _, _} -> {{:ok, n + 1}, Batch.delete(b, key, type)}
        _ -> {{:ok, n}, b}
      end
    end)
  end

  def execute({:flush}, b), do: {:ok, Batch.flush(b)}

  defp rewrite(b, key, type, value, exp) do
    case Batch.value(b, value) do
      {:ok, bytes} -> {{:ok, true}, Batch.put(b, key, type, bytes, exp)}
      {:error, _} -> {{:error, Error.new(:io)}, b}
    end
  end

  # Redis 7 semantics: every given flag must hold; a key without TTL counts as an
  # infinite TTL for GT/LT.
  defp expire_allowed?(:nx, cur, _at), do: cur == 0
  defp expire_allowed?(:xx, cur, _at), do: cur != 0
  defp expire_allowed?(:gt, cur, at), do: cur != 0 and at > cur
  defp expire_allowed?(:lt, cur, at), do: cur == 0 or at < cur

  ## RESP side

  @doc false
  def commands do
    [
      cmd("del", -2, ["write"], 1, -1),
      cmd("unlink", -2, ["write", "fast"], 1, -1),
      cmd("exists", -2, ["readonly", "fast"], 1, -1),
      cmd("touch", -2, ["readonly", "fast"], 1, -1),
      cmd("type", 2, ["readonly", "fast"]),
      cmd("expire", -3, ["write", "fast"]),
      cmd("pexpire", -3, ["write", "fast"]),
      cmd("expireat", -3, ["write", "fast"]),
      cmd("pexpireat", -3, ["write", "fast"]),
      cmd("expiretime", 2, ["readonly", "fast"]),
      cmd("pexpiretime", 2, ["readonly", "fast"]),
      cmd("ttl", 2, ["readonly", "fast"]),
      cmd("pttl", 2, ["readonly", "fast"]),
      cmd("persist", 2, ["write", "fast"]),
      Map.put(
        cmd("keys", 2, ["readonly"], 0, 0, 0),
        :acl_categories,
        categories("keyspace", ["readonly"], ["@dangerous"])
      ),
      cmd("scan", -2, ["readonly"], 0, 0, 0)
    ]
  end

  @doc false
  def handle(name, keys, ctx) when name in ["del", "unlink"], do: reply(del(ctx.instance, keys))
  def handle("exists", keys, ctx), do: reply(exists(ctx.instance, keys))
  # No access times are kept (no LRU eviction yet): TOUCH only counts the keys that exist.
  def handle("touch", keys, ctx), do: reply(exists(ctx.instance, keys))
  def handle("type", [key], ctx), do: {:simple, elem(type(ctx.instance, key), 1)}

  def handle(name, [key, n | opts], ctx)
      when name in ["expire", "pexpire", "expireat", "pexpireat"] do
    # Redis reads the options before the time.
    with {:ok, flags} <- expire_flags(opts, []),
         {:ok, n} <- Args.int!(n) do
      case expire(ctx.instance, key, name, n, flags) do
        {:ok, true} -> 1
        {:ok, false} -> 0
        {:error, e} -> e
      end
    end
  end

  def handle("ttl", [key], ctx), do: reply(ttl(ctx.instance, key))
  def handle("pttl", [key], ctx), do: reply(pttl(ctx.instance, key))
  def handle("pexpiretime", [key], ctx), do: reply(pexpiretime(ctx.instance, key))

  def handle("expiretime", [key], ctx) do
    case pexpiretime(ctx.instance, key) do
      {:ok, ms} when ms < 0 -> ms
      # Rounded to the nearest second, as Redis does.
      {:ok, ms} -> div(ms + 500, 1000)
    end
  end

  def handle("persist", [key], ctx) do
    case persist(ctx.instance, key) do
      {:ok, true} -> 1
      {:ok, false} -> 0
      {:error, e} -> e
    end
  end

  def handle("keys", [pattern], ctx), do: reply(keys(ctx.instance, pattern))

  def handle("scan", [cursor | opts], ctx) do
    with {:ok, cursor} <- FerricStore.Commands.Collection.cursor(cursor),
         {:ok, opts} <- scan_opts(opts, []) do
      {:ok, {next, keys}} = scan(ctx.instance, cursor, opts)
      [Integer.to_string(next), keys]
    end
  end

  defp scan_opts([], acc), do: {:ok, acc}

  defp scan_opts([opt, value | rest], acc) do
    case FerricStore.Commands.upcase(opt) do
      "MATCH" ->
        scan_opts(rest, Keyword.put(acc, :match, value))

      "COUNT" ->
        case Args.int(value) do
          {:ok, n} when n >= 1 -> scan_opts(rest, Keyword.put(acc, :count, n))
          {:ok, _} -> Error.new(:syntax)
          :error -> Error.new(:not_integer)
        end

      "TYPE" ->
        scan_opts(rest, Keyword.put(acc, :type, type_atom(FerricStore.Commands.downcase(value))))

      _ ->
        Error.new(:syntax)
    end
  end

  defp scan_opts(_, _acc), do: Error.new(:syntax)

  defp type_atom(t) when t in ["string", "hash", "list", "set", "zset"], do: String.to_atom(t)
  defp type_atom(_t), do: :unknown_type

  defp expire_flags([], acc) do
    with :ok <- compatible(acc), do: {:ok, acc}
  end

  defp expire_flags([opt | rest], acc) do
    case FerricStore.Commands.downcase(opt) do
      flag when flag in ["nx", "xx", "gt", "lt"] ->
        expire_flags(rest, [String.to_existing_atom(flag) | acc])

      _ ->
        Error.new(:syntax, "ERR Unsupported option #{opt}")
    end
  end

  defp expire_abs(name, n) do
    at =
      case name do
        "expire" -> n * 1000 + Store.now()
        "pexpire" -> n + Store.now()
        "expireat" -> n * 1000
        "pexpireat" -> n
      end

    scaled = if name in ["expire", "expireat"], do: n * 1000, else: n

    if is_int64(at) and is_int64(scaled),
      do: {:ok, at},
      else: {:error, Error.new(:invalid_expire, "ERR invalid expire time in '#{name}' command")}
  end

  defp reply({:ok, value}), do: value
  defp reply(:ok), do: :ok
  defp reply({:error, %Error{} = e}), do: e
end
