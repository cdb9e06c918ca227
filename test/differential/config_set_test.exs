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
end
