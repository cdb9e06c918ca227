defmodule FerricStore.Commands.LongDoubleTest do
  use ExUnit.Case, async: true

  alias FerricStore.Commands.LongDouble, as: LD

  defp incr(a, b) do
    {:ok, x} = LD.parse(a)
    {:ok, y} = LD.parse(b)
    {:ok, sum} = LD.add(x, y)
    LD.format(sum)
  end

  test "sums as x87 long double and prints like %.17Lf without trailing zeros" do
    assert incr("0.1", "0.2") == "0.3"
    assert incr("10.5", "0.1") == "10.6"
    assert incr("123456789012345678", "0") == "123456789012345678"
    # 2^64 + 1 is not representable: rounds to even.
    assert incr("18446744073709551616", "1") == "18446744073709551616"
    assert incr("5.0e3", "-5000") == "0"
    assert incr("-1", "0.5") == "-0.5"
    assert incr("0x10", "1") == "17"
    assert incr("1e-20", "0") == "0"
  end

  test "accepts strtold syntax and rejects what Redis rejects" do
    for ok <- ["1", "-1.5", "+2", ".5", "5.", "1e3", "1E-3", "0x1p4", "inf", "-Infinity"] do
      assert {:ok, _} = LD.parse(ok), ok
    end

    for bad <- ["", " 1", "1 ", "abc", "nan", "1e", ".", "--1", "1e99999", "1e-99999", "0x"] do
      assert LD.parse(bad) == :error, bad
    end
  end

  test "denormals: down to 2^-16445, as strtold; what rounds to zero is rejected" do
    # Checked against redis-server 7.0 (HINCRBYFLOAT h f <v>).
    for ok <- ["1e-4950", "1e-4932", "0x1p-16445", "-1e-4940", "3e-4951", "4e-4951"] do
      assert {:ok, {n, _}} = LD.parse(ok), ok
      assert n != 0, ok
      assert incr(ok, "0") == "0", ok
    end

    for zero <- ["1e-4951", "0x1p-16446"], do: assert(LD.parse(zero) == :error, zero)
    # Denormals add exactly: 2^-16445 + 2^-16445 = 2^-16444.
    {:ok, tiny} = LD.parse("0x1p-16445")
    assert {:ok, {2, den}} = LD.add(tiny, tiny)
    assert den == Bitwise.bsl(1, 16_445)
  end

  test "infinities cannot be added" do
    {:ok, inf} = LD.parse("inf")
    {:ok, one} = LD.parse("1")
    assert LD.add(inf, one) == :error
    {:ok, big} = LD.parse("1e4932")
    assert LD.add(big, big) == :error
  end
end
