defmodule FerricStore.Commands.LongDouble do
  @moduledoc false
  # INCRBYFLOAT the way Redis computes it: in x87 `long double` (64-bit mantissa), parsed
  # with strtold and printed with "%.17Lf" without trailing zeros. Values are exact
  # rationals `{num, den}`; every parse and every sum is rounded once to the nearest
  # value with a 64-bit mantissa (round half to even), as the hardware does. So
  # 0.1 + 0.2 gives "0.3" and 123456789012345678 stays exact, as in Redis, where an
  # Elixir double would give "0.30000000000000004" and "123456789012345680".

  import Bitwise
  import FerricStore.Commands.Args, only: [bit_length: 1, round_half_even: 2]

  @type t :: {integer(), pos_integer()}

  @max_chars 5 * 1024
  # Largest binary exponent of a finite long double; the lowest bit of a denormal
  # (2^-16445), which is also the lowest bit of the smallest normal's 64-bit mantissa.
  @max_exp2 16_384
  @denormal_lsb 16_445

  @doc """
  Parses a value as Redis' string2ld: strtold syntax (decimal, exponent, hex, "inf"),
  no leading blank, no trailing bytes, no NaN, no overflow and no underflow to zero.
  """
  @spec parse(binary()) :: {:ok, t() | :inf | :neg_inf} | :error
  def parse(bin) when byte_size(bin) == 0 or byte_size(bin) >= @max_chars, do: :error
  def parse(<<c, _::binary>>) when c in [?\s, ?\t, ?\n, ?\v, ?\f, ?\r], do: :error

  def parse(bin) do
    {sign, rest} =
      case bin do
        <<?-, rest::binary>> -> {-1, rest}
        <<?+, rest::binary>> -> {1, rest}
        rest -> {1, rest}
      end

    case classify(FerricStore.Commands.downcase(rest)) do
      :inf -> {:ok, if(sign > 0, do: :inf, else: :neg_inf)}
      {:ok, {num, den}} -> round_checked({sign * num, den})
      :error -> :error
    end
  end

  defp classify(text) when text in ["inf", "infinity"], do: :inf
  defp classify("0x" <> hex), do: hex(hex)
  defp classify(text), do: decimal(text)

  defp decimal(text) do
    case Regex.run(~r/\A([0-9]*)(?:\.([0-9]*))?(?:e([+-]?[0-9]+))?\z/, text) do
      [_, int, frac | exp] when int != "" or (frac != "" and frac != nil) ->
        digits = int <> (frac || "")
        mant = String.to_integer(if digits == "", do: "0", else: digits)
        exp10 = exp_value(exp) - byte_size(frac || "")
        if abs(exp10) > 6000, do: huge(mant, exp10), else: {:ok, pow10(mant, exp10)}

      [_, int] when int != "" ->
        {:ok, {String.to_integer(int), 1}}

      _ ->
        :error
    end
  end

  defp exp_value([]), do: 0
  defp exp_value([""]), do: 0
  defp exp_value([e]), do: String.to_integer(e)

  # Exponents this large overflow or underflow any long double (unless the value is 0).
  defp huge(0, _exp10), do: {:ok, {0, 1}}
  defp huge(_mant, _exp10), do: :error

  defp pow10(mant, e) when e >= 0, do: {mant * Integer.pow(10, e), 1}
  defp pow10(mant, e), do: {mant, Integer.pow(10, -e)}

  defp hex(text) do
    case Regex.run(~r/\A([0-9a-f]*)(?:\.([0-9a-f]*))?(?:p([+-]?[0-9]+))?\z/, text) do
      [_, int, frac | exp] when int != "" or (frac != "" and frac != nil) ->
        digits = int <> (frac || "")
        mant = String.to_integer(if(digits == "", do: "0", else: digits), 16)
        exp2 = exp_value(exp) - 4 * byte_size(frac || "")

        cond do
          abs(exp2) > 20_000 -> huge(mant, exp2)
          exp2 >= 0 -> {:ok, {mant <<< exp2, 1}}
          true -> {:ok, {mant, 1 <<< -exp2}}
        end

      [_, int] when int != "" ->
        {:ok, {String.to_integer(int, 16), 1}}

      _ ->
        :error
    end
  end

  defp round_checked(value) do
    case round_ld(value) do
      {:ok, {0, _}} = zero -> if elem(value, 0) == 0, do: zero, else: :error
      other -> other
    end
  end

  @doc "The exact sum rounded to a long double; `:error` when it is infinite or NaN."
  @spec add(t() | :inf | :neg_inf, t() | :inf | :neg_inf) :: {:ok, t()} | :error
  def add({an, ad}, {bn, bd}), do: round_ld({an * bd + bn * ad, ad * bd})
  def add(_a, _b), do: :error

  # Rounds an exact rational to the nearest value with a 64-bit mantissa.
  defp round_ld({0, _}), do: {:ok, {0, 1}}

  defp round_ld({num, den}) do
    sign = if num < 0, do: -1, else: 1
    a = abs(num)
    k = bit_length(a) - bit_length(den) - 64
    {mant, k} = mantissa(a, den, k)

    cond do
      k + 64 > @max_exp2 -> :error
      k < -@denormal_lsb -> denormal(sign, a, den)
      k >= 0 -> {:ok, {sign * (mant <<< k), 1}}
      true -> {:ok, {sign * mant, 1 <<< -k}}
    end
  end

  # Below the smallest normal, precision is lost from the top: the value is a multiple
  # of 2^-16445 (0 when it rounds to nothing, which callers reject as Redis' strtold).
  defp denormal(sign, a, den) do
    case round_half_even(a <<< @denormal_lsb, den) do
      0 -> {:ok, {0, 1}}
      m -> {:ok, {sign * m, 1 <<< @denormal_lsb}}
    end
  end

  # mant = round(a / den / 2^k) with 2^63 <= mant < 2^64, adjusting k by one if needed.
  defp mantissa(a, den, k) do
    {n, d} = if k >= 0, do: {a, den <<< k}, else: {a <<< -k, den}

    cond do
      n >= d <<< 64 ->
        mantissa(a, den, k + 1)

      n < d <<< 63 ->
        mantissa(a, den, k - 1)

      true ->
        case round_half_even(n, d) do
          m when m == 1 <<< 64 -> {1 <<< 63, k + 1}
          m -> {m, k}
        end
    end
  end

  @doc "Formats as Redis' LD_STR_HUMAN: \"%.17Lf\", trailing zeros and dot removed, \"-0\" as \"0\"."
  @spec format(t()) :: binary()
  def format({num, den}) do
    scaled = round_half_even(abs(num) * Integer.pow(10, 17), den)
    digits = scaled |> Integer.to_string() |> String.pad_leading(18, "0")
    {int, frac} = String.split_at(digits, -17)
    frac = String.trim_trailing(frac, "0")
    text = if frac == "", do: int, else: int <> "." <> frac
    if num < 0 and text != "0", do: "-" <> text, else: text
  end
end
