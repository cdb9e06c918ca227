Code.require_file("../differential/support/resp_client.exs", __DIR__)

defmodule FerricStore.Clients.RedisBenchmarkTest do
  # A redis-benchmark smoke run against FerricStore (10 clients, keyspace of 100 keys),
  # then a check that what it wrote is right: every `key:<12 digits>` holds the benchmark's
  # payload, and the `counter:<12 digits>` keys add up to the number of INCRs it sent.
  use ExUnit.Case, async: true

  alias FerricStore.Test.RESPClient

  @moduletag :integration
  @moduletag timeout: 120_000

  setup_all do
    if System.find_executable("redis-benchmark") == nil,
      do: raise("redis-benchmark is not installed (redis-tools)")

    FerricStore.Test.ClientInstance.start!()
  end

  test "SET/GET/INCR/MSET with 10 clients, and the data it wrote", %{port: port} do
    n = 2000
    sock = RESPClient.connect!(port)
    {:simple, "OK"} = RESPClient.command(sock, ["FLUSHALL"])

    args = ~w(-h 127.0.0.1 -p #{port} -t set,get,incr,mset -n #{n} -c 10 -r 100 -d 16 -q --csv)

    {out, status} = System.cmd("redis-benchmark", args, stderr_to_stdout: true)
    assert status == 0, out

    # --csv: a header, then "test","rps",... for each test; every test must report a rate.
    rates =
      for line <- String.split(out, "\n", trim: true),
          [test, rps | _] = line |> String.split(",") |> Enum.map(&String.trim(&1, "\"")),
          test != "test",
          into: %{},
          do: {test, String.to_float(rps)}

    assert Map.keys(rates) |> Enum.sort() == ["GET", "INCR", "MSET (10 keys)", "SET"], out
    assert Enum.all?(Map.values(rates), &(&1 > 0))

    counters = RESPClient.command(sock, ["KEYS", "counter:*"])
    keys = RESPClient.command(sock, ["KEYS", "key:*"])
    assert counters != [] and length(counters) <= 100
    assert keys != [] and length(keys) <= 100
    assert Enum.all?(counters ++ keys, &(&1 =~ ~r/^(counter|key):\d{12}$/))

    total =
      sock
      |> RESPClient.command(["MGET" | counters])
      |> Enum.map(&String.to_integer/1)
      |> Enum.sum()

    assert total == n

    values = RESPClient.command(sock, ["MGET" | keys])
    assert [payload] = Enum.uniq(values)
    assert byte_size(payload) == 16
    assert RESPClient.command(sock, ["DBSIZE"]) == length(counters) + length(keys)
    RESPClient.close(sock)
  end
end
