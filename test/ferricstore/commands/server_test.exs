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

    test "INFO commandstats: calls, rejected and failed calls per command and subcommand",
         %{tmp_dir: dir} do
      {_name, port} = store_listener(data_dir: dir)
      sock = connect(port)

      "+OK\r\n" = request(sock, "SET k v\r\n")
      "$1\r\nv\r\n" = request(sock, "get k\r\n")
      # Wrong arity: rejected before it runs. Not an integer: ran and failed.
      "-ERR wrong number" <> _ = request(sock, "GET\r\n")
      "-ERR value is not an integer" <> _ = request(sock, "INCR k\r\n")
      "*2\r\n" <> _ = request(sock, "CONFIG GET maxmemory\r\n")
      # Unknown commands and subcommands count in errorstats only, as in Redis.
      "-ERR unknown command" <> _ = request(sock, "NOSUCH\r\n")
      "-ERR unknown subcommand" <> _ = request(sock, "CONFIG NOSUCH\r\n")
      # Two writes in one read run as a pipeline: each counts.
      "+OK\r\n+OK\r\n" = request(sock, "SET a 1\r\nSET b 2\r\n", 2)

      # The connection's own commands reach INFO before it runs.
      stats = request(sock, "INFO commandstats\r\n") |> cmdstats()

      assert %{"calls" => "3", "rejected_calls" => "0", "failed_calls" => "0"} = stats["set"]
      assert %{"calls" => "1", "rejected_calls" => "1", "failed_calls" => "0"} = stats["get"]
      assert %{"calls" => "1", "rejected_calls" => "0", "failed_calls" => "1"} = stats["incr"]
      assert %{"calls" => "1"} = stats["config|get"]
      assert Map.keys(stats) |> Enum.sort() == ["config|get", "get", "incr", "set"]
      # SET waited for its fsync: time was counted, and usec_per_call is usec / calls.
      usec = String.to_integer(stats["set"]["usec"])
      assert usec > 0
      assert stats["set"]["usec_per_call"] == :erlang.float_to_binary(usec / 3, decimals: 2)

      # Another client's commands arrive within a second though it stays quiet and open,
      # and those of a client that quits are counted too.
      quiet = connect(port)
      for _ <- 1..3, do: "$1\r\nx\r\n" = request(quiet, "ECHO x\r\n")
      quitter = connect(port)
      "+PONG\r\n" = request(quitter, "PING\r\n")
      "+OK\r\n" = request(quitter, "QUIT\r\n")

      wait_until(fn ->
        stats = request(sock, "INFO commandstats\r\n") |> cmdstats()
        stats["echo"]["calls"] == "3" and stats["quit"]["calls"] == "1"
      end)

      # Not in the default sections; in "all" and "everything"; reset by CONFIG RESETSTAT.
      refute request(sock, "INFO\r\n") =~ "# Commandstats"
      assert request(sock, "INFO all\r\n") =~ "# Commandstats\r\ncmdstat_"
      # As in Redis, RESETSTAT itself counts, after the reset.
      "+OK\r\n" = request(sock, "CONFIG RESETSTAT\r\n")

      assert request(sock, "INFO commandstats\r\n") |> cmdstats() |> Map.keys() == [
               "config|resetstat"
             ]

      assert request(sock, "INFO commandstats\r\n") |> cmdstats() |> Map.keys() |> Enum.sort() ==
               ["config|resetstat", "info"]
    end

    test "SAVE, BGSAVE, LASTSAVE and BGREWRITEAOF checkpoint and compact the store",
         %{tmp_dir: dir} do
      # Small files, never compacted by themselves: BGREWRITEAOF is what compacts them.
      {name, port} =
        store_listener(data_dir: dir, max_file_size: 16 * 1024, compaction_ratio: 1.0)

      sock = connect(port)
      field = fn f -> request(sock, "INFO persistence\r\n") |> field(f) end

      # LASTSAVE is the start time until a save; SAVE moves it.
      :ets.insert(FerricStore.Server.Config.table(name), {:last_save, 1})
      ":1\r\n" = request(sock, "LASTSAVE\r\n")
      before = System.os_time(:second)
      "+OK\r\n" = request(sock, "SAVE\r\n")
      ":" <> at = request(sock, "LASTSAVE\r\n")
      assert String.to_integer(String.trim(at)) >= before
      assert field.("rdb_saves") == "1" and field.("rdb_last_bgsave_status") == "ok"

      # SAVE checkpointed the shard: ra's log was released up to the last write.
      value = String.duplicate("v", 500)
      for i <- 1..200, do: :ok = FerricStore.set("k#{i}", value, name: name)
      "+OK\r\n" = request(sock, "SAVE\r\n")
      applied = FerricStore.Store.Keydir.meta(FerricStore.Store.tables(name, 0).meta, :applied)
      server = FerricStore.Store.Shard.server_id(name, 0)
      wait_until(fn -> released(server) >= applied - 1 end)

      "+Background saving started\r\n" = request(sock, "BGSAVE\r\n")
      wait_until(fn -> field.("rdb_saves") == "3" end)
      assert field.("rdb_bgsave_in_progress") == "0"

      # One at a time.
      true = FerricStore.Server.Config.claim(name, :bgsave)
      assert field.("rdb_bgsave_in_progress") == "1"
      "-ERR Background save already in progress\r\n" = request(sock, "BGSAVE SCHEDULE\r\n")
      FerricStore.Server.Config.release(name, :bgsave)
      "-ERR syntax error\r\n" = request(sock, "BGSAVE NOW\r\n")

      # Overwritten values leave dead bytes in sealed files, which BGREWRITEAOF compacts.
      for i <- 1..200, do: :ok = FerricStore.set("k#{i}", "new", name: name)
      before = data_bytes(dir)
      "+Background append only file rewriting started\r\n" = request(sock, "BGREWRITEAOF\r\n")
      wait_until(fn -> field.("aof_rewrites") == "1" end)
      wait_until(fn -> data_bytes(dir) < before / 2 end)
      for i <- 1..200, do: assert({:ok, "new"} == FerricStore.get("k#{i}", name: name))
    end

    test "MEMORY USAGE: the key's rows, values, TTL index and sampled members", %{tmp_dir: dir} do
      {name, port} = store_listener(data_dir: dir)
      sock = connect(port)

      usage = fn args ->
        ":" <> n = request(sock, "MEMORY USAGE #{args}\r\n")
        n |> String.trim() |> String.to_integer()
      end

      assert request(sock, "MEMORY USAGE nosuch\r\n") == "$-1\r\n"
      :ok = FerricStore.set("small", "v", name: name)
      :ok = FerricStore.set("big", String.duplicate("x", 10_000), name: name)
      :ok = FerricStore.set("ttl", "v", ex: 100, name: name)
      small = usage.("small")
      assert small > 0
      # The value's bytes count, and so does the expiry index row.
      assert usage.("big") >= small + 10_000
      assert usage.("ttl") > small

      {:ok, 1000} = FerricStore.rpush("list", Enum.map(1..1000, &"e#{&1}"), name: name)
      {:ok, 10} = FerricStore.rpush("short", Enum.map(1..10, &"e#{&1}"), name: name)
      # Members are sampled (5 by default, SAMPLES 0: all) and scaled to their number.
      all = usage.("list SAMPLES 0")
      assert usage.("list") in div(all * 9, 10)..div(all * 11, 10)
      assert usage.("list") > 50 * usage.("short")
      {:ok, 3} = FerricStore.zadd("z", [{1, "a"}, {2, "b"}, {3, "c"}], name: name)
      {:ok, 3} = FerricStore.sadd("s", ["a", "b", "c"], name: name)
      # A sorted set's members are in its rank index too.
      assert usage.("z") > usage.("s")
      "*6\r\n+MEMORY <subcommand>" <> _ = request(sock, "MEMORY HELP\r\n")
    end

    test "WAIT: no replicas, so 0, after the timeout when it waits for any", %{port: port} do
      sock = connect(port)
      ":0\r\n" = request(sock, "WAIT 0 0\r\n")
      {us, ":0\r\n"} = :timer.tc(fn -> request(sock, "WAIT 1 100\r\n") end)
      assert us >= 100_000
      "-ERR timeout is negative\r\n" = request(sock, "WAIT 1 -1\r\n")
      "-ERR timeout is not an integer or out of range\r\n" = request(sock, "WAIT 1 x\r\n")
      "-ERR value is not an integer or out of range\r\n" = request(sock, "WAIT x 1\r\n")

      # WAIT 1 0 waits until the client goes; the connection then ends.
      other = connect(port)
      "+OK\r\n" = request(other, "CLIENT SETNAME waiter\r\n")
      # What came before WAIT in the same read is answered before it blocks.
      assert request(other, "PING\r\nWAIT 1 0\r\n") == "+PONG\r\n"
      assert {:error, :timeout} = :gen_tcp.recv(other, 0, 100)
      wait_until(fn -> request(sock, "CLIENT LIST\r\n") =~ "name=waiter" end)
      :ok = :gen_tcp.close(other)
      wait_until(fn -> not (request(sock, "CLIENT LIST\r\n") =~ "name=waiter") end)

      # Dispatched without a connection, WAIT cannot block: 0 at once.
      ctx = Context.new(instance: :no_such_instance)
      assert {0, _} = Commands.dispatch(["WAIT", "1", "0"], ctx)
    end

    test "INFO latencystats: percentiles per command, the configured ones, off when tracking is",
         %{tmp_dir: dir} do
      {_name, port} = store_listener(data_dir: dir)
      sock = connect(port)
      for _ <- 1..20, do: "+PONG\r\n" = request(sock, "PING\r\n")
      "+OK\r\n" = request(sock, "SET k v\r\n")
      "-ERR wrong number" <> _ = request(sock, "GET\r\n")

      lines = fn ->
        for [_, name, values] <-
              Regex.scan(
                ~r/^latency_percentiles_usec_(\S+?):(\S*)\r$/m,
                request(sock, "INFO latencystats\r\n")
              ),
            into: %{},
            do: {name, values}
      end

      stats = lines.()
      # A rejected call (wrong arity) ran nothing: no latency, as in Redis.
      assert Map.keys(stats) |> Enum.sort() == ["ping", "set"]

      assert stats["ping"] =~ ~r/^p50=\d+\.\d{3},p99=\d+\.\d{3},p99\.9=\d+\.\d{3}$/
      # A durable SET waits for its fsync: it takes longer than a PING.
      [_, ping50] = Regex.run(~r/p50=([\d.]+)/, stats["ping"])
      [_, set50] = Regex.run(~r/p50=([\d.]+)/, stats["set"])
      assert String.to_float(set50) > String.to_float(ping50)

      "+OK\r\n" = request(sock, "CONFIG SET latency-tracking-info-percentiles \"0 100\"\r\n")
      assert lines.()["ping"] =~ ~r/^p0=[\d.]+,p100=[\d.]+$/
      assert request(sock, "INFO all\r\n") =~ "# Latencystats\r\n"
      refute request(sock, "INFO\r\n") =~ "# Latencystats"

      "+OK\r\n" = request(sock, "CONFIG SET latency-tracking no\r\n")
      assert lines.() == %{}
      "+OK\r\n" = request(sock, "CONFIG SET latency-tracking yes\r\n")
      "+OK\r\n" = request(sock, "CONFIG RESETSTAT\r\n")
      refute Map.has_key?(lines.(), "ping")
    end

    test "SLOWLOG: GET, LEN, RESET, the threshold, long arguments and passwords",
         %{tmp_dir: dir} do
      {_name, port} = store_listener(data_dir: dir)
      sock = connect(port)
      other = connect(port)

      # Nothing takes 10 ms here: the default threshold logs nothing.
      "+PONG\r\n" = request(sock, "PING\r\n")
      ":0\r\n" = request(sock, "SLOWLOG LEN\r\n")

      "+OK\r\n" = request(sock, "CONFIG SET slowlog-log-slower-than 0\r\n")
      "+OK\r\n" = request(other, "CLIENT SETNAME worker\r\n")
      many = Enum.map_join(1..40, " ", &Integer.to_string/1)
      ":40\r\n" = request(other, "RPUSH l #{many}\r\n")
      "+OK\r\n" = request(other, "SET k #{String.duplicate("x", 200)}\r\n")
      "-WRONGPASS" <> _ = request(other, "AUTH user secret\r\n")

      {:ok, [auth, set, rpush, setname, config]} = slowlog(sock, "SLOWLOG GET 5\r\n")
      [id, at, usec, ["AUTH", "(redacted)", "(redacted)"], peer, "worker"] = auth
      assert is_integer(id) and usec >= 0 and abs(at - System.os_time(:second)) <= 2
      assert peer =~ ~r/^127\.0\.0\.1:\d+$/
      assert [_, _, _, ["SET", "k", long], _, "worker"] = set
      assert long == String.duplicate("x", 128) <> "... (72 more bytes)"
      [_, _, _, rpush_args, _, _] = rpush
      assert length(rpush_args) == 32
      assert List.last(rpush_args) == "... (11 more arguments)"
      assert Enum.take(rpush_args, 3) == ["RPUSH", "l", "1"]
      assert [_, _, _, ["CLIENT", "SETNAME", "worker"], _, "worker"] = setname
      assert [_, _, _, ["CONFIG", "SET" | _], _, ""] = config
      # Ids grow by one, newest first.
      assert Enum.map([auth, set, rpush, setname, config], &hd/1) == Enum.to_list(id..(id - 4))

      {:ok, [_]} = slowlog(sock, "SLOWLOG GET 1\r\n")
      {:ok, all} = slowlog(sock, "SLOWLOG GET -1\r\n")
      assert length(all) >= 7
      assert {:ok, []} = slowlog(sock, "SLOWLOG GET 0\r\n")

      for bad <- ["-2", "abc"] do
        assert request(sock, "SLOWLOG GET #{bad}\r\n") ==
                 "-ERR count should be greater than or equal to -1\r\n"
      end

      # slowlog-max-len applies at once (Redis trims after the CONFIG SET, itself logged);
      # RESET empties the log, ids go on.
      "+OK\r\n" = request(sock, "CONFIG SET slowlog-max-len 2\r\n")
      ":2\r\n" = request(sock, "SLOWLOG LEN\r\n")
      "+OK\r\n" = request(sock, "CONFIG SET slowlog-max-len 0\r\n")
      ":0\r\n" = request(sock, "SLOWLOG LEN\r\n")
      "+OK\r\n" = request(sock, "CONFIG SET slowlog-max-len 128\r\n")

      # A password set with CONFIG SET is not kept.
      "+OK\r\n" = request(sock, "CONFIG SET requirepass hunter2 timeout 0\r\n")
      {:ok, [[_, _, _, config_args, _, _] | _]} = slowlog(sock, "SLOWLOG GET 1\r\n")
      assert config_args == ["CONFIG", "SET", "requirepass", "(redacted)", "timeout", "0"]
      "+OK\r\n" = request(sock, "AUTH hunter2\r\n")
      "+OK\r\n" = request(sock, "CONFIG SET requirepass \"\"\r\n")
      "+OK\r\n" = request(sock, "SLOWLOG RESET\r\n")
      {:ok, [[reset_id, _, _, ["SLOWLOG", "RESET"], _, _]]} = slowlog(sock, "SLOWLOG GET\r\n")
      assert reset_id > id

      # A negative threshold turns the log off.
      "+OK\r\n" = request(sock, "CONFIG SET slowlog-log-slower-than -1\r\n")
      "+OK\r\n" = request(sock, "SLOWLOG RESET\r\n")
      "+PONG\r\n" = request(sock, "PING\r\n")
      ":0\r\n" = request(sock, "SLOWLOG LEN\r\n")

      "-ERR unknown subcommand 'foo'. Try SLOWLOG HELP.\r\n" = request(sock, "SLOWLOG foo\r\n")

      "-ERR wrong number of arguments for 'slowlog|len' command\r\n" =
        request(sock, "SLOWLOG LEN x\r\n")

      "*12\r\n+SLOWLOG <subcommand>" <> _ = request(sock, "SLOWLOG HELP\r\n")
    end
  end

  # A store and a listener for it: {instance, port}.
  defp store_listener(opts) do
    name = :"server_store_#{System.unique_integer([:positive])}"
    start_supervised!({FerricStore, Keyword.put(opts, :name, name)})
    start_listener(instance: name)
  end

  defp field(reply, name) do
    [_, value] = Regex.run(~r/^#{name}:(\S+)\r$/m, reply)
    value
  end

  defp data_bytes(dir) do
    # A compacted file can go between the listing and its stat.
    for path <- Path.wildcard(Path.join(dir, "**/*.data")),
        {:ok, stat} <- [File.stat(path)],
        reduce: 0,
        do: (acc -> acc + stat.size)
  end

  # The index up to which the machine let ra drop its log (the last checkpoint's).
  defp released(server) do
    {:ok, {_, released}, _} = :ra.local_query(server, &Map.get(&1, :released, 0))
    released
  end

  defp wait_until(fun), do: FerricStore.StoreCase.wait_until(fun)

  # "cmdstat_set:calls=1,usec=5,..." lines of an INFO reply, by command.
  defp cmdstats(reply) do
    for [_, name, fields] <- Regex.scan(~r/^cmdstat_(\S+?):(\S+)\r$/m, reply), into: %{} do
      {name, fields |> String.split(",") |> Map.new(&List.to_tuple(String.split(&1, "=")))}
    end
  end

  defp slowlog(sock, command) do
    :ok = :gen_tcp.send(sock, command)
    read_resp(sock, "")
  end

  defp read_resp(sock, buf) do
    case decode_reply(buf) do
      {:ok, value, ""} ->
        {:ok, value}

      :more ->
        {:ok, data} = :gen_tcp.recv(sock, 0, 5000)
        read_resp(sock, buf <> data)
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
