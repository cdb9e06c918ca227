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

  test "a pipeline's writes reach their batcher together, not one request each",
       %{name: name, sock: sock} do
    batcher = Process.whereis(FerricStore.Store.Batcher.name(name, 0))
    :erlang.trace(batcher, true, [:receive])

    {:ok, replies} = CrashClient.pipeline(sock, for(i <- 1..50, do: ["SET", "p#{i}", "v"]))
    assert replies == List.duplicate({:simple, "OK"}, 50)

    :erlang.trace(batcher, false, [:receive])
    calls = collect_calls(batcher, [])
    # The server may read the pipeline in more than one piece, each one request.
    assert calls != [] and length(calls) <= 5
    assert Enum.all?(calls, &match?({:ops, _}, &1))
    assert calls |> Enum.map(fn {:ops, ops} -> length(ops) end) |> Enum.sum() == 50
  end

  test "pipelined and lone writes to one key, at the same time, all count once",
       %{name: name, sock: sock} do
    lone = Task.async(fn -> for _ <- 1..100, do: FerricStore.incr("n", name: name) end)
    {:ok, replies} = CrashClient.pipeline(sock, for(_ <- 1..100, do: ["INCR", "n"]))
    lone = Task.await(lone)

    # Each reply is the counter just after that write: increasing within the pipeline,
    # and no value given to two writes.
    assert replies == Enum.sort(replies) and length(Enum.uniq(replies)) == 100
    assert Enum.sort(replies ++ Enum.map(lone, fn {:ok, n} -> n end)) == Enum.to_list(1..200)
    assert FerricStore.get("n", name: name) == {:ok, "200"}
  end

  # With several shards a pipeline's writes go to several batchers at once; replies and
  # each key's writes still follow the pipeline's order.
  @tag instance_opts: [port: 0, shards: 4]
  test "writes across shards keep their order and their replies", %{name: name, sock: sock} do
    keys = for i <- 1..20, do: "key#{i}"
    assert keys |> Enum.map(&FerricStore.Store.Router.shard(&1, 4)) |> Enum.uniq() |> length() > 1

    commands =
      Enum.flat_map(1..5, fn round ->
        Enum.map(keys, &["RPUSH", "list:" <> &1, Integer.to_string(round)])
      end) ++ Enum.map(keys, &["INCRBY", &1, "3"]) ++ [["MSET", "a", "1", "b", "2"]]

    {:ok, replies} = CrashClient.pipeline(sock, commands)
    {pushes, rest} = Enum.split(replies, 100)
    assert pushes == Enum.flat_map(1..5, fn round -> List.duplicate(round, 20) end)
    assert Enum.take(rest, 20) == List.duplicate(3, 20)
    # MSET over keys of different shards: the cross-slot error, alone.
    assert [{:error_reply, "CROSSSLOT" <> _}] = Enum.drop(rest, 20)

    for key <- keys do
      assert FerricStore.lrange("list:" <> key, 0, -1, name: name) == {:ok, ~w(1 2 3 4 5)}
    end
  end

  # A batcher that refuses writes (less free disk than min_free_disk) answers each of a
  # pipeline's writes with the error, in place.
  @tag instance_opts: [port: 0, min_free_disk: 1_152_921_504_606_846_976]
  test "refused pipelined writes each get the error", %{sock: sock} do
    commands = [["SET", "a", "1"], ["INCR", "b"], ["GET", "a"], ["SET", "c", "3"]]
    {:ok, replies} = CrashClient.pipeline(sock, commands)

    misconf =
      {:error_reply, "MISCONF Errors writing to the data directory: No space left on device"}

    assert replies == [misconf, misconf, nil, misconf]
  end

  defp collect_calls(batcher, acc) do
    receive do
      {:trace, ^batcher, :receive, {:"$gen_call", _from, request}} ->
        collect_calls(batcher, [request | acc])

      {:trace, ^batcher, :receive, _other} ->
        collect_calls(batcher, acc)
    after
      100 -> Enum.reverse(acc)
    end
  end
end
