defmodule FerricStore.Test.Differential.Generator do
  @moduledoc false
  # Seeded generators of command sequences for the differential test (strings and keyspace).
  #
  # Everything draws from the process' `:rand` state, which the test seeds once, so a seed
  # reproduces the same sequences. A sequence is a list of steps:
  #
  #   {:cmd, [name | args]}   one command, compared reply by reply
  #   {:scan_all, opts}       a full SCAN iteration (MATCH/COUNT/TYPE opts), compared as a set
  #
  # Time-dependent inputs are chosen so that the servers cannot disagree because they run
  # a few milliseconds apart: relative TTLs are random and large (two equal TTLs, which make
  # EXPIRE GT/LT race the clock, almost never occur), absolute ones are either well in
  # the past or well in the future, and there are no TTLs short enough to expire mid-sequence.

  @max_int "9223372036854775807"
  @min_int "-9223372036854775808"

  # A small key space, so that commands collide: binary-unsafe bytes and glob characters.
  @keys ["k1", "k2", "key:3", <<0, "\r\nk">>, <<255, 254, "*k">>]

  @patterns [
    "*",
    "k*",
    "k?",
    "key:*",
    "*k*",
    "k[12]",
    "k[^1]",
    "k[!1]",
    "k[a-z0-9]",
    "k[2-1]",
    "*\\**",
    "\\k1",
    "k\\",
    "[",
    "k[",
    "[]",
    "",
    <<"*", 0, "*">>,
    <<255, "*">>,
    "?",
    "??",
    "*3",
    "nomatch*"
  ]

  @int_args [
    "0",
    "1",
    "-1",
    "2",
    "10",
    "100",
    @max_int,
    @min_int,
    "9223372036854775806",
    "-9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "1.0",
    "1e3",
    " 1",
    "1 ",
    "+5",
    "007",
    "-0",
    "0x10",
    "abc",
    ""
  ]

  @float_args [
    "0.1",
    "1e3",
    ".5",
    "5.",
    "-.5",
    "inf",
    "-inf",
    "+inf",
    "Infinity",
    "nan",
    "1.5e308",
    "-1.5e308",
    "1.7976931348623157e308",
    "1e-320",
    "5.0e3",
    "3",
    "-0.0",
    "0x10",
    "1e",
    "1e+",
    " 1",
    "1 ",
    "abc",
    "",
    "10.50",
    "1e20",
    "123456789012345678",
    "-3.14159"
  ]

  @range_args [
    "0",
    "1",
    "2",
    "3",
    "-1",
    "-2",
    "-3",
    "-100",
    "100",
    @max_int,
    @min_int,
    "9223372036854775808",
    "abc",
    "",
    "1.5"
  ]

  @doc "`count` sequences of `len` commands each."
  def sequences(count, len), do: for(_ <- 1..count, do: sequence(len))

  def sequence(len), do: for(_ <- 1..len, do: step())

  def step do
    case :rand.uniform(100) do
      n when n <= 3 -> scan_all()
      n when n <= 5 -> {:cmd, [pick(["NOSUCHCMD", "getx", "SET-", "cas2"]), key()]}
      n when n <= 12 -> {:cmd, mangle_arity(command())}
      _ -> {:cmd, command()}
    end
  end

  ## Commands

  defp command do
    [name | args] = pick(commands()).()
    [random_case(name) | args]
  end

  defp commands do
    [
      fn -> ["GET", key()] end,
      fn -> ["GET", key()] end,
      fn -> ["SET", key(), value() | set_options()] end,
      fn -> ["SET", key(), value() | set_options()] end,
      fn -> ["SET", key(), value() | set_options()] end,
      fn -> ["SETNX", key(), value()] end,
      fn -> ["SETEX", key(), ttl_s(), value()] end,
      fn -> ["PSETEX", key(), ttl_ms(), value()] end,
      fn -> ["GETSET", key(), value()] end,
      fn -> ["GETDEL", key()] end,
      fn -> ["GETEX", key() | getex_options()] end,
      fn -> ["MGET" | keys(1, 4)] end,
      fn -> ["MSET" | pairs(1, 3)] end,
      fn -> ["MSETNX" | pairs(1, 3)] end,
      fn -> ["INCR", key()] end,
      fn -> ["INCR", key()] end,
      fn -> ["DECR", key()] end,
      fn -> ["INCRBY", key(), int_arg()] end,
      fn -> ["INCRBY", key(), int_arg()] end,
      fn -> ["DECRBY", key(), int_arg()] end,
      fn -> ["INCRBYFLOAT", key(), float_arg()] end,
      fn -> ["INCRBYFLOAT", key(), float_arg()] end,
      fn -> ["APPEND", key(), value()] end,
      fn -> ["STRLEN", key()] end,
      fn -> ["GETRANGE", key(), range_arg(), range_arg()] end,
      fn -> ["SUBSTR", key(), range_arg(), range_arg()] end,
      fn -> setrange() end,
      fn -> ["DEL" | keys(1, 3)] end,
      fn -> ["UNLINK" | keys(1, 3)] end,
      fn -> ["EXISTS" | keys(1, 4)] end,
      fn -> ["TYPE", key()] end,
      fn -> ["EXPIRE", key(), ttl_s() | expire_flags()] end,
      fn -> ["PEXPIRE", key(), ttl_ms() | expire_flags()] end,
      fn -> ["EXPIREAT", key(), at_s() | expire_flags()] end,
      fn -> ["PEXPIREAT", key(), at_ms() | expire_flags()] end,
      fn -> ["EXPIRETIME", key()] end,
      fn -> ["PEXPIRETIME", key()] end,
      fn -> ["TTL", key()] end,
      fn -> ["PTTL", key()] end,
      fn -> ["PERSIST", key()] end,
      fn -> ["KEYS", pick(@patterns)] end,
      fn -> ["DBSIZE"] end,
      fn -> ["SCAN", pick(["abc", "-1", "18446744073709551616", "1.5", ""])] end
    ]
  end

  defp scan_all do
    opts =
      [
        maybe(["MATCH", pick(@patterns)]),
        maybe(["COUNT", pick(["1", "2", "3", "10", "1000", "0", "-1", "abc"])]),
        maybe(["TYPE", pick(["string", "STRING", "hash", "list", "none", "foo"])])
      ]
      |> Enum.shuffle()
      |> Enum.concat()

    {:scan_all, opts}
  end

  defp setrange do
    case :rand.uniform(10) do
      1 -> ["SETRANGE", key(), pick(["536870912", @max_int, "4294967296"]), value()]
      2 -> ["SETRANGE", key(), pick(["536870911", "536870912"]), pick(["", "ab", "abc"])]
      3 -> ["SETRANGE", key(), pick(["-1", "abc", "", "1.5", @min_int]), value()]
      _ -> ["SETRANGE", key(), pick(["0", "1", "2", "5", "10", "100"]), value()]
    end
  end

  ## Options

  defp set_options do
    expiry = [
      ["EX", ttl_s()],
      ["PX", ttl_ms()],
      ["EXAT", at_s()],
      ["PXAT", at_ms()],
      ["KEEPTTL"],
      ["EX"],
      ["PX", pick(["0", "-5", "abc", @max_int, "9223372036854775"])],
      ["EX", pick(["0", "-5", "1.5", @max_int, "9223372036854775"])]
    ]

    opts =
      [
        maybe(pick([["NX"], ["XX"]]), 30),
        maybe(["GET"], 25),
        maybe(pick(expiry), 50),
        # Invalid combinations: two conditions, two expiries, an unknown word.
        maybe(pick([["NX"], ["XX"]]), 5),
        maybe(pick(expiry), 5),
        maybe(pick([["FOO"], ["PERSIST"], ["GET"]]), 4)
      ]
      |> Enum.shuffle()
      |> Enum.concat()

    Enum.map(opts, &maybe_lower/1)
  end

  defp getex_options do
    pick([
      [],
      [],
      ["PERSIST"],
      ["EX", ttl_s()],
      ["PX", ttl_ms()],
      ["EXAT", at_s()],
      ["PXAT", at_ms()],
      ["EX", pick(["0", "-1", "abc", @max_int])],
      ["PX"],
      ["EX", ttl_s(), "PERSIST"],
      ["PERSIST", "PERSIST"],
      ["KEEPTTL"],
      ["FOO"]
    ])
    |> Enum.map(&maybe_lower/1)
  end

  defp expire_flags do
    case :rand.uniform(10) do
      n when n <= 4 -> []
      n when n <= 8 -> [pick(["NX", "XX", "GT", "LT", "nx", "gt"])]
      9 -> pick([["NX", "XX"], ["GT", "LT"], ["NX", "GT"], ["XX", "GT"], ["XX", "LT"]])
      10 -> [pick(["FOO", "PERSIST"])]
    end
  end

  ## Values

  def key, do: pick(@keys)

  defp keys(min, max), do: for(_ <- 1..(min + :rand.uniform(max - min + 1) - 1), do: key())

  defp pairs(min, max) do
    n = min + :rand.uniform(max - min + 1) - 1
    for(_ <- 1..n, do: [key(), value()]) |> Enum.concat()
  end

  defp value do
    case :rand.uniform(10) do
      n when n <= 4 -> pick(@int_args)
      5 -> pick(@float_args)
      6 -> random_binary(:rand.uniform(12))
      7 -> pick(["", "hello", "a", <<0>>, "\r\n", <<255, 0, 254>>, "€uro"])
      8 -> String.duplicate("x", pick([1, 100, 1000, 5000]))
      _ -> pick(["v1", "v2", "foo", "bar"])
    end
  end

  defp int_arg do
    if :rand.uniform(4) == 1,
      do: Integer.to_string(:rand.uniform(2_000_000) - 1_000_000),
      else: pick(@int_args)
  end

  defp float_arg do
    if :rand.uniform(4) == 1,
      do: pick(["1.25", "-0.75", "100.001", "2.5e2", "1E2", "-1e-2"]),
      else: pick(@float_args)
  end

  defp range_arg, do: pick(@range_args)

  # Relative TTLs: large and random, so that two never coincide (see the module comment).
  defp ttl_s do
    case :rand.uniform(12) do
      1 -> pick(["0", "-1", "-100", "abc", "1.5", "", @max_int, "9223372036854775", @min_int])
      _ -> Integer.to_string(100 + :rand.uniform(1_000_000))
    end
  end

  defp ttl_ms do
    case :rand.uniform(12) do
      1 -> pick(["0", "-1", "-100", "abc", "1.5", @max_int, "9223372036854775807", @min_int])
      _ -> Integer.to_string(100_000 + :rand.uniform(1_000_000_000))
    end
  end

  defp at_s do
    now = System.os_time(:second)

    case :rand.uniform(8) do
      1 -> pick(["1", "0", "-1", Integer.to_string(now - 1000), "abc", @max_int])
      _ -> Integer.to_string(now + 100 + :rand.uniform(1_000_000))
    end
  end

  defp at_ms do
    now = System.os_time(:millisecond)

    case :rand.uniform(8) do
      1 -> pick(["1", "0", "-1", Integer.to_string(now - 1_000_000), "abc", @max_int])
      _ -> Integer.to_string(now + 100_000 + :rand.uniform(1_000_000_000))
    end
  end

  ## Helpers

  defp mangle_arity([name | args]) do
    case :rand.uniform(3) do
      1 -> [name]
      2 -> [name | Enum.drop(args, -1)]
      3 -> [name | args ++ [pick(["x", "1000000", "EX"])]]
    end
  end

  defp random_case(name) do
    case :rand.uniform(6) do
      1 -> String.downcase(name)
      2 -> name |> String.graphemes() |> Enum.map(&maybe_upcase/1) |> Enum.join()
      _ -> name
    end
  end

  defp maybe_upcase(g), do: if(:rand.uniform(2) == 1, do: String.upcase(g), else: g)

  defp maybe_lower(word) do
    if :rand.uniform(8) == 1 and word =~ ~r/^[A-Z]+$/, do: String.downcase(word), else: word
  end

  defp random_binary(n), do: for(_ <- 1..n, into: "", do: <<:rand.uniform(256) - 1>>)

  defp maybe(list, percent \\ 50), do: if(:rand.uniform(100) <= percent, do: list, else: [])

  def pick(list), do: Enum.at(list, :rand.uniform(length(list)) - 1)
end
