Code.require_file("../differential/support/resp_client.exs", __DIR__)
Code.require_file("../differential/support/redis_server.exs", __DIR__)

defmodule FerricStore.Clients.RedisCliTest do
  # redis-cli (Debian's, 7.0) driving FerricStore: scripted sessions over RESP2 and RESP3
  # (`-3`), with raw and human-readable (`--no-raw`) output. Each script also runs against
  # a real redis-server and the two outputs must be identical, byte for byte.
  use ExUnit.Case, async: true

  alias FerricStore.Test.RedisServer

  @moduletag :integration

  setup_all do
    if System.find_executable("redis-cli") == nil, do: raise("redis-cli is not installed")
    redis = RedisServer.start!()
    ExUnit.Callbacks.on_exit(fn -> RedisServer.stop(redis) end)
    Map.put(FerricStore.Test.ClientInstance.start!(), :redis_port, redis.port)
  end

  @script """
  SET greeting "hello world"
  GET greeting
  APPEND greeting "!"
  STRLEN greeting
  GETRANGE greeting 0 4
  SETRANGE greeting 6 "WORLD"
  GET greeting
  INCR visits
  INCRBY visits 41
  DECRBY visits 2
  INCRBYFLOAT price 2.5
  INCRBYFLOAT price -0.25
  MSET a 1 b 2 "c d" "x\\x00y"
  MGET a b nosuchkey "c d"
  MSETNX a 9 z 9
  SET counter 10 EX 1000 GET
  SET counter 11 KEEPTTL GET
  SETNX counter 12
  EXPIRE a 100
  TTL a
  EXPIRE a 50 GT
  PERSIST a
  TTL a
  TTL nosuchkey
  TYPE greeting
  TYPE nosuchkey
  EXISTS a b nosuchkey a
  GETDEL b
  GETSET a 100
  GETEX a PERSIST
  DEL a greeting
  GET greeting
  INCR price
  INCR
  SET k v NX XX
  GETRANGE
  KEYS "count*"
  DBSIZE
  PING
  PING "with arg"
  ECHO "echo\\r\\nme"
  """

  defp cli(port, args, input) do
    {out, _status} =
      System.cmd("sh", ["-c", "printf '%s' \"$INPUT\" | redis-cli -p #{port} #{args}"],
        env: [{"INPUT", input}],
        stderr_to_stdout: true
      )

    out
  end

  defp both(ctx, args, input) do
    for port <- [ctx.redis_port, ctx.port] do
      cli(port, "", "FLUSHALL\n")
      cli(port, args, input)
    end
  end

  for {label, args} <- [
        {"RESP2, raw output", ""},
        {"RESP2, --no-raw output", "--no-raw"},
        {"RESP3 (-3), raw output", "-3"},
        {"RESP3 (-3), --no-raw output", "-3 --no-raw"}
      ] do
    @args args
    test "a scripted session, #{label}, prints what it prints with redis-server", ctx do
      [redis, ferric] = both(ctx, @args, @script)
      assert redis =~ "hello WORLD"
      assert ferric == redis
    end
  end

  test "one-shot commands print the same as with redis-server", ctx do
    for args <- [
          "SET 'key with spaces' value",
          "--no-raw GET 'key with spaces'",
          "GET",
          "NOSUCHCOMMAND x",
          "--no-raw -3 INCRBYFLOAT f 1.5",
          "--no-raw -3 TTL 'key with spaces'",
          "--no-raw -3 GET nosuchkey",
          "--no-raw -3 MGET f nosuchkey",
          "--no-raw -3 EXPIRETIME f"
        ] do
      [redis, ferric] = for port <- [ctx.redis_port, ctx.port], do: cli(port, args, "")
      assert {args, ferric} == {args, redis}
    end
  end

  test "--scan with a pattern lists every matching key", ctx do
    cli(ctx.port, "", "FLUSHALL\n")
    input = Enum.map_join(1..300, "\n", &"SET user:#{&1} x") <> "\nSET other y\n"
    cli(ctx.port, "", input)
    keys = cli(ctx.port, "--scan --pattern 'user:*'", "") |> String.split("\n", trim: true)
    assert Enum.sort(keys) == Enum.sort(for i <- 1..300, do: "user:#{i}")
    assert cli(ctx.port, "DBSIZE", "") == "301\n"
  end
end
