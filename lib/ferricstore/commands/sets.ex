defmodule FerricStore.Commands.Sets do
  @moduledoc false
  # Set commands, one record per member (docs/collections.md).

  import FerricStore.Commands.Collection, only: [safely: 1, reply: 1, bool: 1]

  import FerricStore.Commands.Spec
  alias FerricStore.{Error, Store}
  alias FerricStore.Commands.{Args, Collection}
  alias FerricStore.Store.Batch

  ## Caller side

  # Like Redis, which neither propagates nor fsyncs a write that changed nothing, a SADD
  # whose members are all there already, and an SREM whose members are all absent (or
  # whose set is missing), answer 0 without a Raft entry (Collection.no_op?/5).
  def sadd(instance, key, members) do
    members = List.wrap(members)

    if Collection.no_op?(instance, key, :set, members, true),
      do: {:ok, 0},
      else: write(instance, key, {:sadd, key, members})
  end

  def srem(instance, key, members) do
    members = List.wrap(members)

    if Collection.no_op?(instance, key, :set, members, false),
      do: {:ok, 0},
      else: write(instance, key, {:srem, key, members})
  end

  @doc "SPOP: `count` nil pops one member (or nil)."
  def spop(instance, key, count \\ nil) do
    probes = for _ <- 1..min(count || 1, 64)//1, do: :crypto.strong_rand_bytes(8)
    write(instance, key, {:spop, key, count, probes})
  end

  def smove(instance, src, dst, member),
    do: Store.write_keys(instance, [src, dst], :sets, {:smove, src, dst, member})

  def sinterstore(instance, dst, keys), do: store(instance, dst, keys, :inter)
  def sunionstore(instance, dst, keys), do: store(instance, dst, keys, :union)
  def sdiffstore(instance, dst, keys), do: store(instance, dst, keys, :diff)

  defp store(instance, dst, keys, op),
    do: Store.write_keys(instance, [dst | keys], :sets, {:store, op, dst, keys})

  defp write(instance, key, op), do: Store.write(instance, key, :sets, op)

  def smembers(instance, key) do
    with {:ok, found} <- Collection.read(instance, key, :set) do
      case found do
        nil ->
          {:ok, []}

        {_, tables} ->
          {:ok,
           tables |> Collection.collect(key, :edge, :asc, :all, &elem(&1, 0)) |> intset_order()}
      end
    end
  end

  @intset_entries 512

  # Redis keeps a set of at most 512 integers as an intset, whose members come out in
  # numeric order: SMEMBERS, and the replies it builds as sets (SINTER, SUNION, SDIFF,
  # SPOP or SRANDMEMBER of the whole set). Other sets have no order in Redis.
  defp intset_order(members) do
    with true <- length(members) <= @intset_entries,
         {:ok, numbered} <- numbered(members, []) do
      numbered |> Enum.sort() |> Enum.map(&elem(&1, 1))
    else
      _ -> members
    end
  end

  defp numbered([], acc), do: {:ok, acc}

  defp numbered([m | rest], acc) do
    case Args.int(m) do
      {:ok, n} -> numbered(rest, [{n, m} | acc])
      :error -> :error
    end
  end

  def sismember(instance, key, member) do
    with {:ok, [bool]} <- smismember(instance, key, [member]), do: {:ok, bool}
  end

  def smismember(instance, key, members) do
    with {:ok, found} <- Collection.read(instance, key, :set) do
      case found do
        nil -> {:ok, Enum.map(members, fn _ -> false end)}
        {_, t} -> {:ok, Enum.map(members, &:ets.member(t.members, {key, &1}))}
      end
    end
  end

  def scard(instance, key) do
    with {:ok, found} <- Collection.read(instance, key, :set) do
      {:ok, if(found, do: elem(found, 0).n, else: 0)}
    end
  end

  # A count of at least the set's size: the whole set, in SMEMBERS' order.
  def srandmember(instance, key, count \\ nil) do
    member = fn {m, _}, _t -> m end

    whole = fn items ->
      items |> Enum.map(&elem(&1, 0)) |> intset_order() |> Enum.map(&{&1, ""})
    end

    Collection.random(instance, key, :set, count, member, member, whole)
  end

  def sinter(instance, keys), do: combine(instance, keys, :inter)
  def sunion(instance, keys), do: combine(instance, keys, :union)
  def sdiff(instance, keys), do: combine(instance, keys, :diff)

  @doc "SINTERCARD: the size of the intersection, stopping at `limit` (0: no limit)."
  def sintercard(instance, keys, limit \\ 0) do
    with {:ok, members} <- combine(instance, keys, :inter) do
      n = length(members)
      {:ok, if(limit > 0, do: min(n, limit), else: n)}
    end
  end

  defp combine(instance, keys, op) do
    Enum.reduce_while(keys, {:ok, []}, fn key, {:ok, acc} ->
      case Collection.read(instance, key, :set) do
        {:ok, nil} -> {:cont, {:ok, [{key, nil} | acc]}}
        {:ok, {_, t}} -> {:cont, {:ok, [{key, t} | acc]}}
        error -> {:halt, error}
      end
    end)
    |> case do
      {:ok, found} ->
        sets =
          found
          |> Enum.reverse()
          |> Enum.map(fn
            {_k, nil} -> MapSet.new()
            {k, t} -> MapSet.new(Collection.collect(t, k, :edge, :asc, :all, &elem(&1, 0)))
          end)

        {:ok, sets |> combine_sets(op) |> MapSet.to_list() |> intset_order()}

      error ->
        error
    end
  end

  defp combine_sets([first | rest], :inter),
    do: Enum.reduce(rest, first, &MapSet.intersection(&2, &1))

  defp combine_sets([first | rest], :union), do: Enum.reduce(rest, first, &MapSet.union(&2, &1))

  defp combine_sets([first | rest], :diff),
    do: Enum.reduce(rest, first, &MapSet.difference(&2, &1))

  def sscan(instance, key, cursor, opts \\ []) do
    safely do
      with {:ok, found} <- Collection.read(instance, key, :set) do
        case found do
          nil -> {:ok, {0, []}}
          {meta, t} -> {:ok, scan(t, key, meta, cursor, opts)}
        end
      end
    end
  end

  # Redis scans an intset whole, in one reply with cursor 0 (its members in numeric
  # order); other sets page by COUNT (Collection.scan/6).
  defp scan(t, key, meta, cursor, opts) do
    if Map.get(meta, :big, false) do
      Collection.scan(t, key, meta.n, cursor, opts, &elem(&1, 0))
    else
      {0, all} =
        Collection.scan(t, key, meta.n, 0, [count: @intset_entries] ++ opts, &elem(&1, 0))

      {0, intset_order(all)}
    end
  end

  ## Machine side

  @doc false
  def execute({:sadd, key, members}, b) do
    with {:ok, {meta, exp}, b} <- Collection.open(b, key, :set) do
      {meta, b, added} = add(b, key, meta, members)
      {{:ok, added}, Collection.save(b, key, :set, meta, exp)}
    else
      error -> {error, b}
    end
  end

  def execute({:srem, key, members}, b) do
    case Collection.get(b, key, :set) do
      {:ok, nil} ->
        {{:ok, 0}, b}

      {:ok, {meta, exp}} ->
        {meta, b, n} = remove(b, key, meta, members)
        {{:ok, n}, if(n > 0, do: Collection.save(b, key, :set, meta, exp), else: b)}

      error ->
        {error, b}
    end
  end

  def execute({:spop, key, count, probes}, b) do
    case Collection.get(b, key, :set) do
      {:ok, nil} ->
        {{:ok, if(count, do: [], else: nil)}, b}

      {:ok, {meta, exp}} ->
        want = min(count || 1, meta.n)

        picked =
          if want * 3 >= meta.n or want > length(probes) do
            b |> Collection.all(key) |> Enum.map(&elem(&1, 0)) |> pick_spread(want, probes)
          else
            Enum.reduce(probes, [], fn probe, acc ->
              if length(acc) >= want, do: acc, else: [first_from(b, key, probe, acc) | acc]
            end)
          end

        picked = if want == meta.n, do: intset_order(picked), else: picked
        {meta, b, _} = remove(b, key, meta, picked)
        b = Collection.save(b, key, :set, meta, exp)
        {{:ok, if(count, do: picked, else: hd(picked ++ [nil]))}, b}

      error ->
        {error, b}
    end
  end

  def execute({:smove, src, dst, member}, b) do
    with {:ok, s} <- Collection.get(b, src, :set),
         {:ok, _d} <- if(s == nil, do: {:ok, nil}, else: Collection.get(b, dst, :set)) do
      cond do
        s == nil or Batch.member(b, src, member) == nil ->
          {{:ok, false}, b}

        src == dst ->
          {{:ok, true}, b}

        true ->
          {meta, exp} = s
          {meta, b, _} = remove(b, src, meta, [member])
          b = Collection.save(b, src, :set, meta, exp)
          {:ok, {dmeta, dexp}, b} = Collection.open(b, dst, :set)
          {dmeta, b, _} = add(b, dst, dmeta, [member])
          {{:ok, true}, Collection.save(b, dst, :set, dmeta, dexp)}
      end
    else
      error -> {error, b}
    end
  end

  def execute({:store, op, dst, keys}, b) do
    Enum.reduce_while(keys, {:ok, []}, fn key, {:ok, acc} ->
      case Collection.get(b, key, :set) do
        {:ok, nil} -> {:cont, {:ok, [MapSet.new() | acc]}}
        {:ok, _} -> {:cont, {:ok, [MapSet.new(Collection.all(b, key), &elem(&1, 0)) | acc]}}
        error -> {:halt, error}
      end
    end)
    |> case do
      {:ok, sets} ->
        result = sets |> Enum.reverse() |> combine_sets(op) |> Enum.sort()

        # Redis builds the result as an intset and converts it for good on the first
        # non-integer member or past 512 members (OBJECT ENCODING).
        big? = length(result) > 512 or Enum.any?(result, &(Args.int(&1) == :error))

        b =
          replace(
            b,
            dst,
            :set,
            fn b, gen ->
              Enum.reduce(result, b, &Batch.put_member(&2, :set, dst, gen, &1, ""))
            end,
            length(result),
            if(big?, do: %{big: true}, else: %{})
          )

        {{:ok, length(result)}, b}

      error ->
        {error, b}
    end
  end

  @doc false
  # Replaces whatever `dst` holds by a new collection of `n` members written by `fun`.
  def replace(b, dst, type, fun, n, extra \\ %{}) do
    b =
      case Batch.get(b, dst) do
        {t, _, _} -> Batch.delete(b, dst, t)
        nil -> b
      end

    if n == 0 do
      b
    else
      gen = Batch.new_gen(b)
      b = b |> Batch.drop_members(dst) |> fun.(gen)
      Batch.put(b, dst, type, Map.merge(%{gen: gen, n: n}, extra), 0)
    end
  end

  defp add(b, key, meta, members) do
    Enum.reduce(members, {meta, b, 0}, fn m, {meta, b, n} ->
      case Batch.fetch_member(b, key, m) do
        {nil, b} -> {grown(meta, m), Batch.put_member(b, :set, key, meta.gen, m, ""), n + 1}
        {_, b} -> {meta, b, n}
      end
    end)
  end

  # Redis converts an intset to a hashtable for good (OBJECT ENCODING) once it holds a
  # non-integer or more than 512 members; `big: true` in the header remembers it.
  defp grown(%{n: n} = meta, m) do
    meta = %{meta | n: n + 1}

    if Map.get(meta, :big, false) or (n + 1 <= 512 and match?({:ok, _}, Args.int(m))),
      do: meta,
      else: Map.put(meta, :big, true)
  end

  defp remove(b, key, meta, members) do
    Enum.reduce(members, {meta, b, 0}, fn m, {meta, b, n} ->
      if Batch.member(b, key, m),
        do: {%{meta | n: meta.n - 1}, Batch.delete_member(b, :set, key, meta.gen, m), n + 1},
        else: {meta, b, n}
    end)
  end

  # The first member at or after `probe` not already picked (wrapping around).
  defp first_from(b, key, probe, picked) do
    take = fn start ->
      Collection.walk(b, key, start, :asc, nil, fn {m, _}, nil ->
        if m in picked, do: {:cont, nil}, else: {:halt, m}
      end)
    end

    take.({:at, probe}) || take.(:edge)
  end

  # Deterministic choice of `want` members of a list from the caller's random probes.
  defp pick_spread(all, want, probes) do
    seed = :erlang.phash2(probes)
    state = :rand.seed_s(:exsss, {seed, 7, 11})

    {picked, _} =
      Enum.reduce(1..want//1, {[], {List.to_tuple(all), state}}, fn _, {acc, {tuple, st}} ->
        {i, st} = :rand.uniform_s(tuple_size(tuple), st)
        m = elem(tuple, i - 1)
        last = elem(tuple, tuple_size(tuple) - 1)
        tuple = tuple |> put_elem(i - 1, last) |> Tuple.delete_at(tuple_size(tuple) - 1)
        {[m | acc], {tuple, st}}
      end)

    picked
  end

  ## RESP side

  @doc false
  def commands do
    [
      cmd("sadd", -3, ["write", "denyoom", "fast"]),
      cmd("srem", -3, ["write", "fast"]),
      cmd("smembers", 2, ["readonly"]),
      cmd("sismember", 3, ["readonly", "fast"]),
      cmd("smismember", -3, ["readonly", "fast"]),
      cmd("scard", 2, ["readonly", "fast"]),
      cmd("spop", -2, ["write", "fast"]),
      cmd("srandmember", -2, ["readonly"]),
      cmd("smove", 4, ["write", "fast"], 1, 2),
      cmd("sinter", -2, ["readonly"], 1, -1),
      cmd("sinterstore", -3, ["write", "denyoom"], 1, -1),
      movable("sintercard", -3, ["readonly"], 1),
      cmd("sunion", -2, ["readonly"], 1, -1),
      cmd("sunionstore", -3, ["write", "denyoom"], 1, -1),
      cmd("sdiff", -2, ["readonly"], 1, -1),
      cmd("sdiffstore", -3, ["write", "denyoom"], 1, -1),
      cmd("sscan", -3, ["readonly"])
    ]
  end

  @doc false
  def handle("sadd", [key | ms], ctx), do: reply(sadd(ctx.instance, key, ms))
  def handle("srem", [key | ms], ctx), do: reply(srem(ctx.instance, key, ms))
  def handle("smembers", [key], ctx), do: set_reply(smembers(ctx.instance, key))
  def handle("sismember", [key, m], ctx), do: bool(sismember(ctx.instance, key, m))

  def handle("smismember", [key | ms], ctx) do
    with {:ok, bools} <- smismember(ctx.instance, key, ms),
         do: Enum.map(bools, &if(&1, do: 1, else: 0))
  end

  def handle("scard", [key], ctx), do: reply(scard(ctx.instance, key))
  def handle("spop", [key], ctx), do: reply(spop(ctx.instance, key))

  def handle("spop", [key, count], ctx) do
    case Args.int(count) do
      {:ok, c} when c >= 0 -> set_reply(spop(ctx.instance, key, c))
      _ -> Error.new(:out_of_range, "ERR value is out of range, must be positive")
    end
  end

  def handle("spop", _args, _ctx), do: Error.new(:syntax)
  def handle("srandmember", [key], ctx), do: reply(srandmember(ctx.instance, key))

  def handle("srandmember", [key, count], ctx) do
    with {:ok, c} <- Collection.count_arg(count) do
      cond do
        c < -div(Args.max_int(), 2) -> Error.new(:out_of_range, "ERR value is out of range")
        c < 0 -> repeated_random(ctx.instance, key, -c)
        true -> reply(srandmember(ctx.instance, key, c))
      end
    end
  end

  def handle("srandmember", _args, _ctx), do: Error.new(:syntax)
  def handle("smove", [s, d, m], ctx), do: bool(smove(ctx.instance, s, d, m))
  def handle("sinter", keys, ctx), do: set_reply(sinter(ctx.instance, keys))
  def handle("sunion", keys, ctx), do: set_reply(sunion(ctx.instance, keys))
  def handle("sdiff", keys, ctx), do: set_reply(sdiff(ctx.instance, keys))
  def handle("sinterstore", [d | keys], ctx), do: reply(sinterstore(ctx.instance, d, keys))
  def handle("sunionstore", [d | keys], ctx), do: reply(sunionstore(ctx.instance, d, keys))
  def handle("sdiffstore", [d | keys], ctx), do: reply(sdiffstore(ctx.instance, d, keys))

  def handle("sintercard", [numkeys | rest], ctx) do
    case Args.int(numkeys) do
      {:ok, n} when n > 0 and n <= length(rest) ->
        {keys, opts} = Enum.split(rest, n)

        with {:ok, limit} <- Collection.limit_opt(opts, 0),
             do: reply(sintercard(ctx.instance, keys, limit))

      {:ok, n} when n > 0 ->
        Error.new(:syntax, "ERR Number of keys can't be greater than number of args")

      _ ->
        Error.new(:out_of_range, "ERR numkeys should be greater than 0")
    end
  end

  def handle("sscan", [key, cursor | opts], ctx) do
    with {:ok, cursor, opts} <- Collection.scan_args(ctx.instance, key, :set, cursor, opts),
         {:ok, {next, ms}} <- sscan(ctx.instance, key, cursor, opts) do
      [Integer.to_string(next), ms]
    else
      :missing -> ["0", []]
      error -> error
    end
  end

  defp set_reply({:ok, list}) when is_list(list), do: {:set, list}
  defp set_reply(other), do: reply(other)

  # SRANDMEMBER with a negative count: members may repeat; a long reply is streamed.
  defp repeated_random(instance, key, picks),
    do: Collection.repeated_random(instance, key, :set, picks, false, 2, nil)
end
