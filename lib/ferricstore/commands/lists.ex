defmodule FerricStore.Commands.Lists do
  @moduledoc false
  # List commands, one record per element (docs/collections.md). An element's member is
  # its integer position; the elements of a list sit at head..head+n-1 (the header meta
  # holds head and n), so pushes, pops, LINDEX, LSET and LRANGE are positional lookups.
  # LINSERT and LREM renumber elements (O(N), as in Redis).

  import FerricStore.Commands.Collection, only: [safely: 1, reply: 1]

  import FerricStore.Commands.Spec
  alias FerricStore.{Error, Store}
  alias FerricStore.Commands.{Args, Collection}
  alias FerricStore.Store.Batch

  ## Caller side

  def lpush(instance, key, elems), do: push(instance, key, elems, :left, false)
  def rpush(instance, key, elems), do: push(instance, key, elems, :right, false)
  def lpushx(instance, key, elems), do: push(instance, key, elems, :left, true)
  def rpushx(instance, key, elems), do: push(instance, key, elems, :right, true)

  defp push(instance, key, elems, side, xx?),
    do: write(instance, key, {:push, key, List.wrap(elems), side, xx?})

  @doc "LPOP: `count` nil pops one element (or nil)."
  def lpop(instance, key, count \\ nil), do: write(instance, key, {:pop, key, :left, count})
  def rpop(instance, key, count \\ nil), do: write(instance, key, {:pop, key, :right, count})

  def lset(instance, key, index, elem), do: write(instance, key, {:lset, key, index, elem})

  @doc "LINSERT: `where` is :before or :after."
  def linsert(instance, key, where, pivot, elem),
    do: write(instance, key, {:linsert, key, where, pivot, elem})

  def lrem(instance, key, count, elem), do: write(instance, key, {:lrem, key, count, elem})
  def ltrim(instance, key, start, stop), do: write(instance, key, {:ltrim, key, start, stop})

  @doc "LMOVE: `from` and `to` are :left or :right."
  def lmove(instance, src, dst, from, to),
    do: Store.write_keys(instance, [src, dst], :lists, {:lmove, src, dst, from, to})

  def rpoplpush(instance, src, dst), do: lmove(instance, src, dst, :right, :left)

  @doc """
  LMPOP: pops up to `count` (nil: 1) elements from the `side` of the first list among
  `keys`: `{:ok, {key, elements}}`, or `{:ok, nil}` when none is a list. One Raft
  operation on the shard that owns every key (CROSSSLOT otherwise), as LMOVE.
  """
  def lmpop(instance, keys, side, count),
    do: Store.write_keys(instance, keys, :lists, {:mpop, keys, side, count})

  defp write(instance, key, op), do: Store.write(instance, key, :lists, op)

  def llen(instance, key) do
    with {:ok, found} <- Collection.read(instance, key, :list) do
      {:ok, if(found, do: elem(found, 0).n, else: 0)}
    end
  end

  def lindex(instance, key, index) do
    safely do
      with {:ok, found} <- Collection.read(instance, key, :list) do
        case found do
          nil ->
            {:ok, nil}

          {meta, t} ->
            i = if index < 0, do: meta.n + index, else: index
            {:ok, if(i >= 0 and i < meta.n, do: Collection.member(t, key, meta.head + i))}
        end
      end
    end
  end

  def lrange(instance, key, start, stop) do
    safely do
      with {:ok, found} <- Collection.read(instance, key, :list) do
        case found do
          nil ->
            {:ok, []}

          {meta, t} ->
            case range(meta.n, start, stop) do
              nil ->
                {:ok, []}

              {s, e} ->
                items = Collection.collect(t, key, {:at, meta.head + s}, :asc, e - s + 1)
                {:ok, Enum.map(items, fn {_pos, v} -> Collection.bytes(t, v) end)}
            end
        end
      end
    end
  end

  @doc "LPOS. `opts`: rank (default 1), count (nil: one position), maxlen (0: all)."
  def lpos(instance, key, elem, opts \\ []) do
    rank = Keyword.get(opts, :rank, 1)
    count = opts[:count]
    maxlen = Keyword.get(opts, :maxlen, 0)

    safely do
      with {:ok, found} <- Collection.read(instance, key, :list) do
        case found do
          nil ->
            {:ok, if(count, do: [], else: nil)}

          {meta, t} ->
            dir = if rank > 0, do: :asc, else: :desc
            start = :edge

            want =
              if count == 0 or count == nil, do: if(count == 0, do: :all, else: 1), else: count

            skip = abs(rank) - 1

            {found, _, _} =
              FerricStore.Store.Members.walk(
                t.members,
                key,
                start,
                dir,
                {%{}, false},
                {[], skip, 0},
                fn {pos, v}, {acc, skip, seen} ->
                  seen = seen + 1

                  {acc, skip} =
                    if Collection.bytes(t, v) == elem do
                      if skip > 0, do: {acc, skip - 1}, else: {[pos - meta.head | acc], 0}
                    else
                      {acc, skip}
                    end

                  done = (want != :all and length(acc) >= want) or (maxlen > 0 and seen >= maxlen)
                  if done, do: {:halt, {acc, skip, seen}}, else: {:cont, {acc, skip, seen}}
                end
              )

            found = Enum.reverse(found)
            {:ok, if(count, do: found, else: List.first(found))}
        end
      end
    end
  end

  # Redis' index normalisation for LRANGE/LTRIM: `{first, last}` or nil when empty.
  defp range(n, start, stop) do
    start = if start < 0, do: max(n + start, 0), else: start
    stop = if stop < 0, do: n + stop, else: min(stop, n - 1)
    if start > stop or start >= n, do: nil, else: {start, stop}
  end

  ## Machine side

  @doc false
  def execute({:push, key, elems, side, xx?}, b) do
    case Collection.get(b, key, :list) do
      {:ok, nil} when xx? ->
        {{:ok, 0}, b}

      {:error, _} = error ->
        {error, b}

      _ ->
        {:ok, {meta, exp}, b} = Collection.open(b, key, :list, %{head: 0})
        {meta, b} = Enum.reduce(elems, {meta, b}, &push_one(&1, &2, key, side))
        {{:ok, meta.n}, Collection.save(b, key, :list, meta, exp)}
    end
  end

  def execute({:pop, key, side, count}, b) do
    case Collection.get(b, key, :list) do
      {:ok, nil} ->
        {{:ok, nil}, b}

      {:ok, {meta, exp}} ->
        {items, meta, b} = pop_n(b, key, meta, side, count || 1)
        b = Collection.save(b, key, :list, meta, exp)
        {{:ok, if(count, do: items, else: hd(items))}, b}

      error ->
        {error, b}
    end
  end

  def execute({:lset, key, index, value}, b) do
    case Collection.get(b, key, :list) do
      {:ok, nil} ->
        {{:error, Error.new(:no_such_key)}, b}

      {:ok, {meta, _exp}} ->
        i = if index < 0, do: meta.n + index, else: index

        if i >= 0 and i < meta.n,
          do: {:ok, Batch.put_member(b, :list, key, meta.gen, meta.head + i, value)},
          else: {{:error, Error.new(:out_of_range, "ERR index out of range")}, b}

      error ->
        {error, b}
    end
  end

  def execute({:linsert, key, where, pivot, value}, b) do
    case Collection.get(b, key, :list) do
      {:ok, nil} ->
        {{:ok, 0}, b}

      {:ok, {meta, exp}} ->
        old = values(b, key)

        case Enum.find_index(old, &(&1 == pivot)) do
          nil ->
            {{:ok, -1}, b}

          i ->
            at = if where == :before, do: i, else: i + 1
            new = List.insert_at(old, at, value)
            # Shift the shorter side: the elements before the insertion point move left.
            new_head = if at * 2 < meta.n, do: meta.head - 1, else: meta.head
            {meta, b} = rewrite(b, key, meta, old, new, new_head)
            {{:ok, meta.n}, Collection.save(b, key, :list, meta, exp)}
        end

      error ->
        {error, b}
    end
  end

  def execute({:lrem, key, count, value}, b) do
    case Collection.get(b, key, :list) do
      {:ok, nil} ->
        {{:ok, 0}, b}

      {:ok, {meta, exp}} ->
        old = values(b, key)
        {new, removed} = remove(old, count, value)

        if removed == 0 do
          {{:ok, 0}, b}
        else
          {meta, b} = rewrite(b, key, meta, old, new, meta.head)
          {{:ok, removed}, Collection.save(b, key, :list, meta, exp)}
        end

      error ->
        {error, b}
    end
  end

  def execute({:ltrim, key, start, stop}, b) do
    case Collection.get(b, key, :list) do
      {:ok, nil} ->
        {:ok, b}

      {:ok, {meta, exp}} ->
        {s, e} = range(meta.n, start, stop) || {meta.n, meta.n - 1}
        drop = Enum.to_list(0..(s - 1)//1) ++ Enum.to_list((e + 1)..(meta.n - 1)//1)
        b = Enum.reduce(drop, b, &Batch.delete_member(&2, :list, key, meta.gen, meta.head + &1))
        meta = %{meta | head: meta.head + s, n: max(e - s + 1, 0)}
        {:ok, Collection.save(b, key, :list, meta, exp)}

      error ->
        {error, b}
    end
  end

  def execute({:lmove, src, dst, from, to}, b) do
    with {:ok, s} <- Collection.get(b, src, :list),
         {:ok, _d} <- if(s == nil, do: {:ok, nil}, else: Collection.get(b, dst, :list)) do
      case s do
        nil ->
          {{:ok, nil}, b}

        # Onto itself: pushed before the list is saved, so a one-element list is never
        # empty in between (Redis checks for an empty source after the push) and keeps
        # its TTL.
        {meta, exp} when src == dst ->
          {[value], meta, b} = pop_n(b, src, meta, from, 1)
          {meta, b} = push_one(value, {meta, b}, src, to)
          {{:ok, value}, Collection.save(b, src, :list, meta, exp)}

        {meta, exp} ->
          {[value], meta, b} = pop_n(b, src, meta, from, 1)
          b = Collection.save(b, src, :list, meta, exp)
          {:ok, {dmeta, dexp}, b} = Collection.open(b, dst, :list, %{head: 0})
          {dmeta, b} = push_one(value, {dmeta, b}, dst, to)
          {{:ok, value}, Collection.save(b, dst, :list, dmeta, dexp)}
      end
    else
      error -> {error, b}
    end
  end

  # LMPOP: Redis skips missing keys (an empty list is never stored) and answers
  # WRONGTYPE for a key of another type met before the first list.
  def execute({:mpop, keys, side, count}, b),
    do: Collection.mpop(b, keys, :list, &execute({:pop, &1, side, count || 1}, &2))

  defp push_one(value, {meta, b}, key, :left) do
    pos = meta.head - 1
    {%{meta | head: pos, n: meta.n + 1}, Batch.put_member(b, :list, key, meta.gen, pos, value)}
  end

  defp push_one(value, {meta, b}, key, :right) do
    pos = meta.head + meta.n
    {%{meta | n: meta.n + 1}, Batch.put_member(b, :list, key, meta.gen, pos, value)}
  end

  defp pop_n(b, key, meta, side, count) do
    Enum.reduce(1..min(count, meta.n)//1, {[], meta, b}, fn _, {acc, meta, b} ->
      pos = if side == :left, do: meta.head, else: meta.head + meta.n - 1
      value = Collection.member_bytes(b, key, pos)
      b = Batch.delete_member(b, :list, key, meta.gen, pos)
      head = if side == :left, do: meta.head + 1, else: meta.head
      {[value | acc], %{meta | head: head, n: meta.n - 1}, b}
    end)
    |> then(fn {acc, meta, b} -> {Enum.reverse(acc), meta, b} end)
  end

  defp values(b, key),
    do: Enum.map(Collection.all(b, key), fn {_, v} -> Collection.value!(b, v) end)

  # Writes only the positions whose element changed; deletes positions no longer used.
  defp rewrite(b, key, meta, old, new, new_head) do
    old_map = old |> Enum.with_index(meta.head) |> Map.new(fn {v, p} -> {p, v} end)
    new_map = new |> Enum.with_index(new_head) |> Map.new(fn {v, p} -> {p, v} end)

    b =
      Enum.reduce(new_map, b, fn {p, v}, b ->
        if Map.get(old_map, p) == v, do: b, else: Batch.put_member(b, :list, key, meta.gen, p, v)
      end)

    b =
      Enum.reduce(old_map, b, fn {p, _}, b ->
        if Map.has_key?(new_map, p), do: b, else: Batch.delete_member(b, :list, key, meta.gen, p)
      end)

    {%{meta | head: new_head, n: length(new)}, b}
  end

  defp remove(list, 0, value),
    do: {Enum.reject(list, &(&1 == value)), Enum.count(list, &(&1 == value))}

  defp remove(list, count, value) when count > 0 do
    {acc, left} =
      Enum.reduce(list, {[], count}, fn v, {acc, left} ->
        if v == value and left > 0, do: {acc, left - 1}, else: {[v | acc], left}
      end)

    {Enum.reverse(acc), count - left}
  end

  defp remove(list, count, value) do
    {new, n} = remove(Enum.reverse(list), -count, value)
    {Enum.reverse(new), n}
  end

  ## RESP side

  @doc false
  def commands do
    [
      cmd("lpush", -3, ["write", "denyoom", "fast"]),
      cmd("rpush", -3, ["write", "denyoom", "fast"]),
      cmd("lpushx", -3, ["write", "denyoom", "fast"]),
      cmd("rpushx", -3, ["write", "denyoom", "fast"]),
      cmd("lpop", -2, ["write", "fast"]),
      cmd("rpop", -2, ["write", "fast"]),
      cmd("llen", 2, ["readonly", "fast"]),
      cmd("lrange", 4, ["readonly"]),
      cmd("lindex", 3, ["readonly"]),
      cmd("lset", 4, ["write", "denyoom"]),
      cmd("linsert", 5, ["write", "denyoom"]),
      cmd("lrem", 4, ["write"]),
      cmd("ltrim", 4, ["write"]),
      cmd("lpos", -3, ["readonly"]),
      cmd("lmove", 5, ["write", "denyoom"], 1, 2),
      cmd("rpoplpush", 3, ["write", "denyoom"], 1, 2),
      movable("lmpop", -4, ["write"], 1)
    ]
  end

  @doc false
  def handle("lpush", [key | es], ctx), do: reply(lpush(ctx.instance, key, es))
  def handle("rpush", [key | es], ctx), do: reply(rpush(ctx.instance, key, es))
  def handle("lpushx", [key | es], ctx), do: reply(lpushx(ctx.instance, key, es))
  def handle("rpushx", [key | es], ctx), do: reply(rpushx(ctx.instance, key, es))
  def handle("lpop", [key], ctx), do: reply(lpop(ctx.instance, key))
  def handle("rpop", [key], ctx), do: reply(rpop(ctx.instance, key))

  def handle(name, [key, count], ctx) when name in ["lpop", "rpop"] do
    case Args.int(count) do
      {:ok, c} when c >= 0 ->
        result =
          if name == "lpop", do: lpop(ctx.instance, key, c), else: rpop(ctx.instance, key, c)

        case result do
          {:ok, nil} -> :null_array
          other -> reply(other)
        end

      _ ->
        Error.new(:out_of_range, "ERR value is out of range, must be positive")
    end
  end

  def handle(name, _args, _ctx) when name in ["lpop", "rpop"],
    do: FerricStore.Commands.arity_error(name)

  def handle("llen", [key], ctx), do: reply(llen(ctx.instance, key))

  def handle("lrange", [key, s, e], ctx) do
    with {:ok, s} <- Args.int!(s),
         {:ok, e} <- Args.int!(e),
         do: reply(lrange(ctx.instance, key, s, e))
  end

  # Redis looks the key up before it parses the index: a missing key answers nil (LINDEX)
  # or "no such key" (LSET), a wrong type WRONGTYPE, whatever the index. A valid index
  # goes straight to the command, which checks the key itself; a bad one is only
  # reported once the key is known to be a list.
  def handle("lindex", [key, i], ctx) do
    case Args.int(i) do
      {:ok, i} -> reply(lindex(ctx.instance, key, i))
      :error -> bad_index(ctx, key, nil)
    end
  end

  def handle("lset", [key, i, v], ctx) do
    case Args.int(i) do
      {:ok, i} -> reply(lset(ctx.instance, key, i, v))
      :error -> bad_index(ctx, key, Error.new(:no_such_key))
    end
  end

  def handle("linsert", [key, where, pivot, v], ctx) do
    case FerricStore.Commands.upcase(where) do
      "BEFORE" -> reply(linsert(ctx.instance, key, :before, pivot, v))
      "AFTER" -> reply(linsert(ctx.instance, key, :after, pivot, v))
      _ -> Error.new(:syntax)
    end
  end

  def handle("lrem", [key, c, v], ctx) do
    with {:ok, c} <- Args.int!(c), do: reply(lrem(ctx.instance, key, c, v))
  end

  def handle("ltrim", [key, s, e], ctx) do
    with {:ok, s} <- Args.int!(s),
         {:ok, e} <- Args.int!(e),
         do: reply(ltrim(ctx.instance, key, s, e))
  end

  def handle("lpos", [key, elem | opts], ctx) do
    with {:ok, opts} <- lpos_opts(opts, []) do
      reply(lpos(ctx.instance, key, elem, opts))
    end
  end

  def handle("lmove", [src, dst, from, to], ctx) do
    with {:ok, from} <- side(from),
         {:ok, to} <- side(to),
         do: reply(lmove(ctx.instance, src, dst, from, to))
  end

  def handle("rpoplpush", [src, dst], ctx), do: reply(rpoplpush(ctx.instance, src, dst))

  def handle("lmpop", args, ctx) do
    with {:ok, keys, side, count} <-
           Collection.mpop_args(args, %{"LEFT" => :left, "RIGHT" => :right}) do
      case lmpop(ctx.instance, keys, side, count) do
        {:ok, nil} -> :null_array
        {:ok, {key, items}} -> [key, items]
        other -> reply(other)
      end
    end
  end

  defp side(s) do
    case FerricStore.Commands.upcase(s) do
      "LEFT" -> {:ok, :left}
      "RIGHT" -> {:ok, :right}
      _ -> {:error, Error.new(:syntax)}
    end
  end

  defp bad_index(ctx, key, missing) do
    case Collection.read(ctx.instance, key, :list) do
      {:ok, nil} -> missing
      {:ok, _list} -> Error.new(:not_integer)
      {:error, error} -> error
    end
  end

  defp lpos_opts([], acc), do: {:ok, acc}

  # The option's name is checked before its value. Redis gives COUNT and MAXLEN's
  # "can't be negative" text for a value that is not an integer too; RANK keeps the
  # generic one.
  defp lpos_opts([opt, value | rest], acc) do
    case {FerricStore.Commands.upcase(opt), Args.int(value)} do
      {"RANK", :error} ->
        {:error, Error.new(:not_integer)}

      # Redis 7.0 negates a negative rank in a long: LONG_MIN stays negative and every
      # match from the tail reaches it, so it acts as -1 (newer Redis rejects it).
      {"RANK", {:ok, -9_223_372_036_854_775_808}} ->
        lpos_opts(rest, Keyword.put(acc, :rank, -1))

      {"RANK", {:ok, 0}} ->
        {:error,
         Error.new(
           :syntax,
           "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
         )}

      {"RANK", {:ok, n}} ->
        lpos_opts(rest, Keyword.put(acc, :rank, n))

      {"COUNT", {:ok, n}} when n >= 0 ->
        lpos_opts(rest, Keyword.put(acc, :count, n))

      {"COUNT", _} ->
        {:error, Error.new(:syntax, "ERR COUNT can't be negative")}

      {"MAXLEN", {:ok, n}} when n >= 0 ->
        lpos_opts(rest, Keyword.put(acc, :maxlen, n))

      {"MAXLEN", _} ->
        {:error, Error.new(:syntax, "ERR MAXLEN can't be negative")}

      _ ->
        {:error, Error.new(:syntax)}
    end
  end

  defp lpos_opts(_, _acc), do: {:error, Error.new(:syntax)}
end
