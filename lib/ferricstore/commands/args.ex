defmodule FerricStore.Commands.Args do
  @moduledoc false
  # Argument parsing with Redis' exact rules, shared by the embedded API and RESP.

  alias FerricStore.Error

  @min_int -9_223_372_036_854_775_808
  @max_int 9_223_372_036_854_775_807

  defguard is_int64(n) when is_integer(n) and n >= @min_int and n <= @max_int

  def min_int, do: @min_int
  def max_int, do: @max_int

  @doc "Strict signed 64-bit integer, as Redis' string2ll: no spaces, no '+', no leading zeros."
  @spec int(binary()) :: {:ok, integer()} | :error
  def int("0"), do: {:ok, 0}

  def int(<<"-", first, _::binary>> = bin) when first in ?1..?9 and byte_size(bin) <= 20,
    do: digits(bin)

  def int(<<first, _::binary>> = bin) when first in ?1..?9 and byte_size(bin) <= 19,
    do: digits(bin)

  def int(_), do: :error

  defp digits(bin) do
    case Integer.parse(bin) do
      {n, ""} when is_int64(n) -> {:ok, n}
      _ -> :error
    end
  end

  @doc "Like `int/1` but returns Redis' 'not an integer' error."
  @spec int!(binary()) :: {:ok, integer()} | {:error, Error.t()}
  def int!(bin) do
    case int(bin) do
      {:ok, n} -> {:ok, n}
      :error -> {:error, Error.new(:not_integer)}
    end
  end

  @doc "A finite double as Redis' string2ld accepts it (no leading space, no trailing bytes)."
  @spec float(binary()) :: {:ok, float()} | :error
  def float(<<?-, rest::binary>> = bin) when byte_size(rest) in 1..15 do
    if digits?(rest), do: {:ok, :erlang.binary_to_integer(rest) * -1.0}, else: general(bin)
  end

  def float(bin) when byte_size(bin) in 1..15 do
    if digits?(bin), do: {:ok, :erlang.binary_to_integer(bin) * 1.0}, else: general(bin)
  end

  def float(bin), do: general(bin)

  # Up to 15 digits are exact as an integer: converted without Float.parse (a quarter of
  # its cost; scores and score bounds are mostly such integers). "-0" gives -0.0.
  defp digits?(<<c, rest::binary>>) when c in ?0..?9, do: digits?(rest)
  defp digits?(<<>>), do: true
  defp digits?(_), do: false

  defp general(<<c, _::binary>> = bin) when c not in [?\s, ?\t, ?\n, ?\r] do
    # The common forms ("1", "-2.5", "1e5") parse whole with Float.parse, which the
    # normalisation below leaves unchanged; only the others pay for it.
    case Float.parse(bin) do
      {f, ""} -> {:ok, f}
      _ -> float_slow(bin)
    end
  end

  defp general(_), do: :error

  defp float_slow(bin) do
    lower = FerricStore.Commands.downcase(bin)

    cond do
      lower in ["inf", "+inf", "infinity", "-inf", "-infinity", "nan", "-nan"] ->
        :error

      true ->
        normalized =
          bin
          |> then(fn b -> if String.starts_with?(b, "."), do: "0" <> b, else: b end)
          |> String.replace(~r/^([+-])\./, "\\g{1}0.")
          |> String.replace(~r/\.(e|E|$)/, ".0\\1")
          |> String.replace(~r/^([+-]?\d+)([eE])/, "\\1.0\\2")

        case Float.parse(normalized) do
          {f, ""} -> {:ok, f}
          _ -> int_as_float(bin)
        end
    end
  end

  defp int_as_float(bin) do
    case Integer.parse(bin) do
      {n, ""} -> {:ok, n * 1.0}
      _ -> :error
    end
  end

  @doc """
  Formats a double the way Redis replies to INCRBYFLOAT (human form: no exponent,
  at most 17 significant digits, no trailing zeros).
  """
  @spec format_float(float()) :: binary()
  def format_float(f) when is_float(f) do
    if f == Float.round(f) and abs(f) < 1.0e17 do
      f |> trunc() |> Integer.to_string()
    else
      :erlang.float_to_binary(f, [:short])
      |> expand_exponent()
    end
  end

  # "1.5e-7" -> "0.00000015", "1.0e20" -> "100000000000000000000" (Redis prints %.17Lf).
  defp expand_exponent(bin) do
    case String.split(bin, "e") do
      [plain] ->
        plain

      [mantissa, exp] ->
        {sign, mantissa} =
          case mantissa do
            "-" <> rest -> {"-", rest}
            rest -> {"", rest}
          end

        [int_part, frac_part] = String.split(mantissa, ".")
        digits = int_part <> frac_part
        point = byte_size(int_part) + String.to_integer(exp)

        plain =
          cond do
            point < -16 ->
              "0"

            point <= 0 ->
              "0." <> String.duplicate("0", -point) <> digits

            point >= byte_size(digits) ->
              digits <> String.duplicate("0", point - byte_size(digits))

            true ->
              binary_part(digits, 0, point) <>
                "." <> binary_part(digits, point, byte_size(digits) - point)
          end

        if plain == "0", do: "0", else: sign <> trim_zeros(plain)
    end
  end

  defp trim_zeros(bin) do
    if String.contains?(bin, "."),
      do: bin |> String.trim_trailing("0") |> String.trim_trailing("."),
      else: bin
  end
end
