defmodule FerricStore.Commands.ConnectionTest do
  use ExUnit.Case, async: true

  import FerricStore.Test.RespServerCase

  alias FerricStore.Commands
  alias FerricStore.Commands.Context

  defp run(cmd, ctx \\ Context.new(instance: :conn_test_no_listener)) do
    {reply, _ctx} = Commands.dispatch(cmd, ctx)
    reply
  end

  defp msg(%FerricStore.Error{message: m}), do: m

  test "PING, ECHO, SELECT" do
    assert run(["PING"]) == {:simple, "PONG"}
    assert run(["ping", "x"]) == "x"
    assert msg(run(["PING", "a", "b"])) == "ERR wrong number of arguments for 'ping' command"
    assert run(["EcHo", "hi"]) == "hi"
    assert run(["SELECT", "0"]) == :ok
    assert msg(run(["SELECT", "1"])) == "ERR DB index is out of range"
    assert msg(run(["SELECT", "x"])) == "ERR value is not an integer or out of range"
    # Redis' string2ll: no sign, no leading zeros; then the int range.
    assert msg(run(["SELECT", "+0"])) == "ERR value is not an integer or out of range"
    assert msg(run(["SELECT", "00"])) == "ERR value is not an integer or out of range"
    assert msg(run(["SELECT", "2147483648"])) =~ "ERR value is out of range, value must between"
  end

  test "CLIENT LIST ID answers in the order asked; CLIENT KILL USER knows only default" do
    {instance, _port} = start_listener()
    ctx = Context.new(instance: instance)
    id = ctx.client_id
    {:verbatim, "txt", text} = run(["CLIENT", "LIST", "ID", "#{id}", "0", "-3", "#{id}"], ctx)
    assert [l1, l2] = String.split(text, "\n", trim: true)
    assert l1 == l2 and l1 =~ "id=#{id} "
    assert msg(run(["CLIENT", "LIST", "ID", "+#{id}"], ctx)) == "ERR Invalid client ID"
    assert msg(run(["CLIENT", "KILL", "USER", "nobody"], ctx)) == "ERR No such user 'nobody'"
    assert run(["CLIENT", "KILL", "USER", "default"], ctx) == 0
  end

  test "unknown commands and subcommands use Redis' texts" do
    assert msg(run(["foo", "a", "b"])) ==
             "ERR unknown command 'foo', with args beginning with: 'a' 'b' "

    long = String.duplicate("x", 200)

    assert msg(run(["foo", long])) ==
             "ERR unknown command 'foo', with args beginning with: '#{String.duplicate("x", 128)}' "

    assert msg(run(["CLIENT", "FOO"])) == "ERR unknown subcommand 'FOO'. Try CLIENT HELP."

    assert msg(run(["CLIENT", "SETNAME"])) ==
             "ERR wrong number of arguments for 'client|setname' command"
  end

  test "HELLO negotiates the protocol and names the client" do
    ctx = Context.new(instance: :conn_test_no_listener)
    {{:map, fields}, ctx3} = Commands.dispatch(["HELLO", "3", "SETNAME", "app"], ctx)
    assert ctx3.protocol == 3 and ctx3.client_name == "app"

    assert {"proto", 3} in fields and {"mode", "standalone"} in fields and
             {"modules", []} in fields

    assert msg(run(["HELLO", "4"])) == "NOPROTO unsupported protocol version"
    assert msg(run(["HELLO", "x"])) == "ERR Protocol version is not an integer or out of range"
    assert msg(run(["HELLO", "03"])) == "ERR Protocol version is not an integer or out of range"
    assert msg(run(["HELLO", "3", "foo"])) == "ERR Syntax error in HELLO option 'foo'"

    assert msg(run(["HELLO", "3", "SETNAME", "a b"])) ==
             "ERR Client names cannot contain spaces, newlines or special characters."
  end

  test "CLIENT SETNAME/GETNAME/SETINFO/ID/INFO" do
    ctx = Context.new(instance: :conn_test_no_listener)
    {:ok, ctx} = Commands.dispatch(["CLIENT", "SETNAME", "n1"], ctx)
    assert run(["CLIENT", "GETNAME"], ctx) == "n1"
    {:ok, ctx} = Commands.dispatch(["CLIENT", "SETINFO", "LIB-NAME", "redis-py"], ctx)
    assert ctx.lib_name == "redis-py"
    assert msg(run(["CLIENT", "SETINFO", "foo", "x"], ctx)) == "ERR Unrecognized option 'foo'"
    assert run(["CLIENT", "ID"], ctx) == ctx.client_id
    {:verbatim, "txt", info} = run(["CLIENT", "INFO"], ctx)
    assert info =~ "id=#{ctx.client_id} " and info =~ "name=n1 " and info =~ "lib-name=redis-py"
  end

  test "AUTH without a password configured" do
    assert msg(run(["AUTH", "x"])) =~ "ERR AUTH <password> called without any password configured"

    assert msg(run(["AUTH", "a", "b"])) ==
             "WRONGPASS invalid username-password pair or user is disabled."

    assert run(["AUTH", "default", "anything"]) == :ok
  end

  test "QUIT closes, RESET resets" do
    ctx = Context.new(instance: :conn_test_no_listener)
    assert {:close, :ok, _} = Commands.dispatch(["QUIT"], ctx)
    {_, ctx} = Commands.dispatch(["HELLO", "3", "SETNAME", "x"], ctx)
    {{:simple, "RESET"}, ctx} = Commands.dispatch(["RESET"], ctx)
    assert ctx.protocol == 2 and ctx.client_name == nil
  end

  describe "against a real redis-server 7" do
    @describetag :integration

    test "the same replies for connection commands and errors" do
      # scripts/setup.sh installs redis-server: a missing one is a failure, not a skip.
      case start_redis() do
        nil ->
          flunk("redis-server is not installed (scripts/setup.sh)")

        {rport, stop} ->
          try do
            {_instance, port} = start_listener()

            for cmd <- [
                  "PING\r\n",
                  "PING a b\r\n",
                  "ECHO\r\n",
                  "SELECT 1\r\n",
                  "SELECT 0\r\n",
                  "SELECT +0\r\n",
                  "SELECT 00\r\n",
                  "SELECT 2147483648\r\n",
                  "SELECT 9223372036854775808\r\n",
                  "HELLO +3\r\n",
                  "HELLO 03\r\n",
                  "HELLO 99999999999999999999\r\n",
                  ~s(ECHO a"b c"\r\n),
                  ~s(ECHO a'b c'\r\n),
                  ~s(ECHO a"b"\r\n),
                  ~s(ECHO "a"\v b\r\n),
                  ~s(ECHO "a"\f\r\n),
                  "CLIENT LIST ID 0\r\n",
                  "CLIENT LIST ID -1 0\r\n",
                  "CLIENT LIST ID +1\r\n",
                  "CLIENT KILL USER nobody\r\n",
                  "CONFIG GET MAXMEMORY\r\n",
                  "CONFIG GET maxmemory MAXMEMORY\r\n",
                  "CONFIG SET maxmemory 0 MAXMEMORY 1\r\n",
                  "CONFIG SET maxmemory 0 maxmemory\r\n",
                  "CONFIG SET maxmemory\r\n",
                  "CONFIG SET foo 1 maxmemory 0 maxmemory 1\r\n",
                  "foo a b c\r\n",
                  ~s(FOO "a\\x41" 'b c'\r\n),
                  "HELLO 4\r\n",
                  "HELLO abc\r\n",
                  "HELLO 3 foo\r\n",
                  "HELLO 3 SETNAME \"a b\"\r\n",
                  "AUTH x\r\n",
                  "AUTH a b\r\n",
                  "CLIENT\r\n",
                  "CLIENT FOO\r\n",
                  "CLIENT GETNAME\r\n",
                  "CLIENT KILL ID 99999\r\n",
                  "CLIENT KILL 1.2.3.4:5\r\n",
                  "CLIENT SETNAME \"a b\"\r\n",
                  "CONFIG GET\r\n",
                  "CONFIG FOO\r\n",
                  "CONFIG SET foo 1\r\n",
                  "CONFIG SET maxmemory abc\r\n",
                  "CONFIG GET maxmemory\r\n",
                  "COMMAND FOO\r\n",
                  "FLUSHDB x\r\n",
                  "DBSIZE x\r\n",
                  "RESET\r\n",
                  "*1\r\n$0\r\n\r\n"
                ] do
              assert request(connect(port), cmd) == request(connect(rport), cmd), cmd
            end

            for frame <- [
                  "*1\r\n$abc\r\n",
                  "*abc\r\n",
                  "*1\r\n*1\r\n",
                  "PING \"x\r\n",
                  "*1\r\n$-1\r\n"
                ] do
              [s1, s2] = [connect(port), connect(rport)]
              :gen_tcp.send(s1, frame)
              :gen_tcp.send(s2, frame)
              assert read_until_closed(s1) == read_until_closed(s2), frame
            end
          after
            stop.()
          end
      end
    end
  end

  describe "real clients" do
    @describetag :integration

    setup do
      {instance, port} = start_listener()
      %{instance: instance, port: port}
    end

    test "redis-cli, RESP2 and RESP3", %{port: port} do
      cli = System.find_executable("redis-cli") || flunk("redis-cli is not installed")

      {out, 0} = System.cmd(cli, ["-p", "#{port}", "PING"])
      assert out == "PONG\n"
      {out, 0} = System.cmd(cli, ["-p", "#{port}", "ECHO", "hello world"])
      assert out == "hello world\n"
      {out, 0} = System.cmd(cli, ["-3", "-p", "#{port}", "HELLO", "3"])
      assert out =~ "proto"
      {out, 0} = System.cmd(cli, ["-p", "#{port}", "CLIENT", "SETNAME", "x"])
      assert out == "OK\n"
      {out, 0} = System.cmd(cli, ["-p", "#{port}", "INFO", "server"])
      assert out =~ "redis_version:7.0.15"
      {out, 0} = System.cmd(cli, ["-p", "#{port}", "COMMAND", "COUNT"])
      assert String.to_integer(String.trim(out)) > 10
    end

    test "redis-py, protocol 2 and 3", %{port: port} do
      py = Path.expand("../../../.venv/bin/python", __DIR__)
      if not File.exists?(py), do: flunk("redis-py is not installed in .venv (scripts/setup.sh)")

      script = """
      import redis, sys
      for proto in (2, 3):
          r = redis.Redis(port=#{port}, protocol=proto)
          assert r.ping() is True
          assert r.echo("hi") == b"hi"
          assert r.client_setname("py") is True
          assert r.client_getname() in ("py", b"py")
          assert r.info()["redis_version"] == "7.0.15"
          assert r.command_count() > 10
          assert r.client_id() > 0
          assert any(c["name"] == "py" for c in r.client_list())
          h = r.execute_command("HELLO", proto)
          assert b"server" in h or "server" in h
      print("ok")
      """

      {out, status} = System.cmd(py, ["-c", script], stderr_to_stdout: true)
      assert {status, out} == {0, "ok\n"}
    end

    test "eredis", %{port: port} do
      if not Code.ensure_loaded?(:eredis),
        do: flunk("eredis is not installed (erlang-redis-client)")

      {:ok, c} = :eredis.start_link(~c"127.0.0.1", port)
      assert :eredis.q(c, ["PING"]) == {:ok, "PONG"}
      assert :eredis.q(c, ["ECHO", "x"]) == {:ok, "x"}
      assert {:error, "ERR unknown command" <> _} = :eredis.q(c, ["NOPE"])
      :eredis.stop(c)
    end
  end
end
