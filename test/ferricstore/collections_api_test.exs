defmodule FerricStore.CollectionsApiTest do
  # The embedded API of the collection families and of RENAME/COPY/OBJECT ENCODING/
  # RANDOMKEY: argument shapes, return shapes, `!` twins and `use FerricStore` modules.
  use FerricStore.StoreCase, async: true

  alias FerricStore.Error

  @moduletag :tmp_dir

  @wrongtype %Error{
    reason: :wrongtype,
    message: "WRONGTYPE Operation against a key holding the wrong kind of value"
  }

  describe "hashes" do
    test "set, get, counts, increments", %{opts: o} do
      assert {:ok, 2} = FerricStore.hset("h", %{"a" => "1", "b" => "2"}, o)
      assert {:ok, 1} = FerricStore.hset("h", [{"b", "3"}, {"c", "x"}], o)
      assert {:ok, "3"} = FerricStore.hget("h", "b", o)
      assert {:ok, nil} = FerricStore.hget("h", "zz", o)
      assert {:ok, ["1", nil]} = FerricStore.hmget("h", ["a", "zz"], o)
      assert {:ok, %{"a" => "1", "b" => "3", "c" => "x"}} = FerricStore.hgetall("h", o)
      assert {:ok, %{}} = FerricStore.hgetall("missing", o)
      assert {:ok, ["a", "b", "c"]} = FerricStore.hkeys("h", o)
      assert {:ok, ["1", "3", "x"]} = FerricStore.hvals("h", o)
      assert {:ok, 3} = FerricStore.hlen("h", o)
      assert {:ok, true} = FerricStore.hexists("h", "a", o)
      assert {:ok, false} = FerricStore.hsetnx("h", "a", "9", o)
      assert {:ok, true} = FerricStore.hsetnx("h", "d", "9", o)
      assert {:ok, 1} = FerricStore.hstrlen("h", "c", o)
      assert {:ok, 11} = FerricStore.hincrby("h", "a", 10, o)
      assert {:ok, 11.5} = FerricStore.hincrbyfloat("h", "a", 0.5, o)
      assert {:error, %Error{reason: :not_integer}} = FerricStore.hincrby("h", "c", 1, o)
      assert {:ok, 2} = FerricStore.hdel("h", ["a", "b", "zz"], o)
      assert {:ok, f} = FerricStore.hrandfield("h", o)
      assert f in ["c", "d"]
      assert {:ok, pairs} = FerricStore.hrandfield("h", [count: 5, with_values: true] ++ o)
      assert Enum.sort(pairs) == [{"c", "x"}, {"d", "9"}]
      assert {:ok, {0, [{"c", "x"}, {"d", "9"}]}} = FerricStore.hscan("h", 0, o)
      assert "9" == FerricStore.hget!("h", "d", o)
    end

    test "wrong type is an error value, and raises in the ! twin", %{opts: o} do
      :ok = FerricStore.set("s", "v", o)
      assert {:error, @wrongtype} = FerricStore.hset("s", %{"a" => "b"}, o)
      assert_raise Error, ~r/WRONGTYPE/, fn -> FerricStore.hgetall!("s", o) end
    end
  end

  describe "lists" do
    test "push, pop, ranges, positions, moves", %{opts: o} do
      assert {:ok, 3} = FerricStore.rpush("l", ["a", "b", "c"], o)
      assert {:ok, 4} = FerricStore.lpush("l", "z", o)
      assert {:ok, 0} = FerricStore.lpushx("nope", "x", o)
      assert {:ok, 5} = FerricStore.rpushx("l", "b", o)
      assert {:ok, ["z", "a", "b", "c", "b"]} = FerricStore.lrange("l", 0, -1, o)
      assert {:ok, 5} = FerricStore.llen("l", o)
      assert {:ok, "c"} = FerricStore.lindex("l", -2, o)
      assert :ok = FerricStore.lset("l", 0, "y", o)
      assert {:ok, 6} = FerricStore.linsert("l", :before, "a", "q", o)
      assert {:ok, 2} = FerricStore.lpos("l", "a", o)
      assert {:ok, [3, 5]} = FerricStore.lpos("l", "b", [count: 0] ++ o)
      assert {:ok, 2} = FerricStore.lrem("l", 0, "b", o)
      assert :ok = FerricStore.ltrim("l", 0, 2, o)
      assert {:ok, ["y", "q", "a"]} = FerricStore.lrange("l", 0, -1, o)
      assert {:ok, "a"} = FerricStore.rpoplpush("l", "l2", o)
      assert {:ok, "y"} = FerricStore.lmove("l", "l2", :left, :right, o)
      assert {:ok, ["a", "y"]} = FerricStore.lrange("l2", 0, -1, o)
      assert {:ok, "q"} = FerricStore.lpop("l", o)
      assert {:ok, nil} = FerricStore.lpop("l", o)
      assert {:ok, ["y", "a"]} = FerricStore.rpop("l2", [count: 5] ++ o)
      assert {:ok, 0} = FerricStore.llen("l2", o)
    end
  end

  describe "sets" do
    test "members, algebra, stores, moves", %{opts: o} do
      assert {:ok, 3} = FerricStore.sadd("s1", ["a", "b", "c"], o)
      assert {:ok, 2} = FerricStore.sadd("s2", ["b", "d"], o)
      assert {:ok, true} = FerricStore.sismember("s1", "a", o)
      assert {:ok, [true, false]} = FerricStore.smismember("s1", ["a", "d"], o)
      assert {:ok, 3} = FerricStore.scard("s1", o)
      assert {:ok, ["b"]} = FerricStore.sinter(["s1", "s2"], o)
      assert {:ok, ["a", "b", "c", "d"]} = FerricStore.sunion(["s1", "s2"], o)
      assert {:ok, ["a", "c"]} = FerricStore.sdiff(["s1", "s2"], o)
      assert {:ok, 1} = FerricStore.sintercard(["s1", "s2"], o)
      assert {:ok, 4} = FerricStore.sunionstore("u", ["s1", "s2"], o)
      assert {:ok, 1} = FerricStore.sinterstore("i", ["s1", "s2"], o)
      assert {:ok, 2} = FerricStore.sdiffstore("d", ["s1", "s2"], o)
      assert {:ok, true} = FerricStore.smove("s1", "s2", "a", o)
      assert {:ok, false} = FerricStore.smove("s1", "s2", "a", o)
      assert {:ok, ["a", "b", "d"]} = FerricStore.smembers("s2", o)
      assert {:ok, 1} = FerricStore.srem("s2", ["d", "zz"], o)
      assert {:ok, m} = FerricStore.srandmember("s2", o)
      assert m in ["a", "b"]
      assert {:ok, popped} = FerricStore.spop("s2", [count: 5] ++ o)
      assert Enum.sort(popped) == ["a", "b"]
      assert {:ok, {0, ["b", "c"]}} = FerricStore.sscan("s1", 0, o)
      assert ["b", "c"] == FerricStore.smembers!("s1", o)
    end

    test "a set of integers comes back in numeric order, as from Redis' intset", %{opts: o} do
      FerricStore.sadd!("n1", ~w(10 2 -5 1 3), o)
      FerricStore.sadd!("n2", ~w(100 20 3), o)
      assert {:ok, ~w(-5 1 2 3 10)} = FerricStore.smembers("n1", o)
      assert {:ok, ~w(-5 1 2 3 10 20 100)} = FerricStore.sunion(["n1", "n2"], o)
      assert {:ok, ~w(-5 1 2 10)} = FerricStore.sdiff(["n1", "n2"], o)
      assert {:ok, ~w(-5 1 2 3 10)} = FerricStore.srandmember("n1", [count: 9] ++ o)
      # A count of exactly the size is the whole set too, in the same order (as Redis).
      for _ <- 1..5,
          do: assert({:ok, ~w(-5 1 2 3 10)} = FerricStore.srandmember("n1", [count: 5] ++ o))

      assert {:ok, ~w(3 20 100)} = FerricStore.spop("n2", [count: 3] ++ o)
      # SSCAN returns an intset whole (up to 512 members), whatever COUNT says.
      ints = Enum.map(300..1//-1, &Integer.to_string/1)
      FerricStore.sadd!("n4", ints, o)
      assert {:ok, {0, scanned}} = FerricStore.sscan("n4", 0, [count: 5] ++ o)
      assert scanned == Enum.reverse(ints)
      FerricStore.sadd!("n4", ["x"], o)
      assert {:ok, {next, page}} = FerricStore.sscan("n4", 0, [count: 5] ++ o)
      assert next != 0 and length(page) == 5
      # A member that is not an integer (or a leading zero) leaves the order to the set.
      FerricStore.sadd!("n3", ~w(10 9 007), o)
      assert {:ok, ~w(007 10 9)} = FerricStore.smembers("n3", o)
    end
  end

  describe "sorted sets" do
    test "add with flags, scores, ranks, ranges", %{opts: o} do
      assert {:ok, 3} = FerricStore.zadd("z", [{1, "a"}, {2.5, "b"}, {:inf, "c"}], o)
      assert {:ok, 1} = FerricStore.zadd("z", %{"d" => -1}, o)
      assert {:ok, 0} = FerricStore.zadd("z", [{0, "a"}], [gt: true, ch: true] ++ o)
      assert {:ok, 1} = FerricStore.zadd("z", [{5, "a"}], [gt: true, ch: true] ++ o)
      assert {:ok, nil} = FerricStore.zadd("z", [{1, "zz"}], [xx: true, incr: true] ++ o)
      assert {:ok, 6.0} = FerricStore.zadd("z", [{1, "a"}], [incr: true] ++ o)

      assert {:error, %Error{reason: :syntax}} =
               FerricStore.zadd("z", [{1, "a"}], nx: true, xx: true)

      assert {:ok, 4.0} = FerricStore.zincrby("z", 1.5, "b", o)
      assert {:ok, :inf} = FerricStore.zscore("z", "c", o)
      assert {:ok, [-1.0, nil]} = FerricStore.zmscore("z", ["d", "zz"], o)
      assert {:ok, 4} = FerricStore.zcard("z", o)
      assert {:ok, ["d", "b", "a", "c"]} = FerricStore.zrange("z", 0, -1, o)

      assert {:ok, [{"c", :inf}, {"a", 6.0}]} =
               FerricStore.zrange("z", 0, 1, [rev: true, with_scores: true] ++ o)

      assert {:ok, ["b", "a"]} =
               FerricStore.zrange("z", {:exclusive, -1}, 10, [by: :score, limit: {0, 2}] ++ o)

      assert {:ok, ["a", "b"]} =
               FerricStore.zrange("z", "(-1", "6", [by: :score, rev: true, limit: {0, 2}] ++ o)

      assert {:ok, 2} = FerricStore.zcount("z", 0, 6, o)
      assert {:ok, 4} = FerricStore.zcount("z", :neg_inf, :inf, o)
      assert {:ok, 2} = FerricStore.zrank("z", "a", o)
      assert {:ok, 0} = FerricStore.zrevrank("z", "c", o)
      assert {:ok, 2} = FerricStore.zrangestore("z2", "z", 0, 1, o)
      assert {:ok, 1} = FerricStore.zremrangebyrank("z2", 0, 0, o)
      assert {:ok, 1} = FerricStore.zremrangebyscore("z2", 4, 4, o)
      assert {:ok, [{"d", -1.0}]} = FerricStore.zpopmin("z", o)
      assert {:ok, [{"c", :inf}, {"a", 6.0}]} = FerricStore.zpopmax("z", [count: 2] ++ o)
      assert {:ok, {0, [{"b", 4.0}]}} = FerricStore.zscan("z", 0, o)
      assert {:ok, "b"} = FerricStore.zrandmember("z", o)
    end

    test "ZRANDMEMBER / HRANDFIELD with a count of at least the size: all, in a fixed order",
         %{opts: o} do
      # As Redis: the whole sorted set in ZREVRANGE 0 -1 order (ties by member, reversed).
      {:ok, 6} =
        FerricStore.zadd(
          "zr",
          [{1, "a"}, {1, "b"}, {1, "c"}, {0, "d"}, {:inf, "x"}, {:neg_inf, "y"}],
          o
        )

      whole = [{"x", :inf}, {"c", 1.0}, {"b", 1.0}, {"a", 1.0}, {"d", 0.0}, {"y", :neg_inf}]

      for count <- [6, 100],
          do: assert({:ok, ^whole} = FerricStore.zrandmember("zr", [count: count] ++ o))

      # A hash comes back in HGETALL's (and HSCAN's) order over RESP: by field.
      FerricStore.hset!("hr", [{"b", "1"}, {"a", "2"}, {"c", "3"}], o)
      {:ok, {0, all}} = FerricStore.hscan("hr", 0, o)
      assert all == [{"a", "2"}, {"b", "1"}, {"c", "3"}]
      # Five tries each: a shuffle of three fields would not come out in order every time.
      for _ <- 1..5 do
        assert {:ok, ^all} = FerricStore.hrandfield("hr", [count: 3, with_values: true] ++ o)
        assert {:ok, ~w(a b c)} = FerricStore.hrandfield("hr", [count: 9] ++ o)
      end
    end

    test "ranges by rank (select from the nearer end) agree with the ordered walk", %{opts: o} do
      pairs = for i <- 1..300, do: {rem(i * 7, 13) * 1.0, "m#{i}"}
      {:ok, 302} = FerricStore.zadd("big", [{:neg_inf, "lo"}, {:inf, "hi"} | pairs], o)
      {:ok, all} = FerricStore.zrange("big", :neg_inf, :inf, [by: :score, with_scores: true] ++ o)
      :rand.seed(:exsss, {1, 2, 3})

      for _ <- 1..300 do
        {a, b} = {Enum.random(-320..320), Enum.random(-320..320)}
        rev = Enum.random([true, false])
        list = if rev, do: Enum.reverse(all), else: all
        n = length(list)
        s = if a < 0, do: max(n + a, 0), else: a
        e = if b < 0, do: n + b, else: min(b, n - 1)
        expected = if s > e or s >= n, do: [], else: Enum.slice(list, s..e)

        assert {:ok, ^expected} =
                 FerricStore.zrange("big", a, b, [rev: rev, with_scores: true] ++ o),
               "#{a} #{b} rev=#{rev}"
      end
    end

    test "lex ranges, unions and stores", %{opts: o} do
      {:ok, 3} = FerricStore.zadd("lex", [{0, "a"}, {0, "b"}, {0, "c"}], o)
      assert {:ok, ["b", "c"]} = FerricStore.zrange("lex", "(a", "+", [by: :lex] ++ o)
      assert {:ok, 2} = FerricStore.zlexcount("lex", "[b", "[c", o)
      assert {:ok, 1} = FerricStore.zremrangebylex("lex", "-", "(b", o)
      {:ok, 2} = FerricStore.zadd("w", [{1, "b"}, {2, "x"}], o)
      {:ok, 1} = FerricStore.sadd("plain", "x", o)

      assert {:ok, [{"c", 0.0}, {"b", 2.0}, {"x", 4.0}]} =
               FerricStore.zunion(["lex", "w"], [weights: [1, 2]] ++ o)

      assert {:ok, [{"b", 1.0}]} = FerricStore.zinter(["lex", "w"], [aggregate: :max] ++ o)
      assert {:ok, [{"c", 0.0}]} = FerricStore.zdiff(["lex", "w"], o)
      assert {:ok, [{"x", 3.0}]} = FerricStore.zinter(["w", "plain"], o)
      assert {:ok, 3} = FerricStore.zunionstore("u", ["lex", "w"], o)
      assert {:ok, 1} = FerricStore.zinterstore("i", ["lex", "w"], o)
      assert {:ok, 1} = FerricStore.zdiffstore("d", ["lex", "w"], o)
      assert [{"b", 1.0}] == FerricStore.zrange!("i", 0, -1, [with_scores: true] ++ o)
    end
  end

  describe "rename, copy, encodings, randomkey" do
    test "every type keeps its members and TTL", %{opts: o} do
      {:ok, 2} = FerricStore.hset("h", %{"a" => "1", "b" => "2"}, o)
      {:ok, true} = FerricStore.expire("h", 100, o)
      assert :ok = FerricStore.rename("h", "h2", o)
      assert {:ok, %{"a" => "1", "b" => "2"}} = FerricStore.hgetall("h2", o)
      assert {:ok, ttl} = FerricStore.ttl("h2", o)
      assert ttl in 99..100
      assert {:ok, 0} = FerricStore.exists("h", o)

      {:ok, 3} = FerricStore.rpush("l", ["a", "b", "c"], o)
      assert {:ok, true} = FerricStore.copy("l", "l2", o)
      assert {:ok, false} = FerricStore.copy("l", "l2", o)
      {:ok, "c"} = FerricStore.rpop("l", o)
      assert {:ok, ["a", "b", "c"]} = FerricStore.lrange("l2", 0, -1, o)
      assert {:ok, true} = FerricStore.copy("l", "l2", [replace: true] ++ o)
      assert {:ok, ["a", "b"]} = FerricStore.lrange("l2", 0, -1, o)

      {:ok, 2} = FerricStore.zadd("z", [{1, "a"}, {2, "b"}], o)
      assert {:ok, false} = FerricStore.renamenx("z", "l", o)
      assert {:ok, true} = FerricStore.rename("z", "z2", [nx: true] ++ o)
      assert {:ok, 1} = FerricStore.zrank("z2", "b", o)
      assert {:error, %Error{reason: :no_such_key}} = FerricStore.rename("z", "z3", o)

      :ok = FerricStore.set("str", "v", o)
      assert :ok = FerricStore.rename("str", "l2", o)
      assert {:ok, "string"} = FerricStore.type("l2", o)
      assert {:ok, "v"} = FerricStore.get("l2", o)
    end

    test "a string changed in place is raw until its next write, also across FLUSHDB",
         %{opts: o} do
      for round <- 1..2 do
        # As in Redis, an APPEND to a missing key stores a plain (embstr) string.
        {:ok, _} = FerricStore.append("a", "x", o)
        assert {:ok, "embstr"} = FerricStore.object_encoding("a", o)
        {:ok, _} = FerricStore.append("a", "x", o)
        :ok = FerricStore.set("b", "y", o)
        {:ok, _} = FerricStore.setrange("b", 1, "y", o)
        :ok = FerricStore.set("c", "z", o)
        assert {:ok, "raw"} = FerricStore.object_encoding("a", o)
        assert {:ok, "raw"} = FerricStore.object_encoding("b", o)
        assert {:ok, "embstr"} = FerricStore.object_encoding("c", o)

        # The next write of the key ends it: a SET, a delete, a collection in its place.
        :ok = FerricStore.set("a", "x", o)
        assert {:ok, "embstr"} = FerricStore.object_encoding("a", o)
        {:ok, 1} = FerricStore.del("b", o)
        {:ok, _} = FerricStore.sadd("b", "m", o)
        assert {:ok, "hashtable"} = FerricStore.object_encoding("b", o)
        {:ok, _} = FerricStore.append("c", "!", o)
        assert {:ok, "raw"} = FerricStore.object_encoding("c", o)

        if round == 1, do: :ok = FerricStore.flushdb(o)
      end

      {:ok, 1} = FerricStore.del("c", o)
      :ok = FerricStore.set("c", "z", o)
      assert {:ok, "embstr"} = FerricStore.object_encoding("c", o)
    end

    test "object encodings as redis 7.0 reports them", %{opts: o} do
      :ok = FerricStore.set("i", "123", o)
      :ok = FerricStore.set("e", "0123", o)
      :ok = FerricStore.set("r", String.duplicate("x", 45), o)
      assert {:ok, "int"} = FerricStore.object_encoding("i", o)
      assert {:ok, "embstr"} = FerricStore.object_encoding("e", o)
      assert {:ok, "raw"} = FerricStore.object_encoding("r", o)
      assert {:ok, nil} = FerricStore.object_encoding("missing", o)

      {:ok, _} = FerricStore.sadd("ints", ["1", "2"], o)
      assert {:ok, "intset"} = FerricStore.object_encoding("ints", o)
      {:ok, _} = FerricStore.sadd("ints", "x", o)
      {:ok, _} = FerricStore.srem("ints", "x", o)
      assert {:ok, "hashtable"} = FerricStore.object_encoding("ints", o)

      {:ok, _} = FerricStore.hset("h", %{"f" => "v"}, o)
      assert {:ok, "listpack"} = FerricStore.object_encoding("h", o)
      {:ok, _} = FerricStore.hset("h", %{"g" => String.duplicate("v", 65)}, o)
      assert {:ok, "hashtable"} = FerricStore.object_encoding("h", o)

      {:ok, _} = FerricStore.zadd("z", Enum.map(1..129, &{&1, "m#{&1}"}), o)
      assert {:ok, "skiplist"} = FerricStore.object_encoding("z", o)
      {:ok, _} = FerricStore.rpush("l", "x", o)
      assert {:ok, "quicklist"} = FerricStore.object_encoding("l", o)
    end

    test "randomkey", %{opts: o} do
      assert {:ok, nil} = FerricStore.randomkey(o)
      for k <- ~w(a b c), do: {:ok, _} = FerricStore.sadd(k, "m", o)
      assert {:ok, k} = FerricStore.randomkey(o)
      assert k in ~w(a b c)
    end
  end

  @tag instance_opts: [shards: 4]
  test "RENAME and COPY across shards are CROSSSLOT errors", %{opts: o} do
    router = FerricStore.Store.Router
    other = Enum.find(1..1000, &(router.shard("k#{&1}", 4) != router.shard("src", 4)))
    {:ok, 1} = FerricStore.sadd("src", "m", o)

    assert {:error, %Error{reason: :crossslot}} = FerricStore.rename("src", "k#{other}", o)
    assert {:error, %Error{reason: :crossslot}} = FerricStore.copy("src", "k#{other}", o)
    assert {:ok, ["m"]} = FerricStore.smembers("src", o)
  end

  defmodule Cache do
    use FerricStore, otp_app: :ferricstore_collections_api_test
  end

  test "use FerricStore modules get the collection functions and their ! twins", ctx do
    {:ok, pid} = Cache.start_link(data_dir: Path.join(ctx.tmp_dir, "cache"))
    Process.unlink(pid)
    on_exit(fn -> stop_instance(Cache) end)

    assert {:ok, 1} = Cache.hset("h", %{"a" => "b"})
    assert "b" == Cache.hget!("h", "a")
    assert {:ok, 1} = Cache.zadd("z", [{1, "a"}])
    assert [{"a", 1.0}] == Cache.zrange!("z", 0, -1, with_scores: true)
    assert 1 == Cache.lpush!("l", "x")
    assert :ok = Cache.rename("l", "l2")
    assert ["x"] == Cache.lrange!("l2", 0, -1)
  end
end

defmodule FerricStore.HincrbyfloatTest do
  use FerricStore.StoreCase, async: true

  @moduletag :tmp_dir

  test "HINCRBYFLOAT adds in long double like INCRBYFLOAT (and Redis)", %{opts: o} do
    for _ <- 1..3, do: {:ok, _} = FerricStore.hincrbyfloat("h", "f", 0.1, o)
    assert {:ok, "0.3"} = FerricStore.hget("h", "f", o)
    assert {:ok, 0.3} = FerricStore.hincrbyfloat("h", "f", 0, o)

    :ok =
      FerricStore.hset("h", %{"big" => "123456789012345678"}, o) |> then(fn {:ok, _} -> :ok end)

    {:ok, _} = FerricStore.hincrbyfloat("h", "big", 0.5, o)
    assert {:ok, "123456789012345678.5"} = FerricStore.hget("h", "big", o)
  end
end
