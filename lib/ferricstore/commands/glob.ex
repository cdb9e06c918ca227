defmodule FerricStore.Commands.Glob do
  @moduledoc false
  # Redis glob patterns (KEYS, SCAN MATCH): `*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\x`,
  # compiled once to a byte-oriented regex (binary-safe keys, no UTF-8 assumption).

  @spec compile(binary()) :: Regex.t()
  def compile(pattern), do: Regex.compile!("\\A" <> translate(pattern, []) <> "\\z", "s")

  @spec match?(Regex.t() | nil, binary()) :: boolean()
  def match?(nil, _key), do: true
  def match?(regex, key), do: Regex.match?(regex, key)

  defp translate(<<>>, acc), do: acc |> Enum.reverse() |> IO.iodata_to_binary()
  defp translate(<<"*", rest::binary>>, acc), do: translate(rest, [".*" | acc])
  defp translate(<<"?", rest::binary>>, acc), do: translate(rest, ["." | acc])
  defp translate(<<"\\", c, rest::binary>>, acc), do: translate(rest, [escape(c) | acc])

  defp translate(<<"[", rest::binary>>, acc) do
    {class, rest} = class(rest, [])
    translate(rest, [class | acc])
  end

  defp translate(<<c, rest::binary>>, acc), do: translate(rest, [escape(c) | acc])

  # A character class up to the closing `]` (an unclosed class runs to the end, as in
  # Redis' stringmatchlen).
  defp class(<<"^", rest::binary>>, []), do: class_body(rest, ["[^"])
  defp class(rest, []), do: class_body(rest, ["["])

  defp class_body(<<>>, acc), do: close(acc, <<>>)
  defp class_body(<<"]", rest::binary>>, acc), do: close(acc, rest)
  defp class_body(<<"\\", c, rest::binary>>, acc), do: class_body(rest, [escape(c) | acc])

  defp class_body(<<a, "-", b, rest::binary>>, acc) when b != ?] do
    {lo, hi} = if a <= b, do: {a, b}, else: {b, a}
    class_body(rest, [escape(lo) <> "-" <> escape(hi) | acc])
  end

  defp class_body(<<c, rest::binary>>, acc), do: class_body(rest, [escape(c) | acc])

  defp close(["[" | _], rest), do: {"(?!)", rest}
  defp close(["[^" | _], rest), do: {"[\\x00-\\xff]", rest}
  defp close(acc, rest), do: {IO.iodata_to_binary(Enum.reverse(["]" | acc])), rest}

  defp escape(c), do: "\\x{" <> Integer.to_string(c, 16) <> "}"
end
