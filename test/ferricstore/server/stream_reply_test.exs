defmodule FerricStore.Server.StreamReplyTest do
  # SRANDMEMBER, HRANDFIELD and ZRANDMEMBER with a negative count return abs(count)
  # picks that may repeat: a reply not bounded by the data. Past 1000 picks it is sent in
  # chunks, so a count of -10^9 costs the node no memory and a client that goes away
  # stops it.
  use FerricStore.StoreCase, async: true

  alias FerricStore.Commands
  alias FerricStore.Commands.Context
  alias FerricStore.CrashClient
  alias FerricStore.Protocol.RESP

  @moduletag :tmp_dir
  @moduletag instance_opts: [port: 0]

  setup %{name: name} = ctx do
    {:ok, sock} = CrashClient.connect(FerricStore.Server.Listener.port(name))

    {:ok, _} =
      CrashClient.pipeline(sock, [
        ["SADD", "s", "a", "b", "c"],
        ["HSET", "h", "f1", "v1", "f2", "v2"],
        ["ZADD", "z", "1.5", "m1", "-2", "m2", "inf", "m3"]
      ])

    {:ok, Map.put(ctx, :sock, sock)}
  end

  test "long replies: the right number of picks, only members, then the next reply",
       %{sock: sock} do
    {:ok, [members, fields, zitems, pong]} =
      CrashClient.pipeline(sock, [
        ["SRANDMEMBER", "s", "-5000"],
        ["HRANDFIELD", "h", "-3000", "WITHVALUES"],
        ["ZRANDMEMBER", "z", "-2500", "WITHSCORES"],
        ["PING"]
      ])

    assert length(members) == 5000
    assert members |> Enum.uniq() |> Enum.sort() == ["a", "b", "c"]

    assert length(fields) == 6000
    pairs = Enum.chunk_every(fields, 2)
    assert Enum.all?(pairs, &(&1 in [["f1", "v1"], ["f2", "v2"]]))
    assert pairs |> Enum.uniq() |> length() == 2

    assert length(zitems) == 5000
    zpairs = Enum.chunk_every(zitems, 2)
    assert Enum.all?(zpairs, &(&1 in [["m1", "1.5"], ["m2", "-2"], ["m3", "inf"]]))

    assert pong == {:simple, "PONG"}
  end

  test "short replies are built as before (and equal Redis' shapes)", %{sock: sock} do
    {:ok, [members, missing, empty]} =
      CrashClient.pipeline(sock, [
        ["SRANDMEMBER", "s", "-7"],
        ["SRANDMEMBER", "nope", "-5000"],
        ["ZRANDMEMBER", "nope", "-5000", "WITHSCORES"]
      ])

    assert length(members) == 7
    assert missing == []
    assert empty == []
  end

  test "a reply of 10^9 picks: the client reads 1 MB and leaves, the node is unharmed",
       %{name: name, sock: sock} do
    before = :erlang.memory(:total)
    :ok = :inet.setopts(sock, packet: :raw)
    :ok = :gen_tcp.send(sock, "*3\r\n$11\r\nSRANDMEMBER\r\n$1\r\ns\r\n$11\r\n-1000000000\r\n")
    received = read_bytes(sock, 1_000_000, 0)
    assert received >= 1_000_000
    grown = :erlang.memory(:total) - before
    :ok = :gen_tcp.close(sock)

    # The whole reply would be ~9 GB; the node holds one chunk at a time.
    assert grown < 100_000_000

    {:ok, sock} = CrashClient.connect(FerricStore.Server.Listener.port(name))
    assert {:ok, 3} = CrashClient.command(sock, ["SCARD", "s"])
    assert {:ok, 2} = CrashClient.command(sock, ["HLEN", "h"])
  end

  test "RESP3: pairs are 2-element arrays; stream/3 and encode/2 frame the same reply",
       %{name: name} do
    ctx = Context.new(instance: name, authenticated?: true, protocol: 3)
    {reply, _} = Commands.dispatch(["ZRANDMEMBER", "z", "-1500", "WITHSCORES"], ctx)
    assert {:stream, 1500, _} = reply

    {:ok, agent} = Agent.start_link(fn -> [] end)

    :ok =
      RESP.stream(reply, 3, fn iodata ->
        Agent.update(agent, &[IO.iodata_to_binary(iodata) | &1])
      end)

    streamed = agent |> Agent.get(& &1) |> Enum.reverse() |> IO.iodata_to_binary()
    built = reply |> RESP.encode(3) |> IO.iodata_to_binary()

    for bytes <- [streamed, built] do
      assert "*1500\r\n" <> rest = bytes
      # Each pick: *2, the member, the score as a RESP3 double.
      assert length(String.split(rest, "*2\r\n")) == 1501
      assert rest =~ ",1.5\r\n" or rest =~ ",-2\r\n" or rest =~ ",inf\r\n"
    end

    {reply, _} = Commands.dispatch(["HRANDFIELD", "h", "-1200"], %{ctx | protocol: 2})
    assert {:stream, 1200, _} = reply
    assert "*1200\r\n" <> _ = reply |> RESP.encode(2) |> IO.iodata_to_binary()
  end

  test "the embedded API still returns lists", %{name: name} do
    assert {:ok, list} = FerricStore.srandmember("s", count: -5000, name: name)
    assert length(list) == 5000
  end

  defp read_bytes(_sock, want, got) when got >= want, do: got

  defp read_bytes(sock, want, got) do
    case :gen_tcp.recv(sock, 0, 5000) do
      {:ok, data} -> read_bytes(sock, want, got + byte_size(data))
      {:error, _} -> got
    end
  end
end
