defmodule FerricStore.MultiPopTest do
  # LMPOP, ZMPOP and ZINTERCARD (Redis 7.0): the embedded API and the RESP replies,
  # byte for byte in RESP2 and RESP3 (the texts and shapes were taken from
  # redis-server 7.0.15; test/collections/differential_test.exs compares them live).
  use FerricStore.StoreCase, async: true

  alias FerricStore.Commands
  alias FerricStore.Commands.Context
  alias FerricStore.Error
  alias FerricStore.Protocol.RESP

  @moduletag :tmp_dir

  doctest FerricStore.Commands.Collection

  @wrongtype %Error{
    reason: :wrongtype,
    message: "WRONGTYPE Operation against a key holding the wrong kind of value"
  }

  defp count_error,
    do: %Error{reason: :out_of_range, message: "ERR count should be greater than 0"}

  describe "lmpop/3" do
    test "pops from the first list, skipping missing keys", %{opts: o} do
      {:ok, 3} = FerricStore.rpush("b", ["1", "2", "3"], o)
      {:ok, 1} = FerricStore.rpush("c", "x", o)

      assert {:ok, {"b", ["1"]}} = FerricStore.lmpop(["a", "b", "c"], :left, o)

      assert {:ok, {"b", ["3", "2"]}} =
               FerricStore.lmpop(["a", "b", "c"], :right, [count: 5] ++ o)

      # The emptied list is gone, so the next pop moves on to "c".
      assert {:ok, 0} = FerricStore.exists("b", o)
      assert {:ok, {"c", ["x"]}} = FerricStore.lmpop(["b", "c"], :left, [count: 1] ++ o)
      assert {:ok, nil} = FerricStore.lmpop(["a", "b", "c"], :left, o)
      assert {:ok, nil} = FerricStore.lmpop("a", :left, o)
      assert nil == FerricStore.lmpop!(["a"], :left, o)
    end

    test "a wrong type before the first list is WRONGTYPE, after it is not looked at",
         %{opts: o} do
      :ok = FerricStore.set("s", "v", o)
      {:ok, 2} = FerricStore.rpush("l", ["a", "b"], o)

      assert {:error, @wrongtype} = FerricStore.lmpop(["nope", "s", "l"], :left, o)
      assert {:ok, ["a", "b"]} = FerricStore.lrange("l", 0, -1, o)
      assert {:ok, {"l", ["a"]}} = FerricStore.lmpop(["l", "s"], :left, o)
      assert_raise Error, fn -> FerricStore.lmpop!(["s"], :left, o) end
    end

    test "the popped list keeps its TTL; an expired list counts as missing", %{opts: o} do
      {:ok, 2} = FerricStore.rpush("ttl", ["a", "b"], o)
      {:ok, true} = FerricStore.expire("ttl", 100_000, o)
      assert {:ok, {"ttl", ["a"]}} = FerricStore.lmpop(["ttl"], :left, o)
      assert {:ok, t} = FerricStore.ttl("ttl", o)
      assert t > 90_000

      {:ok, 1} = FerricStore.rpush("gone", "x", o)
      {:ok, 1} = FerricStore.rpush("next", "y", o)
      {:ok, true} = FerricStore.pexpire("gone", 1, o)
      Process.sleep(5)
      assert {:ok, {"next", ["y"]}} = FerricStore.lmpop(["gone", "next"], :left, o)
    end

    test "count: and the side are checked as Redis checks them", %{opts: o} do
      {:ok, 1} = FerricStore.rpush("l", "a", o)
      ce = count_error()
      assert {:error, ^ce} = FerricStore.lmpop(["l"], :left, [count: 0] ++ o)
      assert {:error, ^ce} = FerricStore.lmpop(["l"], :left, [count: -1] ++ o)
      assert {:error, ^ce} = FerricStore.lmpop(["l"], :left, [count: 2 ** 63] ++ o)
      assert {:ok, {"l", ["a"]}} = FerricStore.lmpop(["l"], :left, [count: nil] ++ o)

      assert_raise ArgumentError, ~r"lmpop/3: side must be :left or :right", fn ->
        FerricStore.lmpop(["l"], :up, o)
      end

      assert_raise ArgumentError, ~r"lmpop/3: count: must be an integer", fn ->
        FerricStore.lmpop(["l"], :left, [count: "1"] ++ o)
      end

      assert_raise ArgumentError, ~r"lmpop/3: keys must not be empty", fn ->
        FerricStore.lmpop([], :left, o)
      end

      assert_raise ArgumentError, ~r"lmpop/3: keys must be binaries", fn ->
        FerricStore.lmpop(["l", :x], :left, o)
      end

      assert_raise ArgumentError, ~r"lmpop/3: unknown option :limit", fn ->
        FerricStore.lmpop(["l"], :left, [limit: 1] ++ o)
      end
    end

    test "the pop is durable: a restart does not bring elements back", ctx do
      o = ctx.opts
      {:ok, 4} = FerricStore.rpush("l", ["a", "b", "c", "d"], o)
      {:ok, {"l", ["a", "b"]}} = FerricStore.lmpop(["l"], :left, [count: 2] ++ o)
      restart(ctx)
      assert {:ok, ["c", "d"]} = FerricStore.lrange("l", 0, -1, o)
    end
  end

  describe "zmpop/3" do
    test "pops the lowest or highest scores of the first sorted set", %{opts: o} do
      {:ok, 3} = FerricStore.zadd("z", [{1, "a"}, {2, "b"}, {:inf, "c"}], o)

      assert {:ok, {"z", [{"a", 1.0}]}} = FerricStore.zmpop(["none", "z"], :min, o)

      assert {:ok, {"z", [{"c", :inf}, {"b", 2.0}]}} =
               FerricStore.zmpop(["none", "z"], :max, [count: 10] ++ o)

      assert {:ok, 0} = FerricStore.exists("z", o)
      assert {:ok, nil} = FerricStore.zmpop(["none", "z"], :max, o)
      assert nil == FerricStore.zmpop!("z", :min, o)
    end

    test "a set is the wrong type (unlike for ZINTERCARD)", %{opts: o} do
      {:ok, 1} = FerricStore.sadd("s", "m", o)
      {:ok, 1} = FerricStore.zadd("z", [{1, "m"}], o)
      assert {:error, @wrongtype} = FerricStore.zmpop(["s", "z"], :min, o)
      assert {:ok, {"z", [{"m", 1.0}]}} = FerricStore.zmpop(["z", "s"], :min, o)
    end

    test "arguments", %{opts: o} do
      ce = count_error()
      assert {:error, ^ce} = FerricStore.zmpop(["z"], :min, [count: 0] ++ o)

      assert_raise ArgumentError, ~r"zmpop/3: side must be :min or :max", fn ->
        FerricStore.zmpop(["z"], :left, o)
      end
    end
  end

  describe "zintercard/2" do
    test "counts the intersection of sorted sets and sets, up to limit:", %{opts: o} do
      {:ok, 5} = FerricStore.zadd("z", Enum.map(1..5, &{&1, "m#{&1}"}), o)
      {:ok, 3} = FerricStore.sadd("s", ["m2", "m4", "m9"], o)

      assert {:ok, 5} = FerricStore.zintercard(["z"], o)
      assert {:ok, 2} = FerricStore.zintercard(["z", "s"], o)
      assert {:ok, 2} = FerricStore.zintercard(["s", "z", "z"], o)
      assert {:ok, 1} = FerricStore.zintercard(["z", "s"], [limit: 1] ++ o)
      assert {:ok, 2} = FerricStore.zintercard(["z", "s"], [limit: 0] ++ o)
      assert {:ok, 2} = FerricStore.zintercard(["z", "s"], [limit: nil] ++ o)
      assert {:ok, 0} = FerricStore.zintercard(["z", "missing"], o)
      assert 2 == FerricStore.zintercard!(["z", "s"], o)
    end

    test "a wrong type anywhere is WRONGTYPE, even after a missing key", %{opts: o} do
      :ok = FerricStore.set("str", "v", o)
      {:ok, 1} = FerricStore.zadd("z", [{1, "a"}], o)
      assert {:error, @wrongtype} = FerricStore.zintercard(["missing", "z", "str"], o)

      assert {:error, %Error{message: "ERR LIMIT can't be negative"}} =
               FerricStore.zintercard(["z"], [limit: -1] ++ o)

      assert_raise ArgumentError, ~r"zintercard/2: limit: must be an integer", fn ->
        FerricStore.zintercard(["z"], [limit: {0, 1}] ++ o)
      end
    end

    test "big inputs, with and without a limit", %{opts: o} do
      {:ok, 3000} = FerricStore.zadd("big", Enum.map(1..3000, &{&1, "m#{&1}"}), o)
      {:ok, 1500} = FerricStore.sadd("evens", Enum.map(2..3000//2, &"m#{&1}"), o)

      assert {:ok, 1500} = FerricStore.zintercard(["big", "evens"], o)
      assert {:ok, 10} = FerricStore.zintercard(["big", "evens"], [limit: 10] ++ o)
      assert {:ok, 1500} = FerricStore.zintercard(["evens", "big"], [limit: 2000] ++ o)
    end
  end

  @tag instance_opts: [shards: 4]
  test "LMPOP and ZMPOP keys on different shards are CROSSSLOT; ZINTERCARD reads them",
       %{opts: o} do
    router = FerricStore.Store.Router
    other = Enum.find(1..1000, &(router.shard("k#{&1}", 4) != router.shard("a", 4)))
    {:ok, 1} = FerricStore.rpush("a", "x", o)
    {:ok, 1} = FerricStore.zadd("za{a}", [{1, "m"}], o)
    {:ok, 1} = FerricStore.zadd("k#{other}", [{1, "m"}], o)

    assert {:error, %Error{reason: :crossslot}} = FerricStore.lmpop(["a", "k#{other}"], :left, o)
    assert {:error, %Error{reason: :crossslot}} = FerricStore.zmpop(["a", "k#{other}"], :min, o)
    assert {:ok, ["x"]} = FerricStore.lrange("a", 0, -1, o)
    # Hash tags put keys on one shard.
    assert {:ok, {"za{a}", [{"m", 1.0}]}} = FerricStore.zmpop(["{a}none", "za{a}"], :min, o)
    {:ok, 1} = FerricStore.zadd("za{a}", [{1, "m"}], o)
    assert {:ok, 1} = FerricStore.zintercard(["za{a}", "k#{other}"], o)
  end

  describe "RESP" do
    setup %{name: name} do
      ctx = Context.new(instance: name, authenticated?: true)

      run = fn args, protocol ->
        {reply, _} = Commands.dispatch(args, %{ctx | protocol: protocol})
        IO.iodata_to_binary(RESP.encode(reply, protocol))
      end

      {:ok, run: run}
    end

    test "LMPOP replies [key, [elements]] or a null array", %{run: run} do
      ":3\r\n" = run.(~w(RPUSH l a b c), 2)

      assert run.(~w(LMPOP 2 none l LEFT), 2) == "*2\r\n$1\r\nl\r\n*1\r\n$1\r\na\r\n"

      assert run.(~w(lmpop 1 l right count 5), 3) ==
               "*2\r\n$1\r\nl\r\n*2\r\n$1\r\nc\r\n$1\r\nb\r\n"

      assert run.(~w(LMPOP 1 l LEFT), 2) == "*-1\r\n"
      assert run.(~w(LMPOP 1 l LEFT), 3) == "_\r\n"
    end

    test "ZMPOP replies [key, [[member, score], ...]], scores as doubles in RESP3",
         %{run: run} do
      ":3\r\n" = run.(~w(ZADD z 1 a 2.5 b +inf c), 2)

      assert run.(~w(ZMPOP 1 z MIN COUNT 2), 2) ==
               "*2\r\n$1\r\nz\r\n*2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\nb\r\n$3\r\n2.5\r\n"

      assert run.(~w(ZMPOP 1 z MAX), 3) == "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nc\r\n,inf\r\n"
      assert run.(~w(ZMPOP 1 z MAX), 2) == "*-1\r\n"
      assert run.(~w(ZMPOP 1 z MAX), 3) == "_\r\n"
    end

    test "argument errors come in Redis' order, before the keys are looked at", %{run: run} do
      "+OK\r\n" = run.(~w(SET s v), 2)
      numkeys = "-ERR numkeys should be greater than 0\r\n"
      count = "-ERR count should be greater than 0\r\n"
      syntax = "-ERR syntax error\r\n"
      wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"

      for {cmd, side} <- [{"LMPOP", "LEFT"}, {"ZMPOP", "MIN"}] do
        assert run.([cmd, "0", "s", side], 2) == numkeys
        assert run.([cmd, "-1", "s", side], 2) == numkeys
        assert run.([cmd, "1.5", "s", side], 2) == numkeys
        assert run.([cmd, "2", "s", side], 2) == syntax
        assert run.([cmd, "1", "s", "MIDDLE"], 2) == syntax
        assert run.([cmd, "1", "s", side, "COUNT", "0"], 2) == count
        assert run.([cmd, "1", "s", side, "COUNT", "x", "FOO"], 2) == count
        assert run.([cmd, "1", "s", side, "COUNT"], 2) == syntax
        assert run.([cmd, "1", "s", side, "COUNT", "1", "COUNT", "1"], 2) == syntax
        assert run.([cmd, "1", "s", side, "FOO"], 2) == syntax
        assert run.([cmd, "2", "none", "s", side], 2) == wrongtype

        assert run.([cmd, "1", "s"], 2) ==
                 "-ERR wrong number of arguments for '#{String.downcase(cmd)}' command\r\n"
      end
    end

    test "ZINTERCARD: numkeys, WRONGTYPE before options, LIMIT", %{run: run} do
      ":3\r\n" = run.(~w(ZADD z 1 a 2 b 3 c), 2)
      ":2\r\n" = run.(~w(SADD st b c), 2)
      "+OK\r\n" = run.(~w(SET s v), 2)

      assert run.(~w(ZINTERCARD 2 z st), 2) == ":2\r\n"
      assert run.(~w(ZINTERCARD 2 z st LIMIT 5 limit 1), 3) == ":1\r\n"
      assert run.(~w(ZINTERCARD 2 z none), 2) == ":0\r\n"

      assert run.(~w(ZINTERCARD 0 z), 2) ==
               "-ERR at least 1 input key is needed for 'zintercard' command\r\n"

      assert run.(~w(ZINTERCARD x z), 2) == "-ERR value is not an integer or out of range\r\n"
      assert run.(~w(ZINTERCARD 3 z st), 2) == "-ERR syntax error\r\n"
      assert run.(~w(ZINTERCARD 1 z LIMIT -1), 2) == "-ERR LIMIT can't be negative\r\n"
      assert run.(~w(ZINTERCARD 1 z WITHSCORES), 2) == "-ERR syntax error\r\n"

      assert run.(~w(ZINTERCARD 2 z s LIMIT -1), 2) ==
               "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    end

    test "COMMAND INFO and GETKEYS describe them as Redis 7.0 does", %{run: run} do
      info = run.(~w(COMMAND INFO lmpop zmpop zintercard), 2)
      assert info =~ "$5\r\nlmpop\r\n:-4\r\n*2\r\n+write\r\n+movablekeys\r\n:0\r\n:0\r\n:0\r\n"
      assert info =~ "$5\r\nzmpop\r\n:-4\r\n*2\r\n+write\r\n+movablekeys\r\n:0\r\n:0\r\n:0\r\n"
      assert info =~ "$10\r\nzintercard\r\n:-3\r\n*2\r\n+readonly\r\n+movablekeys\r\n"

      assert run.(~w(COMMAND GETKEYS LMPOP 2 a b LEFT COUNT 1), 2) ==
               "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    end
  end
end
