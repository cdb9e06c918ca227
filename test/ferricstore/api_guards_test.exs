# Defined before the tests: ExUnit may start an async test module as soon as it is
# compiled, before the rest of its file.
defmodule FerricStore.ApiGuardsTest.Cache do
  @moduledoc false
  use FerricStore, otp_app: :ferricstore_api_guards_test
end

defmodule FerricStore.ApiGuardsTest do
  # The embedded API checks its arguments in the caller: a wrong-typed key, value,
  # field, member or count raises ArgumentError before anything reaches Raft (a bad op
  # in the log would be replayed by every restart), and Redis' own errors (a negative
  # count, a value over proto-max-bulk-len) come back as values. After each bad call
  # the instance still answers and nothing was written.
  use FerricStore.StoreCase, async: true

  alias FerricStore.Error

  @moduletag :tmp_dir

  @positive %Error{reason: :out_of_range, message: "ERR value is out of range, must be positive"}

  setup %{opts: o} do
    :ok = FerricStore.set("s", "v", o)
    {:ok, 2} = FerricStore.rpush("l", ["a", "b"], o)
    {:ok, 2} = FerricStore.hset("h", %{"f" => "1", "g" => "2"}, o)
    {:ok, 2} = FerricStore.sadd("st", ["a", "b"], o)
    {:ok, 2} = FerricStore.zadd("z", [{1, "a"}, {2, "b"}], o)
    :ok
  end

  # The instance still writes, and the data set is the one the setup wrote.
  defp unchanged(o) do
    assert :ok = FerricStore.set("probe", "x", o)
    assert {:ok, 1} = FerricStore.del("probe", o)
    assert {:ok, 5} = FerricStore.dbsize(o)
    assert {:ok, "v"} = FerricStore.get("s", o)
    assert {:ok, ["a", "b"]} = FerricStore.lrange("l", 0, -1, o)
    assert {:ok, %{"f" => "1", "g" => "2"}} = FerricStore.hgetall("h", o)
    assert {:ok, ["a", "b"]} = FerricStore.smembers("st", o)

    assert {:ok, [{"a", 1.0}, {"b", 2.0}]} =
             FerricStore.zrange("z", 0, -1, [with_scores: true] ++ o)
  end

  defp raises(message, fun), do: assert_raise(ArgumentError, message, fun)

  test "strings and whole values refuse non-binary keys and values", %{opts: o} do
    raises("FerricStore.set/3: key and value must be binaries, got: 123", fn ->
      FerricStore.set("s", 123, o)
    end)

    raises(~r"FerricStore.set/3: key and value must be binaries, got: :k", fn ->
      FerricStore.set(:k, "v", o)
    end)

    raises(~r"getset/3: .* got: nil", fn -> FerricStore.getset("s", nil, o) end)
    raises(~r"append/3", fn -> FerricStore.append("s", 123, o) end)
    raises(~r"setrange/4: value must be a binary", fn -> FerricStore.setrange("s", 1, 123, o) end)

    raises(~r"setrange/4: offset must be an integer", fn ->
      FerricStore.setrange("s", :a, "x", o)
    end)

    raises(~r"cas/4: key and new value", fn -> FerricStore.cas("s", "v", 123, o) end)
    raises(~r"cas/4: key and new value", fn -> FerricStore.cas("missing", nil, 123, o) end)
    raises(~r"cas/4: expected must be", fn -> FerricStore.cas("s", :v, "w", o) end)

    raises(~r"mset/2: pairs must be .*, got: {\"k\", 123}", fn ->
      FerricStore.mset([{"k", 123}], o)
    end)

    raises(~r"msetnx/2", fn -> FerricStore.msetnx([{"kk", nil}], o) end)
    raises(~r"mset/2", fn -> FerricStore.mset(["x", 1], o) end)
    raises(~r"mset/2", fn -> FerricStore.mset(123, o) end)

    raises(~r"incr/2: key must be a binary, got: :atomkey", fn ->
      FerricStore.incr(:atomkey, o)
    end)

    raises(~r"incrby/3: by must be an integer", fn -> FerricStore.incrby("n", 1.5, o) end)
    raises(~r"decrby/3: by must be an integer", fn -> FerricStore.decrby("n", :a, o) end)
    raises(~r"incrbyfloat/3: by must be a number", fn -> FerricStore.incrbyfloat("n", :a, o) end)

    raises(~r"rename/3: keys must be binaries, got: 123", fn ->
      FerricStore.rename("s", 123, o)
    end)

    raises(~r"renamenx/3", fn -> FerricStore.renamenx("s", :d, o) end)
    raises(~r"copy/3", fn -> FerricStore.copy("s", :zz, o) end)
    raises(~r"expire/3: seconds must be an integer", fn -> FerricStore.expire("s", :a, o) end)
    raises(~r"pexpireat/3: ms must be an integer", fn -> FerricStore.pexpireat("s", nil, o) end)
    # The bang twins check the same way.
    raises(~r"set/3", fn -> FerricStore.set!("s", 1, o) end)
    unchanged(o)
  end

  test "reads refuse a non-binary key instead of reading it as missing", %{opts: o} do
    raises("FerricStore.get/2: key must be a binary, got: 123", fn -> FerricStore.get(123, o) end)
    raises(~r"exists/2: keys must be binaries, got: :a", fn -> FerricStore.exists([:a], o) end)
    raises(~r"del/2", fn -> FerricStore.del(123, o) end)
    raises(~r"type/2", fn -> FerricStore.type(nil, o) end)
    raises(~r"ttl/2", fn -> FerricStore.ttl(1.5, o) end)
    raises(~r"mget/2", fn -> FerricStore.mget(["s", 1], o) end)
    raises(~r"hget/3: field must be a binary, got: 123", fn -> FerricStore.hget("h", 123, o) end)

    raises(~r"smismember/3: members must be binaries, got: 1", fn ->
      FerricStore.smismember("st", ["x", 1], o)
    end)

    raises(~r"zscore/3: member must be a binary", fn -> FerricStore.zscore("z", :a, o) end)
    raises(~r"lindex/3: index must be an integer", fn -> FerricStore.lindex("l", "0", o) end)
    raises(~r"lrange/4: start must be an integer", fn -> FerricStore.lrange("l", :a, 1, o) end)
    raises(~r"getrange/4", fn -> FerricStore.getrange("s", :atom, -1, o) end)
    raises(~r"scan/2: cursor", fn -> FerricStore.scan(:atom, o) end)
    raises(~r"keys/2: pattern must be a binary", fn -> FerricStore.keys(123, o) end)
    raises(~r"sinter/2: keys must not be empty", fn -> FerricStore.sinter([], o) end)
    unchanged(o)
  end

  test "lists refuse non-binary elements", %{opts: o} do
    raises("FerricStore.lpush/3: values must be binaries, got: 123", fn ->
      FerricStore.lpush("l", 123, o)
    end)

    raises(~r"rpush/3: values must be binaries, got: \[\"a\"\]", fn ->
      FerricStore.rpush("l", [["a"]], o)
    end)

    raises(~r"rpush/3: values must be binaries, got: 1", fn ->
      FerricStore.rpush("l", ["x", 1], o)
    end)

    raises(~r"lpushx/3", fn -> FerricStore.lpushx("l", 123, o) end)
    raises(~r"rpushx/3", fn -> FerricStore.rpushx("l", [nil], o) end)
    raises(~r"lpush/3: key must be a binary", fn -> FerricStore.lpush(:l, "x", o) end)
    raises(~r"lset/4", fn -> FerricStore.lset("l", 0, 123, o) end)
    raises(~r"linsert/5", fn -> FerricStore.linsert("l", :before, "a", 123, o) end)
    raises(~r"lrem/4: count must be an integer", fn -> FerricStore.lrem("l", 1.5, "a", o) end)
    raises(~r"ltrim/4", fn -> FerricStore.ltrim("l", :a, 1, o) end)

    raises(~r"lmove/5: keys must be binaries", fn ->
      FerricStore.lmove("l", 123, :left, :right, o)
    end)

    raises(~r"rpoplpush/3", fn -> FerricStore.rpoplpush("l", :dst, o) end)
    unchanged(o)
  end

  test "hashes, sets and sorted sets refuse non-binary fields and members", %{opts: o} do
    raises(~r"hset/3: fields must be .*, got: {1, \"v\"}", fn ->
      FerricStore.hset("h", [{1, "v"}], o)
    end)

    raises(~r"hset/3", fn -> FerricStore.hset("h", %{f: "v"}, o) end)
    raises(~r"hset/3", fn -> FerricStore.hset("h", [{"f", nil}], o) end)
    raises(~r"hset/3", fn -> FerricStore.hset("h", ["f", "v"], o) end)
    raises(~r"hset/3: key must be a binary", fn -> FerricStore.hset(123, [{"f", "v"}], o) end)
    raises(~r"hsetnx/4", fn -> FerricStore.hsetnx("h", "g", 123, o) end)
    raises(~r"hincrby/4", fn -> FerricStore.hincrby(123, "i", 1, o) end)
    raises(~r"hdel/3", fn -> FerricStore.hdel("h", [:f], o) end)

    raises(~r"sadd/3: members must be binaries, got: 1", fn ->
      FerricStore.sadd("st", ["a", 1], o)
    end)

    raises(~r"sadd/3", fn -> FerricStore.sadd("st", 123, o) end)
    raises(~r"srem/3", fn -> FerricStore.srem("st", [nil], o) end)
    raises(~r"smove/4", fn -> FerricStore.smove("st", 123, "a", o) end)
    raises(~r"smove/4", fn -> FerricStore.smove("st", "st2", 123, o) end)

    raises(~r"sinterstore/3: dst must be a binary", fn ->
      FerricStore.sinterstore(123, ["st"], o)
    end)

    raises(~r"sunionstore/3", fn -> FerricStore.sunionstore(:d, ["st"], o) end)

    raises(~r"zadd/3: members must be binaries, got: 123", fn ->
      FerricStore.zadd("z", [{1, 123}], o)
    end)

    raises(~r"zadd/3: scores must be", fn -> FerricStore.zadd("z", [{nil, "m"}], o) end)
    raises(~r"zadd/3", fn -> FerricStore.zadd("z", %{a: 1}, o) end)
    raises(~r"zadd/3: pairs must be", fn -> FerricStore.zadd("z", 123, o) end)
    raises(~r"zadd/3: pairs must be", fn -> FerricStore.zadd("z", ["x", 1], o) end)
    raises(~r"zincrby/4", fn -> FerricStore.zincrby("z", 1, 123, o) end)
    raises(~r"zrangestore/5", fn -> FerricStore.zrangestore(123, "z", 0, -1, o) end)
    raises(~r"zunionstore/3", fn -> FerricStore.zunionstore(:d, ["z"], o) end)
    raises(~r"zunion/2: weights: must be", fn -> FerricStore.zunion(["z"], [weights: 3] ++ o) end)
    raises(~r"zrem/3", fn -> FerricStore.zrem("z", 1, o) end)
    unchanged(o)
  end

  test "counts: negative is Redis' error, non-integer raises, nothing is popped", %{opts: o} do
    for fun <- [:lpop, :rpop, :spop, :zpopmin, :zpopmax] do
      key = if fun in [:lpop, :rpop], do: "l", else: if(fun == :spop, do: "st", else: "z")
      assert {:error, @positive} = apply(FerricStore, fun, [key, [count: -1] ++ o])

      raises(~r"#{fun}/2: count: must be an integer, got: :x", fn ->
        apply(FerricStore, fun, [key, [count: :x] ++ o])
      end)
    end

    for {fun, key} <- [srandmember: "st", hrandfield: "h", zrandmember: "z"] do
      raises(~r"#{fun}/2: count: must be an integer", fn ->
        apply(FerricStore, fun, [key, [count: :x] ++ o])
      end)

      raises(~r"#{fun}/2", fn -> apply(FerricStore, fun, [key, [count: 1.5] ++ o]) end)

      # A huge negative count would build the list in the caller; refused at once.
      assert {:error, %Error{message: "ERR value is out of range"}} =
               apply(FerricStore, fun, [key, [count: -4_611_686_018_427_387_904] ++ o])

      assert {:ok, picks} = apply(FerricStore, fun, [key, [count: -5] ++ o])
      assert length(picks) == 5
    end

    unchanged(o)
  end

  test "option values Redis refuses", %{opts: o} do
    assert {:error, %Error{message: "ERR RANK can't be zero: use 1" <> _}} =
             FerricStore.lpos("l", "a", [rank: 0] ++ o)

    assert {:error, %Error{message: "ERR COUNT can't be negative"}} =
             FerricStore.lpos("l", "a", [count: -1] ++ o)

    assert {:error, %Error{message: "ERR MAXLEN can't be negative"}} =
             FerricStore.lpos("l", "a", [maxlen: -1] ++ o)

    raises(~r"lpos/3: rank: must be an integer", fn ->
      FerricStore.lpos("l", "a", [rank: :x] ++ o)
    end)

    assert {:ok, 1} = FerricStore.lpos("l", "b", [rank: nil] ++ o)

    assert {:error, %Error{message: "ERR LIMIT can't be negative"}} =
             FerricStore.sintercard(["st"], [limit: -1] ++ o)

    raises(~r"sintercard/2", fn -> FerricStore.sintercard(["st"], [limit: :x] ++ o) end)

    assert {:error, %Error{message: "ERR syntax error, LIMIT is only supported" <> _}} =
             FerricStore.zrange("z", 0, -1, [limit: {0, 1}] ++ o)

    raises(~r"zrange/4: limit:", fn ->
      FerricStore.zrange("z", 0, 10, [by: :score, limit: :x] ++ o)
    end)

    assert {:ok, ["b"]} = FerricStore.zrange("z", 0, 10, [by: :score, limit: {1, 1}] ++ o)

    syntax = %Error{reason: :syntax, message: "ERR syntax error"}
    assert {:error, ^syntax} = FerricStore.zunion(["z"], [weights: [1, 2]] ++ o)
    assert {:error, ^syntax} = FerricStore.zunion(["z"], [aggregate: :avg] ++ o)
    assert {:error, ^syntax} = FerricStore.zunionstore("d", ["z"], [aggregate: :avg] ++ o)
    assert {:error, ^syntax} = FerricStore.getex("s", [persist: true, ttl: 100] ++ o)
    assert {:error, ^syntax} = FerricStore.getex("s", [keepttl: true] ++ o)

    assert {:error, %Error{message: "ERR decrement would overflow"}} =
             FerricStore.decrby("n", -9_223_372_036_854_775_808, o)

    assert {:error, %Error{reason: :not_integer}} = FerricStore.decrby("n", 2 ** 63, o)
    # Offsets and indexes beyond 64 bits: Redis cannot parse them either.
    assert {:error, %Error{reason: :not_integer}} = FerricStore.setrange("s", 2 ** 70, "", o)
    assert {:error, %Error{reason: :not_integer}} = FerricStore.setrange("s", 2 ** 64, "x", o)
    assert {:error, %Error{reason: :not_integer}} = FerricStore.getrange("s", 0, 2 ** 70, o)

    assert {:error, %Error{reason: :not_integer}} =
             FerricStore.getrange("s", -(2 ** 63) - 1, 1, o)

    assert {:ok, -1} = FerricStore.ttl("s", o)
    unchanged(o)
  end

  test "incrbyfloat past a float's range returns Redis' digits", %{opts: o} do
    assert {:ok, 1.0e308} = FerricStore.incrbyfloat("f", 1.0e308, o)
    assert {:ok, text} = FerricStore.incrbyfloat("f", 1.0e308, o)
    assert is_binary(text) and byte_size(text) == 309 and String.starts_with?(text, "1999")
    assert {:ok, ^text} = FerricStore.get("f", o)
    assert {:ok, big} = FerricStore.incrbyfloat("f2", "1e400", o)
    assert byte_size(big) == 401
    assert {:ok, h} = FerricStore.hincrbyfloat("hh", "x", "1e400", o)
    assert {:ok, ^h} = FerricStore.hget("hh", "x", o)
    assert ^h = FerricStore.hincrbyfloat!("hh", "y", "1e400", o)
  end

  test "keys/1 with options only, info!/1 and the use-form keys/0 and info/0", ctx do
    %{opts: o, tmp_dir: dir} = ctx

    assert {:ok, ["h", "l", "s", "st", "z"]} =
             with({:ok, ks} <- FerricStore.keys(o), do: {:ok, Enum.sort(ks)})

    assert %{} = FerricStore.info!(o)

    pid = start_instance(name: FerricStore.ApiGuardsTest.Cache, data_dir: Path.join(dir, "cache"))
    on_exit(fn -> stop_instance(FerricStore.ApiGuardsTest.Cache) end)
    assert is_pid(pid)
    assert :ok = FerricStore.ApiGuardsTest.Cache.set("k", "v")
    assert {:ok, ["k"]} = FerricStore.ApiGuardsTest.Cache.keys()
    assert ["k"] = FerricStore.ApiGuardsTest.Cache.keys!()
    assert %{} = FerricStore.ApiGuardsTest.Cache.info()
    assert %{} = FerricStore.ApiGuardsTest.Cache.info!()
  end

  @tag timeout: 120_000
  test "a value over proto-max-bulk-len is refused before it is written", %{opts: o} do
    too_long = %Error{
      reason: :string_too_long,
      message: "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    }

    big = :binary.copy("x", 512 * 1024 * 1024 + 1)

    try do
      assert {:error, ^too_long} = FerricStore.set("s", big, o)
      assert {:error, ^too_long} = FerricStore.set(big, "v", o)
      assert {:error, ^too_long} = FerricStore.getset("s", big, o)
      assert {:error, ^too_long} = FerricStore.mset([{"a", "1"}, {"b", big}], o)
      assert {:error, ^too_long} = FerricStore.hset("h", [{"f", big}], o)
      assert {:error, ^too_long} = FerricStore.hsetnx("h", "new", big, o)
      assert {:error, ^too_long} = FerricStore.lpush("l", ["x", big], o)
      assert {:error, ^too_long} = FerricStore.lset("l", 0, big, o)
      assert {:error, ^too_long} = FerricStore.sadd("st", big, o)
      assert {:error, ^too_long} = FerricStore.zadd("z", [{1, big}], o)
      assert {:error, ^too_long} = FerricStore.cas("s", "v", big, o)
      assert {:error, ^too_long} = FerricStore.append("s", big, o)
    after
      :erlang.garbage_collect()
    end

    assert {:ok, nil} = FerricStore.get("a", o)
    unchanged(o)
  end
end
