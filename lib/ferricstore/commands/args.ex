defmodule FerricStore.Commands.Args do
  @moduledoc false
  # Argument parsing with Redis' exact rules, shared by the embedded API and RESP.

  import Bitwise

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

  @doc """
  A database index (SELECT, COPY ... DB) on this one-database server: `:ok` for 0, else
  Redis' errors, in its order (an integer, within int range, then a database that
  exists: Redis configured with `databases 1`).

      iex> FerricStore.Commands.Args.db_index("0")
      :ok
      iex> {:error, %{message: message}} = FerricStore.Commands.Args.db_index("1")
      iex> message
      "ERR DB index is out of range"
  """
  @spec db_index(binary()) :: :ok | {:error, Error.t()}
  def db_index(bin) do
    case int!(bin) do
      {:ok, 0} ->
        :ok

      {:ok, n} when n < -2_147_483_648 or n > 2_147_483_647 ->
        {:error,
         Error.new(
           :out_of_range,
           "ERR value is out of range, value must between -2147483648 and 2147483647"
         )}

      {:ok, _} ->
        {:error, Error.new(:db_out_of_range, "ERR DB index is out of range")}

      error ->
        error
    end
  end

  # C's isspace() in the C locale.
  @c_spaces [?\s, ?\t, ?\n, ?\v, ?\f, ?\r]

  @doc """
  A double as Redis' string2d (getDoubleFromObject: ZADD scores, ZINCRBY increments,
  WEIGHTS) accepts it: strtod syntax (decimal, hex, "inf"/"infinity"), no leading blank,
  no trailing bytes, no NaN, and no ERANGE that overflows or underflows to zero (a
  subnormal result is kept). Infinities are `:inf` / `:neg_inf`.

      iex> FerricStore.Commands.Args.double("0x1p3")
      {:ok, 8.0}
      iex> FerricStore.Commands.Args.double("-Infinity")
      {:ok, :neg_inf}
      iex> FerricStore.Commands.Args.double("1e-400")
      :error
  """
  @spec double(binary()) :: {:ok, float() | :inf | :neg_inf} | :error
  def double(<<c, _::binary>> = bin) when c not in @c_spaces do
    case strtod(bin) do
      {value, "", :ok} when value != :nan -> {:ok, value}
      _ -> :error
    end
  end

  def double(_), do: :error

  @doc """
  C's strtod on `bin`: `{value, rest, range}` for the longest prefix it converts, where
  `rest` is what follows it (all of `bin`, with value 0.0, when nothing converts) and
  `range` is `:overflow` (value ±inf from a finite number, ERANGE with HUGE_VAL) or
  `:underflow` (a non-zero number rounded to 0, ERANGE with 0), else `:ok`. Leading
  blanks are skipped. Rounding is to nearest, ties to even, subnormals included, as
  glibc does.

      iex> FerricStore.Commands.Args.strtod(" -0x.8p1abc")
      {-1.0, "abc", :ok}
      iex> FerricStore.Commands.Args.strtod("1e500")
      {:inf, "", :overflow}
      iex> FerricStore.Commands.Args.strtod("x")
      {0.0, "x", :ok}
  """
  @spec strtod(binary()) ::
          {float() | :inf | :neg_inf | :nan, binary(), :ok | :overflow | :underflow}
  def strtod(bin) do
    case short(bin) do
      {:ok, value} -> {value, "", :ok}
      :error -> strtod_slow(bin)
    end
  end

  # The common cases skip the exact parser (several us): infinities, and up to 15
  # decimal digits (leading zeros too, as in redis-benchmark's __rand_int__), which are
  # exact as an integer. "-0" gives -0.0.
  defp short(bin) when bin in ["inf", "+inf"], do: {:ok, :inf}
  defp short("-inf"), do: {:ok, :neg_inf}

  defp short(<<?-, digits::binary>>) when byte_size(digits) in 1..15,
    do: if(digits?(digits), do: {:ok, :erlang.binary_to_integer(digits) * -1.0}, else: :error)

  defp short(digits) when byte_size(digits) in 1..15,
    do: if(digits?(digits), do: {:ok, :erlang.binary_to_integer(digits) * 1.0}, else: :error)

  defp short(_), do: :error

  defp digits?(<<c, rest::binary>>) when c in ?0..?9, do: digits?(rest)
  defp digits?(<<>>), do: true
  defp digits?(_), do: false

  defp strtod_slow(bin) do
    {sign, body} = bin |> skip_spaces() |> sign()

    case number(body) do
      {:inf, rest} -> {if(sign < 0, do: :neg_inf, else: :inf), rest, :ok}
      {:nan, rest} -> {:nan, rest, :ok}
      {{num, den}, rest} -> with_sign(rational_to_double(num, den), sign, rest)
      :none -> {0.0, bin, :ok}
    end
  end

  defp skip_spaces(<<c, rest::binary>>) when c in @c_spaces, do: skip_spaces(rest)
  defp skip_spaces(bin), do: bin

  @doc """
  C's `atoi`, as Redis reads some counts with it: leading white space, a sign, the digits
  up to the first other byte; 0 when there are none.

      iex> FerricStore.Commands.Args.atoi(" +2x")
      2
      iex> FerricStore.Commands.Args.atoi("x")
      0
  """
  @spec atoi(binary()) :: integer()
  def atoi(bin) do
    case Integer.parse(skip_spaces(bin)) do
      {n, _rest} -> n
      :error -> 0
    end
  end

  @doc """
  C's `strtoll` where Redis requires the whole word to be read: leading white space and
  a sign pass; an empty word is 0 (strtoll stops at once, at the end); nil otherwise.

      iex> FerricStore.Commands.Args.strtoll_whole("\t+5")
      5
      iex> FerricStore.Commands.Args.strtoll_whole("")
      0
      iex> FerricStore.Commands.Args.strtoll_whole("1.5")
      nil
  """
  @spec strtoll_whole(binary()) :: integer() | nil
  def strtoll_whole(""), do: 0

  def strtoll_whole(word) do
    case Integer.parse(skip_spaces(word)) do
      {n, ""} -> n
      _ -> nil
    end
  end

  defp sign(<<?-, rest::binary>>), do: {-1, rest}
  defp sign(<<?+, rest::binary>>), do: {1, rest}
  defp sign(bin), do: {1, bin}

  defp with_sign({:overflow, _}, sign, rest),
    do: {if(sign < 0, do: :neg_inf, else: :inf), rest, :overflow}

  defp with_sign({:underflow, _}, sign, rest), do: {sign * 0.0, rest, :underflow}
  # Multiplied, not negated: `-f` turns 0.0 into 0.0, and "-0.0" must stay -0.0.
  defp with_sign({:ok, f}, -1, rest), do: {f * -1.0, rest, :ok}
  defp with_sign({:ok, f}, _, rest), do: {f, rest, :ok}

  # The number at the start of `bin` (after the sign) as an exact rational, :inf, :nan,
  # or :none; each with the bytes after it.
  defp number(bin) do
    lower = FerricStore.Commands.downcase(binary_part(bin, 0, min(byte_size(bin), 8)))

    cond do
      lower == "infinity" ->
        {:inf, binary_part(bin, 8, byte_size(bin) - 8)}

      String.starts_with?(lower, "inf") ->
        {:inf, binary_part(bin, 3, byte_size(bin) - 3)}

      String.starts_with?(lower, "nan") ->
        {:nan, nan_tail(binary_part(bin, 3, byte_size(bin) - 3))}

      true ->
        hex_or_decimal(bin)
    end
  end

  # "nan(chars)" is one token in strtod; a "(" without its ")" is left unparsed.
  defp nan_tail(<<?(, rest::binary>> = bin) do
    case Regex.run(~r/\A[0-9A-Za-z_]*\)/, rest) do
      [match] -> binary_part(rest, byte_size(match), byte_size(rest) - byte_size(match))
      nil -> bin
    end
  end

  defp nan_tail(bin), do: bin

  defp hex_or_decimal(<<?0, x, rest::binary>> = bin) when x in [?x, ?X] do
    case Regex.run(~r/\A([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?/, rest) do
      [_, int | frac] when int != "" or frac not in [[], [""]] ->
        frac = List.first(frac, "")
        {exp2, rest} = exponent(skip(rest, int, frac), [?p, ?P])
        mant = String.to_integer("0" <> int <> frac, 16)
        {scale(mant, 2, exp2 - 4 * byte_size(frac)), rest}

      _ ->
        # "0x" without a hex digit: strtod reads the "0" alone.
        decimal(bin)
    end
  end

  defp hex_or_decimal(bin), do: decimal(bin)

  defp decimal(bin) do
    case Regex.run(~r/\A([0-9]*)(?:\.([0-9]*))?/, bin) do
      [_, int | frac] when int != "" or frac not in [[], [""]] ->
        frac = List.first(frac, "")
        {exp10, rest} = exponent(skip(bin, int, frac), [?e, ?E])
        mant = String.to_integer("0" <> int <> frac)
        {scale(mant, 10, exp10 - byte_size(frac)), rest}

      _ ->
        :none
    end
  end

  defp skip(bin, int, frac) do
    used =
      byte_size(int) + if(frac == "" and not dot?(bin, int), do: 0, else: 1 + byte_size(frac))

    binary_part(bin, used, byte_size(bin) - used)
  end

  defp dot?(bin, int), do: match?(<<_::binary-size(byte_size(int)), ?., _::binary>>, bin)

  # An exponent is read only when at least one digit follows the letter (and sign).
  defp exponent(<<e, rest::binary>> = bin, letters) do
    with true <- e in letters,
         [match, digits] <- Regex.run(~r/\A[+-]?([0-9]+)/, rest) do
      n = String.to_integer(digits)
      n = if String.starts_with?(match, "-"), do: -n, else: n
      {n, binary_part(rest, byte_size(match), byte_size(rest) - byte_size(match))}
    else
      _ -> {0, bin}
    end
  end

  defp exponent(<<>>, _letters), do: {0, <<>>}

  # Past 2^±4400 (or 10^±4400) no double is near, whatever the mantissa's length.
  @clamp 4400

  # mant * base^exp as {num, den}. Exponents far outside the double range are clamped:
  # the result over- or underflows all the same, without building a huge integer.
  defp scale(0, _base, _exp), do: {0, 1}

  defp scale(mant, base, exp) do
    exp = exp |> max(-(@clamp + digits_in(mant, base))) |> min(@clamp)
    if exp >= 0, do: {mant * Integer.pow(base, exp), 1}, else: {mant, Integer.pow(base, -exp)}
  end

  defp digits_in(mant, 10), do: byte_size(Integer.to_string(mant))
  defp digits_in(mant, 2), do: bit_length(mant)

  # The double nearest num/den (ties to even): 53 significant bits, or fewer below
  # 2^-1022 where the last bit is worth 2^-1074.
  defp rational_to_double(0, _den), do: {:ok, 0.0}

  defp rational_to_double(num, den) do
    top = bit_length(num) - bit_length(den)
    # 2^top <= num/den < 2^(top+1)
    top = if at_least?(num, den, top), do: top, else: top - 1
    lsb = max(top - 52, -1074)

    q =
      if lsb >= 0,
        do: round_half_even(num, den <<< lsb),
        else: round_half_even(num <<< -lsb, den)

    cond do
      q == 0 -> {:underflow, 0.0}
      bit_length(q) + lsb > 1024 -> {:overflow, nil}
      true -> {:ok, q * pow2(lsb)}
    end
  end

  defp at_least?(num, den, top) when top >= 0, do: num >= den <<< top
  defp at_least?(num, den, top), do: num <<< -top >= den

  @doc false
  # n / d rounded to the nearest integer, ties to even (IEEE rounding), n, d >= 0.
  def round_half_even(n, d) do
    q = div(n, d)
    r = rem(n, d)

    cond do
      2 * r > d -> q + 1
      2 * r < d -> q
      rem(q, 2) == 1 -> q + 1
      true -> q
    end
  end

  # 2^e as an exact double, e in -1074..971.
  defp pow2(e) when e >= -1022 do
    <<f::float>> = <<0::1, e + 1023::11, 0::52>>
    f
  end

  defp pow2(e) do
    <<f::float>> = <<0::1, 0::11, 1 <<< (e + 1074)::52>>
    f
  end

  @doc false
  # The number of bits of a non-negative integer (0 for 0).
  def bit_length(0), do: 0

  def bit_length(n) do
    <<first, _::binary>> = bytes = :binary.encode_unsigned(n)
    (byte_size(bytes) - 1) * 8 + length(Integer.digits(first, 2))
  end
end
