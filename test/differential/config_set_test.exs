for file <- ~w(resp_client redis_server) do
  Code.require_file("support/#{file}.exs", __DIR__)
end

defmodule FerricStore.Differential.ConfigSetTest do
  # CONFIG SET's checks of integer settings (Redis' strict parse, its ranges, hz kept
  # within 1..500) and what CONFIG GET reads back, compared with redis-server.
  use ExUnit.Case, async: true

  alias FerricStore.Test.{RedisServer, RESPClient}

  setup_all do
    redis = RedisServer.start!()
    name = :"diff_config_#{System.unique_integer([:positive])}"
    {:ok, sup} = FerricStore.Server.Listener.start_link(instance: name, port: 0)
    Process.unlink(sup)

    on_exit(fn ->
      RedisServer.stop(redis)
      if Process.alive?(sup), do: Supervisor.stop(sup)
    end)

    %{
      redis: RESPClient.connect!(redis.port),
      ferric: RESPClient.connect!(FerricStore.Server.Listener.port(name))
    }
  end

  test "integer settings: parse errors, ranges and clamping as redis-server", ctx do
    cases = [
      ~w(timeout -1),
      ~w(timeout +5),
      ~w(timeout 05),
      ~w(timeout 99999999999),
      ~w(timeout 2147483647),
      ~w(timeout 2147483648),
      ~w(timeout 0),
      ~w(tcp-keepalive -1),
      ~w(tcp-keepalive 60),
      ~w(slowlog-max-len -1),
      ~w(slowlog-max-len 99999999999),
      ~w(slowlog-log-slower-than -5),
      ~w(slowlog-log-slower-than -1),
      ~w(slowlog-log-slower-than 10000),
      ~w(hz 0),
      ~w(hz 1000),
      ~w(hz 10),
      ~w(maxclients 0),
      ~w(maxclients x),
      ~w(maxclients 100)
    ]

    for [param, _] = args <- cases do
      set = ["CONFIG", "SET" | args]
      get = ["CONFIG", "GET", param]

      assert {RESPClient.command(ctx.ferric, set), RESPClient.command(ctx.ferric, get)} ==
               {RESPClient.command(ctx.redis, set), RESPClient.command(ctx.redis, get)},
             Enum.join(set, " ")
    end
  end

  test "enumerated, list and immutable settings: checks and read-back as redis-server", ctx do
    cases = [
      ["appendfsync", "bogus"],
      ["appendfsync", "EVERYSEC"],
      ["appendfsync", "always"],
      ["save", "900"],
      ["save", "x 1"],
      ["save", " 900  1 "],
      ["save", "-1 1"],
      ["save", "900 -1"],
      ["save", "0 1"],
      ["save", "1.5 1"],
      ["save", "+5 1"],
      ["save", "900 "],
      ["save", "900 1 300 10"],
      ["save", ""],
      ["notify-keyspace-events", "Z"],
      ["notify-keyspace-events", "KEA"],
      ["notify-keyspace-events", "KEg"],
      ["notify-keyspace-events", "Elg"],
      ["notify-keyspace-events", "KEAmn"],
      ["notify-keyspace-events", "n"],
      ["notify-keyspace-events", "g$lshzxetd"],
      ["notify-keyspace-events", ""],
      ["client-query-buffer-limit", "100"],
      ["client-query-buffer-limit", "2mb"],
      ["client-query-buffer-limit", "1gb"],
      ["port", "x"],
      ["port", "70000"],
      ["appendonly", "maybe"],
      ["databases", "x"],
      ["cluster-enabled", "maybe"],
      ["latency-tracking", "maybe"],
      ["latency-tracking", "NO"],
      ["latency-tracking", "yes"],
      ["latency-tracking-info-percentiles", "101"],
      ["latency-tracking-info-percentiles", "x"],
      ["latency-tracking-info-percentiles", "-1"],
      ["latency-tracking-info-percentiles", "50.5 0"],
      ["latency-tracking-info-percentiles", "99.99 100"],
      ["latency-tracking-info-percentiles", ""],
      ["latency-tracking-info-percentiles", "50 99 99.9"]
    ]

    # The defaults differ (appendfsync is always "always" here): values are compared
    # once set.
    for [param, _] = args <- cases do
      set = ["CONFIG", "SET" | args]
      get = ["CONFIG", "GET", param]
      reply = RESPClient.command(ctx.ferric, set)
      assert reply == RESPClient.command(ctx.redis, set), Enum.join(set, " ")

      if reply == {:simple, "OK"},
        do: assert(RESPClient.command(ctx.ferric, get) == RESPClient.command(ctx.redis, get))
    end
  end
end
