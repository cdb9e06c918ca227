defmodule FerricStore.Commands.ArgsTest do
  use ExUnit.Case, async: true

  alias FerricStore.Commands.Args

  doctest Args

  # Integer-looking doubles take a shortcut around the general parser: it must give the
  # same double, bit for bit (-0 included), and leave every other form to the full parser.
  test "double/1: integer strings give exactly Float.parse's double" do
    :rand.seed(:exsss, {7, 7, 7})

    cases =
      ["0", "-0", "00", "-000", "123456789012345", "-999999999999999", "1234567890123456"] ++
        for _ <- 1..2_000 do
          digits = for _ <- 1..Enum.random(1..17), into: "", do: <<Enum.random(?0..?9)>>
          if :rand.uniform(2) == 1, do: "-" <> digits, else: digits
        end

    for s <- cases do
      {f, ""} = Float.parse(s)
      assert {:ok, g} = Args.double(s)
      assert <<f::float>> == <<g::float>>, "#{s}: #{inspect(g)} vs #{inspect(f)}"
    end
  end

  # The general parser rounds an exact rational itself; for the decimal forms that
  # Float.parse reads (libc's strtod underneath) both must give the same double.
  test "double/1: random decimals round as Float.parse does" do
    :rand.seed(:exsss, {8, 8, 8})

    for _ <- 1..3_000 do
      mant = for _ <- 1..Enum.random(1..25), into: "", do: <<Enum.random(?0..?9)>>
      s = "#{mant}.#{:rand.uniform(99_999)}e#{Enum.random(-330..300)}"

      case Float.parse(s) do
        {f, ""} when f != 0.0 ->
          assert {:ok, g} = Args.double(s)
          assert <<f::float>> == <<g::float>>, "#{s}: #{inspect(g)} vs #{inspect(f)}"

        _ ->
          :ok
      end
    end
  end

  test "double/1: other forms as Redis' string2d (strtod)" do
    assert {:ok, 1.5} = Args.double("1.5")
    assert {:ok, 5.0} = Args.double("+5")
    assert {:ok, 1000.0} = Args.double("1e3")
    assert {:ok, 0.5} = Args.double(".5")
    assert {:ok, 1.0} = Args.double("1.")
    assert {:ok, 16.0} = Args.double("0x10")
    assert {:ok, 0.5} = Args.double("0x.8")
    assert {:ok, -12.0} = Args.double("-0X1.8P3")
    assert {:ok, :inf} = Args.double("inf")
    assert {:ok, :inf} = Args.double("+Infinity")
    assert {:ok, :neg_inf} = Args.double("-INF")
    # Subnormals are kept (ERANGE, but not zero), the smallest one included.
    assert {:ok, 1.0e-310} = Args.double("1e-310")
    assert {:ok, 5.0e-324} = Args.double("0x1p-1074")
    assert {:ok, 1.7976931348623157e308} = Args.double("0x1.fffffffffffff7p1023")
    assert {:ok, z} = Args.double("-0.0")
    assert <<z::float>> == <<-0.0::float>>

    # Overflow, underflow to zero (0x1p-1075 is a tie and rounds to even: 0), NaN.
    for bad <- [
          "1e500",
          "1.7976931348623159e308",
          "0x1.fffffffffffff8p1023",
          "1e-400",
          "0x1p-1075",
          "nan",
          "-nan",
          "nan(1)"
        ],
        do: assert(Args.double(bad) == :error, inspect(bad))

    for bad <- [
          "",
          "-",
          " 5",
          "5 ",
          "\t5",
          "1-2",
          "abc",
          "0x",
          "0x1p",
          "1e",
          "--1",
          "infinit",
          "."
        ],
        do: assert(Args.double(bad) == :error, inspect(bad))
  end

  test "strtod/1: the prefix strtod converts, and what follows it" do
    assert Args.strtod("") == {0.0, "", :ok}
    assert Args.strtod("   ") == {0.0, "   ", :ok}
    assert Args.strtod("-") == {0.0, "-", :ok}
    assert Args.strtod(" \v2") == {2.0, "", :ok}
    assert Args.strtod("1e+") == {1.0, "e+", :ok}
    assert Args.strtod("0x") == {0.0, "x", :ok}
    assert Args.strtod("0x.p1") == {0.0, "x.p1", :ok}
    assert Args.strtod("infinit") == {:inf, "init", :ok}
    assert Args.strtod("-infinityx") == {:neg_inf, "x", :ok}
    assert Args.strtod("nan(abc)x") == {:nan, "x", :ok}
    assert Args.strtod("nan(") == {:nan, "(", :ok}
    assert Args.strtod("-1e999999999") == {:neg_inf, "", :overflow}
    assert Args.strtod("1e-999999999") == {0.0, "", :underflow}
    assert Args.strtod("0e999999999") == {0.0, "", :ok}
  end
end
