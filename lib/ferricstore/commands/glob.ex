defmodule FerricStore.Commands.Glob do
  @moduledoc false
  # Redis glob patterns (KEYS, SCAN/HSCAN/SSCAN/ZSCAN MATCH): `*`, `?`, `[abc]`, `[^a]`,
  # `[a-z]`, `\x`, matched byte by byte with the rules of Redis' stringmatchlen:
  #
  # - a class ends at the first unescaped `]` that does not end a range (`[a-]` is the
  #   range `]`..`a`, and the class then runs on), or at the end of the pattern; `[]`
  #   matches nothing; range bounds compare as C's signed chars;
  # - a non-empty string is needed to match anything but the empty pattern, except for
  #   the pattern `*` alone, which Redis does not match at all (every key is listed);
  # - when the rest of a pattern after a `*` matches at no position of the rest of the
  #   string, no earlier `*` can help either: the whole match fails at once, so a pattern
  #   of many stars costs O(stars x length) instead of backtracking exponentially.
  #
  # A regex translation (PCRE) used to stand here: it hit PCRE's backtracking limit with
  # 24 or more stars and then answered "no match".

  @max_nesting 1000

  @typedoc "A compiled pattern; nil matches everything."
  @type t :: nil | {:glob, binary()}

  @spec compile(binary()) :: t()
  def compile("*"), do: nil
  def compile(pattern), do: {:glob, pattern}

  @spec match?(t(), binary()) :: boolean()
  def match?(nil, _key), do: true
  def match?({:glob, pattern}, ""), do: pattern == ""
  def match?({:glob, pattern}, key), do: match(pattern, key, 0) == :match

  # :match, :no, or :give_up (a star found no match: no earlier star can, see above).
  defp match(_pattern, _string, nesting) when nesting > @max_nesting, do: :no
  defp match(<<>>, _string, _nesting), do: :no

  defp match(<<"*", _::binary>> = pattern, string, nesting) do
    case skip_stars(pattern) do
      "" -> :match
      rest -> star(rest, string, nesting)
    end
  end

  defp match(<<"?", rest::binary>>, <<_, tail::binary>>, nesting),
    do: next(rest, tail, nesting)

  defp match(<<"[", class::binary>>, <<c, tail::binary>>, nesting) do
    case class(class, c) do
      {true, rest} -> next(rest, tail, nesting)
      {false, _rest} -> :no
    end
  end

  defp match(<<"\\", p, rest::binary>>, <<c, tail::binary>>, nesting),
    do: if(p == c, do: next(rest, tail, nesting), else: :no)

  defp match(<<p, rest::binary>>, <<c, tail::binary>>, nesting),
    do: if(p == c, do: next(rest, tail, nesting), else: :no)

  # After a byte was matched: at the end of the string, trailing stars still match.
  defp next(pattern, <<>>, _nesting), do: if(skip_stars(pattern) == "", do: :match, else: :no)
  defp next(pattern, string, nesting), do: match(pattern, string, nesting)

  # The pattern after a star, tried at every position of the (non-empty) string.
  defp star(rest, <<_, tail::binary>> = string, nesting) do
    case match(rest, string, nesting + 1) do
      :no when tail == "" -> :give_up
      :no -> star(rest, tail, nesting)
      other -> other
    end
  end

  defp skip_stars(<<"*", rest::binary>>), do: skip_stars(rest)
  defp skip_stars(rest), do: rest

  # A class after `[`: whether byte `c` is in it, and the pattern after it.
  defp class(<<"^", body::binary>>, c) do
    {found, rest} = class_body(body, c, false)
    {not found, rest}
  end

  defp class(body, c), do: class_body(body, c, false)

  defp class_body(<<"\\", x, rest::binary>>, c, found), do: class_body(rest, c, found or x == c)
  defp class_body(<<"]", rest::binary>>, _c, found), do: {found, rest}
  defp class_body(<<>>, _c, found), do: {found, <<>>}

  defp class_body(<<a, "-", b, rest::binary>>, c, found) do
    {lo, hi} = Enum.min_max([signed(a), signed(b)])
    class_body(rest, c, found or signed(c) in lo..hi)
  end

  defp class_body(<<x, rest::binary>>, c, found), do: class_body(rest, c, found or x == c)

  defp signed(byte) when byte > 127, do: byte - 256
  defp signed(byte), do: byte
end
