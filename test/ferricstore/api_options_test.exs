# Defined before the tests: ExUnit may start an async test module as soon as it is
# compiled, before the rest of its file.
defmodule FerricStore.ApiOptionsTest.Cache do
  @moduledoc false
  use FerricStore, otp_app: :ferricstore_api_options_test
end

defmodule FerricStore.ApiOptionsTest do
  # Options of the embedded API: a function takes only the options it documents, each
  # of its type, and raises ArgumentError naming the function and the option for any
  # other; what Redis refuses for well-typed options comes back as its error.
  use FerricStore.StoreCase, async: true

  alias FerricStore.Error

  @moduletag :tmp_dir

  defp raises(message, fun), do: assert_raise(ArgumentError, message, fun)

  defp arity(cmd),
    do: %Error{reason: :arity, message: "ERR wrong number of arguments for '#{cmd}' command"}

  test "unknown options raise, naming the function and the option", %{opts: o} do
    raises(
      ~r"^FerricStore.set/3: unknown option :bogus \(it takes :ttl, .*:name\), got: 1$",
      fn ->
        FerricStore.set("s", "v", [bogus: 1] ++ o)
      end
    )

    raises(~r"expire/3: unknown option :bogus", fn ->
      FerricStore.expire("s", 10, [bogus: 1] ++ o)
    end)

    raises(~r"flushdb/1: unknown option :bogus", fn -> FerricStore.flushdb([bogus: 1] ++ o) end)
    raises(~r"get/2: unknown option :ttl", fn -> FerricStore.get("s", [ttl: 1] ++ o) end)
    # GETSET clears the TTL, as Redis does: a ttl: used to be dropped silently.
    raises(~r"getset/3: unknown option :ttl", fn ->
      FerricStore.getset("s", "w", [ttl: 5] ++ o)
    end)

    raises(~r"zdiff/2: unknown option :weights", fn ->
      FerricStore.zdiff(["z"], [weights: [1]] ++ o)
    end)

    raises(~r"zrangestore/5: unknown option :with_scores", fn ->
      FerricStore.zrangestore("d", "z", 0, -1, [with_scores: true] ++ o)
    end)

    # The bang twins check through their plain function.
    raises(~r"set/3: unknown option :bogus", fn -> FerricStore.set!("s", "v", [bogus: 1] ++ o) end)

    assert {:ok, nil} = FerricStore.get("s", o)
  end

  test "ill-typed option values raise", %{opts: o} do
    raises("FerricStore.set/3: nx: must be a boolean, got: 1", fn ->
      FerricStore.set("s", "v", [nx: 1] ++ o)
    end)

    raises(~r"set/3: ttl: must be an integer, got: \"100\"", fn ->
      FerricStore.set("s", "v", [ttl: "100"] ++ o)
    end)

    raises(~r"set/3: ttl: must be an integer, got: 1.5", fn ->
      FerricStore.set("s", "v", [ttl: 1.5] ++ o)
    end)

    raises(~r"set/3: options must be a keyword list, got: \[:nx\]", fn ->
      FerricStore.set("s", "v", [:nx])
    end)

    raises(~r"set/3: options must be a keyword list, got: %{", fn ->
      FerricStore.set("s", "v", %{ttl: 5})
    end)

    raises(~r"get/2: name: must be an atom", fn -> FerricStore.get("s", name: "x") end)

    raises(~r"expire/3: gt: must be a boolean", fn ->
      FerricStore.expire("s", 1, [gt: :yes] ++ o)
    end)

    raises(~r"zrange/4: by: must be :rank, :score or :lex", fn ->
      FerricStore.zrange("z", 0, 1, [by: :scores] ++ o)
    end)

    raises(~r"lpop/2: count", fn -> FerricStore.lpop("l", [count: "1"] ++ o) end)
    assert {:ok, nil} = FerricStore.get("s", o)

    # Well-typed values Redis refuses are its errors, as before.
    assert {:error, %Error{message: "ERR invalid expire time in 'set' command"}} =
             FerricStore.set("s", "v", [ttl: 0] ++ o)

    assert {:error, %Error{message: "ERR syntax error"}} =
             FerricStore.set("s", "v", [nx: true, xx: true] ++ o)

    # false is a flag not given; the first name: wins, as with Keyword.get/3.
    assert :ok = FerricStore.set("s", "v", [nx: false, xx: false] ++ o ++ [name: :other])
    assert {:ok, "v"} = FerricStore.get("s", o)
  end

  test "command: is no option: the error names the command", %{opts: o} do
    raises(~r"set/3: unknown option :command", fn ->
      FerricStore.set("s", "v", [ttl: -5, command: "foo"] ++ o)
    end)

    assert {:error, %Error{message: "ERR invalid expire time in 'set' command"}} =
             FerricStore.set("s", "v", [ttl: -5] ++ o)
  end

  test "expire times outside 64 bits give Redis' text", %{opts: o} do
    :ok = FerricStore.set("s", "v", o)

    invalid = fn cmd ->
      %Error{reason: :invalid_expire, message: "ERR invalid expire time in '#{cmd}' command"}
    end

    assert {:error, invalid.("expireat")} == FerricStore.expireat("s", 2 ** 62, o)
    assert {:error, invalid.("expireat")} == FerricStore.expireat("s", 2 ** 63 - 1, o)
    assert {:error, invalid.("expireat")} == FerricStore.expireat("s", -(2 ** 63), o)
    assert {:error, invalid.("expire")} == FerricStore.expire("s", 2 ** 63 - 1, o)
    assert {:error, invalid.("expire")} == FerricStore.expire("s", 9_223_372_036_854_775, o)
    assert {:error, invalid.("pexpire")} == FerricStore.pexpire("s", 2 ** 63 - 1, o)
    assert {:error, %Error{reason: :not_integer}} = FerricStore.expireat("s", 2 ** 63, o)
    assert {:error, %Error{reason: :not_integer}} = FerricStore.pexpireat("s", 2 ** 64, o)

    # Redis reads the flags first.
    assert {:error, %Error{message: "ERR NX and XX, GT or LT options" <> _}} =
             FerricStore.expireat("s", 2 ** 63, [nx: true, xx: true] ++ o)

    assert {:ok, -1} = FerricStore.ttl("s", o)
    assert {:ok, true} = FerricStore.pexpireat("s", 2 ** 63 - 1, o)
  end

  test "scan options: match a binary, count positive, type an atom or its name", %{opts: o} do
    :ok = FerricStore.set("s", "v", o)
    {:ok, 1} = FerricStore.rpush("l", "a", o)
    {:ok, 1} = FerricStore.sadd("st", "a", o)
    {:ok, 1} = FerricStore.hset("h", %{"f" => "1"}, o)
    {:ok, 1} = FerricStore.zadd("z", [{1, "a"}], o)

    assert {:ok, {0, ["s"]}} = FerricStore.scan(0, [type: :string] ++ o)
    assert {:ok, {0, ["s"]}} = FerricStore.scan(0, [type: "string"] ++ o)
    assert {:ok, {0, ["l"]}} = FerricStore.scan(0, [type: "LIST"] ++ o)
    assert {:ok, {0, ["s"]}} = FerricStore.scan(0, [type: nil, match: "s", count: nil] ++ o)

    raises(~r"scan/2: type: must be one of \[:string, :hash, :list, :set, :zset\]", fn ->
      FerricStore.scan(0, [type: "stream"] ++ o)
    end)

    raises(~r"scan/2: type: must be one of", fn -> FerricStore.scan(0, [type: :strings] ++ o) end)
    raises(~r"scan/2: match: must be a binary", fn -> FerricStore.scan(0, [match: 123] ++ o) end)
    raises(~r"scan/2: count: must be an integer", fn -> FerricStore.scan(0, [count: :x] ++ o) end)

    raises(~r"sscan/3: unknown option :type", fn ->
      FerricStore.sscan("st", 0, [type: :set] ++ o)
    end)

    raises(~r"sscan/3: match: must be a binary", fn ->
      FerricStore.sscan("st", 0, [match: :x] ++ o)
    end)

    raises(~r"hscan/3: count: must be an integer", fn ->
      FerricStore.hscan("h", 0, [count: 1.5] ++ o)
    end)

    syntax = {:error, %Error{reason: :syntax, message: "ERR syntax error"}}
    assert syntax == FerricStore.scan(0, [count: 0] ++ o)
    assert syntax == FerricStore.sscan("st", 0, [count: -1] ++ o)
    assert syntax == FerricStore.hscan("h", 0, [count: 0] ++ o)
    assert syntax == FerricStore.zscan("z", 0, [count: 0] ++ o)
    assert {:ok, {0, [{"a", 1.0}]}} = FerricStore.zscan("z", 0, [count: 1, match: "a"] ++ o)
  end

  test "no element is Redis' arity error, nil raises", %{opts: o} do
    assert {:error, arity("lpush")} == FerricStore.lpush("l", [], o)
    assert {:error, arity("rpush")} == FerricStore.rpush("l", [], o)
    assert {:error, arity("lpushx")} == FerricStore.lpushx("l", [], o)
    assert {:error, arity("rpushx")} == FerricStore.rpushx("l", [], o)
    assert {:error, arity("sadd")} == FerricStore.sadd("st", [], o)
    assert {:error, arity("srem")} == FerricStore.srem("st", [], o)
    assert {:error, arity("hset")} == FerricStore.hset("h", %{}, o)
    assert {:error, arity("hset")} == FerricStore.hset("h", [], o)
    assert {:error, arity("hdel")} == FerricStore.hdel("h", [], o)
    assert {:error, arity("zadd")} == FerricStore.zadd("z", [], o)
    assert {:error, arity("zadd")} == FerricStore.zadd("z", %{}, [nx: true] ++ o)
    # "ZADD z NX CH" has ZADD's argument count; the missing pair is a syntax error.
    assert {:error, %Error{reason: :syntax}} =
             FerricStore.zadd("z", [], [nx: true, ch: true] ++ o)

    assert {:error, arity("zrem")} == FerricStore.zrem("z", [], o)

    assert_raise FerricStore.Error, "ERR wrong number of arguments for 'lpush' command", fn ->
      FerricStore.lpush!("l", [], o)
    end

    for {fun, key, what} <- [
          {:lpush, "l", "values"},
          {:rpushx, "l", "values"},
          {:sadd, "st", "members"},
          {:srem, "st", "members"},
          {:hdel, "h", "fields"},
          {:zrem, "z", "members"}
        ] do
      raises(~r"#{fun}/3: #{what} must be binaries, got: nil", fn ->
        apply(FerricStore, fun, [key, nil, o])
      end)
    end

    raises(~r"hset/3", fn -> FerricStore.hset("h", nil, o) end)
    raises(~r"zadd/3", fn -> FerricStore.zadd("z", nil, o) end)
    assert {:ok, 0} = FerricStore.dbsize(o)
  end

  test "a use FerricStore module calls its own instance, whatever name: it is given", ctx do
    dir = Path.join(ctx.tmp_dir, "cache")
    pid = start_instance(name: FerricStore.ApiOptionsTest.Cache, data_dir: dir)
    alias FerricStore.ApiOptionsTest.Cache

    assert :ok = Cache.set("k", "v", name: ctx.name)
    assert {:ok, "v"} = Cache.get("k")
    assert {:ok, nil} = FerricStore.get("k", name: ctx.name)
    raises(~r"set/3: unknown option :bogus", fn -> Cache.set("k", "v", bogus: 1) end)
    Supervisor.stop(pid)
  end

  test "calling an instance that was never started raises ArgumentError" do
    raises(~r"FerricStore instance :never_started is not started", fn ->
      FerricStore.get("k", name: :never_started)
    end)

    raises(~r"is not started", fn -> FerricStore.set("k", "v", name: :never_started) end)
    raises(~r"is not started", fn -> FerricStore.dbsize(name: :never_started) end)
  end
end
