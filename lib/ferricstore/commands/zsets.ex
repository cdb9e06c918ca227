defmodule FerricStore.Commands.ZSets do
  @moduledoc false
  # Sorted-set commands, one record per member plus a score index (docs/collections.md).
  # Scores are floats, or :inf / :neg_inf.

  import FerricStore.Commands.Collection, only: [reply: 1]

  import FerricStore.Commands.Spec
  alias FerricStore.{Error, Store}
  alias FerricStore.Commands.{Args, Collection}
  alias FerricStore.Store.{Batch, Keydir, Members, Ranks}

  ## Caller side

  @doc "ZADD. `pairs` are `{score, member}`; opts: nx, xx, gt, lt, ch, incr."
  def zadd(instance, key, pairs, opts \\ []),
    do: write(instance, key, {:zadd, key, pairs, Map.new(opts)})

  def zincrby(instance, key, by, member),
    do: write(instance, key, {:zadd, key, [{by, member}], %{incr: true}})

  # ZREM of members that are all absent: no Raft entry (Collection.no_op?/5).
  def zrem(instance, key, members) do
    members = List.wrap(members)

    if Collection.no_op?(instance, key, :zset, members, false),
      do: {:ok, 0},
      else: write(instance, key, {:zrem, key, members})
  end

  def zpopmin(instance, key, count \\ nil), do: write(instance, key, {:zpop, key, :asc, count})
  def zpopmax(instance, key, count \\ nil), do: write(instance, key, {:zpop, key, :desc, count})

  @doc "ZREMRANGEBYRANK/SCORE/LEX: `spec` as for `zrange/3`."
  def zremrange(instance, key, spec), do: write(instance, key, {:zremrange, key, spec})

  def zrangestore(instance, dst, src, spec),
    do: Store.write_keys(instance, [dst, src], :zsets, {:rangestore, dst, src, spec})

  @doc "ZUNIONSTORE/ZINTERSTORE/ZDIFFSTORE: `op` :union | :inter | :diff."
  def zstore(instance, op, dst, keys, weights \\ nil, aggregate \\ :sum),
    do:
      Store.write_keys(
        instance,
        [dst | keys],
        :zsets,
        {:store, op, dst, keys, weights, aggregate}
      )

  @doc """
  ZMPOP: pops up to `count` (nil: 1) members from the first sorted set among `keys`,
  lowest scores first (`:asc`, MIN) or highest (`:desc`, MAX): `{:ok, {key, pairs}}`, or
  `{:ok, nil}` when none is a sorted set. One Raft operation on the shard that owns every
  key (CROSSSLOT otherwise).
  """
  def zmpop(instance, keys, dir, count),
    do: Store.write_keys(instance, keys, :zsets, {:mpop, keys, dir, count})

  defp write(instance, key, op), do: Store.write(instance, key, :zsets, op)

  def zscore(instance, key, member) do
    with {:ok, [s]} <- zmscore(instance, key, [member]), do: {:ok, s}
  end

  def zmscore(instance, key, members) do
    with {:ok, found} <- Collection.read(instance, key, :zset) do
      case found do
        nil -> {:ok, Enum.map(members, fn _ -> nil end)}
        {_, t} -> {:ok, Enum.map(members, &score_of(t, key, &1))}
      end
    end
  end

  defp score_of(t, key, m) do
    case Members.lookup(t.members, key, m) do
      {s, _} -> s
      nil -> nil
    end
  end

  def zcard(instance, key) do
    with {:ok, found} <- Collection.read(instance, key, :zset) do
      {:ok, if(found, do: elem(found, 0).n, else: 0)}
    end
  end

  @doc "ZRANK (`rev` false) / ZREVRANK: the 0-based rank, or nil."
  def zrank(instance, key, member, rev \\ false) do
    with {:ok, found} <- Collection.read(instance, key, :zset) do
      case found do
        nil ->
          {:ok, nil}

        {meta, t} ->
          with score when score != nil <- score_of(t, key, member),
               ranks = Ranks.of(t),
               nil <- Ranks.rank(ranks, key, score, member, rev) do
            {:ok, settled_rank(t, ranks, meta.n, key, member, rev, 100)}
          else
            nil -> {:ok, nil}
            rank -> {:ok, rank}
          end
      end
    end
  end

  # The index is searched by (score, member), with the score read from the members
  # table. The machine publishes a batch's member writes to ETS and then to the index,
  # so a reader in between can find a score in ETS that the index does not have yet (or
  # any more). Such a miss is read again between two equal, even values of the shard's
  # :member_writes counter (odd while the machine publishes; Members.publish/4), when ETS
  # and the index agree. A machine that does not get there in 100 yields (descheduled
  # mid-publish) is not waited for: the rank is then the count of members before
  # (score, member) in the index as it is.
  defp settled_rank(t, ranks, n, key, member, rev, tries) do
    before = Keydir.meta(t.meta, :member_writes, 0)
    score = score_of(t, key, member)
    rank = score && Ranks.rank(ranks, key, score, member, rev)

    cond do
      rem(before, 2) == 0 and Keydir.meta(t.meta, :member_writes, 0) == before ->
        rank

      tries > 0 ->
        :erlang.yield()
        settled_rank(t, ranks, n, key, member, rev, tries - 1)

      score == nil ->
        nil

      true ->
        # The members before (score, member) in the index as it is now.
        below = Ranks.count_below(ranks, key, score, member)
        if rev, do: n - 1 - below, else: below
    end
  end

  @doc """
  ZRANGE. `spec`: `%{by: :rank | :score | :lex, min:, max:, rev: bool, limit: nil |
  {offset, count}}`; rank bounds are integers, score bounds `{inclusive?, score}`, lex
  bounds `:neg`, `:pos` or `{inclusive?, binary}`. Returns `{member, score}` pairs.
  """
  def zrange(instance, key, spec) do
    with {:ok, found} <- Collection.read(instance, key, :zset) do
      case found do
        nil ->
          {:ok, []}

        {meta, t} ->
          # O(log N + M) through the rank index; a lex range over members of different
          # scores (undefined in Redis) keeps the ordered walk's answer.
          items =
            case Ranks.range(Ranks.of(t), key, spec) do
              nil -> items(read_walker(t, key), meta.n, spec)
              items -> items
            end

          {:ok, raw_zeros(items, meta, &score_of(t, key, &1))}
      end
    end
  end

  def zcount(instance, key, min, max), do: count(instance, key, :score, min, max)

  def zlexcount(instance, key, min, max), do: count(instance, key, :lex, min, max)

  # Two rank lookups, as in Redis (or the walk, for lex bounds over different scores).
  defp count(instance, key, by, min, max) do
    with {:ok, found} <- Collection.read(instance, key, :zset) do
      case found do
        nil ->
          {:ok, 0}

        {meta, t} ->
          case Ranks.count(Ranks.of(t), key, by, min, max) do
            nil ->
              {:ok, length(items(read_walker(t, key), meta.n, %{by: by, min: min, max: max}))}

            n ->
              {:ok, n}
          end
      end
    end
  end

  defp read_walker(t, key) do
    fn start, dir, acc, fun ->
      Members.walk_scores(Ranks.of(t), key, start, dir, {%{}, false}, acc, fun)
    end
  end

  def zrandmember(instance, key, count \\ nil) do
    # A count of at least the size: the whole set in ZREVRANGE 0 -1 order, as Redis.
    whole = fn items -> Enum.sort_by(items, fn {m, s} -> {Members.score_key(s), m} end, :desc) end
    one = fn {m, _}, _t -> m end
    Collection.random(instance, key, :zset, count, one, fn item, _t -> item end, whole)
  end

  @doc "ZUNION/ZINTER/ZDIFF (no store): `{member, score}` pairs in score order."
  def zcombine(instance, op, keys, weights \\ nil, aggregate \\ :sum) do
    # As Redis, sets count as sorted sets with every score 1.
    Enum.reduce_while(keys, {:ok, []}, fn key, {:ok, acc} ->
      case Store.lookup(instance, key) do
        nil ->
          {:cont, {:ok, [%{} | acc]}}

        {_, :zset, _, _, _, _, _} ->
          t = Store.tables_for(instance, key)
          {:cont, {:ok, [Map.new(Collection.collect(t, key, :edge, :asc, :all)) | acc]}}

        {_, :set, _, _, _, _, _} ->
          t = Store.tables_for(instance, key)
          ones = Collection.collect(t, key, :edge, :asc, :all, fn {m, _} -> {m, 1.0} end)
          {:cont, {:ok, [Map.new(ones) | acc]}}

        _ ->
          {:halt, {:error, Error.new(:wrongtype)}}
      end
    end)
    |> case do
      {:ok, maps} -> {:ok, combine(Enum.reverse(maps), op, weights, aggregate)}
      error -> error
    end
  end

  def zscan(instance, key, cursor, opts \\ []) do
    with {:ok, found} <- Collection.read(instance, key, :zset) do
      case found do
        nil ->
          {:ok, {0, []}}

        {meta, t} ->
          {next, items} = Collection.scan(t, key, meta.n, cursor, opts, & &1)
          {:ok, {next, listpack_order(items, meta)}}
      end
    end
  end

  # A small sorted set is a listpack in Redis, which a scan returns whole in score order
  # (Collection.scan/6 returns it whole, in member order).
  defp listpack_order(items, %{n: n} = meta) when n <= 128 do
    if Map.get(meta, :big, false),
      do: items,
      else: Enum.sort_by(items, fn {m, s} -> {Members.score_key(s), m} end)
  end

  defp listpack_order(items, _meta), do: items

  @doc """
  ZINTERCARD: the size of the intersection of the sorted sets (or sets, as ZINTER reads
  them) at `keys`, counting no further than `limit` (0: no limit). Every key is looked up
  first, as Redis does: a wrong type anywhere is WRONGTYPE, else a missing key makes it 0.
  The smallest input is walked and each member looked up in the others, so it stops at
  `limit` members found: O(limit * K) at best, O(N * K) at worst, N the smallest size.
  """
  def zintercard(instance, keys, limit \\ 0) do
    Enum.reduce_while(keys, {:ok, []}, fn key, {:ok, acc} ->
      case Store.lookup(instance, key) do
        nil -> {:cont, {:ok, [nil | acc]}}
        {_, t, meta, _, _, _, _} when t in [:zset, :set] -> {:cont, {:ok, [{key, meta.n} | acc]}}
        _ -> {:halt, {:error, Error.new(:wrongtype)}}
      end
    end)
    |> case do
      {:ok, found} ->
        if nil in found,
          do: {:ok, 0},
          else: {:ok, intercard(instance, Enum.sort_by(found, &elem(&1, 1)), limit)}

      error ->
        error
    end
  end

  defp intercard(instance, [{key, _n} | others], limit) do
    others = Enum.map(others, fn {k, _} -> {k, Store.tables_for(instance, k).members} end)
    t = Store.tables_for(instance, key)

    Members.walk(t.members, key, :edge, :asc, {%{}, false}, 0, fn {m, _}, found ->
      found =
        if Enum.all?(others, fn {k, ms} -> :ets.member(ms, {k, m}) end),
          do: found + 1,
          else: found

      if found == limit and limit > 0, do: {:halt, found}, else: {:cont, found}
    end)
  end

  ## Ranges (shared by reads and the machine)

  defp items(walker, n, %{by: :rank} = spec) do
    {s, e} = rank_range(n, spec.min, spec.max)
    if s > e, do: [], else: take(walker, :edge, dir(spec), s, e - s + 1, fn _ -> :ok end)
  end

  defp items(walker, _n, %{by: :score} = spec) do
    {offset, count} = spec[:limit] || {0, -1}
    {min, max} = {spec.min, spec.max}

    check = fn {_m, s} ->
      cond do
        not above_min?(s, min) -> if(spec[:rev], do: :stop, else: :skip)
        not below_max?(s, max) -> if(spec[:rev], do: :skip, else: :stop)
        true -> :ok
      end
    end

    start = if spec[:rev], do: :edge, else: start_at(min)

    take(walker, start, dir(spec), offset, count, check)
  end

  defp items(walker, _n, %{by: :lex} = spec) do
    {offset, count} = spec[:limit] || {0, -1}

    check = fn {m, _s} ->
      cond do
        not lex_above?(m, spec.min) -> if(spec[:rev], do: :stop, else: :skip)
        not lex_below?(m, spec.max) -> if(spec[:rev], do: :skip, else: :stop)
        true -> :ok
      end
    end

    take(walker, :edge, dir(spec), offset, count, check)
  end

  defp start_at({_, s}), do: {:at, {Members.score_key(s), ""}}

  defp dir(spec), do: if(spec[:rev], do: :desc, else: :asc)

  # Walks from `start`, skipping `offset` matching items and taking `count` (-1: all).
  defp take(_walker, _start, _dir, _offset, 0, _check), do: []

  defp take(walker, start, dir, offset, count, check) do
    {acc, _, _} =
      walker.(start, dir, {[], offset, count}, fn {m, s} = item, {acc, off, left} ->
        case check.(item) do
          :stop ->
            {:halt, {acc, off, left}}

          :skip ->
            {:cont, {acc, off, left}}

          :ok when off > 0 ->
            {:cont, {acc, off - 1, left}}

          :ok ->
            acc = [{m, s} | acc]
            if left == 1, do: {:halt, {acc, 0, 0}}, else: {:cont, {acc, 0, left - 1}}
        end
      end)

    Enum.reverse(acc)
  end

  defp rank_range(n, start, stop) do
    start = if start < 0, do: max(n + start, 0), else: start
    stop = if stop < 0, do: n + stop, else: min(stop, n - 1)
    if start > stop or start >= n, do: {1, 0}, else: {start, stop}
  end

  defp above_min?(s, {true, min}), do: Members.score_key(s) >= Members.score_key(min)
  defp above_min?(s, {false, min}), do: Members.score_key(s) > Members.score_key(min)
  defp below_max?(s, {true, max}), do: Members.score_key(s) <= Members.score_key(max)
  defp below_max?(s, {false, max}), do: Members.score_key(s) < Members.score_key(max)

  defp lex_above?(_m, :neg), do: true
  defp lex_above?(_m, :pos), do: false
  defp lex_above?(m, {true, min}), do: m >= min
  defp lex_above?(m, {false, min}), do: m > min
  defp lex_below?(_m, :pos), do: true
  defp lex_below?(_m, :neg), do: false
  defp lex_below?(m, {true, max}), do: m <= max
  defp lex_below?(m, {false, max}), do: m < max

  # Score arithmetic on floats, :inf, :neg_inf and :nan, with IEEE results (Erlang's
  # float operations raise instead of returning an infinity).
  @doc false
  def add(:nan, _), do: :nan
  def add(_, :nan), do: :nan
  def add(:inf, :neg_inf), do: :nan
  def add(:neg_inf, :inf), do: :nan
  def add(:inf, _), do: :inf
  def add(_, :inf), do: :inf
  def add(:neg_inf, _), do: :neg_inf
  def add(_, :neg_inf), do: :neg_inf

  def add(a, b) do
    a + b
  rescue
    ArithmeticError -> if a > 0, do: :inf, else: :neg_inf
  end

  # A score times a weight; 0 times an infinity is NaN.
  defp mul(:nan, _), do: :nan
  defp mul(_, :nan), do: :nan

  defp mul(s, w) when is_float(s) and is_float(w) do
    s * w
  rescue
    ArithmeticError -> infinity(sign(s) * sign(w))
  end

  defp mul(s, w) do
    case sign(s) * sign(w) do
      0 -> :nan
      sign -> infinity(sign)
    end
  end

  defp sign(:inf), do: 1
  defp sign(:neg_inf), do: -1
  defp sign(f) when f > 0, do: 1
  defp sign(f) when f < 0, do: -1
  defp sign(_zero), do: 0

  defp infinity(1), do: :inf
  defp infinity(-1), do: :neg_inf

  defp zero_nan(:nan), do: 0.0
  defp zero_nan(s), do: s

  defp combine([], _op, _weights, _agg), do: []

  defp combine(maps, op, weights, agg) do
    weights = weights || Enum.map(maps, fn _ -> 1.0 end)

    # Weighted scores, NaN (0 times an infinite weight) left for the ops to settle. Redis
    # sorts the inputs of a union or intersection by size (a stable sort) and folds
    # them in that order, which decides the rounding of a SUM and which set is first.
    weighted =
      Enum.zip_with(maps, weights, fn m, w -> Map.new(m, fn {k, s} -> {k, mul(s, w)} end) end)

    weighted = if op == :diff, do: weighted, else: Enum.sort_by(weighted, &map_size/1)

    [first | rest] = weighted
    first = Map.new(first, fn {k, s} -> {k, zero_nan(s)} end)

    # As Redis: a union turns every NaN weighted score into 0 before aggregating; an
    # intersection only the first set's (a later NaN makes a SUM 0 and leaves MIN/MAX).
    result =
      case op do
        :union ->
          Enum.reduce(rest, first, fn m, acc ->
            m = Map.new(m, fn {k, s} -> {k, zero_nan(s)} end)
            Map.merge(acc, m, fn _k, a, b -> aggregate(a, b, agg) end)
          end)

        :inter ->
          Enum.reduce(rest, first, fn m, acc ->
            for {k, a} <- acc, Map.has_key?(m, k), into: %{}, do: {k, aggregate(a, m[k], agg)}
          end)

        :diff ->
          Enum.reduce(rest, hd(maps), fn m, acc -> Map.drop(acc, Map.keys(m)) end)
      end

    Enum.sort_by(result, fn {m, s} -> {Members.score_key(s), m} end)
  end

  # A SUM of +inf and -inf (or with a NaN) is 0, as in Redis' zunionInterAggregate.
  defp aggregate(a, b, :sum), do: zero_nan(add(a, b))
  defp aggregate(a, :nan, _min_or_max), do: a
  defp aggregate(a, b, :min), do: if(Members.score_key(a) <= Members.score_key(b), do: a, else: b)
  defp aggregate(a, b, :max), do: if(Members.score_key(a) >= Members.score_key(b), do: a, else: b)

  ## Machine side

  @doc false
  def execute({:zadd, key, pairs, opts}, b) do
    with {:ok, {meta, exp}, b} <- Collection.open(b, key, :zset) do
      {meta, b, added, changed, last} =
        Enum.reduce(pairs, {meta, b, 0, 0, nil}, fn {score, m},
                                                    {meta, b, added, changed, _last} ->
          {cur, b} =
            case Batch.fetch_member(b, key, m) do
              {{s, _}, b} -> {s, b}
              {nil, b} -> {nil, b}
            end

          new = if opts[:incr] && cur, do: add(cur, score), else: score

          cond do
            new == :nan ->
              throw({:nan, b})

            cur == nil and opts[:xx] ->
              {meta, b, added, changed, nil}

            cur != nil and opts[:nx] ->
              {meta, b, added, changed, nil}

            cur == nil ->
              meta = grown(meta, m)
              {meta, put(b, key, meta, m, new), added + 1, changed, new}

            opts[:gt] && Members.score_key(new) <= Members.score_key(cur) ->
              {meta, b, added, changed, nil}

            opts[:lt] && Members.score_key(new) >= Members.score_key(cur) ->
              {meta, b, added, changed, nil}

            new == cur ->
              {meta, b, added, changed, new}

            true ->
              {meta, put(b, key, meta, m, new), added, changed + 1, new}
          end
        end)

      b = Collection.save(b, key, :zset, meta, exp)

      cond do
        opts[:incr] -> {{:ok, last}, b}
        opts[:ch] -> {{:ok, added + changed}, b}
        true -> {{:ok, added}, b}
      end
    else
      error -> {error, b}
    end
  catch
    {:nan, _} -> {{:error, Error.new(:nan, "ERR resulting score is not a number (NaN)")}, b}
  end

  def execute({:zrem, key, members}, b) do
    case Collection.get(b, key, :zset) do
      {:ok, nil} ->
        {{:ok, 0}, b}

      {:ok, {meta, exp}} ->
        {meta, b, n} = remove(b, key, meta, members)
        {{:ok, n}, if(n > 0, do: Collection.save(b, key, :zset, meta, exp), else: b)}

      error ->
        {error, b}
    end
  end

  def execute({:zpop, key, dir, count}, b) do
    case Collection.get(b, key, :zset) do
      {:ok, nil} ->
        {{:ok, []}, b}

      {:ok, {meta, exp}} ->
        items =
          walker(b, key)
          |> take(:edge, dir, 0, count || 1, fn _ -> :ok end)
          |> raw_zeros(meta, &machine_score(b, key, &1))

        {meta, b, _} = remove(b, key, meta, Enum.map(items, &elem(&1, 0)))
        {{:ok, items}, Collection.save(b, key, :zset, meta, exp)}

      error ->
        {error, b}
    end
  end

  # ZMPOP: Redis skips missing keys and answers WRONGTYPE for a key of another type
  # (a set too) met before the first sorted set.
  def execute({:mpop, keys, dir, count}, b),
    do: Collection.mpop(b, keys, :zset, &execute({:zpop, &1, dir, count || 1}, &2))

  def execute({:zremrange, key, spec}, b) do
    case Collection.get(b, key, :zset) do
      {:ok, nil} ->
        {{:ok, 0}, b}

      {:ok, {meta, exp}} ->
        items = machine_items(b, key, meta.n, spec)
        {meta, b, n} = remove(b, key, meta, Enum.map(items, &elem(&1, 0)))
        {{:ok, n}, if(n > 0, do: Collection.save(b, key, :zset, meta, exp), else: b)}

      error ->
        {error, b}
    end
  end

  def execute({:rangestore, dst, src, spec}, b) do
    with {:ok, _} <- Collection.get(b, dst, :zset) |> ignore_type(),
         {:ok, found} <- Collection.get(b, src, :zset) do
      items =
        case found do
          nil ->
            []

          {meta, _} ->
            b |> machine_items(src, meta.n, spec) |> raw_zeros(meta, &machine_score(b, src, &1))
        end

      {{:ok, length(items)}, store(b, dst, items)}
    else
      error -> {error, b}
    end
  end

  def execute({:store, op, dst, keys, weights, agg}, b) do
    Enum.reduce_while(keys, {:ok, []}, fn key, {:ok, acc} ->
      case Batch.get(b, key) do
        nil ->
          {:cont, {:ok, [%{} | acc]}}

        {:zset, _, _} ->
          {:cont, {:ok, [Map.new(Collection.all(b, key)) | acc]}}

        {:set, _, _} ->
          {:cont, {:ok, [Map.new(Collection.all(b, key), fn {m, _} -> {m, 1.0} end) | acc]}}

        _ ->
          {:halt, {:error, Error.new(:wrongtype)}}
      end
    end)
    |> case do
      {:ok, maps} ->
        items = combine(Enum.reverse(maps), op, weights, agg)
        {{:ok, length(items)}, store(b, dst, items)}

      error ->
        {error, b}
    end
  end

  defp ignore_type({:error, _}), do: {:ok, nil}
  defp ignore_type(other), do: other

  defp store(b, dst, items) do
    # A stored set small enough for a listpack holds no -0, as in Redis (see put/5).
    big? = length(items) > 128 or Enum.any?(items, fn {m, _} -> byte_size(m) > 64 end)

    FerricStore.Commands.Sets.replace(
      b,
      dst,
      :zset,
      fn b, gen ->
        Enum.reduce(items, b, fn {m, s}, b ->
          Batch.put_member(b, :zset, dst, gen, m, stored_score(s, big?))
        end)
      end,
      length(items),
      if(big?, do: %{big: true}, else: %{})
    )
  end

  # A range inside the machine. The rank index holds the published members only: it is
  # right for a key whose members this batch has not changed (no overlay, not dropped or
  # flushed); otherwise the walk merges the batch's overlay.
  defp machine_items(b, key, n, spec) do
    with {ov, false} when map_size(ov) == 0 <- Batch.member_view(b, key),
         items when is_list(items) <- Ranks.range(Ranks.of(b.tables), key, spec) do
      items
    else
      _ -> items(walker(b, key), n, spec)
    end
  end

  defp walker(b, key) do
    fn start, dir, acc, fun ->
      view = Batch.member_view(b, key)
      Members.walk_scores(Ranks.of(b.tables), key, start, dir, view, acc, fun)
    end
  end

  # Redis keeps a score of -0 only in a skiplist: a listpack (a small set) stores it as 0.
  # Scores -0 and 0 are one in the indexes (they compare equal), so a big set's ranges
  # and pops read a zero score back from the member row (raw_zeros/3).
  defp put(b, key, meta, m, score),
    do:
      Batch.put_member(
        b,
        :zset,
        key,
        meta.gen,
        m,
        stored_score(score, Map.get(meta, :big, false))
      )

  defp stored_score(score, true), do: score
  defp stored_score(score, false) when is_float(score), do: score + 0.0
  defp stored_score(score, false), do: score

  defp raw_zeros(items, %{big: true}, score_of) do
    Enum.map(items, fn
      {m, s} when s == 0.0 -> {m, score_of.(m) || s}
      item -> item
    end)
  end

  defp raw_zeros(items, _meta, _score_of), do: items

  defp machine_score(b, key, m) do
    case Batch.member(b, key, m) do
      {s, _} -> s
      nil -> nil
    end
  end

  # Redis converts a listpack sorted set to a skiplist for good (OBJECT ENCODING) once it
  # holds more than 128 members or a member longer than 64 bytes; `big: true` in the
  # header remembers it.
  defp grown(%{n: n} = meta, m) do
    meta = %{meta | n: n + 1}

    if Map.get(meta, :big, false) or (n + 1 <= 128 and byte_size(m) <= 64),
      do: meta,
      else: Map.put(meta, :big, true)
  end

  defp remove(b, key, meta, members) do
    Enum.reduce(members, {meta, b, 0}, fn m, {meta, b, n} ->
      if Batch.member(b, key, m),
        do: {%{meta | n: meta.n - 1}, Batch.delete_member(b, :zset, key, meta.gen, m), n + 1},
        else: {meta, b, n}
    end)
  end

  ## RESP side

  @doc false
  def commands do
    [
      cmd("zadd", -4, ["write", "denyoom", "fast"]),
      cmd("zincrby", 4, ["write", "denyoom", "fast"]),
      cmd("zrem", -3, ["write", "fast"]),
      cmd("zscore", 3, ["readonly", "fast"]),
      cmd("zmscore", -3, ["readonly", "fast"]),
      cmd("zcard", 2, ["readonly", "fast"]),
      cmd("zcount", 4, ["readonly", "fast"]),
      cmd("zlexcount", 4, ["readonly", "fast"]),
      cmd("zrank", 3, ["readonly", "fast"]),
      cmd("zrevrank", 3, ["readonly", "fast"]),
      cmd("zrange", -4, ["readonly"]),
      cmd("zrangebyscore", -4, ["readonly"]),
      cmd("zrevrange", -4, ["readonly"]),
      cmd("zrevrangebyscore", -4, ["readonly"]),
      cmd("zrangebylex", -4, ["readonly"]),
      cmd("zrevrangebylex", -4, ["readonly"]),
      cmd("zremrangebyrank", 4, ["write"]),
      cmd("zremrangebyscore", 4, ["write"]),
      cmd("zremrangebylex", 4, ["write"]),
      cmd("zpopmin", -2, ["write", "fast"]),
      cmd("zpopmax", -2, ["write", "fast"]),
      cmd("zrandmember", -2, ["readonly"]),
      cmd("zrangestore", -5, ["write", "denyoom"], 1, 2),
      movable("zunion", -3, ["readonly"], 1),
      movable("zinter", -3, ["readonly"], 1),
      movable("zdiff", -3, ["readonly"], 1),
      movable("zunionstore", -4, ["write", "denyoom"], 2, 1, 1),
      movable("zinterstore", -4, ["write", "denyoom"], 2, 1, 1),
      movable("zdiffstore", -4, ["write", "denyoom"], 2, 1, 1),
      cmd("zscan", -3, ["readonly"]),
      movable("zintercard", -3, ["readonly"], 1),
      movable("zmpop", -4, ["write"], 1)
    ]
  end

  @doc false
  # Redis checks, in this order: an even, non-zero number of score-member arguments, NX
  # with XX, GT/LT/NX, INCR with more than one pair, and only then the scores (so a bad
  # score never hides an option error). The key's type is looked at last, by the write.
  def handle("zadd", [key | args], ctx) do
    {opts, rest} = zadd_flags(args, %{})
    n = length(rest)

    cond do
      n == 0 or rem(n, 2) == 1 ->
        Error.new(:syntax)

      opts[:nx] && opts[:xx] ->
        Error.new(:syntax, "ERR XX and NX options at the same time are not compatible")

      (opts[:gt] && opts[:lt]) || ((opts[:gt] || opts[:lt]) && opts[:nx]) ->
        Error.new(:syntax, "ERR GT, LT, and/or NX options at the same time are not compatible")

      opts[:incr] && n > 2 ->
        Error.new(:syntax, "ERR INCR option supports a single increment-element pair")

      true ->
        incr = opts[:incr]

        with {:ok, pairs} <- score_pairs(rest, []) do
          case zadd(ctx.instance, key, pairs, Map.to_list(opts)) do
            {:ok, s} when incr -> score(s)
            other -> reply(other)
          end
        end
    end
  end

  # Redis reads ZINCRBY's arguments with ZADD's option parser: an option word where the
  # increment goes leaves a member without a score, a syntax error.
  def handle("zincrby", [key, by, m], ctx) do
    with :ok <- not_zadd_option(by),
         {:ok, by} <- parse_score(by) do
      case zincrby(ctx.instance, key, by, m) do
        {:ok, s} -> score(s)
        other -> reply(other)
      end
    end
  end

  def handle("zrem", [key | ms], ctx), do: reply(zrem(ctx.instance, key, ms))

  def handle("zscore", [key, m], ctx) do
    with {:ok, s} <- zscore(ctx.instance, key, m), do: score(s)
  end

  def handle("zmscore", [key | ms], ctx) do
    with {:ok, ss} <- zmscore(ctx.instance, key, ms), do: Enum.map(ss, &score/1)
  end

  def handle("zcard", [key], ctx), do: reply(zcard(ctx.instance, key))

  def handle("zcount", [key, min, max], ctx) do
    with {:ok, min} <- score_bound(min),
         {:ok, max} <- score_bound(max),
         do: reply(zcount(ctx.instance, key, min, max))
  end

  def handle("zlexcount", [key, min, max], ctx) do
    with {:ok, min} <- lex_bound(min),
         {:ok, max} <- lex_bound(max),
         do: reply(zlexcount(ctx.instance, key, min, max))
  end

  def handle("zrank", [key, m], ctx), do: reply(zrank(ctx.instance, key, m))
  def handle("zrevrank", [key, m], ctx), do: reply(zrank(ctx.instance, key, m, true))

  def handle("zrange", [key, a, b | opts], ctx) do
    with {:ok, spec, ws} <- range_opts(opts, %{by: nil, rev: nil}, false, true),
         {a, b} = if(spec[:rev] && spec.by != :rank, do: {b, a}, else: {a, b}),
         {:ok, spec} <- bounds(spec, a, b) do
      range_reply(zrange(ctx.instance, key, spec), ws, ctx)
    end
  end

  def handle(name, [key, a, b | opts], ctx)
      when name in [
             "zrangebyscore",
             "zrevrangebyscore",
             "zrangebylex",
             "zrevrangebylex",
             "zrevrange"
           ] do
    rev = String.starts_with?(name, "zrev")

    by =
      cond do
        String.ends_with?(name, "score") -> :score
        String.ends_with?(name, "lex") -> :lex
        true -> :rank
      end

    {a, b} = if rev and by != :rank, do: {b, a}, else: {a, b}

    with {:ok, spec, ws} <- range_opts(opts, %{by: by, rev: rev}, false, true),
         {:ok, spec} <- bounds(spec, a, b) do
      range_reply(zrange(ctx.instance, key, spec), ws, ctx)
    end
  end

  def handle("zremrangebyrank", [key, a, b], ctx), do: remrange(ctx, key, :rank, a, b)
  def handle("zremrangebyscore", [key, a, b], ctx), do: remrange(ctx, key, :score, a, b)
  def handle("zremrangebylex", [key, a, b], ctx), do: remrange(ctx, key, :lex, a, b)

  def handle(name, [key | rest], ctx) when name in ["zpopmin", "zpopmax"] do
    count =
      case rest do
        [] ->
          {:ok, nil}

        [c] ->
          case Args.int(c) do
            {:ok, n} when n >= 0 -> {:ok, n}
            _ -> {:error, Error.new(:out_of_range, "ERR value is out of range, must be positive")}
          end

        _ ->
          {:error, Error.new(:syntax)}
      end

    with {:ok, count} <- count do
      result =
        if name == "zpopmin",
          do: zpopmin(ctx.instance, key, count),
          else: zpopmax(ctx.instance, key, count)

      case result do
        {:ok, items} when count == nil -> Enum.flat_map(items, fn {m, s} -> [m, score(s)] end)
        {:ok, items} -> pairs(items, true, ctx)
        other -> reply(other)
      end
    end
  end

  def handle("zrandmember", [key], ctx), do: reply(zrandmember(ctx.instance, key))

  def handle("zrandmember", [key, count | rest], ctx) do
    with {:ok, c} <- Collection.count_arg(count) do
      ws =
        case Enum.map(rest, &FerricStore.Commands.upcase/1) do
          [] -> {:ok, false}
          ["WITHSCORES"] -> {:ok, true}
          _ -> {:error, Error.new(:syntax)}
        end

      with {:ok, ws} <- ws do
        cond do
          # Redis 7.0 bounds the count both ways when values come with it.
          ws and abs(c) > div(Args.max_int(), 2) ->
            Error.new(:out_of_range, "ERR value is out of range")

          c < 0 ->
            repeated_random(ctx.instance, key, -c, ws, ctx)

          true ->
            with {:ok, items} <- zrandmember(ctx.instance, key, c) do
              if ws, do: pairs(items, true, ctx), else: Enum.map(items, &elem(&1, 0))
            end
        end
      end
    end
  end

  def handle("zrangestore", [dst, src, a, b | opts], ctx) do
    with {:ok, spec, _} <- range_opts(opts, %{by: nil, rev: nil}, false, false),
         {a, b} = if(spec[:rev] && spec.by != :rank, do: {b, a}, else: {a, b}),
         {:ok, spec} <- bounds(spec, a, b),
         do: reply(zrangestore(ctx.instance, dst, src, spec))
  end

  def handle(name, [numkeys | rest], ctx) when name in ["zunion", "zinter", "zdiff"] do
    op = String.to_atom(String.trim_leading(name, "z"))

    with {:ok, keys, opts} <- numkeys(name, numkeys, rest),
         {:ok, weights, agg, ws} <- combine_args(ctx, keys, opts, op, true) do
      range_reply(zcombine(ctx.instance, op, keys, weights, agg), ws, ctx)
    end
  end

  def handle(name, [dst, numkeys | rest], ctx)
      when name in ["zunionstore", "zinterstore", "zdiffstore"] do
    op = name |> String.trim_leading("z") |> String.trim_trailing("store") |> String.to_atom()

    with {:ok, keys, opts} <- numkeys(name, numkeys, rest),
         {:ok, weights, agg, _} <- combine_args(ctx, keys, opts, op, false) do
      reply(zstore(ctx.instance, op, dst, keys, weights, agg))
    end
  end

  # Redis reads numkeys, looks up every key (WRONGTYPE), then reads LIMIT (the last
  # one counts) and nothing else.
  def handle("zintercard", [numkeys | rest], ctx) do
    with {:ok, keys, opts} <- numkeys("zintercard", numkeys, rest) do
      case Collection.limit_opt(opts, 0) do
        {:ok, limit} ->
          reply(zintercard(ctx.instance, keys, limit))

        error ->
          if wrong_input?(ctx.instance, keys), do: Error.new(:wrongtype), else: error
      end
    end
  end

  # [key, [[member, score], ...]] in both protocols (scores are doubles in RESP3).
  def handle("zmpop", args, ctx) do
    with {:ok, keys, dir, count} <-
           Collection.mpop_args(args, %{"MIN" => :asc, "MAX" => :desc}) do
      case zmpop(ctx.instance, keys, dir, count) do
        {:ok, nil} -> :null_array
        {:ok, {key, items}} -> [key, Enum.map(items, fn {m, s} -> [m, score(s)] end)]
        other -> reply(other)
      end
    end
  end

  # Scores print as ZSCORE's RESP2 string (%.17g, "inf"): Redis copies them from the
  # listpack, or formats the skiplist's double the same way.
  def handle("zscan", [key, cursor | opts], ctx) do
    with {:ok, cursor, opts} <- Collection.scan_args(ctx.instance, key, :zset, cursor, opts),
         {:ok, {next, items}} <- zscan(ctx.instance, key, cursor, opts) do
      [
        Integer.to_string(next),
        Enum.flat_map(items, fn {m, s} -> [m, FerricStore.Protocol.RESP.format_double(s)] end)
      ]
    else
      :missing -> ["0", []]
      error -> error
    end
  end

  defp remrange(ctx, key, by, a, b) do
    with {:ok, spec} <- bounds(%{by: by}, a, b), do: reply(zremrange(ctx.instance, key, spec))
  end

  defp numkeys(name, n, rest) do
    case Args.int(n) do
      {:ok, n} when n > 0 and n <= length(rest) ->
        {keys, opts} = Enum.split(rest, n)
        {:ok, keys, opts}

      {:ok, n} when n > 0 ->
        {:error, Error.new(:syntax)}

      {:ok, _} ->
        {:error, Error.new(:syntax, "ERR at least 1 input key is needed for '#{name}' command")}

      :error ->
        {:error, Error.new(:not_integer)}
    end
  end

  # Redis 7.0 looks up every input key, and answers WRONGTYPE for one that is neither a
  # set nor a sorted set, before it reads WEIGHTS/AGGREGATE/WITHSCORES. The keys are
  # read again by the command itself, so they are looked up here only to choose between
  # WRONGTYPE and an option error.
  defp combine_args(ctx, keys, opts, op, ws_ok) do
    case combine_opts(opts, length(keys), op, nil, :sum, false, ws_ok) do
      {:ok, _, _, _} = ok ->
        ok

      error ->
        if wrong_input?(ctx.instance, keys), do: {:error, Error.new(:wrongtype)}, else: error
    end
  end

  defp wrong_input?(instance, keys) do
    Enum.any?(keys, fn key ->
      case Store.lookup(instance, key) do
        nil -> false
        {_, type, _, _, _, _, _} -> type not in [:zset, :set]
      end
    end)
  end

  defp combine_opts([], _n, _op, w, agg, ws, _ws_ok), do: {:ok, w, agg, ws}

  defp combine_opts([opt | rest], n, op, w, agg, ws, ws_ok) do
    case FerricStore.Commands.upcase(opt) do
      "WEIGHTS" when op != :diff and length(rest) >= n ->
        {ws_args, rest} = Enum.split(rest, n)

        parsed =
          Enum.reduce_while(ws_args, {:ok, []}, fn a, {:ok, acc} ->
            case parse_score(a) do
              {:ok, f} -> {:cont, {:ok, [f | acc]}}
              _ -> {:halt, {:error, Error.new(:not_float, "ERR weight value is not a float")}}
            end
          end)

        with {:ok, ws_list} <- parsed,
             do: combine_opts(rest, n, op, Enum.reverse(ws_list), agg, ws, ws_ok)

      "AGGREGATE" when op != :diff and rest != [] ->
        case FerricStore.Commands.upcase(hd(rest)) do
          a when a in ["SUM", "MIN", "MAX"] ->
            combine_opts(
              tl(rest),
              n,
              op,
              w,
              String.to_atom(FerricStore.Commands.downcase(a)),
              ws,
              ws_ok
            )

          _ ->
            {:error, Error.new(:syntax)}
        end

      "WITHSCORES" when ws_ok ->
        combine_opts(rest, n, op, w, agg, true, ws_ok)

      _ ->
        {:error, Error.new(:syntax)}
    end
  end

  # The options of the ZRANGE family, as Redis' zrangeGenericCommand reads them: `rev`
  # and `by` are nil (ZRANGE, ZRANGESTORE) until REV or BYSCORE/BYLEX sets them, and once
  # set (or fixed by the command's name, as ZRANGEBYLEX's) the option is a syntax error,
  # so it may be given once. WITHSCORES is an option only where `ws_ok` (not ZRANGESTORE).
  defp range_opts([], spec, ws, _ws_ok) do
    check_range(%{spec | by: spec.by || :rank, rev: spec.rev || false}, ws)
  end

  defp range_opts([opt | rest], spec, ws, ws_ok) do
    case {FerricStore.Commands.upcase(opt), rest} do
      {"WITHSCORES", _} when ws_ok ->
        range_opts(rest, spec, true, ws_ok)

      {"LIMIT", [o, c | rest]} ->
        with {:ok, o} <- Args.int!(o),
             {:ok, c} <- Args.int!(c),
             do: range_opts(rest, Map.put(spec, :limit, {o, c}), ws, ws_ok)

      {"REV", _} when spec.rev == nil ->
        range_opts(rest, %{spec | rev: true}, ws, ws_ok)

      {"BYSCORE", _} when spec.by == nil ->
        range_opts(rest, %{spec | by: :score}, ws, ws_ok)

      {"BYLEX", _} when spec.by == nil ->
        range_opts(rest, %{spec | by: :lex}, ws, ws_ok)

      _ ->
        {:error, Error.new(:syntax)}
    end
  end

  defp not_zadd_option(arg) do
    if FerricStore.Commands.upcase(arg) in ~w(NX XX GT LT CH INCR),
      do: {:error, Error.new(:syntax)},
      else: :ok
  end

  # As Redis, a LIMIT with count -1 (no limit) is ignored where LIMIT has no meaning.
  defp check_range(spec, ws) do
    cond do
      match?({_, c} when c != -1, spec[:limit]) and spec.by == :rank ->
        {:error,
         Error.new(
           :syntax,
           "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
         )}

      ws && spec.by == :lex ->
        {:error,
         Error.new(
           :syntax,
           "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
         )}

      true ->
        spec =
          case spec[:limit] do
            _ when spec.by == :rank -> Map.delete(spec, :limit)
            {o, _} when o < 0 -> Map.put(spec, :limit, {0, 0})
            {o, c} when c < 0 -> Map.put(spec, :limit, {o, -1})
            _ -> spec
          end

        {:ok, spec, ws}
    end
  end

  # ZRANGE ... REV takes max first for BYSCORE/BYLEX.
  defp bounds(%{by: :rank} = spec, a, b) do
    with {:ok, a} <- Args.int!(a), {:ok, b} <- Args.int!(b) do
      if spec[:rev] do
        {:ok, %{spec | by: :rank} |> Map.merge(%{min: a, max: b})}
      else
        {:ok, Map.merge(spec, %{min: a, max: b})}
      end
    end
  end

  defp bounds(%{by: :score} = spec, a, b) do
    with {:ok, min} <- score_bound(a),
         {:ok, max} <- score_bound(b),
         do: {:ok, Map.merge(spec, %{min: min, max: max})}
  end

  defp bounds(%{by: :lex} = spec, a, b) do
    with {:ok, min} <- lex_bound(a),
         {:ok, max} <- lex_bound(b),
         do: {:ok, Map.merge(spec, %{min: min, max: max})}
  end

  defp range_reply({:ok, items}, ws, ctx),
    do: if(ws, do: pairs(items, true, ctx), else: Enum.map(items, &elem(&1, 0)))

  defp range_reply(other, _ws, _ctx), do: reply(other)

  # ZRANDMEMBER with a negative count: members may repeat; a long reply is streamed.
  defp repeated_random(instance, key, picks, ws, ctx),
    do: Collection.repeated_random(instance, key, :zset, picks, ws, ctx.protocol, &score/2)

  defp pairs(items, _ws, %{protocol: 3}), do: Enum.map(items, fn {m, s} -> [m, score(s)] end)
  defp pairs(items, _ws, _ctx), do: Enum.flat_map(items, fn {m, s} -> [m, score(s)] end)

  defp score(_tables, s), do: score(s)

  defp score(nil), do: nil
  defp score(:inf), do: {:double, :inf}
  defp score(:neg_inf), do: {:double, :neg_inf}
  defp score(f), do: f

  defp zadd_flags([opt | rest] = args, acc) do
    case FerricStore.Commands.upcase(opt) do
      f when f in ["NX", "XX", "GT", "LT", "CH", "INCR"] ->
        zadd_flags(rest, Map.put(acc, String.to_atom(FerricStore.Commands.downcase(f)), true))

      _ ->
        {acc, args}
    end
  end

  defp zadd_flags([], acc), do: {acc, []}

  # Pairs of an even-length list (checked by the caller).
  defp score_pairs([], acc), do: {:ok, Enum.reverse(acc)}

  defp score_pairs([s, m | rest], acc) do
    with {:ok, s} <- parse_score(s), do: score_pairs(rest, [{s, m} | acc])
  end

  @doc "A score, increment or weight, as Redis' getDoubleFromObject (`Args.double/1`)."
  def parse_score(bin) do
    case Args.double(bin) do
      {:ok, f} -> {:ok, f}
      :error -> {:error, Error.new(:not_float)}
    end
  end

  @doc false
  def score_bound("(" <> s), do: bound(s, false)
  def score_bound(s), do: bound(s, true)

  # Redis' zslParseRange calls strtod alone and rejects only trailing bytes and NaN: an
  # empty bound is 0, leading blanks and hex are read, an overflow is ±inf, an underflow
  # 0. The C string ends at its first NUL, so the bytes after one are never seen.
  # (Args.strtod/1 reads the common bounds, ±inf and short integers, without its exact
  # parser.)
  defp bound(s, incl) do
    [s | _] = :binary.split(s, <<0>>)

    case Args.strtod(s) do
      {f, "", _range} when f != :nan -> {:ok, {incl, f}}
      _ -> {:error, Error.new(:not_float, "ERR min or max is not a float")}
    end
  end

  @doc false
  def lex_bound("-"), do: {:ok, :neg}
  def lex_bound("+"), do: {:ok, :pos}
  def lex_bound("[" <> s), do: {:ok, {true, s}}
  def lex_bound("(" <> s), do: {:ok, {false, s}}

  def lex_bound(_),
    do: {:error, Error.new(:syntax, "ERR min or max not valid string range item")}
end
