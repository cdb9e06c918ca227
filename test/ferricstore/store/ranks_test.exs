defmodule FerricStore.Store.RanksTest do
  # The sorted sets' rank index (Store.Ranks) through the store: ZRANK, ranges and counts
  # equal a model (a sorted list) on big sets, through the embedded API and RESP, and the
  # index follows every way a sorted set changes: member writes, DEL, EXPIRE, FLUSHDB,
  # RENAME, COPY, overwrites, restarts (rebuilt at start-up) and compaction.
  use FerricStore.StoreCase, async: true

  alias FerricStore.Commands
  alias FerricStore.Commands.{Context, ZSets}
  alias FerricStore.Store
  alias FerricStore.Store.{Batch, Members, Ranks, Shard}

  @moduletag :tmp_dir

  defp cmd(name, args) do
    {reply, _} = Commands.dispatch(args, Context.new(instance: name, authenticated?: true))
    reply
  end

  defp order({m, :neg_inf}), do: {0, 0, m}
  defp order({m, :inf}), do: {2, 0, m}
  defp order({m, f}), do: {1, f, m}

  defp model(pairs), do: Enum.sort_by(pairs, &order/1)

  defp slice(list, a, b) do
    n = length(list)
    s = if a < 0, do: max(n + a, 0), else: a
    e = if b < 0, do: n + b, else: min(b, n - 1)
    if s > e or s >= n, do: [], else: Enum.slice(list, s..e)
  end

  defp in_score?({_, s}, {incl_min, min}, {incl_max, max}) do
    {o, lo, hi} = {order({"", s}), order({"", min}), order({"", max})}
    above = if incl_min, do: o >= lo, else: o > lo
    below = if incl_max, do: o <= hi, else: o < hi
    above and below
  end

  # Checks ranks of `samples` members, a few ranges and counts of `key` against `model`.
  defp check(o, key, model, samples \\ 200) do
    n = length(model)
    assert {:ok, ^n} = FerricStore.zcard(key, o)
    tuple = List.to_tuple(model)

    picks =
      if n == 0,
        do: [],
        else: [0, n - 1, div(n, 2) | for(_ <- 1..samples, do: :rand.uniform(n) - 1)]

    for i <- picks do
      {m, _} = elem(tuple, i)
      assert {:ok, ^i} = FerricStore.zrank(key, m, o)
      rev = n - 1 - i
      assert {:ok, ^rev} = FerricStore.zrevrank(key, m, o)
    end

    assert {:ok, nil} = FerricStore.zrank(key, "not a member", o)

    for {a, b} <- [{0, -1}, {0, 9}, {-10, -1}, {div(n, 2), div(n, 2) + 20}, {-5, 3}, {5, 2}] do
      assert {:ok, slice(model, a, b)} ==
               FerricStore.zrange(key, a, b, [with_scores: true] ++ o),
             "#{key} #{a} #{b}"

      assert {:ok, slice(Enum.reverse(model), a, b)} ==
               FerricStore.zrange(key, a, b, [with_scores: true, rev: true] ++ o),
             "#{key} #{a} #{b} rev"
    end

    for {min, max} <- [{{true, :neg_inf}, {true, :inf}}, {{false, 0.0}, {true, 3.5}}] do
      want = Enum.filter(model, &in_score?(&1, min, max))
      bound = fn {incl, s} -> if incl, do: s, else: {:exclusive, s} end
      count = length(want)
      assert {:ok, ^count} = FerricStore.zcount(key, bound.(min), bound.(max), o)

      assert {:ok, Enum.slice(want, 2, 5)} ==
               FerricStore.zrange(
                 key,
                 bound.(min),
                 bound.(max),
                 [by: :score, limit: {2, 5}, with_scores: true] ++ o
               )

      assert {:ok, want |> Enum.reverse() |> Enum.slice(1, 3)} ==
               FerricStore.zrange(
                 key,
                 bound.(min),
                 bound.(max),
                 [by: :score, rev: true, limit: {1, 3}, with_scores: true] ++ o
               )
    end
  end

  test "a 200k-member set: ranks, ranges and counts equal the model, embedded and RESP",
       %{name: name, opts: o} do
    :rand.seed(:exsss, {1, 2, 3})
    scores = [:inf, :neg_inf, -0.0 | Enum.map(1..1000, &((&1 - 500) / 8))]
    pairs = for i <- 1..200_000, do: {"m#{i}", Enum.random(scores)}

    for chunk <- Enum.chunk_every(pairs, 20_000) do
      {:ok, _} = FerricStore.zadd("big", Enum.map(chunk, fn {m, s} -> {s, m} end), o)
    end

    # -0.0 sorts and reads as 0.0 in ranges.
    model = pairs |> Enum.map(fn {m, s} -> {m, if(s == 0, do: 0.0, else: s)} end) |> model()
    check(o, "big", model)

    # Top, bottom and middle through RESP.
    {top, _} = List.last(model)
    {bottom, _} = hd(model)
    {middle, _} = Enum.at(model, 100_000)
    assert cmd(name, ["ZRANK", "big", bottom]) == 0
    assert cmd(name, ["ZRANK", "big", top]) == 199_999
    assert cmd(name, ["ZRANK", "big", middle]) == 100_000
    assert cmd(name, ["ZREVRANK", "big", top]) == 0
    assert cmd(name, ["ZREVRANK", "big", middle]) == 99_999

    assert cmd(name, ["ZRANGE", "big", "100000", "100004"]) ==
             model |> Enum.slice(100_000, 5) |> Enum.map(&elem(&1, 0))

    assert cmd(name, ["ZREVRANGE", "big", "-3", "-1"]) ==
             model |> Enum.take(3) |> Enum.map(&elem(&1, 0)) |> Enum.reverse()

    assert length(cmd(name, ["ZRANGE", "big", "0", "-1"])) == 200_000
    assert cmd(name, ["ZCOUNT", "big", "-inf", "+inf"]) == 200_000

    # Writes move members: ranks follow.
    {:ok, _} = FerricStore.zadd("big", [{:inf, middle}, {:neg_inf, "new"}], o)
    {:ok, 1} = FerricStore.zrem("big", top, o)
    {:ok, 3} = FerricStore.zremrangebyrank("big", 1000, 1002, o)
    model = model |> List.keydelete(top, 0) |> List.keystore(middle, 0, {middle, :inf})
    model = model([{"new", :neg_inf} | model])
    model = Enum.take(model, 1000) ++ Enum.drop(model, 1003)
    check(o, "big", model, 50)
    rev = length(model) - 1 - Enum.find_index(model, &(elem(&1, 0) == middle))
    assert cmd(name, ["ZREVRANK", "big", middle]) == rev

    # Dropping it (freed off the scheduler) leaves nothing behind.
    assert cmd(name, ["DEL", "big"]) == 1
    check(o, "big", [])
  end

  @tag no_instance: true
  test "the NIF: updates, ranks, ranges of every kind, counts, drops, bad arguments" do
    r = Ranks.new()
    ops = for i <- 1..2500, do: {:add, "k", rem(i, 10) * 1.0, "m#{i}"}
    assert :ok = Ranks.update(r, ops ++ [{:add, "k", :inf, "top"}, {:add, "k", :neg_inf, "low"}])
    assert :ok = Ranks.update(r, [{:add, "other", -0.0, "z"}, {:del, "k", 0.0, "m10"}])

    model =
      model([
        {"top", :inf},
        {"low", :neg_inf} | for(i <- 1..2500, i != 10, do: {"m#{i}", rem(i, 10) * 1.0})
      ])

    n = length(model)

    assert Ranks.rank(r, "k", :neg_inf, "low", false) == 0
    assert Ranks.rank(r, "k", :inf, "top", true) == 0
    assert Ranks.rank(r, "k", 0.0, "m10", false) == nil
    assert Ranks.rank(r, "missing", 0.0, "m10", false) == nil
    assert Ranks.rank(r, "other", 0.0, "z", false) == 0

    # More than one step's worth of items: continued after the last item.
    assert Ranks.range(r, "k", %{by: :rank, min: 0, max: -1}) == model
    assert Ranks.range(r, "k", %{by: :rank, min: 0, max: -1, rev: true}) == Enum.reverse(model)
    assert Ranks.range(r, "k", %{by: :rank, min: -3, max: 10 ** 30}) == Enum.take(model, -3)
    assert Ranks.range(r, "k", %{by: :rank, min: 5, max: 2}) == []
    assert Ranks.range(r, "missing", %{by: :rank, min: 0, max: -1}) == []

    threes = Enum.filter(model, fn {_, s} -> s == 3.0 end)
    spec = %{by: :score, min: {true, 3.0}, max: {false, 4.0}}
    assert Ranks.range(r, "k", spec) == threes
    assert Ranks.range(r, "k", Map.put(spec, :limit, {10, 1200})) == Enum.drop(threes, 10)

    assert Ranks.range(r, "k", Map.merge(spec, %{rev: true, limit: {1, 2}})) ==
             threes |> Enum.reverse() |> Enum.slice(1, 2)

    assert Ranks.count(r, "k", :score, {false, :neg_inf}, {true, :inf}) == n - 1
    assert Ranks.count(r, "k", :score, {true, 5.0}, {true, 1.0}) == 0
    assert Ranks.count(r, "missing", :score, {true, 1.0}, {true, 5.0}) == 0
    # Lex over different scores: not answered here.
    assert Ranks.count(r, "k", :lex, :neg, :pos) == nil
    assert Ranks.range(r, "k", %{by: :lex, min: :neg, max: :pos}) == nil
    assert Ranks.count(r, "other", :lex, {true, "z"}, :pos) == 1

    assert Ranks.range(r, "other", %{by: :lex, min: {false, "a"}, max: {true, "z"}}) == [
             {"z", 0.0}
           ]

    # Pages (the walks' source): from the edge, from a pair on (inclusive, present or
    # not), after a pair; and members before a pair (ZRANK's fallback).
    {first, true} = Ranks.page(r, "k", :edge, false, 300)
    assert first == Enum.take(model, 300)
    {last, true} = Ranks.page(r, "k", :edge, true, 2)
    assert last == model |> Enum.reverse() |> Enum.take(2)
    {"m100", 0.0} = Enum.at(model, 1)
    assert {Enum.slice(model, 1, 3), true} == Ranks.page(r, "k", {:from, 0.0, "m100"}, false, 3)
    assert {Enum.slice(model, 2, 3), true} == Ranks.page(r, "k", {:after, 0.0, "m100"}, false, 3)
    assert {[hd(model)], false} == Ranks.page(r, "k", {:after, 0.0, "m100"}, true, 3)
    assert {Enum.take(model, -1), false} == Ranks.page(r, "k", {:from, :inf, "top"}, false, 5)
    assert Ranks.count_below(r, "k", 0.0, "m100") == 1

    # "low" (-inf) and the 249 members scored 0.0 (m10 was deleted).
    assert Ranks.count_below(r, "k", 0.5, "") == 250

    assert Ranks.count_below(r, "k", :inf, "top") == n - 1
    assert Ranks.count_below(r, "missing", 1.0, "x") == 0

    assert_raise ArgumentError, fn -> Ranks.update(r, [{:add, "k", :nan, "x"}]) end
    assert_raise ArgumentError, fn -> Ranks.rank(r, "k", "1", "x", false) end
    assert_raise ArgumentError, fn -> Ranks.count(r, "k", :other, 1, 2) end

    assert :ok = Ranks.drop_key(r, "k")
    assert Ranks.rank(r, "k", :inf, "top", false) == nil
    assert Ranks.rank(r, "other", 0.0, "z", false) == 0
    assert :ok = Ranks.clear(r)
    assert Ranks.rank(r, "other", 0.0, "z", false) == nil
  end

  test "ranges of long members continue past a step's byte bound", %{opts: o} do
    pairs = for i <- 1..1500, do: {"#{i}" <> :binary.copy("x", 2048), i * 1.0}
    {:ok, 1500} = FerricStore.zadd("long", Enum.map(pairs, fn {m, s} -> {s, m} end), o)
    assert {:ok, pairs} == FerricStore.zrange("long", 0, -1, [with_scores: true] ++ o)

    assert {:ok, pairs |> Enum.reverse() |> Enum.slice(3, 1200)} ==
             FerricStore.zrange("long", 3, 1202, [rev: true, with_scores: true] ++ o)
  end

  test "the index follows DEL, EXPIRE, FLUSHDB, RENAME, COPY and overwrites", %{opts: o} do
    pairs = for i <- 1..2000, do: {"m#{i}", rem(i * 37, 101) * 1.0}

    add = fn key, ps ->
      {:ok, _} = FerricStore.zadd(key, Enum.map(ps, fn {m, s} -> {s, m} end), o)
    end

    add.("z", pairs)
    check(o, "z", model(pairs))

    # Deleted, then re-created smaller: no rank of the old members is left.
    {:ok, 1} = FerricStore.del("z", o)
    check(o, "z", [])
    add.("z", Enum.take(pairs, 10))
    check(o, "z", model(Enum.take(pairs, 10)))
    assert {:ok, nil} = FerricStore.zrank("z", "m11", o)

    # RENAME and COPY: the new key has the ranks, the renamed source none.
    add.("z", pairs)
    :ok = FerricStore.rename("z", "r", o)
    check(o, "z", [])
    check(o, "r", model(pairs))
    {:ok, true} = FerricStore.copy("r", "c", o)
    {:ok, _} = FerricStore.zrem("c", "m5", o)
    check(o, "r", model(pairs), 20)
    check(o, "c", model(List.keydelete(pairs, "m5", 0)), 20)

    # A string over a sorted set, and back.
    :ok = FerricStore.set("c", "plain", o)
    assert {:error, %FerricStore.Error{reason: :wrongtype}} = FerricStore.zrank("c", "m1", o)
    {:ok, 1} = FerricStore.del("c", o)
    add.("c", [{"only", 1.0}])
    check(o, "c", [{"only", 1.0}])

    # Expired: gone, and a new set under the key starts from nothing.
    {:ok, true} = FerricStore.pexpire("r", 20, o)
    Process.sleep(50)
    assert {:ok, nil} = FerricStore.zrank("r", "m1", o)
    add.("r", [{"x", 2.0}])
    check(o, "r", [{"x", 2.0}])

    # FLUSHDB empties the index.
    add.("z", pairs)
    :ok = FerricStore.flushdb(o)
    check(o, "z", [])
    check(o, "r", [])
    add.("z", Enum.take(pairs, 3))
    check(o, "z", model(Enum.take(pairs, 3)))
  end

  test "INFO's used_memory counts members and the rank index",
       %{name: name, opts: o} do
    ranks = Ranks.of(Store.tables(name, 0))
    before = FerricStore.info(o).used_memory
    assert Ranks.memory(ranks) == 0

    pairs = for i <- 1..5_000, do: {i * 1.0, "member:" <> String.duplicate("x", 40) <> "#{i}"}
    {:ok, 5_000} = FerricStore.zadd("z", pairs, o)

    # 5000 members of ~50 bytes, each in the members table, the score index and the
    # rank index.
    assert Ranks.memory(ranks) > 5_000 * 50
    assert FerricStore.info(o).used_memory - before > 3 * 5_000 * 50

    {:ok, 1} = FerricStore.del("z", o)
    assert Ranks.memory(ranks) == 0
    assert FerricStore.info(o).used_memory - before < 5_000
  end

  test "ranks are rebuilt at start-up and survive compaction", %{name: name, opts: o} = ctx do
    pairs = for i <- 1..5000, do: {"m#{i}", rem(i * 13, 257) / 4}
    {:ok, _} = FerricStore.zadd("z", Enum.map(pairs, fn {m, s} -> {s, m} end), o)
    {:ok, _} = FerricStore.zadd("gone", [{1, "a"}, {2, "b"}], o)
    {:ok, 1} = FerricStore.del("gone", o)
    # Some members moved, some removed, before the restart.
    {:ok, _} = FerricStore.zadd("z", [{:inf, "m1"}, {:neg_inf, "m2"}], o)
    {:ok, 2} = FerricStore.zrem("z", ["m3", "m4"], o)
    {:ok, 2} = FerricStore.zremrangebyrank("z", 100, 101, o)

    {:ok, expected} = FerricStore.zrange("z", 0, -1, [with_scores: true] ++ o)
    assert length(expected) == 4996

    restart(ctx)
    check(o, "z", expected)
    check(o, "gone", [])

    assert :ok = Shard.compact(name, 0)
    check(o, "z", expected)
    restart(ctx)
    check(o, "z", expected)

    # Writes after the restart extend the rebuilt index.
    {:ok, 1} = FerricStore.zadd("z", [{0.5, "late"}], o)
    check(o, "z", model([{"late", 0.5} | expected]))
  end

  test "lex ranges and counts: O(log N) over one score, the walk over several", %{opts: o} do
    members = for i <- 1..3000, do: "k#{i}"
    {:ok, _} = FerricStore.zadd("lex", Enum.map(members, &{0, &1}), o)
    sorted = Enum.sort(members)

    assert {:ok, Enum.filter(sorted, &(&1 >= "k2" and &1 < "k3"))} ==
             FerricStore.zrange("lex", "[k2", "(k3", [by: :lex] ++ o)

    assert {:ok, length(Enum.filter(sorted, &(&1 > "k15" and &1 <= "k2")))} ==
             FerricStore.zlexcount("lex", "(k15", "[k2", o)

    assert {:ok, sorted |> Enum.reverse() |> Enum.slice(5, 4)} ==
             FerricStore.zrange("lex", "-", "+", [by: :lex, rev: true, limit: {5, 4}] ++ o)

    assert {:ok, 0} = FerricStore.zlexcount("lex", "+", "-", o)
    assert {:ok, 3000} = FerricStore.zlexcount("lex", "-", "+", o)

    # Different scores: Redis leaves lex ranges undefined; the count still agrees with
    # the range it counts.
    {:ok, _} = FerricStore.zadd("mixed", [{1, "b"}, {2, "a"}, {3, "c"}, {0, "d"}], o)
    {:ok, range} = FerricStore.zrange("mixed", "[b", "+", [by: :lex] ++ o)
    assert {:ok, length(range)} == FerricStore.zlexcount("mixed", "[b", "+", o)
  end

  test "inside one Raft entry, ranges see the entry's own member writes", %{name: name} do
    {:ok, 3} = FerricStore.zadd("z", [{1, "a"}, {2, "b"}, {3, "c"}], name: name)
    b = Batch.new(Store.tables(name, 0), 1_000_000) |> Batch.at(Store.now())

    # The index has a, b, c; the batch removed a first: rank 0 is b.
    {{:ok, 1}, b} = ZSets.execute({:zrem, "z", ["a"]}, b)
    {{:ok, 1}, b} = ZSets.execute({:zremrange, "z", %{by: :rank, min: 0, max: 0}}, b)
    assert Batch.member(b, "z", "b") == nil
    assert {3.0, _} = Batch.member(b, "z", "c")

    # Added in the batch, then stored by rank.
    {{:ok, 1}, b} = ZSets.execute({:zadd, "z", [{0.5, "new"}], %{}}, b)
    {{:ok, 2}, b} = ZSets.execute({:rangestore, "dst", "z", %{by: :rank, min: 0, max: -1}}, b)
    assert {0.5, _} = Batch.member(b, "dst", "new")
    assert {3.0, _} = Batch.member(b, "dst", "c")

    # A key the batch has not touched reads the index (the published members).
    {:ok, 2} = FerricStore.zadd("other", [{1, "x"}, {2, "y"}], name: name)
    b2 = Batch.new(Store.tables(name, 0), 2_000_000) |> Batch.at(Store.now())
    {{:ok, 1}, _} = ZSets.execute({:zremrange, "other", %{by: :rank, min: -1, max: -1}}, b2)

    # Nothing of this was committed.
    assert {:ok, ["a", "b", "c"]} = FerricStore.zrange("z", 0, -1, name: name)
  end

  test "walks in score order page through the index, merged with the entry's writes",
       %{name: name, opts: o} do
    # 1000 members over a few hundred scores (ties ordered by member): several pages.
    pairs = for i <- 1..1000, do: {rem(i * 37, 300) * 1.0, "m#{i}"}
    {:ok, 1000} = FerricStore.zadd("w", pairs, o)
    {:ok, _} = FerricStore.zadd("w", [{:inf, "top"}, {:neg_inf, "bottom"}], o)

    b = Batch.new(Store.tables(name, 0), 3_000_000) |> Batch.at(Store.now())
    gone = for i <- 1..1000, rem(i, 7) == 0, do: "m#{i}"
    {{:ok, _}, b} = ZSets.execute({:zrem, "w", gone}, b)
    added = for i <- 1..200, do: {i * 1.5, "n#{i}"}
    {{:ok, 200}, b} = ZSets.execute({:zadd, "w", added, %{}}, b)
    moved = [{-5.0, "m1"}, {299.5, "m2"}]
    {{:ok, 0}, b} = ZSets.execute({:zadd, "w", moved, %{}}, b)

    model =
      (pairs ++ [{:inf, "top"}, {:neg_inf, "bottom"}])
      |> Enum.reject(fn {_, m} -> m in gone or m in ["m1", "m2"] end)
      |> Enum.concat(added ++ moved)
      |> Enum.map(fn {s, m} -> {Members.score_key(s), m} end)
      |> Enum.sort()
      |> Enum.map(&elem(&1, 1))

    all = %{by: :score, min: {true, :neg_inf}, max: {true, :inf}}
    {{:ok, n}, b} = ZSets.execute({:rangestore, "asc", "w", all}, b)
    assert n == length(model)
    {{:ok, ^n}, b} = ZSets.execute({:rangestore, "desc", "w", Map.put(all, :rev, true)}, b)

    # Lex bounds over different scores take the walk too (the index answers nil).
    lex = %{by: :lex, min: :neg, max: :pos, limit: {300, 300}}
    {{:ok, 300}, b} = ZSets.execute({:rangestore, "lex", "w", lex}, b)

    stored = fn key ->
      b.members[key] |> Enum.map(fn {m, {:m, s, _, _}} -> {Members.score_key(s), m} end)
    end

    assert stored.("asc") |> Enum.sort() |> Enum.map(&elem(&1, 1)) == model
    assert stored.("desc") |> Enum.sort() |> Enum.map(&elem(&1, 1)) == model
    assert stored.("lex") |> Enum.sort() |> Enum.map(&elem(&1, 1)) == Enum.slice(model, 300, 300)

    # Plain reads (no overlay) page through the published index, in both directions.
    published =
      (pairs ++ [{:inf, "top"}, {:neg_inf, "bottom"}])
      |> Enum.map(fn {s, m} -> {Members.score_key(s), m} end)
      |> Enum.sort()
      |> Enum.map(&elem(&1, 1))

    assert {:ok, Enum.slice(published, 250, 300)} ==
             FerricStore.zrange("w", "-", "+", [by: :lex, limit: {250, 300}] ++ o)

    assert {:ok, published |> Enum.reverse() |> Enum.slice(500, 400)} ==
             FerricStore.zrange("w", "-", "+", [by: :lex, rev: true, limit: {500, 400}] ++ o)
  end

  test "ZRANK never misses a member whose score moves meanwhile", %{opts: o} do
    {:ok, _} = FerricStore.zadd("z", Enum.map(1..1000, &{&1 * 1.0, "m#{&1}"}), o)
    {:ok, _} = FerricStore.zadd("z", [{0.0, "moving"}], o)
    done = :atomics.new(1, [])

    # The machine publishes a write to ETS and then to the index: a reader in between
    # finds the old score in one and the new one in the other, and must look again.
    readers =
      for _ <- 1..2 do
        Task.async(fn -> read_ranks(done, o, 0, 0) end)
      end

    for i <- 1..300, do: {:ok, _} = FerricStore.zadd("z", [{rem(i * 7, 1001) + 0.5, "moving"}], o)
    :atomics.put(done, 1, 1)

    for {reads, misses} <- Enum.map(readers, &Task.await(&1, 60_000)) do
      assert reads > 0
      assert misses == 0
    end
  end

  defp read_ranks(done, o, reads, misses) do
    if :atomics.get(done, 1) == 1 do
      {reads, misses}
    else
      case FerricStore.zrank("z", "moving", o) do
        {:ok, r} when is_integer(r) -> read_ranks(done, o, reads + 1, misses)
        {:ok, nil} -> read_ranks(done, o, reads + 1, misses + 1)
      end
    end
  end
end
