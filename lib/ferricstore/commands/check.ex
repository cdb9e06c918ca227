defmodule FerricStore.Commands.Check do
  @moduledoc false
  # Argument checks of the embedded API (lib/ferricstore.ex), run in the caller before
  # anything reaches Raft. A wrong-typed key, value, field, member or count is a bug in
  # the caller and raises ArgumentError naming the API function ("FerricStore.lpush/3:
  # values must be binaries, got: 123"): an op that the machine cannot apply must never
  # become a log entry, which every replica (and every restart) replays. What Redis
  # answers with an error for well-typed arguments (a value over proto-max-bulk-len, a
  # negative count) is returned as {:error, %FerricStore.Error{}} with Redis' text.
  #
  # `fun` is the API function as {name, arity}. The checks are one is_binary/byte_size
  # per argument: they sit on every call's path.

  alias FerricStore.Error

  # proto-max-bulk-len: Redis refuses a longer argument before running the command.
  @max_len 512 * 1024 * 1024

  # A negative SRANDMEMBER/HRANDFIELD/ZRANDMEMBER count builds abs(count) picks in the
  # caller's memory (the RESP server streams them instead); beyond this it is refused.
  @max_picks 10_000_000

  @max_int 0x7FFFFFFFFFFFFFFF

  def max_picks, do: @max_picks

  @doc "Raises unless `key` (or the argument `what`: field, member) is a binary; returns it."
  def key!(key, fun, what \\ "key")
  def key!(key, _fun, _what) when is_binary(key), do: key
  def key!(key, fun, what), do: bad!(fun, "#{what} must be a binary", key)

  @doc "A key or a list of keys, as a list of binaries (raises otherwise)."
  def keys!(key, _fun) when is_binary(key), do: [key]
  def keys!(keys, fun) when is_list(keys), do: all!(keys, keys, fun, "keys must be binaries")
  def keys!(keys, fun), do: bad!(fun, "keys must be a binary or a list of binaries", keys)

  @doc "A list of binaries (fields, members) read by the call; raises otherwise."
  def list!(list, fun, what) when is_list(list), do: all!(list, list, fun, what)
  def list!(list, fun, what), do: bad!(fun, what, list)

  defp all!([], list, _fun, _what), do: list
  defp all!([b | rest], list, fun, what) when is_binary(b), do: all!(rest, list, fun, what)
  defp all!([bad | _], _list, fun, what), do: bad!(fun, what, bad)

  defp all!(improper, _list, fun, what), do: bad!(fun, what, improper)

  @doc """
  Binaries that a write stores (keys, values, fields, members): raises for a
  non-binary, returns Redis' proto-max-bulk-len error for one over 512 MB, else :ok.
  `what` names them in the message ("values must be binaries").
  """
  def bins([], _fun, _what), do: :ok

  def bins([b | rest], fun, what) when is_binary(b) and byte_size(b) <= @max_len,
    do: bins(rest, fun, what)

  def bins([b | rest], fun, what) when is_binary(b) do
    # The rest is still checked for types: a bad term is a bug even next to a big value.
    _ = bins(rest, fun, what)
    {:error, Error.new(:string_too_long)}
  end

  def bins([bad | _], fun, what), do: bad!(fun, what, bad)
  def bins(bad, fun, what), do: bad!(fun, what, bad)

  @doc "One stored binary, as `bins/3`."
  def bin(b, _fun, _what) when is_binary(b) and byte_size(b) <= @max_len, do: :ok
  def bin(b, _fun, _what) when is_binary(b), do: {:error, Error.new(:string_too_long)}
  def bin(bad, fun, what), do: bad!(fun, what, bad)

  @doc """
  `{key, value}` pairs (a map or a list) to store, as a list: raises for anything but
  2-tuples of binaries, `{:error, string_too_long}` for a binary over 512 MB.
  """
  def pairs(pairs, fun, what) when is_map(pairs), do: pairs(Map.to_list(pairs), fun, what)

  def pairs(pairs, fun, what) when is_list(pairs) do
    case check_pairs(pairs, fun, what, :ok) do
      :ok -> {:ok, pairs}
      error -> error
    end
  end

  def pairs(bad, fun, what), do: bad!(fun, what, bad)

  defp check_pairs([], _fun, _what, acc), do: acc

  defp check_pairs([{k, v} | rest], fun, what, acc) when is_binary(k) and is_binary(v) do
    acc =
      if byte_size(k) > @max_len or byte_size(v) > @max_len,
        do: {:error, Error.new(:string_too_long)},
        else: acc

    check_pairs(rest, fun, what, acc)
  end

  defp check_pairs([bad | _], fun, what, _acc), do: bad!(fun, what, bad)
  defp check_pairs(bad, fun, what, _acc), do: bad!(fun, what, bad)

  @doc "Raises unless `int` is an integer; returns it. `what` names it."
  def int!(int, _fun, _what) when is_integer(int), do: int
  def int!(bad, fun, what), do: bad!(fun, "#{what} must be an integer", bad)

  @doc """
  The `count:` of LPOP/RPOP/SPOP/ZPOPMIN/ZPOPMAX: nil (one element) or a non-negative
  integer; a negative one is Redis' error, anything else raises.
  """
  def pop_count(nil, _fun), do: {:ok, nil}
  def pop_count(c, _fun) when is_integer(c) and c >= 0, do: {:ok, c}

  def pop_count(c, _fun) when is_integer(c),
    do: {:error, Error.new(:out_of_range, "ERR value is out of range, must be positive")}

  def pop_count(c, fun), do: bad!(fun, "count must be a non-negative integer", c)

  @doc """
  The `count:` of LMPOP/ZMPOP: nil (one element) or a positive integer; 0 or a negative
  one is Redis' error, anything else raises.
  """
  def mpop_count(nil, _fun), do: {:ok, nil}
  def mpop_count(c, _fun) when is_integer(c) and c >= 1 and c <= @max_int, do: {:ok, c}

  def mpop_count(c, _fun) when is_integer(c),
    do: {:error, Error.new(:out_of_range, "ERR count should be greater than 0")}

  def mpop_count(c, fun), do: bad!(fun, "count must be a positive integer", c)

  @doc "The atom `side` if it is one of `sides` (`[:left, :right]`, ...); raises otherwise."
  def side!(side, sides, fun) do
    if side in sides,
      do: side,
      else: bad!(fun, "side must be #{Enum.map_join(sides, " or ", &inspect/1)}", side)
  end

  @doc """
  The `count:` of SRANDMEMBER/HRANDFIELD/ZRANDMEMBER: nil, or an integer whose picks
  fit in memory (a negative count below -#{@max_picks}, or one outside 64 bits, is
  "ERR value is out of range").
  """
  def rand_count(nil, _fun), do: {:ok, nil}

  def rand_count(c, _fun) when is_integer(c) and c >= -@max_picks and c <= @max_int,
    do: {:ok, c}

  def rand_count(c, _fun) when is_integer(c),
    do: {:error, Error.new(:out_of_range, "ERR value is out of range")}

  def rand_count(c, fun), do: bad!(fun, "count must be an integer", c)

  @doc "An option that must be an integer when given (nil: not given)."
  def int_opt(opts, name, fun) do
    case opts[name] do
      nil -> nil
      i when is_integer(i) -> i
      bad -> bad!(fun, "#{name}: must be an integer", bad)
    end
  end

  @doc """
  Checks an API call's options and returns the instance they name (`FerricStore`
  unless `name:` is given; the first `name:` wins, as with Keyword.get/3). `opts` is
  a keyword list whose keys are `:name` (an atom) or in `known`, each with a value of
  its option's type; anything else raises ArgumentError naming the function and the
  option.

  One pass with a guard per pair and no allocation: it runs on every call (`known` is
  a literal list of a few atoms). Ranges that Redis checks itself (a TTL of 0, a
  negative count) are left to the command, which returns Redis' error.
  """
  def opts!(opts, fun, known), do: opts!(opts, fun, known, nil)

  defp opts!([], _fun, _known, nil), do: FerricStore
  defp opts!([], _fun, _known, name), do: name

  defp opts!([{:name, n} | rest], fun, known, name) when is_atom(n) and n != nil,
    do: opts!(rest, fun, known, name || n)

  defp opts!([{key, value} | rest], fun, known, name) when is_atom(key) do
    cond do
      key == :name -> bad!(fun, "name: must be an atom (the instance's name)", value)
      not :lists.member(key, known) -> unknown!(fun, key, value, known)
      opt_ok?(key, value) -> opts!(rest, fun, known, name)
      true -> bad!(fun, "#{key}: must be #{opt_type(key)}", value)
    end
  end

  defp opts!(bad, fun, _known, _name), do: bad!(fun, "options must be a keyword list", bad)

  # The type of every option of the API, whichever function takes it.
  @flags [:nx, :xx, :gt, :lt, :ch, :incr, :get, :keepttl, :persist, :replace] ++
           [:rev, :with_scores, :with_values]
  @ints [:ttl, :px, :ex, :pxat, :exat, :count, :rank, :maxlen]

  # nil reads as "not given" for the options a command reads when present (a caller's
  # `count: opts[:count]`); a flag must be a boolean and a TTL an integer.
  @nil_ok [:count, :rank, :maxlen, :limit, :match, :type]

  defp opt_ok?(key, nil) when key in @nil_ok, do: true
  defp opt_ok?(key, v) when key in @flags, do: is_boolean(v)
  defp opt_ok?(key, v) when key in @ints, do: is_integer(v)
  defp opt_ok?(:limit, v), do: is_integer(v) or (is_tuple(v) and tuple_size(v) == 2)
  defp opt_ok?(:match, v), do: is_binary(v)
  defp opt_ok?(:type, v), do: is_atom(v) or is_binary(v)
  defp opt_ok?(:by, v), do: v in [:rank, :score, :lex]
  defp opt_ok?(:aggregate, v), do: is_atom(v)
  defp opt_ok?(:weights, v), do: is_list(v)

  defp opt_type(key) when key in @flags, do: "a boolean"
  defp opt_type(key) when key in @ints, do: "an integer"
  defp opt_type(:limit), do: "an integer or an {offset, count} tuple"
  defp opt_type(:match), do: "a binary (a glob pattern)"
  defp opt_type(:type), do: "a type such as :string or \"string\""
  defp opt_type(:by), do: ":rank, :score or :lex"
  defp opt_type(:aggregate), do: ":sum, :min or :max"
  defp opt_type(:weights), do: "a list of numbers"

  defp unknown!(fun, key, value, known) do
    takes = Enum.map_join(known ++ [:name], ", ", &inspect/1)
    bad!(fun, "unknown option #{inspect(key)} (it takes #{takes})", value)
  end

  @doc "Raises ArgumentError: `fun` got `got`, where `what` was expected."
  def bad!(fun, what, got), do: raise(ArgumentError, message(fun, what, got))

  defp message({name, arity}, what, got),
    do:
      "FerricStore.#{name}/#{arity}: #{what}, got: #{inspect(got, limit: 10, printable_limit: 80)}"
end
