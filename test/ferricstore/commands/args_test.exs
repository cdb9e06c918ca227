defmodule FerricStore.Commands.ArgsTest do
  use ExUnit.Case, async: true

  alias FerricStore.Commands.Args

  # Integer-looking doubles take a shortcut around Float.parse: it must give the same
  # double, bit for bit (-0 included), and leave every other form to the full parser.
  test "float/1: integer strings give exactly Float.parse's double" do
    :rand.seed(:exsss, {7, 7, 7})

    cases =
      ["0", "-0", "00", "-000", "123456789012345", "-999999999999999", "1234567890123456"] ++
        for _ <- 1..2_000 do
          digits = for _ <- 1..Enum.random(1..17), into: "", do: <<Enum.random(?0..?9)>>
          if :rand.uniform(2) == 1, do: "-" <> digits, else: digits
        end

    for s <- cases do
      {f, ""} = Float.parse(s)
      assert {:ok, g} = Args.float(s)
      assert <<f::float>> == <<g::float>>, "#{s}: #{inspect(g)} vs #{inspect(f)}"
    end
  end

  test "float/1: other forms as Redis' string2ld" do
    assert {:ok, 1.5} = Args.float("1.5")
    assert {:ok, 5.0} = Args.float("+5")
    assert {:ok, 1000.0} = Args.float("1e3")
    assert {:ok, 0.5} = Args.float(".5")

    for bad <- ["", "-", " 5", "5 ", "1-2", "abc", "inf", "-inf", "nan", "0x", "--1"],
        do: assert(Args.float(bad) == :error, inspect(bad))
  end
end
