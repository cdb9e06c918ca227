defmodule FerricStore.Server.ServerTest do
  use ExUnit.Case, async: true

  doctest FerricStore.Server.Acceptors
  doctest FerricStore.Server.Stats

  import FerricStore.Test.RespServerCase

  alias FerricStore.Server.Listener

  setup do
    {instance, port} = start_listener()
    %{instance: instance, port: port}
  end

  test "port/1 returns the bound ephemeral port", %{port: port} do
    assert port > 0
  end

  test "500 pipelined PINGs in one write get 500 replies", %{port: port} do
    sock = connect(port)
    data = String.duplicate("*1\r\n$4\r\nPING\r\n", 250) <> String.duplicate("PING\r\n", 250)
    assert request(sock, data, 500) == String.duplicate("+PONG\r\n", 500)
  end

  test "a command split over many writes", %{port: port} do
    sock = connect(port)
    for <<c <- "*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n">>, do: :gen_tcp.send(sock, <<c>>)
    assert read_replies(sock, 1, "") == "$5\r\nhello\r\n"
  end

  test "inline commands with quotes", %{port: port} do
    sock = connect(port)
    assert request(sock, ~s(ECHO "a b\\x41"\r\n)) == "$4\r\na bA\r\n"
  end

  test "HELLO 3 switches to RESP3", %{port: port} do
    sock = connect(port)
    reply = request(sock, "HELLO 3\r\n")
    assert reply =~ ~r/^%7\r\n\$6\r\nserver\r\n\$5\r\nredis\r\n/
    assert reply =~ "$5\r\nproto\r\n:3\r\n"
    assert request(sock, "CONFIG GET maxmemory\r\n") == "%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
    assert request(sock, "CLIENT GETNAME\r\n") == "_\r\n"
    assert request(sock, "HELLO 2\r\n") =~ ~r/^\*14\r\n/
    assert request(sock, "CLIENT GETNAME\r\n") == "$-1\r\n"
  end

  for {frame, error} <- [
        {"*1\r\n$abc\r\n", "ERR Protocol error: invalid bulk length"},
        {"*1\r\n$600000000\r\n", "ERR Protocol error: invalid bulk length"},
        {"*abc\r\n", "ERR Protocol error: invalid multibulk length"},
        {"*1\r\n*1\r\n", "ERR Protocol error: expected '$', got '*'"},
        {~s(PING "abc\r\n), "ERR Protocol error: unbalanced quotes in request"}
      ] do
    test "protocol error #{inspect(frame)} is answered, then the connection closes", %{port: port} do
      sock = connect(port)

      :ok = :gen_tcp.send(sock, "PING\r\n" <> unquote(frame))

      assert read_until_closed(sock) ==
               "+PONG\r\n-#{unquote(error)}\r\n<CLOSED>"

      assert request(connect(port), "PING\r\n") == "+PONG\r\n"
    end
  end

  test "too big inline request", %{port: port} do
    sock = connect(port)
    :gen_tcp.send(sock, String.duplicate("a", 70_000))
    assert read_until_closed(sock) == "-ERR Protocol error: too big inline request\r\n<CLOSED>"
  end

  test "a large bulk arriving in pieces", %{port: port} do
    sock = connect(port)
    value = :crypto.strong_rand_bytes(3_000_000)
    :gen_tcp.send(sock, "*2\r\n$4\r\nECHO\r\n$#{byte_size(value)}\r\n")
    for <<chunk::binary-size(100_000) <- value>>, do: :gen_tcp.send(sock, chunk)
    :gen_tcp.send(sock, "\r\n")
    assert read_replies(sock, 1, "") == "$#{byte_size(value)}\r\n#{value}\r\n"
  end

  test "QUIT replies OK and closes", %{port: port} do
    sock = connect(port)
    :ok = :gen_tcp.send(sock, "QUIT\r\n")
    assert read_until_closed(sock) == "+OK\r\n<CLOSED>"
  end

  test "CLIENT LIST and CLIENT KILL", %{port: port} do
    a = connect(port)
    b = connect(port)
    assert request(b, "CLIENT SETNAME victim\r\n") == "+OK\r\n"
    ":" <> id_b = request(b, "CLIENT ID\r\n") |> String.trim()
    list = request(a, "CLIENT LIST\r\n")
    assert list =~ "name=victim"
    assert list =~ "id=#{id_b} "
    assert list =~ "cmd=client|list"
    assert request(a, "CLIENT KILL ID #{id_b}\r\n") == ":1\r\n"
    assert read_until_closed(b) == "<CLOSED>"
    Process.sleep(50)
    refute request(a, "CLIENT LIST\r\n") =~ "victim"
    assert request(a, "CLIENT KILL 1.2.3.4:5\r\n") == "-ERR No such client\r\n"
  end

  test "CLIENT KILL addr:port", %{port: port} do
    a = connect(port)
    b = connect(port)
    {:ok, {_, bport}} = :inet.sockname(b)
    assert request(b, "PING\r\n") == "+PONG\r\n"
    assert request(a, "CLIENT KILL 127.0.0.1:#{bport}\r\n") == "+OK\r\n"
    assert read_until_closed(b) == "<CLOSED>"
  end

  test "fuzz: random and mutated frames get replies or errors, the listener stays up",
       %{port: port, instance: instance} do
    :rand.seed(:exsss, {4, 5, 6})

    valid = [
      "*1\r\n$4\r\nPING\r\n",
      "*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\n",
      "CLIENT ID\r\n",
      "HELLO 3\r\n"
    ]

    for _ <- 1..150 do
      frame =
        case :rand.uniform(2) do
          1 -> :crypto.strong_rand_bytes(:rand.uniform(40))
          2 -> mutate(Enum.random(valid))
        end

      sock = connect(port)
      :gen_tcp.send(sock, frame <> "\r\n")
      _ = :gen_tcp.recv(sock, 0, 50)
      :gen_tcp.close(sock)
    end

    assert Process.whereis(:"#{instance}.FerricStore.Server.Listener")
    assert request(connect(port), "PING\r\n") == "+PONG\r\n"
  end

  defp multibulk(args),
    do:
      ["*#{length(args)}\r\n" | Enum.map(args, &"$#{byte_size(&1)}\r\n#{&1}\r\n")]
      |> IO.iodata_to_binary()

  defp mutate(frame) do
    pos = :rand.uniform(byte_size(frame)) - 1
    <<a::binary-size(pos), _, b::binary>> = frame
    <<a::binary, :rand.uniform(256) - 1, b::binary>>
  end

  test "CONFIG SET proto-max-bulk-len applies to the next command on every connection" do
    {_instance, port} = start_listener()
    [setter, other] = [connect(port), connect(port)]
    over = multibulk(["ECHO", String.duplicate("x", 1_048_577)])
    assert request(setter, "CONFIG SET proto-max-bulk-len 2mb\r\n") == "+OK\r\n"
    assert request(other, over) =~ "$1048577\r\n"
    assert request(setter, "CONFIG SET proto-max-bulk-len 1mb\r\n") == "+OK\r\n"

    for sock <- [setter, other] do
      :ok = :gen_tcp.send(sock, over)
      assert read_until_closed(sock) == "-ERR Protocol error: invalid bulk length\r\n<CLOSED>"
    end
  end

  test "maxclients: extra clients get Redis' error; CONFIG SET changes it at once" do
    {_instance, port} = start_listener(maxclients: 2)
    [a, b] = [connect(port), connect(port)]
    assert request(a, "PING\r\n") == "+PONG\r\n" and request(b, "PING\r\n") == "+PONG\r\n"
    assert read_until_closed(connect(port)) == "-ERR max number of clients reached\r\n<CLOSED>"

    assert request(a, "CONFIG SET maxclients 3\r\n") == "+OK\r\n"
    c = connect(port)
    assert request(c, "PING\r\n") == "+PONG\r\n"
    assert read_until_closed(connect(port)) == "-ERR max number of clients reached\r\n<CLOSED>"

    # No more clients than the file descriptor limit can serve, as Redis refuses.
    allowed = FerricStore.Server.Config.max_clients_allowed()

    assert request(a, "CONFIG SET maxclients #{allowed + 1}\r\n") ==
             "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - The " <>
               "operating system is not able to handle the specified number of clients, " <>
               "try with #{allowed}\r\n"

    {_instance, port} =
      ExUnit.CaptureLog.with_log(fn -> start_listener(maxclients: allowed + 1) end) |> elem(0)

    assert request(connect(port), "CONFIG GET maxclients\r\n") =~ "\r\n#{allowed}\r\n"
  end

  test "CONFIG SET timeout closes idle clients only, without a reply" do
    {_instance, port} = start_listener()
    [setter, idle, busy] = [connect(port), connect(port), connect(port)]
    for sock <- [idle, busy], do: "+PONG\r\n" = request(sock, "PING\r\n")
    assert request(setter, "CONFIG SET timeout 1\r\n") == "+OK\r\n"

    # `busy` sends a command every 200 ms for 2.6 s; `idle` sends nothing.
    for _ <- 1..13 do
      Process.sleep(200)
      assert request(busy, "PING\r\n") == "+PONG\r\n"
    end

    for sock <- [idle, setter], do: assert(:gen_tcp.recv(sock, 0, 1000) == {:error, :closed})
    assert request(busy, "CONFIG SET timeout 0\r\n") == "+OK\r\n"
    Process.sleep(1_300)
    assert request(busy, "PING\r\n") == "+PONG\r\n"
  end

  test "tcp-keepalive is set on new connections as Redis sets it; 0 turns it off" do
    {instance, port} = start_listener()

    server_socket = fn sock ->
      ":" <> id = request(sock, "CLIENT ID\r\n")
      id = id |> String.trim() |> String.to_integer()
      [{pid, _}] = Registry.lookup(Listener.registry(instance), id)
      :sys.get_state(pid).socket
    end

    # Redis' default: 300 s before the first probe, then every 100 s, 3 probes.
    socket = server_socket.(connect(port))
    {:ok, opts} = :inet.getopts(socket, [:keepalive, {:raw, 6, 4, 4}, {:raw, 6, 5, 4}])
    assert {:keepalive, true} in opts
    assert {:raw, 6, 4, <<300::native-32>>} in opts
    assert {:raw, 6, 5, <<100::native-32>>} in opts

    assert request(connect(port), "CONFIG SET tcp-keepalive 0\r\n") == "+OK\r\n"
    assert {:ok, [keepalive: false]} = :inet.getopts(server_socket.(connect(port)), [:keepalive])
  end

  test "CLIENT REPLY ON/OFF/SKIP drop replies as redis-server does" do
    # Pipelined writes too: a skipped SET must not take its neighbours' replies along.
    script =
      "CLIENT REPLY SKIP\r\nPING\r\nECHO a\r\nCLIENT REPLY OFF\r\nPING\r\nGET x\r\n" <>
        "SET k 1\r\nSET k 2\r\nCLIENT REPLY ON\r\nPING\r\nCLIENT REPLY SKIP\r\n" <>
        "CLIENT REPLY ON\r\nECHO b\r\nCLIENT REPLY SKIP\r\nCLIENT REPLY SKIP\r\nECHO c\r\n" <>
        "ECHO d\r\nCLIENT REPLY SKIP\r\nSET k 3\r\nSET k 4\r\nCLIENT REPLY OFF\r\n" <>
        "NOSUCH\r\nCLIENT REPLY SKIP\r\nCLIENT REPLY ON\r\nCLIENT REPLY x\r\nGET k\r\nQUIT\r\n"

    expected =
      "$1\r\na\r\n+OK\r\n+PONG\r\n+OK\r\n$1\r\nb\r\n$1\r\nd\r\n+OK\r\n+OK\r\n" <>
        "-ERR syntax error\r\n$1\r\n4\r\n+OK\r\n<CLOSED>"

    name = :"client_reply_#{System.unique_integer([:positive])}"
    dir = Path.join(System.tmp_dir!(), "#{name}")
    on_exit(fn -> File.rm_rf(dir) end)
    start_supervised!({FerricStore, name: name, data_dir: dir})
    {^name, port} = start_listener(instance: name)
    sock = connect(port)
    :ok = :gen_tcp.send(sock, script)
    assert read_until_closed(sock) == expected

    case start_redis() do
      {rport, stop} ->
        redis = connect(rport)
        :ok = :gen_tcp.send(redis, script)
        assert read_until_closed(redis) == expected
        stop.()

      nil ->
        :ok
    end
  end

  test "CLIENT GETREDIR and TRACKINGINFO: tracking is off", %{port: port} do
    sock = connect(port)
    assert request(sock, "CLIENT GETREDIR\r\n") == ":-1\r\n"

    assert request(sock, "CLIENT TRACKINGINFO\r\n") ==
             "*6\r\n$5\r\nflags\r\n*1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n"

    "%7" <> _ = request(sock, "HELLO 3\r\n")

    assert request(sock, "CLIENT TRACKINGINFO\r\n") ==
             "%3\r\n$5\r\nflags\r\n~1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n"
  end

  test "after a protocol error the client reads the error, then a clean end of stream" do
    {_instance, port} = start_listener()

    for _ <- 1..5 do
      {:ok, sock} =
        :gen_tcp.connect(~c"127.0.0.1", port, [:binary, active: false, show_econnreset: true])

      # More than the inline limit, and a line end the server never reads.
      :ok = :gen_tcp.send(sock, :binary.copy("a", 70_000) <> "\r\n")
      assert read_until_closed(sock) == "-ERR Protocol error: too big inline request\r\n<CLOSED>"
    end
  end

  describe "protected mode and AUTH" do
    test "allowed?/3" do
      refute Listener.allowed?({192, 168, 1, 2}, true, nil)
      assert Listener.allowed?({192, 168, 1, 2}, false, nil)
      assert Listener.allowed?({0, 0, 0, 0, 0, 0, 0, 1}, true, nil)
    end

    test "a non-loopback client is DENIED without a password" do
      ip =
        case :inet.getifaddrs() do
          {:ok, ifs} ->
            ifs
            |> Enum.flat_map(fn {_, o} -> Keyword.get_values(o, :addr) end)
            |> Enum.find(&(tuple_size(&1) == 4 and elem(&1, 0) != 127))

          _ ->
            nil
        end

      if ip do
        {_instance, port} = start_listener(bind: "0.0.0.0")
        {:ok, sock} = :gen_tcp.connect(ip, port, [:binary, active: false])
        assert "-DENIED Redis is running in protected mode" <> _ = read_until_closed(sock)
        assert request(connect(port), "PING\r\n") == "+PONG\r\n"
      end
    end

    test "HELLO AUTH authenticates at once, even when a later option is wrong (as Redis 7.0)" do
      {_instance, port} = start_listener(password: "s3cret")
      sock = connect(port)

      assert request(sock, "HELLO 3 AUTH default nope SETNAME\r\n") ==
               "-WRONGPASS invalid username-password pair or user is disabled.\r\n"

      assert request(sock, "PING\r\n") == "-NOAUTH Authentication required.\r\n"

      assert request(sock, "HELLO 3 AUTH default s3cret SETNAME\r\n") ==
               "-ERR Syntax error in HELLO option 'SETNAME'\r\n"

      # Authenticated, still RESP2 and unnamed: the failed HELLO changed nothing else.
      assert request(sock, "PING\r\n") == "+PONG\r\n"
      assert request(sock, "CLIENT GETNAME\r\n") == "$-1\r\n"

      # SETNAME names the client at once too, even when HELLO then fails (NOAUTH).
      other = connect(port)
      "-NOAUTH HELLO must be called" <> _ = request(other, "HELLO 3 SETNAME early\r\n")
      assert request(other, "AUTH s3cret\r\n") == "+OK\r\n"
      assert request(other, "CLIENT GETNAME\r\n") == "$5\r\nearly\r\n"
    end

    test "NOAUTH until AUTH" do
      {_instance, port} = start_listener(password: "s3cret")
      sock = connect(port)
      assert request(sock, "PING\r\n") == "-NOAUTH Authentication required.\r\n"
      assert request(sock, "FOO\r\n") =~ "-ERR unknown command 'FOO'"
      assert request(sock, "AUTH nope\r\n") =~ "-WRONGPASS"
      assert request(sock, "HELLO 3\r\n") =~ "-NOAUTH HELLO must be called"
      assert request(sock, "AUTH s3cret\r\n") == "+OK\r\n"
      assert request(sock, "PING\r\n") == "+PONG\r\n"
      sock2 = connect(port)
      assert request(sock2, "HELLO 3 AUTH default s3cret\r\n") =~ "%7"
      assert request(sock2, "RESET\r\n") == "+RESET\r\n"
      assert request(sock2, "PING\r\n") == "-NOAUTH Authentication required.\r\n"
      # An unauthenticated client may not announce big multibulks.
      sock3 = connect(port)
      :ok = :gen_tcp.send(sock3, "*20\r\n")

      assert read_until_closed(sock3) ==
               "-ERR Protocol error: unauthenticated multibulk length\r\n<CLOSED>"
    end

    test "a command in the same read as AUTH is parsed with the limits after AUTH" do
      {_instance, port} = start_listener(password: "s3cret")
      # 12 arguments and a 20,000-byte bulk: above the limits before AUTH.
      many = multibulk(["COMMAND", "INFO" | List.duplicate("get", 10)])
      big = multibulk(["ECHO", String.duplicate("x", 20_000)])

      for auth <- ["AUTH s3cret\r\n", multibulk(["HELLO", "2", "AUTH", "default", "s3cret"])] do
        sock = connect(port)
        replies = request(sock, auth <> many <> big <> "PING\r\n", 4)
        refute replies =~ "Protocol error"

        assert String.ends_with?(
                 replies,
                 "$20000\r\n#{String.duplicate("x", 20_000)}\r\n+PONG\r\n"
               )
      end

      # Unauthenticated, the same command is still refused as Redis does.
      sock = connect(port)
      :ok = :gen_tcp.send(sock, "PING\r\n" <> many)

      assert read_until_closed(sock) ==
               "-NOAUTH Authentication required.\r\n" <>
                 "-ERR Protocol error: unauthenticated multibulk length\r\n<CLOSED>"
    end
  end
end
