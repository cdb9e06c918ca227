defmodule FerricStore.Server.PipelineTest do
  # Pipelined writes of one connection run concurrently (they share Raft entries) but
  # must behave exactly as if they ran one after the other.
  use FerricStore.StoreCase, async: true

  alias FerricStore.CrashClient

  @moduletag :tmp_dir
  @moduletag instance_opts: [port: 0]

  setup %{name: name} do
    {:ok, sock} = CrashClient.connect(FerricStore.Server.Listener.port(name))
    {:ok, sock: sock}
  end

  test "pipelined?/1 knows a write command in any case, and nothing else" do
    alias FerricStore.Server.Pipeline

    for name <- ~w(set SET Set sEt hset HSET hSeT zadd ZAdd) do
      assert Pipeline.pipelined?([name, "k", "v"]), name
    end

    for name <- ~w(get GET Get zrank ZRANK zRank setx SETX x),
        do: refute(Pipeline.pipelined?([name]))

    refute Pipeline.pipelined?([])
  end

  test "interleaved writes and reads keep their order", %{sock: sock} do
    commands =
      [["SET", "n", "0"]] ++
        for(_ <- 1..200, do: ["INCR", "n"]) ++
        [["GET", "n"], ["APPEND", "s", "a"], ["APPEND", "s", "b"], ["GET", "s"]] ++
        [
          ["SET", "k", "v1"],
          ["SET", "k", "v2"],
          ["DEL", "k"],
          ["EXISTS", "k"],
          ["SET", "k", "v3"]
        ] ++
        [["GET", "k"], ["INCR", "s"], ["RPUSH", "l", "a"], ["RPUSH", "l", "b"], ["LPOP", "l"]]

    {:ok, replies} = CrashClient.pipeline(sock, commands)
    {incrs, rest} = replies |> tl() |> Enum.split(200)
    assert incrs == Enum.to_list(1..200)

    assert rest == [
             "200",
             1,
             2,
             "ab",
             {:simple, "OK"},
             {:simple, "OK"},
             1,
             0,
             {:simple, "OK"},
             "v3",
             {:error_reply, "ERR value is not an integer or out of range"},
             1,
             2,
             "a"
           ]
  end

  test "a failing command in a pipeline fails alone", %{sock: sock} do
    {:ok, replies} =
      CrashClient.pipeline(sock, [
        ["SET", "a", "1"],
        ["SET", "b"],
        ["INCRBY", "a", "x"],
        ["INCRBY", "a", "2"]
      ])

    assert replies == [
             {:simple, "OK"},
             {:error_reply, "ERR wrong number of arguments for 'set' command"},
             {:error_reply, "ERR value is not an integer or out of range"},
             3
           ]
  end
end
