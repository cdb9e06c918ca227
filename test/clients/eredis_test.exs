defmodule FerricStore.Clients.EredisTest do
  # eredis (Debian's erlang-redis-client) from Elixir against FerricStore: single commands,
  # pipelines, binary data, errors, and concurrent clients.
  use ExUnit.Case, async: true

  @moduletag :integration

  setup_all do
    if not Code.ensure_loaded?(:eredis),
      do: raise("eredis is not installed (erlang-redis-client)")

    FerricStore.Test.ClientInstance.start!()
  end

  setup %{port: port} do
    {:ok, c} = :eredis.start_link('127.0.0.1', port)
    on_exit(fn -> if Process.alive?(c), do: :eredis.stop(c) end)
    %{c: c}
  end

  test "commands and replies", %{c: c} do
    assert {:ok, "OK"} = :eredis.q(c, ["SET", "eredis:k", "v"])
    assert {:ok, "v"} = :eredis.q(c, ["GET", "eredis:k"])
    assert {:ok, :undefined} = :eredis.q(c, ["GET", "eredis:missing"])
    assert {:ok, "1"} = :eredis.q(c, ["INCR", "eredis:n"])
    assert {:ok, "11"} = :eredis.q(c, ["INCRBY", "eredis:n", 10])
    assert {:ok, "OK"} = :eredis.q(c, ["MSET", "eredis:a", "1", "eredis:b", <<0, 255>>])

    assert {:ok, ["1", <<0, 255>>, :undefined]} =
             :eredis.q(c, ["MGET", "eredis:a", "eredis:b", "eredis:c"])

    assert {:ok, "1"} = :eredis.q(c, ["EXPIRE", "eredis:a", 100])
    assert {:ok, ttl} = :eredis.q(c, ["TTL", "eredis:a"])
    assert String.to_integer(ttl) in 99..100

    assert {:error, "ERR value is not an integer or out of range"} =
             :eredis.q(c, ["INCR", "eredis:b"])

    assert {:error, "ERR wrong number of arguments for 'get' command"} = :eredis.q(c, ["GET"])
    assert {:ok, "2"} = :eredis.q(c, ["DEL", "eredis:a", "eredis:b", "eredis:c"])
  end

  test "a pipeline of 1000 commands", %{c: c} do
    commands = for i <- 1..1000, do: ["SET", "eredis:p:#{i}", Integer.to_string(i)]
    replies = :eredis.qp(c, commands)
    assert length(replies) == 1000
    assert Enum.all?(replies, &(&1 == {:ok, "OK"}))
    gets = :eredis.qp(c, for(i <- 1..1000, do: ["GET", "eredis:p:#{i}"]))
    assert gets == for(i <- 1..1000, do: {:ok, Integer.to_string(i)})
  end

  test "20 concurrent clients increment one counter", %{port: port, c: c} do
    :eredis.q(c, ["DEL", "eredis:shared"])

    1..20
    |> Task.async_stream(
      fn _ ->
        {:ok, conn} = :eredis.start_link('127.0.0.1', port)
        for _ <- 1..50, do: {:ok, _} = :eredis.q(conn, ["INCR", "eredis:shared"])
        :eredis.stop(conn)
      end,
      timeout: 60_000
    )
    |> Stream.run()

    assert {:ok, "1000"} = :eredis.q(c, ["GET", "eredis:shared"])
  end
end
