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

    for bad <- ["nan", "(nan", "1 ", " ", "-", "infinit", "(0x"] do
      assert {:error, %FerricStore.Error{message: "ERR min or max is not a float"}} =
               ZSets.score_bound(bad),
             inspect(bad)
    end
  end
end
