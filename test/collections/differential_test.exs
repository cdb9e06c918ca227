for file <- ~w(resp_client redis_server) do
  Code.require_file("../differential/support/#{file}.exs", __DIR__)
end

defmodule FerricStore.Collections.DifferentialTest do
  # Differential test of the collection families (hash, list, set, zset): seeded random
  # command sequences go to a real redis-server and to a FerricStore RESP server, and
  # every reply must be the same. Replies whose order Redis does not define (HGETALL,
  # SMEMBERS, ...) are compared sorted; random commands (SPOP, *RANDMEMBER) are not
  # generated.
  use ExUnit.Case, async: false

  @moduletag :integration
  # Each test takes a few seconds: a stuck server fails it in a minute, not five.
  @moduletag timeout: 60_000

  defmodule Client do
    @moduledoc false
    def connect(port) do
      {:ok, s} = :gen_tcp.connect(~c"127.0.0.1", port, [:binary, active: false, packet: :line])
      s
    end

    def call(s, args) do
      payload = ["*#{length(args)}\r\n" | Enum.map(args, &["$#{byte_size(&1)}\r\n", &1, "\r\n"])]
      :ok = :gen_tcp.send(s, payload)
      read(s)
    end

    defp read(s) do
      {:ok, line} = :gen_tcp.recv(s, 0, 10_000)
      line = String.trim_trailing(line, "\r\n")

      case line do
        "+" <> rest -> {:simple, rest}
        "-" <> rest -> {:error, rest}
        ":" <> n -> String.to_integer(n)
        "$-1" -> nil
        "*-1" -> nil
        "$" <> n -> bulk(s, String.to_integer(n))
        "*" <> n -> for _ <- 1..String.to_integer(n)//1, do: read(s)
      end
    end

    defp bulk(s, n) do
      :inet.setopts(s, packet: :raw)
      {:ok, data} = if n + 2 > 0, do: :gen_tcp.recv(s, n + 2, 10_000), else: {:ok, ""}
      :inet.setopts(s, packet: :line)
      binary_part(data, 0, n)
    end
  end

  setup_all do
    %{redis: redis, ferric_port: ferric_port} =
      FerricStore.Test.RedisServer.start_with_ferricstore!(
        :diff_coll,
        ["--save", "", "--appendonly", "no", "--databases", "1"]
      )

    %{redis: Client.connect(redis.port), ferric: Client.connect(ferric_port)}
  end

  @keys ~w(k1 k2 k3)
  @members ~w(a b c d e 1 2 10 -3)
  @values ~w(x y 1 2 -7 1.5 abc)
  @ints ~w(-3 -1 0 1 2 5 100)
  @scores ~w(0 -0 1 -1 2.5 -inf +inf 3 1e3 (1 (2.5 abc)

  @unordered ~w(HGETALL HKEYS HVALS SMEMBERS SINTER SUNION SDIFF)

  defp key, do: Enum.random(@keys)
  defp mem, do: Enum.random(@members)
  defp val, do: Enum.random(@values)
  defp int, do: Enum.random(@ints)
  defp score, do: Enum.random(@scores)
  defp some(f), do: for(_ <- 1..Enum.random(1..3), do: f.())

  defp gen(:hash) do
    Enum.random([
      fn -> ["HSET", key() | Enum.flat_map(some(&mem/0), &[&1, val()])] end,
      fn -> ["HSETNX", key(), mem(), val()] end,
      fn -> ["HGET", key(), mem()] end,
      fn -> ["HMGET", key() | some(&mem/0)] end,
      fn -> ["HMSET", key(), mem(), val()] end,
      fn -> ["HGETALL", key()] end,
      fn -> ["HDEL", key() | some(&mem/0)] end,
      fn -> ["HEXISTS", key(), mem()] end,
      fn -> ["HLEN", key()] end,
      fn -> ["HKEYS", key()] end,
      fn -> ["HVALS", key()] end,
      fn -> ["HINCRBY", key(), mem(), int()] end,
      fn -> ["HINCRBYFLOAT", key(), mem(), val()] end,
      fn -> ["HSTRLEN", key(), mem()] end
    ]).()
  end

  defp gen(:list) do
    Enum.random([
      fn -> ["LPUSH", key() | some(&val/0)] end,
      fn -> ["RPUSH", key() | some(&val/0)] end,
      fn -> ["LPUSHX", key(), val()] end,
      fn -> ["RPUSHX", key(), val()] end,
      fn -> ["LPOP", key()] end,
      fn -> ["RPOP", key(), Enum.random(~w(0 1 2 5))] end,
      fn -> ["LLEN", key()] end,
      fn -> ["LRANGE", key(), int(), int()] end,
      fn -> ["LINDEX", key(), int()] end,
      fn -> ["LSET", key(), int(), val()] end,
      fn -> ["LINSERT", key(), Enum.random(~w(BEFORE AFTER)), val(), val()] end,
      fn -> ["LREM", key(), int(), val()] end,
      fn -> ["LTRIM", key(), int(), int()] end,
      fn -> ["LPOS", key(), val()] end,
      fn ->
        ["LPOS", key(), val(), "RANK", Enum.random(~w(1 2 -1)), "COUNT", Enum.random(~w(0 1 2))]
      end,
      fn -> ["LMOVE", key(), key(), Enum.random(~w(LEFT RIGHT)), Enum.random(~w(LEFT RIGHT))] end,
      fn -> ["RPOPLPUSH", key(), key()] end,
      fn -> mpop("LMPOP", ~w(LEFT RIGHT left)) end
    ]).()
  end

  defp gen(:set) do
    Enum.random([
      fn -> ["SADD", key() | some(&mem/0)] end,
      fn -> ["SREM", key() | some(&mem/0)] end,
      fn -> ["SMEMBERS", key()] end,
      fn -> ["SISMEMBER", key(), mem()] end,
      fn -> ["SMISMEMBER", key() | some(&mem/0)] end,
      fn -> ["SCARD", key()] end,
      fn -> ["SMOVE", key(), key(), mem()] end,
      fn -> ["SINTER" | some(&key/0)] end,
      fn -> ["SUNION" | some(&key/0)] end,
      fn -> ["SDIFF" | some(&key/0)] end,
      fn -> ["SINTERSTORE", key() | some(&key/0)] end,
      fn -> ["SUNIONSTORE", key() | some(&key/0)] end,
      fn -> ["SDIFFSTORE", key() | some(&key/0)] end,
      fn -> ["SINTERCARD", "2", key(), key()] end,
      fn ->
        limit = fn -> Enum.random(~w(0 1 2 -1 x)) end
        ["SINTERCARD", "2", key(), key(), "LIMIT", limit.(), "LIMIT", limit.()]
      end
    ]).()
  end

  defp gen(:zset) do
    Enum.random([
      fn ->
        [
          "ZADD",
          key() | Enum.flat_map(some(&mem/0), &[Enum.random(~w(0 1 -1 2.5 3 -inf +inf)), &1])
        ]
      end,
      fn -> ["ZADD", key(), Enum.random(~w(NX XX GT LT CH)), Enum.random(~w(1 2 5)), mem()] end,
      fn -> ["ZADD", key(), "INCR", Enum.random(~w(1 -2 0.5)), mem()] end,
      fn -> ["ZINCRBY", key(), Enum.random(~w(1 -2 0.5 abc)), mem()] end,
      fn -> ["ZREM", key() | some(&mem/0)] end,
      fn -> ["ZSCORE", key(), mem()] end,
      fn -> ["ZMSCORE", key() | some(&mem/0)] end,
      fn -> ["ZCARD", key()] end,
      fn -> ["ZCOUNT", key(), score(), score()] end,
      fn -> ["ZRANK", key(), mem()] end,
      fn -> ["ZREVRANK", key(), mem()] end,
      fn -> ["ZRANGE", key(), int(), int()] end,
      fn -> ["ZRANGE", key(), int(), int(), "WITHSCORES"] end,
      fn -> ["ZRANGE", key(), int(), int(), "REV"] end,
      fn -> ["ZRANGE", key(), score(), score(), "BYSCORE"] end,
      fn -> ["ZRANGE", key(), score(), score(), "BYSCORE", "REV", "LIMIT", "0", "2"] end,
      fn -> ["ZRANGEBYSCORE", key(), score(), score(), "WITHSCORES"] end,
      fn -> ["ZREVRANGEBYSCORE", key(), score(), score()] end,
      fn -> ["ZREVRANGE", key(), int(), int()] end,
      fn -> ["ZREMRANGEBYRANK", key(), int(), int()] end,
      fn -> ["ZREMRANGEBYSCORE", key(), score(), score()] end,
      fn -> ["ZPOPMIN", key()] end,
      fn -> ["ZPOPMAX", key(), Enum.random(~w(1 2 3))] end,
      fn -> ["ZUNIONSTORE", key(), "2", key(), key()] end,
      fn -> ["ZINTERSTORE", key(), "2", key(), key(), "WEIGHTS", "2", "3"] end,
      fn -> ["ZDIFFSTORE", key(), "2", key(), key()] end,
      fn -> ["ZUNION", "2", key(), key(), "WITHSCORES"] end,
      fn -> ["ZRANGESTORE", key(), key(), "0", "-1"] end,
      fn -> mpop("ZMPOP", ~w(MIN MAX max)) end,
      fn -> ["ZINTERCARD", "2", key(), key()] end,
      fn ->
        limit = fn -> Enum.random(~w(0 1 2 -1 x)) end
        keys = some(&key/0)
        ["ZINTERCARD", Integer.to_string(length(keys)) | keys] ++ ["LIMIT", limit.()]
      end
    ]).()
  end

  defp gen(:keyspace) do
    Enum.random([
      fn -> ["TYPE", key()] end,
      fn -> ["DEL", key()] end,
      fn -> ["EXISTS" | some(&key/0)] end,
      fn -> ["SET", key(), val()] end,
      fn -> ["EXPIRE", key(), "100"] end,
      fn -> ["TTL", key()] end,
      fn -> ["PERSIST", key()] end
    ]).()
  end

  # Commands on whole values of any type (FerricStore.Commands.Objects).
  defp gen(:objects) do
    Enum.random([
      fn -> ["RENAME", key(), key()] end,
      fn -> ["RENAMENX", key(), key()] end,
      fn -> ["COPY", key(), key()] end,
      fn -> ["COPY", key(), key(), "REPLACE"] end,
      fn -> ["COPY", key(), key(), "DB", Enum.random(~w(0 1 x))] end,
      fn -> ["OBJECT", "ENCODING", key()] end,
      fn -> ["RANDOMKEY"] end,
      fn -> ["TTL", key()] end
    ]).()
  end

  # LMPOP/ZMPOP: mostly well formed, sometimes a numkeys that does not fit, a bad or
  # repeated COUNT, or an unknown word.
  defp mpop(name, sides) do
    keys = some(&key/0)
    n = length(keys)
    numkeys = Enum.random([n, n, n, n, n + 1, 0]) |> Integer.to_string()

    opts =
      Enum.random([
        [],
        [],
        ["COUNT", Enum.random(~w(1 2 5))],
        ["count", Enum.random(~w(0 -1 x 9223372036854775808))],
        ["COUNT", "1", "COUNT", "2"],
        ["FOO"]
      ])

    [name, numkeys | keys] ++ [Enum.random(sides ++ ["UP"]) | opts]
  end

  defp normalize([cmd | _], reply) when is_list(reply) do
    if String.upcase(cmd) in @unordered, do: Enum.sort(reply), else: reply
  end

  # RANDOMKEY: only whether there was a key to return.
  defp normalize(["RANDOMKEY"], reply), do: reply != nil
  defp normalize(_cmd, reply), do: reply

  # Runs `sequences` random sequences of 25 commands from `gen` on both servers (each
  # starting empty) and requires the same replies; a failure shows the whole sequence.
  defp run_sequences(ctx, sequences, rand_seed, gen) do
    seed = ExUnit.configuration()[:seed]
    :rand.seed(:exsss, {seed, 5, rand_seed})

    for seq <- 1..sequences do
      Client.call(ctx.redis, ["FLUSHALL"])
      Client.call(ctx.ferric, ["FLUSHDB"])

      Enum.reduce(1..25, [], fn _, history ->
        cmd = gen.()
        history = [cmd | history]
        expected = normalize(cmd, Client.call(ctx.redis, cmd))
        actual = normalize(cmd, Client.call(ctx.ferric, cmd))

        assert actual == expected,
               "sequence #{seq} (seed #{seed}):\n" <>
                 Enum.map_join(Enum.reverse(history), "\n", &Enum.join(&1, " ")) <>
                 "\nredis: #{inspect(expected)}\nferric: #{inspect(actual)}"

        history
      end)
    end
  end

  test "RENAME, COPY, OBJECT ENCODING and RANDOMKEY over every type get the same replies", ctx do
    families = [:hash, :list, :set, :zset, :keyspace]

    run_sequences(ctx, 100, 7, fn ->
      if :rand.uniform(3) == 1, do: gen(:objects), else: gen(Enum.random(families))
    end)
  end

  test "OBJECT ENCODING at the encoding thresholds matches redis-server", ctx do
    Client.call(ctx.redis, ["FLUSHALL"])
    Client.call(ctx.ferric, ["FLUSHDB"])
    ints = fn n -> Enum.map(1..n, &Integer.to_string/1) end
    x = &String.duplicate("x", &1)

    cmds = [
      ["SET", "s44", x.(44)],
      ["SET", "s45", x.(45)],
      ["SET", "max", "9223372036854775807"],
      ["SET", "over", "9223372036854775808"],
      ["SET", "neg0", "-0"],
      ["SET", "lead0", "01"],
      ["SET", "neg", "-12"],
      ["SADD", "i512" | ints.(512)],
      ["SADD", "i513" | ints.(513)],
      ["SADD", "mixed", "1", "a"],
      ["SREM", "mixed", "a"],
      ["SADD", "shrunk" | ints.(513)],
      ["SREM", "shrunk", "513"],
      ["HSET", "h64", "f", x.(64)],
      ["HSET", "h65", "f", x.(65)],
      ["HSET", "f65", x.(65), "v"],
      ["HSET", "h128" | Enum.flat_map(ints.(128), &[&1, "v"])],
      ["HSET", "h129" | Enum.flat_map(ints.(129), &[&1, "v"])],
      ["ZADD", "z128" | Enum.flat_map(ints.(128), &["1", &1])],
      ["ZADD", "z129" | Enum.flat_map(ints.(129), &["1", &1])],
      ["ZADD", "z65", "1", x.(65)],
      ["HSET", "hshr", "f", x.(65)],
      ["HSET", "hshr", "f", "v"],
      ["HSET", "h513s" | Enum.flat_map(ints.(513), &[&1, "v"])],
      ["HDEL", "h513s", "1"],
      ["HSET", "hnx", "f", "v"],
      ["HSETNX", "hnx", "f", x.(65)],
      ["ZADD", "z129s" | Enum.flat_map(ints.(129), &["1", &1])],
      ["ZREM", "z129s", "1"],
      ["ZADD", "zdup" | Enum.flat_map(1..129, fn _ -> ["1", "a"] end)],
      ["ZADD", "zl", "1", "a", "1", x.(65)],
      ["ZREM", "zl", x.(65)],
      ["RPUSH", "l", "a"],
      ["SRANDMEMBER", "i512", "-9223372036854775808"],
      ["SRANDMEMBER", "missing", "-9223372036854775808"],
      ["HRANDFIELD", "h64", "-9223372036854775808"],
      ["HRANDFIELD", "h64", "-9223372036854775808", "WITHVALUES"],
      ["ZRANDMEMBER", "z65", "-9223372036854775808", "WITHSCORES"],
      ["COPY", "i513", "i513copy"],
      ["RENAME", "shrunk", "shrunk2"]
    ]

    for cmd <- cmds do
      assert Client.call(ctx.ferric, cmd) == Client.call(ctx.redis, cmd), Enum.join(cmd, " ")
    end

    keys =
      ~w(s44 s45 max over neg0 lead0 neg i512 i513 mixed shrunk2 h64 h65 f65 h512 h513) ++
        ~w(z128 z129 z65 l i513copy missing hshr h513s hnx z129s zdup zl)

    for key <- keys do
      cmd = ["OBJECT", "ENCODING", key]
      assert {key, Client.call(ctx.ferric, cmd)} == {key, Client.call(ctx.redis, cmd)}
    end
  end

  # Sets of thousands of members span many chunks of the rank index (512 members each):
  # ranks, ranges by rank, score and lex (with LIMIT), counts and removals by range must
  # still answer as Redis' skiplist does, while members move, go and come.
  test "big sorted sets: ranks, ranges and counts get the same replies as redis-server", ctx do
    :rand.seed(:exsss, {ExUnit.configuration()[:seed], 11, 5})
    Client.call(ctx.redis, ["FLUSHALL"])
    Client.call(ctx.ferric, ["FLUSHDB"])
    both = fn cmd -> {Client.call(ctx.redis, cmd), Client.call(ctx.ferric, cmd)} end

    # Scores with many ties (ordered by member bytes) and infinities; members of mixed
    # lengths and bytes. "lex" has one score, as Redis' lex ranges require.
    big_score = fn -> Enum.random(~w(-inf +inf 0 -0 1 2 2.5 -7 1e6 -1e-3 42)) end
    member = fn -> :crypto.strong_rand_bytes(:rand.uniform(4)) end

    for {key, n, score} <- [{"big", 6000, big_score}, {"lex", 3000, fn -> "0" end}],
        chunk <- Enum.chunk_every(1..n, 500) do
      pairs = Enum.flat_map(chunk, fn _ -> [score.(), member.()] end)
      {r, f} = both.(["ZADD", key | pairs])
      assert r == f
    end

    members = fn key -> elem(both.(["ZRANGE", key, "0", "-1"]), 0) end
    rank = fn -> Integer.to_string(Enum.random(-7000..7000)) end
    small = fn -> Integer.to_string(Enum.random(0..40)) end
    # Removals by range take a few members at a time, so the sets stay big.
    near = fn ms, from ->
      j = Enum.random(0..(length(ms) - 1))
      [from <> Enum.at(ms, j), from <> Enum.at(ms, min(j + Enum.random(0..5), length(ms) - 1))]
    end

    at = fn -> Enum.random(-6000..5999) end

    lex = fn ms ->
      case :rand.uniform(4) do
        1 -> "-"
        2 -> "+"
        3 -> "[" <> Enum.random(ms)
        4 -> "(" <> member.()
      end
    end

    score_bound = fn -> Enum.random(["(", ""]) <> big_score.() end

    Enum.reduce(1..600, [], fn i, history ->
      big = if rem(i, 50) == 1, do: members.("big"), else: hd(history)[:big]
      lexm = if rem(i, 50) == 1, do: members.("lex"), else: hd(history)[:lex]
      m = fn -> if :rand.uniform(10) == 1, do: member.(), else: Enum.random(big) end

      cmd =
        Enum.random([
          ["ZRANK", "big", m.()],
          ["ZREVRANK", "big", m.()],
          ["ZRANK", "lex", Enum.random(lexm)],
          ["ZRANGE", "big", rank.(), rank.()],
          ["ZRANGE", "big", rank.(), rank.(), "REV", "WITHSCORES"],
          ["ZREVRANGE", "big", rank.(), rank.()],
          [
            "ZRANGE",
            "big",
            score_bound.(),
            score_bound.(),
            "BYSCORE",
            "LIMIT",
            small.(),
            small.()
          ],
          [
            "ZRANGE",
            "big",
            score_bound.(),
            score_bound.(),
            "BYSCORE",
            "REV",
            "LIMIT",
            small.(),
            "-1"
          ],
          [
            "ZRANGEBYSCORE",
            "big",
            score_bound.(),
            score_bound.(),
            "WITHSCORES",
            "LIMIT",
            rank.(),
            "5"
          ],
          ["ZCOUNT", "big", score_bound.(), score_bound.()],
          ["ZLEXCOUNT", "lex", lex.(lexm), lex.(lexm)],
          ["ZRANGEBYLEX", "lex", lex.(lexm), lex.(lexm), "LIMIT", small.(), small.()],
          ["ZREVRANGEBYLEX", "lex", lex.(lexm), lex.(lexm), "LIMIT", "0", small.()],
          ["ZRANGE", "lex", lex.(lexm), lex.(lexm), "BYLEX"],
          ["ZADD", "big", big_score.(), m.()],
          ["ZADD", "lex", "0", member.()],
          ["ZREM", "big", m.()],
          ["ZREM", "lex", Enum.random(lexm)],
          (fn a -> ["ZREMRANGEBYRANK", "big", "#{a}", "#{a + Enum.random(0..3)}"] end).(at.()),
          ["ZREMRANGEBYSCORE", "big", "(2", "2.5"],
          ["ZREMRANGEBYLEX", "lex" | near.(lexm, "[")],
          ["ZRANGESTORE", "dst", "big", rank.(), rank.()],
          ["ZRANGE", "dst", "0", "-1", "WITHSCORES"],
          ["ZPOPMIN", "big", Enum.random(~w(1 2 3))],
          ["ZCARD", "big"]
        ])

      {expected, actual} = both.(cmd)

      assert actual == expected,
             "command #{i} (seed #{ExUnit.configuration()[:seed]}): " <>
               inspect(cmd) <> "\nredis: #{inspect(expected)}\nferric: #{inspect(actual)}"

      [%{big: big, lex: lexm} | Enum.take(history, 1)]
    end)
  end

  for family <- [:hash, :list, :set, :zset] do
    test "random #{family} sequences get the same replies as redis-server", ctx do
      family = unquote(family)

      run_sequences(ctx, 150, :erlang.phash2(Atom.to_string(family)), fn ->
        case :rand.uniform(10) do
          1 -> gen(:keyspace)
          2 -> gen(:objects)
          _ -> gen(family)
        end
      end)
    end
  end
end
