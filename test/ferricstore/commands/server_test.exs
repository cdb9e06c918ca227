defmodule FerricStore.Commands.ServerTest do
  use ExUnit.Case, async: true

  import FerricStore.Test.RespServerCase

  alias FerricStore.Commands
  alias FerricStore.Commands.{Context, Server}

  doctest Server

  setup do
    {instance, port} = start_listener()
    %{instance: instance, port: port, ctx: Context.new(instance: instance)}
  end

  defp run(cmd, ctx) do
    {reply, _} = Commands.dispatch(cmd, ctx)
    reply
  end

  test "COMMAND COUNT/INFO/LIST/DOCS", %{ctx: ctx} do
    n = run(["COMMAND", "COUNT"], ctx)
    assert n == length(run(["COMMAND"], ctx))
    assert "ping" in run(["COMMAND", "LIST"], ctx)

    assert [["get" | _] = get, nil] =
             run(["COMMAND", "INFO", "GET", "nope"], ctx)
             |> then(&[Enum.at(&1, 0) || ["get"], Enum.at(&1, 1)])

    assert is_list(get)
    [["ping", -1, {:set, flags} | _]] = run(["COMMAND", "INFO", "ping"], ctx)
    assert {:simple, "fast"} in flags
    assert {:map, [{"ping", {:map, _}}]} = run(["COMMAND", "DOCS", "ping"], ctx)
  end

  test "COMMAND INFO: every command without names, subcommands by container|name", %{ctx: ctx} do
    assert length(run(["COMMAND", "INFO"], ctx)) == run(["COMMAND", "COUNT"], ctx)
    assert [["client|id", 2 | _]] = run(["COMMAND", "INFO", "CLIENT|ID"], ctx)
    assert [nil] = run(["COMMAND", "INFO", "client|nope"], ctx)
    assert {:map, [{"config|get", {:map, _}}]} = run(["COMMAND", "DOCS", "config|get"], ctx)
    # Tips and key specs are sets, and so are no subcommands (RESP3 `~0`), as in Redis 7.
    [[_, _, _, _, _, _, _, {:set, []}, {:set, []}, {:set, []}]] =
      run(["COMMAND", "INFO", "ping"], ctx)

    [[_, _, _, _, _, _, _, _, _, [_ | _]]] = run(["COMMAND", "INFO", "config"], ctx)
  end

  test "INFO sections", %{ctx: ctx, port: port} do
    {:verbatim, "txt", all} = run(["INFO"], ctx)

    for s <- ~w(Server Clients Memory Persistence Stats Replication Keyspace),
        do: assert(all =~ "# #{s}\r\n")

    assert all =~ "loading:0\r\n"
    assert all =~ "tcp_port:#{port}\r\n"
    {:verbatim, "txt", ks} = run(["INFO", "keyspace"], ctx)
    assert ks =~ ~r/^# Keyspace\r\n/
  end

  test "TIME", %{ctx: ctx} do
    [s, us] = run(["TIME"], ctx)
    assert abs(String.to_integer(s) - System.os_time(:second)) < 5
    assert String.to_integer(us) < 1_000_000
  end

  test "CONFIG GET/SET", %{ctx: ctx, port: port} do
    assert run(["CONFIG", "GET", "port"], ctx) == {:map, [{"port", "#{port}"}]}
    assert {:map, pairs} = run(["CONFIG", "GET", "max*"], ctx)
    assert {"maxmemory", "0"} in pairs and {"maxclients", "10000"} in pairs

    assert run(["CONFIG", "GET", "appendonly", "save"], ctx) ==
             {:map, [{"appendonly", "yes"}, {"save", ""}]}

    assert run(["CONFIG", "SET", "maxmemory", "1mb"], ctx) == :ok
    assert run(["CONFIG", "GET", "maxmemory"], ctx) == {:map, [{"maxmemory", "1048576"}]}

    assert run(["CONFIG", "SET", "port", "1"], ctx).message ==
             "ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config"

    assert run(["CONFIG", "SET", "proto-max-bulk-len", "10"], ctx).message =~ "between 1048576"

    # A name without glob characters is answered as typed; each parameter once.
    assert run(["CONFIG", "GET", "MAXMEMORY", "maxmemory", "maxmem*"], ctx) ==
             {:map, [{"MAXMEMORY", "1048576"}, {"maxmemory-policy", "noeviction"}]}

    assert run(["CONFIG", "SET", "maxmemory", "0", "MAXMEMORY", "1"], ctx).message ==
             "ERR CONFIG SET failed (possibly related to argument 'MAXMEMORY') - duplicate parameter"

    assert run(["CONFIG", "SET", "maxmemory", "0", "maxmemory"], ctx).message ==
             "ERR syntax error"

    assert run(["CONFIG", "GET", "maxmemory"], ctx) == {:map, [{"maxmemory", "1048576"}]}
    assert run(["CONFIG", "SET", "proto-max-bulk-len", "2mb"], ctx) == :ok
  end

  test "proto-max-bulk-len applies to new reads", %{port: port, ctx: ctx} do
    :ok = run(["CONFIG", "SET", "proto-max-bulk-len", "1048576"], ctx)
    sock = connect(port)
    :gen_tcp.send(sock, "*2\r\n$4\r\nECHO\r\n$1048577\r\n")
    assert read_until_closed(sock) == "-ERR Protocol error: invalid bulk length\r\n<CLOSED>"
  end

  test "ROLE: a master without replicas", %{ctx: ctx} do
    assert run(["ROLE"], ctx) == ["master", 0, []]
    assert run(["ROLE", "x"], ctx).message =~ "wrong number of arguments for 'role'"
  end

  test "SHUTDOWN: Redis' option checks; refused where FerricStore is embedded", %{ctx: ctx} do
    for args <- [["foo"], ["SAVE", "NOSAVE"], ["ABORT", "NOW"]],
        do: assert(run(["SHUTDOWN" | args], ctx).message == "ERR syntax error")

    assert run(["SHUTDOWN", "ABORT"], ctx).message == "ERR No shutdown in progress."
    # This VM runs the tests: SHUTDOWN must not stop it.
    assert run(["SHUTDOWN", "NOSAVE"], ctx).message =~ "SHUTDOWN is not allowed"
    assert run(["SHUTDOWN"], ctx).message =~ "SHUTDOWN is not allowed"
  end

  test "INFO errorstats counts error replies by prefix, as Redis", %{ctx: ctx, port: port} do
    sock = connect(port)
    "-ERR unknown command" <> _ = request(sock, "NOSUCH\r\n")
    "-ERR wrong number" <> _ = request(sock, "GET\r\n")
    # Two writes in one read run as a pipeline: their errors count too.
    "-ERR" <> _ = request(sock, "INCRBY k x\r\nINCRBY k y\r\n", 2)
    {:verbatim, "txt", text} = run(["INFO", "errorstats"], ctx)
    assert text == "# Errorstats\r\nerrorstat_ERR:count=4\r\n"
    assert info_field(run(["INFO", "stats"], ctx), "total_error_replies") == "4"
    # A protocol error is an error reply too.
    :ok = :gen_tcp.send(sock, "*1\r\n$x\r\n")
    _ = read_until_closed(sock)
    assert info_field(run(["INFO", "stats"], ctx), "total_error_replies") == "5"
  end

  test "CONFIG RESETSTAT zeroes the INFO counters", %{ctx: ctx, port: port} do
    sock = connect(port)
    for _ <- 1..5, do: "+PONG\r\n" = request(sock, "PING\r\n")
    # The connection's counters reach INFO when the context changes (CLIENT SETNAME).
    "+OK\r\n" = request(sock, "CLIENT SETNAME a\r\n")
    stat = fn name -> String.to_integer(info_field(run(["INFO", "stats"], ctx), name)) end
    assert stat.("total_connections_received") >= 1 and stat.("total_commands_processed") >= 5
    assert run(["CONFIG", "RESETSTAT"], ctx) == :ok
    assert stat.("total_connections_received") == 0 and stat.("total_commands_processed") == 0
  end

  test "FLUSHDB/FLUSHALL argument checks", %{ctx: ctx} do
    assert run(["FLUSHDB", "x"], ctx).message == "ERR syntax error"
    assert run(["FLUSHALL", "ASYNC", "x"], ctx).message == "ERR syntax error"
  end

  describe "with a store" do
    @describetag :tmp_dir

    test "DBSIZE, FLUSHDB and INFO keyspace", %{tmp_dir: dir} do
      name = :"server_cmd_store_#{System.unique_integer([:positive])}"

      start_supervised!({FerricStore, name: name, data_dir: dir})
      ctx = Context.new(instance: name)
      assert run(["DBSIZE"], ctx) == 0
      :ok = FerricStore.set("a", "1", name: name)
      :ok = FerricStore.set("b", "2", name: name)
      assert run(["DBSIZE"], ctx) == 2
      {:verbatim, "txt", ks} = run(["INFO", "keyspace"], ctx)
      assert ks =~ "db0:keys=2,expires=0,avg_ttl=0"
      assert run(["FLUSHDB"], ctx) == :ok
      assert run(["DBSIZE"], ctx) == 0
    end

    test "INFO stats count keyspace hits, misses and expired keys", %{tmp_dir: dir} do
      name = :"server_cmd_stats_#{System.unique_integer([:positive])}"
      start_supervised!({FerricStore, name: name, data_dir: dir})
      ctx = Context.new(instance: name)
      stat = fn field -> String.to_integer(info_field(run(["INFO", "stats"], ctx), field)) end

      :ok = FerricStore.set("a", "1", name: name)
      :ok = FerricStore.set("short", "v", px: 20, name: name)
      {:ok, "1"} = FerricStore.get("a", name: name)
      "1" = run(["GET", "a"], ctx)
      {:ok, nil} = FerricStore.get("nope", name: name)
      1 = run(["EXISTS", "a"], ctx)
      0 = run(["EXISTS", "nope"], ctx)
      assert {stat.("keyspace_hits"), stat.("keyspace_misses")} == {3, 2}

      # The expirer deletes the key through Raft and counts it.
      Process.sleep(30)
      FerricStore.StoreCase.wait_until(fn -> stat.("expired_keys") == 1 end)

      assert run(["CONFIG", "RESETSTAT"], ctx) == :ok

      assert {stat.("keyspace_hits"), stat.("keyspace_misses"), stat.("expired_keys")} ==
               {0, 0, 0}
    end
  end

  test "INFO cpu reports the process' own CPU time; modules and cluster sections", %{ctx: ctx} do
    {:verbatim, "txt", text} = run(["INFO", "everything"], ctx)
    user = String.to_float(info_field({:verbatim, "txt", text}, "used_cpu_user"))
    sys = String.to_float(info_field({:verbatim, "txt", text}, "used_cpu_sys"))
    assert user > 0.0 and sys > 0.0
    assert text =~ "# Modules\r\n" and text =~ "# Cluster\r\ncluster_enabled:0\r\n"
  end

  defp info_field({:verbatim, _, text}, name) do
    [_, value] = Regex.run(~r/^#{name}:(\S+)\r?$/m, text)
    value
  end
end
