defmodule FerricStore.Commands.ZSetsTest do
  use ExUnit.Case, async: true

  alias FerricStore.Commands.ZSets

  # Scores, increments and weights: Redis' getDoubleFromObject (string2d).
  test "parse_score/1 reads hex and infinities, and refuses under- and overflow" do
    assert {:ok, 16.0} = ZSets.parse_score("0x10")
    assert {:ok, 8.0} = ZSets.parse_score("0x1p3")
    assert {:ok, :inf} = ZSets.parse_score("+inf")
    assert {:ok, :neg_inf} = ZSets.parse_score("-infinity")
    assert {:ok, 1.0e-310} = ZSets.parse_score("1e-310")

    for bad <- ["1e-400", "1e500", "nan", "", " 1", "1 ", "0x"] do
      assert {:error, %FerricStore.Error{message: "ERR value is not a valid float"}} =
               ZSets.parse_score(bad),
             inspect(bad)
    end
  end

  # Range bounds: Redis' zslParseRange, plain strtod without string2d's checks.
  test "score_bound/1 takes what strtod takes, rejecting only trailing bytes and NaN" do
    assert {:ok, {false, 0.0}} = ZSets.score_bound("(")
    assert {:ok, {true, 0.0}} = ZSets.score_bound("")
    assert {:ok, {true, 2.0}} = ZSets.score_bound(" 2")
    assert {:ok, {false, 1.0}} = ZSets.score_bound("( 1")
    assert {:ok, {false, 2.0}} = ZSets.score_bound("(0x2")
    assert {:ok, {true, :inf}} = ZSets.score_bound("1e500")
    assert {:ok, {true, :neg_inf}} = ZSets.score_bound("-1e500")
    assert {:ok, {true, 0.0}} = ZSets.score_bound("1e-400")
    # The C string ends at a NUL.
    assert {:ok, {true, 1.0}} = ZSets.score_bound("1\0junk")

    for bad <- [
          "nan",
          "(nan",
          "1 ",
          " ",
          "-",
          "infinit",
          "(0x",
          "12a",
          "-1-",
          "0000000000000009x"
        ] do
      assert {:error, %FerricStore.Error{message: "ERR min or max is not a float"}} =
               ZSets.score_bound(bad),
             inspect(bad)
    end
  end

  # Args.strtod/1 reads the common bounds (±inf, up to 15 digits, leading zeros too)
  # without its exact parser; a leading blank, which strtod skips, forces the exact one.
  test "score bounds read by strtod's shortcuts equal the exact parser's" do
    digits = for _ <- 1..500, do: Integer.to_string(:rand.uniform(10 ** :rand.uniform(16)))
    padded = for d <- Enum.take(digits, 100), do: String.pad_leading(d, 15, "0")

    cases =
      ["+inf", "-inf", "inf", "0", "-0", "000", "-000000000000000", "999999999999999"] ++
        ["9999999999999999", "-9007199254740993", "1234567890123456789"] ++
        digits ++ padded ++ Enum.map(digits ++ padded, &("-" <> &1))

    for s <- cases do
      {exact, "", _} = FerricStore.Commands.Args.strtod(" " <> s)
      assert {:ok, {true, got}} = ZSets.score_bound(s)
      assert got === exact, inspect(s)
      assert {:ok, {false, ^got}} = ZSets.score_bound("(" <> s)
    end

    # -0 is -0.0, as strtod reads it (the two compare equal, their signs do not).
    assert {:ok, {true, zero}} = ZSets.score_bound("-0")
    assert <<1::1, _::63>> = <<zero::float>>
  end
end
