defmodule FerricStore.Protocol.RESPTest do
  use ExUnit.Case, async: true

  alias FerricStore.Error
  alias FerricStore.Protocol.RESP

  doctest RESP

  defp enc(reply, p), do: reply |> RESP.encode(p) |> IO.iodata_to_binary()

  defp multibulk(args),
    do:
      IO.iodata_to_binary([
        "*#{length(args)}\r\n" | Enum.map(args, &"$#{byte_size(&1)}\r\n#{&1}\r\n")
      ])

  describe "parse/2" do
    test "multibulk and inline commands" do
      assert RESP.parse(multibulk(["SET", "k", "v"])) == {:ok, ["SET", "k", "v"], ""}
      assert RESP.parse("ping\n") == {:ok, ["ping"], ""}
      assert RESP.parse("  set  a   b \r\nx") == {:ok, ["set", "a", "b"], "x"}
      assert RESP.parse(~s(set "a\\r\\n\\x00" '\\'x'\r\n)) == {:ok, ["set", "a\r\n\0", "'x"], ""}
      assert RESP.parse(multibulk(["a", ""])) == {:ok, ["a", ""], ""}
      assert RESP.parse(multibulk(["a", "\r\n\r\n"])) == {:ok, ["a", "\r\n\r\n"], ""}
    end

    test "empty lines and empty multibulks are skipped" do
      assert RESP.parse("\r\n\r\n*0\r\n*-1\r\nPING\r\n") == {:ok, ["PING"], ""}
    end

    test "incomplete input gives a continuation" do
      assert {:continuation, c} = RESP.parse("*2\r\n$3\r\nfoo\r\n$5\r\nhel")
      assert {:continuation, c} = RESP.continue(c, "l")
      assert RESP.continue(c, "o\r\nrest") == {:ok, ["foo", "hello"], "rest"}
      assert {:continuation, c} = RESP.parse("PIN")
      assert RESP.continue(c, "G\r\n") == {:ok, ["PING"], ""}
    end

    test "a huge announced bulk is not allocated up front" do
      assert {:continuation, c} = RESP.parse("*1\r\n$500000000\r\nabc")
      assert :erts_debug.flat_size(c) < 100
    end

    test "protocol errors with Redis' texts" do
      e = fn data -> RESP.parse(data) end
      assert e.("*1\r\n$abc\r\n") == {:error, "ERR Protocol error: invalid bulk length"}
      assert e.("*1\r\n$-1\r\n") == {:error, "ERR Protocol error: invalid bulk length"}
      assert e.("*1\r\n$600000000\r\n") == {:error, "ERR Protocol error: invalid bulk length"}
      assert e.("*abc\r\n") == {:error, "ERR Protocol error: invalid multibulk length"}
      assert e.("*1x\r\n") == {:error, "ERR Protocol error: invalid multibulk length"}
      assert e.("*1048577\r\n") == {:error, "ERR Protocol error: invalid multibulk length"}
      assert {:continuation, _} = e.("*1048576\r\n")
      assert e.("*1\r\n*1\r\n") == {:error, "ERR Protocol error: expected '$', got '*'"}
      assert e.(~s(PING "abc\r\n)) == {:error, "ERR Protocol error: unbalanced quotes in request"}

      assert e.(~s(PING "abc"x\r\n)) ==
               {:error, "ERR Protocol error: unbalanced quotes in request"}

      big = String.duplicate("a", 64 * 1024 + 1)
      assert e.(big) == {:error, "ERR Protocol error: too big inline request"}
      assert e.("*" <> big) == {:error, "ERR Protocol error: too big mbulk count string"}
      assert e.("*1\r\n$" <> big) == {:error, "ERR Protocol error: too big bulk count string"}

      assert RESP.parse("*1\r\n$20\r\n", max_bulk_len: 10) ==
               {:error, "ERR Protocol error: invalid bulk length"}

      assert RESP.parse("*11\r\n", auth_required: true) ==
               {:error, "ERR Protocol error: unauthenticated multibulk length"}

      assert RESP.parse("*1\r\n$16385\r\n", auth_required: true) ==
               {:error, "ERR Protocol error: unauthenticated bulk length"}
    end

    test "parse_all/2 reads a pipeline" do
      data = String.duplicate("PING\r\n", 300) <> String.duplicate(multibulk(["ECHO", "x"]), 300)
      assert {cmds, :done} = RESP.parse_all(data)
      assert length(cmds) == 600
      assert {[["PING"]], {:error, _}} = RESP.parse_all("PING\r\n*x\r\n")
    end

    test "parse_all/2 stops after one command while unauthenticated" do
      assert RESP.parse_all("AUTH pw\r\nPING\r\n", auth_required: true) ==
               {[["AUTH", "pw"]], {:more, "PING\r\n"}}

      assert RESP.parse_all("AUTH pw\r\n", auth_required: true) == {[["AUTH", "pw"]], :done}
    end

    test "a byte that is not '$' is named on one line, as Redis' %c does" do
      encoded = fn frame ->
        {:error, message} = RESP.parse(frame)
        IO.iodata_to_binary(RESP.encode(FerricStore.Error.new(:protocol, message), 2))
      end

      assert encoded.("*1\r\n\r\n") == "-ERR Protocol error: expected '$', got ' '\r\n"
      assert encoded.("*1\r\n\n") == "-ERR Protocol error: expected '$', got ' '\r\n"
      assert encoded.("*1\r\n\0") == "-ERR Protocol error: expected '$', got '\r\n"
      assert encoded.("*1\r\nx") == "-ERR Protocol error: expected '$', got 'x'\r\n"
    end
  end

  describe "encode/2" do
    test "the reply contract" do
      err = Error.new(:syntax)
      assert enc(:ok, 2) == "+OK\r\n"
      assert enc({:simple, "PONG"}, 3) == "+PONG\r\n"
      assert enc("ab", 2) == "$2\r\nab\r\n"
      assert enc(nil, 2) == "$-1\r\n"
      assert enc(nil, 3) == "_\r\n"
      assert enc(:null_array, 2) == "*-1\r\n"
      assert enc(:null_array, 3) == "_\r\n"
      assert enc(-7, 2) == ":-7\r\n"
      assert enc(3.5, 2) == "$3\r\n3.5\r\n"
      assert enc(3.5, 3) == ",3.5\r\n"
      assert enc({:double, :inf}, 3) == ",inf\r\n"
      assert enc({:double, :neg_inf}, 2) == "$4\r\n-inf\r\n"
      assert enc({:double, :nan}, 3) == ",nan\r\n"
      assert enc(["a", [1]], 2) == "*2\r\n$1\r\na\r\n*1\r\n:1\r\n"
      assert enc({:map, [{"a", 1}]}, 3) == "%1\r\n$1\r\na\r\n:1\r\n"
      assert enc({:map, [{"a", 1}]}, 2) == "*2\r\n$1\r\na\r\n:1\r\n"
      assert enc({:set, ["a"]}, 3) == "~1\r\n$1\r\na\r\n"
      assert enc({:set, ["a"]}, 2) == "*1\r\n$1\r\na\r\n"
      assert enc({:push, ["a"]}, 3) == ">1\r\n$1\r\na\r\n"
      assert enc({:push, ["a"]}, 2) == "*1\r\n$1\r\na\r\n"
      assert enc({:verbatim, "txt", "hi"}, 3) == "=6\r\ntxt:hi\r\n"
      assert enc({:verbatim, "txt", "hi"}, 2) == "$2\r\nhi\r\n"
      assert enc({:bool, true}, 3) == "#t\r\n"
      assert enc({:bool, false}, 2) == ":0\r\n"
      assert enc(err, 2) == "-ERR syntax error\r\n"
      assert enc({:error, err}, 3) == "-ERR syntax error\r\n"
      assert enc(Error.new(:x, "ERR a\r\nb"), 2) == "-ERR a  b\r\n"
      assert enc({:raw, "+X\r\n"}, 2) == "+X\r\n"
    end

    test "format_double/1 matches %.17g" do
      cases = [
        {1.0, "1"},
        {-2.5, "-2.5"},
        {0.0, "0"},
        {1.0e20, "1e+20"},
        {1.0e16, "10000000000000000"},
        {1.0e17, "1e+17"},
        {1.5e-5, "1.5e-05"},
        {0.0001, "0.0001"},
        {3.14159, "3.1415899999999999"},
        {123_456.789, "123456.789"},
        # Integral values take a shorter path; these are Python's "%.17g" of each.
        {-0.0, "-0"},
        {-3.0, "-3"},
        {42.0, "42"},
        {9_007_199_254_740_993.0, "9007199254740992"},
        {99_999_999_999_999_984.0, "99999999999999984"},
        {-99_999_999_999_999_984.0, "-99999999999999984"},
        {123_456_789_012_345_678.0, "1.2345678901234568e+17"},
        {-7.0e16, "-70000000000000000"}
      ]

      for {f, s} <- cases, do: assert(RESP.format_double(f) == s, "#{f}")
    end
  end

  describe "properties (seeded :rand)" do
    setup do
      :rand.seed(:exsss, {1, 2, 3})
      :ok
    end

    defp random_arg do
      case :rand.uniform(4) do
        1 -> ""
        2 -> :crypto.strong_rand_bytes(:rand.uniform(50))
        3 -> Integer.to_string(:rand.uniform(1_000_000))
        4 -> String.duplicate("\r\n", :rand.uniform(3))
      end
    end

    defp random_command, do: for(_ <- 1..:rand.uniform(6), do: random_arg())

    test "encoded commands parse back" do
      for _ <- 1..500 do
        cmd = random_command()
        assert RESP.parse(IO.iodata_to_binary(RESP.encode(cmd, 2))) == {:ok, cmd, ""}
      end
    end

    test "splitting a stream at every byte yields the same commands" do
      cmds = for _ <- 1..20, do: random_command()
      stream = cmds |> Enum.map(&RESP.encode(&1, 2)) |> IO.iodata_to_binary()

      for cut <- 0..byte_size(stream) do
        <<a::binary-size(cut), b::binary>> = stream
        assert feed([a, b]) == cmds
      end

      # and byte by byte
      assert feed(for <<c <- stream>>, do: <<c>>) == cmds
    end

    test "random and mutated frames never crash the parser" do
      valid = for _ <- 1..50, do: IO.iodata_to_binary(RESP.encode(random_command(), 2))

      for _ <- 1..3000 do
        frame =
          case :rand.uniform(3) do
            1 ->
              :crypto.strong_rand_bytes(:rand.uniform(64))

            2 ->
              mutate(Enum.random(valid))

            3 ->
              "*" <>
                Integer.to_string(:rand.uniform(100)) <> "\r\n" <> :crypto.strong_rand_bytes(20)
          end

        assert {_cmds, tail} = RESP.parse_all(frame)

        assert tail == :done or match?({:continuation, _}, tail) or
                 match?({:error, "ERR Protocol error: " <> _}, tail)
      end
    end

    defp mutate(frame) do
      pos = :rand.uniform(byte_size(frame)) - 1
      <<a::binary-size(pos), _, b::binary>> = frame
      <<a::binary, :rand.uniform(256) - 1, b::binary>>
    end

    defp feed(chunks) do
      {cmds, nil} =
        Enum.reduce(chunks, {[], nil}, fn chunk, {acc, cont} ->
          {new, tail} = if cont, do: RESP.parse_all({cont, chunk}), else: RESP.parse_all(chunk)

          cont =
            case tail do
              :done -> nil
              {:continuation, c} -> c
            end

          {acc ++ new, cont}
        end)

      cmds
    end
  end
end
