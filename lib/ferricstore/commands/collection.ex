defmodule FerricStore.Commands.Collection do
  @moduledoc false
  # Helpers shared by the collection families (Hashes, Lists, Sets, ZSets): header
  # lookups with Redis' WRONGTYPE rule on both sides (caller reads, machine ops), member
  # reads, headers that disappear when the collection becomes empty, reply helpers.

  import Bitwise

  alias FerricStore.{Error, Store}
  alias FerricStore.Store.{Batch, Members}

  ## Caller side (reads in the caller's process)

  @doc "`{:ok, nil}` (missing), `{:ok, {meta, tables}}`, or WRONGTYPE."
  def read(instance, key, type) do
    tables = Store.tables_for(instance, key)

    case Store.lookup_in(tables, key) do
      nil -> {:ok, nil}
      {_, ^type, meta, _, _, _, _} -> {:ok, {meta, tables}}
      _ -> {:error, Error.new(:wrongtype)}
    end
  end

  @doc """
  Whether a write that would add `members` (`present?` true: they are all there already)
  or remove them (`present?` false: they are all absent, or `key` is missing) can be
  answered without a Raft entry, as Redis answers such writes without touching its AOF.
  Only rows of the collection's current generation count (members left by a deleted
  collection are absent); a wrong type is false (the machine answers WRONGTYPE), and so
  is any call inside a pipeline, whose earlier writes may still be in flight.
  """
  @spec no_op?(atom(), binary(), atom(), [term()], boolean()) :: boolean()
  def no_op?(_instance, _key, _type, [], _present?), do: false

  def no_op?(instance, key, type, members, present?) do
    Process.get(:ferricstore_pipeline) == nil and
      case read(instance, key, type) do
        {:ok, nil} ->
          not present?

        {:ok, {%{gen: gen}, t}} ->
          Enum.all?(members, fn m ->
            match?([{_, _, ^gen, _, _, _}], :ets.lookup(t.members, {key, m})) == present?
          end)

        _ ->
          false
      end
  end

  @doc "The bytes of a member value read by a walk or lookup."
  def bytes(tables, value) do
    case Members.read(tables.files, value) do
      {:ok, bytes} -> bytes
      {:error, _} -> raise Error.new(:io)
    end
  end

  @doc "A member's value bytes (hash value, list element) or nil, from ETS."
  def member(tables, key, member) do
    case Members.lookup(tables.members, key, member) do
      nil -> nil
      {value, _gen} when is_binary(value) -> value
      {cold, _gen} -> bytes(tables, cold)
    end
  end

  @doc "Collects up to `limit` (`:all`) items of a read-side walk in member order."
  def collect(tables, key, start, dir, limit, map \\ & &1) do
    Members.walk(tables.members, key, start, dir, {%{}, false}, {[], limit}, fn item,
                                                                                {acc, left} ->
      acc = [map.(item) | acc]
      left = if left == :all, do: :all, else: left - 1
      if left == 0, do: {:halt, {acc, 0}}, else: {:cont, {acc, left}}
    end)
    |> elem(0)
    |> Enum.reverse()
  end

  ## Machine side

  @doc "`{:ok, nil}`, `{:ok, {meta, exp}}` for the live collection at `key`, or WRONGTYPE."
  def get(b, key, type) do
    case Batch.get(b, key) do
      nil -> {:ok, nil}
      {^type, meta, exp} -> {:ok, {meta, exp}}
      _ -> {:error, Error.new(:wrongtype)}
    end
  end

  @doc "Like `get/3`, creating an empty collection (new generation) when missing."
  def open(b, key, type, extra \\ %{}) do
    case get(b, key, type) do
      {:ok, nil} ->
        {:ok, {Map.merge(%{gen: Batch.new_gen(b), n: 0}, extra), 0}, Batch.drop_members(b, key)}

      {:ok, found} ->
        {:ok, found, b}

      error ->
        error
    end
  end

  @doc "Writes the header, or deletes the collection when it became empty."
  def save(b, key, type, %{n: 0}, _exp), do: Batch.delete(b, key, type)
  def save(b, key, type, meta, exp), do: Batch.put(b, key, type, meta, exp)

  @doc "A member's value bytes within a batch, or nil."
  def member_bytes(b, key, member) do
    case Batch.member(b, key, member) do
      nil -> nil
      {value, _gen} -> value!(b, value)
    end
  end

  @doc "The bytes of a member value (cold ones read from disk) within a batch."
  def value!(b, value) do
    case Batch.value(b, value) do
      {:ok, bytes} -> bytes
      {:error, _} -> raise Error.new(:io)
    end
  end

  @doc "Walks a collection in member order inside a batch (see Members.walk/7)."
  def walk(b, key, start, dir, acc, fun),
    do: Members.walk(b.tables.members, key, start, dir, Batch.member_view(b, key), acc, fun)

  @doc "Every `{member, value}` of `key` in member order, inside a batch."
  def all(b, key) do
    walk(b, key, :edge, :asc, [], fn item, acc -> {:cont, [item | acc]} end) |> Enum.reverse()
  end

  @doc """
  LMPOP/ZMPOP's pick among `keys`: `{:ok, key}` for the first that holds a collection of
  `type` (an empty one is never stored), `{:ok, nil}` when none does, or WRONGTYPE for a
  key of another type met before it. As in Redis, keys after the chosen one are not
  looked at, so their types do not matter.
  """
  def first(_b, [], _type), do: {:ok, nil}

  def first(b, [key | rest], type) do
    case get(b, key, type) do
      {:ok, nil} -> first(b, rest, type)
      {:ok, _found} -> {:ok, key}
      error -> error
    end
  end

  @doc """
  LMPOP/ZMPOP in the machine: pops with `pop.(key, batch)` (which answers
  `{{:ok, items}, batch}`) from the key `first/3` picks; `{key, items}`, nil, or its error.
  """
  def mpop(b, keys, type, pop) do
    case first(b, keys, type) do
      {:ok, nil} ->
        {{:ok, nil}, b}

      {:ok, key} ->
        {{:ok, items}, b} = pop.(key, b)
        {{:ok, {key, items}}, b}

      error ->
        {error, b}
    end
  end

  ## Replies

  def reply(:ok), do: :ok
  def reply({:ok, value}), do: value
  def reply({:error, %Error{} = error}), do: error

  def bool({:ok, true}), do: 1
  def bool({:ok, false}), do: 0
  def bool(other), do: reply(other)

  @doc "Runs a read, turning a raised I/O error into an error value."
  defmacro safely(do: body) do
    quote do
      try do
        unquote(body)
      rescue
        e in FerricStore.Error -> {:error, e}
      end
    end
  end

  @doc """
  The arguments of LMPOP and ZMPOP (`numkeys key [key ...] where [COUNT count]`), read as
  Redis 7.0's lmpopGenericCommand and zmpopGenericCommand read them, each error as soon as
  it is met: numkeys (an integer of at least 1), a `where` token right after the keys
  (one of `sides`, any case, mapped to its atom), then COUNT, at most once, at least 1.
  Returns `{:ok, keys, where, count}` (count nil when not given).

      iex> FerricStore.Commands.Collection.mpop_args(~w(2 a b left COUNT 3), %{"LEFT" => :left})
      {:ok, ["a", "b"], :left, 3}
  """
  def mpop_args([numkeys | rest], sides) do
    case FerricStore.Commands.Args.int(numkeys) do
      {:ok, n} when n >= 1 and n < length(rest) ->
        {keys, [where | opts]} = Enum.split(rest, n)

        with {:ok, where} <- Map.fetch(sides, FerricStore.Commands.upcase(where)),
             {:ok, count} <- mpop_count(opts, nil) do
          {:ok, keys, where, count}
        else
          :error -> {:error, Error.new(:syntax)}
          error -> error
        end

      {:ok, n} when n >= 1 ->
        {:error, Error.new(:syntax)}

      _ ->
        {:error, Error.new(:out_of_range, "ERR numkeys should be greater than 0")}
    end
  end

  defp mpop_count(opts, count),
    do: int_opt(opts, "COUNT", 1, "ERR count should be greater than 0", count, false)

  @doc """
  The options of SINTERCARD and ZINTERCARD, left to right as Redis reads them: `LIMIT n`
  (n >= 0, 0: no limit), which may be repeated (the last one counts).
  """
  def limit_opt(opts, limit),
    do: int_opt(opts, "LIMIT", 0, "ERR LIMIT can't be negative", limit, true)

  # An option of one word and an integer of at least `min`, left to right: `message` for
  # a bad integer, a syntax error for anything else (or the word again, unless `repeat`).
  defp int_opt([], _word, _min, _message, value, _repeat), do: {:ok, value}

  defp int_opt([opt, n | rest], word, min, message, value, repeat)
       when repeat or value == nil do
    if FerricStore.Commands.upcase(opt) == word do
      case FerricStore.Commands.Args.int(n) do
        {:ok, v} when v >= min -> int_opt(rest, word, min, message, v, repeat)
        _ -> {:error, Error.new(:out_of_range, message)}
      end
    else
      {:error, Error.new(:syntax)}
    end
  end

  defp int_opt(_opts, _word, _min, _message, _value, _repeat), do: {:error, Error.new(:syntax)}

  @doc "Parses SCAN-style options (MATCH, COUNT) for HSCAN/SSCAN/ZSCAN."
  def scan_opts([], acc), do: {:ok, acc}

  def scan_opts([opt, value | rest], acc) do
    case FerricStore.Commands.upcase(opt) do
      "MATCH" ->
        scan_opts(rest, Keyword.put(acc, :match, value))

      "COUNT" ->
        case FerricStore.Commands.Args.int(value) do
          {:ok, n} when n >= 1 -> scan_opts(rest, Keyword.put(acc, :count, n))
          {:ok, _} -> {:error, Error.new(:syntax)}
          :error -> {:error, Error.new(:not_integer)}
        end

      _ ->
        {:error, Error.new(:syntax)}
    end
  end

  def scan_opts(_, _acc), do: {:error, Error.new(:syntax)}

  @doc """
  The count of SRANDMEMBER/HRANDFIELD/ZRANDMEMBER, as Redis' getRangeLong(-LONG_MAX,
  LONG_MAX): LLONG_MIN (whose absolute value would not fit) is out of range.
  """
  def count_arg(bin) do
    case FerricStore.Commands.Args.int!(bin) do
      {:ok, n} when n == -9_223_372_036_854_775_808 ->
        {:error,
         Error.new(
           :out_of_range,
           "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
         )}

      other ->
        other
    end
  end

  @two64 18_446_744_073_709_551_616

  @doc """
  Parses a SCAN cursor as Redis does, with strtoul: "" is 0, a sign is allowed
  (negatives wrap around 2^64), a leading blank, trailing bytes or more than 64 bits are
  invalid.
  """
  def cursor(""), do: {:ok, 0}

  def cursor(bin) do
    {sign, digits} =
      case bin do
        "-" <> rest -> {-1, rest}
        "+" <> rest -> {1, rest}
        rest -> {1, rest}
      end

    with true <- digits != "" and digits =~ ~r/\A[0-9]+\z/,
         n when n < @two64 <- String.to_integer(digits) do
      {:ok, if(sign < 0 and n > 0, do: @two64 - n, else: n)}
    else
      _ -> {:error, Error.new(:invalid_cursor, "ERR invalid cursor")}
    end
  end

  @doc """
  The arguments of HSCAN/SSCAN/ZSCAN checked in Redis' order: the cursor, then the key
  (`:missing`, for which the reply is the empty scan, or WRONGTYPE), and only then the
  options, so a missing key never reports a bad option. `{:ok, cursor, opts}` otherwise.
  """
  def scan_args(instance, key, type, cursor, opts) do
    with {:ok, cursor} <- cursor(cursor),
         {:ok, found} <- read(instance, key, type) do
      case found do
        nil -> :missing
        _ -> with {:ok, opts} <- scan_opts(opts, []), do: {:ok, cursor, opts}
      end
    end
  end

  @doc """
  One step of a *SCAN over a collection. Small collections (<= 128 members) are
  returned whole with cursor 0, as Redis does for listpack encodings. Bigger ones are
  walked in member order from where the cursor left off: a cursor names the next
  member to return (`scan_position/3`), so a step costs O(log N + count) and a full
  iteration returns every member present throughout, whatever was added or removed
  meanwhile, as Redis guarantees.
  """
  def scan(tables, key, n, cursor, opts, map) do
    count = opts[:count] || 10
    regex = if opts[:match], do: FerricStore.Commands.Glob.compile(opts[:match])

    {next, items} =
      if n <= 128 do
        {0, collect(tables, key, :edge, :asc, :all)}
      else
        start = resume_at(tables.meta, key, cursor)

        case collect(tables, key, start, :asc, count + 1) do
          items when length(items) <= count ->
            {0, items}

          items ->
            {page, [{following, _} | _]} = Enum.split(items, count)
            {scan_position(tables.meta, key, following), page}
        end
      end

    found =
      for {m, _v} = item <- items,
          regex == nil or FerricStore.Commands.Glob.match?(regex, m),
          do: map.(item)

    {next, found}
  end

  # *SCAN cursors. Redis' are positions in its hash table; here a cursor is a token for
  # `{key, member}`, the next member to return, kept in the shard's meta table. Tokens
  # are numbered per shard and carry a random tag drawn when the shard's tables were
  # created, so a cursor handed out before a restart is never taken for a newer one.
  # The newest @scan_tokens tokens are kept: an older or unknown cursor, or one of
  # another key, starts the walk over (members come again; none is missed).
  @scan_tokens 10_000

  defp scan_position(meta, key, member) do
    tag = scan_tag(meta)
    seq = :ets.update_counter(meta, :scan_seq, 1, {:scan_seq, 0})
    :ets.insert(meta, {{:scan, seq}, key, member})
    :ets.delete(meta, {:scan, seq - @scan_tokens})
    (tag <<< 32) + (seq &&& 0xFFFFFFFF)
  end

  defp resume_at(_meta, _key, 0), do: :edge

  defp resume_at(meta, key, cursor) do
    with true <- cursor >>> 32 == scan_tag(meta),
         [{_, seq}] <- :ets.lookup(meta, :scan_seq),
         # The token's number: the newest one with these low 32 bits.
         seq = seq - (seq - (cursor &&& 0xFFFFFFFF) &&& 0xFFFFFFFF),
         [{_, ^key, member}] <- :ets.lookup(meta, {:scan, seq}) do
      {:at, member}
    else
      _ -> :edge
    end
  end

  defp scan_tag(meta) do
    case :ets.lookup(meta, :scan_tag) do
      [{_, tag}] ->
        tag

      [] ->
        tag = :rand.uniform(0x3FFFFFFF)
        if :ets.insert_new(meta, {:scan_tag, tag}), do: tag, else: scan_tag(meta)
    end
  end

  @doc """
  Up to `count` distinct random members of `key` (n members): a random probe into the
  ordered members table (uniform over the gaps between members, not exactly uniform
  over members), or a shuffle of all members when count is a large share of n.
  """
  def random_members(tables, key, n, count) when count * 3 >= n do
    tables |> collect(key, :edge, :asc, :all) |> Enum.take_random(count)
  end

  def random_members(tables, key, _n, count), do: probe(tables, key, count, %{}, 0)

  defp probe(_tables, _key, count, acc, _tries) when map_size(acc) >= count, do: Map.to_list(acc)

  defp probe(tables, key, count, acc, tries) when tries > count * 20 do
    # Unlucky probes: fill up in member order.
    more = collect(tables, key, :edge, :asc, count * 2)

    Enum.reduce_while(more, acc, fn {m, v}, acc ->
      acc = Map.put(acc, m, v)
      if map_size(acc) >= count, do: {:halt, acc}, else: {:cont, acc}
    end)
    |> Map.to_list()
  end

  defp probe(tables, key, count, acc, tries) do
    case random_one(tables, key) do
      nil -> Map.to_list(acc)
      {m, v} -> probe(tables, key, count, Map.put(acc, m, v), tries + 1)
    end
  end

  @doc """
  SRANDMEMBER / ZRANDMEMBER / HRANDFIELD on collection `key` of `type`: with `count` nil,
  one member mapped by `one` (nil when the key is missing); 0: []; a positive count, up
  to `count` distinct members; a negative one, abs(count) members that may repeat. Each
  item is `{member, value}`; `many` maps the items of a count. A count of at least the
  collection's size returns all of it, in the order `whole` gives the items (member
  order by default), as Redis returns the whole collection in its own order then. Over
  RESP, long negative counts are streamed instead (`repeated_random/5`).
  """
  def random(instance, key, type, count, one, many, whole \\ & &1) do
    with {:ok, found} <- read(instance, key, type) do
      case {found, count} do
        {nil, nil} ->
          {:ok, nil}

        {nil, _} ->
          {:ok, []}

        {{_, t}, nil} ->
          {:ok, one.(random_one(t, key), t)}

        {_, 0} ->
          {:ok, []}

        {{meta, t}, c} when c >= meta.n ->
          {:ok, t |> collect(key, :edge, :asc, :all) |> whole.() |> Enum.map(&many.(&1, t))}

        {{meta, t}, c} when c > 0 ->
          {:ok, Enum.map(random_members(t, key, meta.n, c), &many.(&1, t))}

        {{_, t}, c} ->
          {:ok, for(_ <- 1..-c, do: many.(random_one(t, key), t))}
      end
    end
  end

  @stream_above 1_000

  @doc """
  The RESP reply of `picks` random members drawn with repetition (SRANDMEMBER,
  HRANDFIELD and ZRANDMEMBER with a negative count). `format` turns one `{member,
  value}` into its reply elements (`per` of them). The members are read once; a pick is
  then an O(1) draw among them. Past #{@stream_above} picks the reply is a
  `{:stream, elements, producer}` that the connection encodes and sends chunk by chunk,
  so a count of -2^62 costs the node no more memory than the collection itself (Redis
  builds the whole reply in its output buffer).
  """
  def repeated_random(tables, key, picks, per, format) when is_map(tables) do
    members = tables |> collect(key, :edge, :asc, :all) |> List.to_tuple()
    n = tuple_size(members)

    draw = fn count ->
      Enum.flat_map(1..count//1, fn _ -> format.(elem(members, :rand.uniform(n) - 1)) end)
    end

    cond do
      n == 0 -> []
      picks <= @stream_above -> draw.(picks)
      true -> {:stream, picks * per, fn max -> draw.(max(div(max, per), 1)) end}
    end
  end

  @doc """
  `repeated_random/5` for the collection of `type` at `key` (`[]` when it is missing):
  members alone, or with their values (`value.(tables, v)` gives a value's reply) as
  pairs in RESP3 and flat in RESP2, as Redis replies the WITH* forms.
  """
  def repeated_random(instance, key, type, picks, with_values?, protocol, value) do
    with {:ok, found} <- read(instance, key, type) do
      case found do
        nil ->
          []

        {_meta, t} ->
          {per, format} =
            cond do
              not with_values? -> {1, fn {m, _} -> [m] end}
              protocol == 3 -> {1, fn {m, v} -> [[m, value.(t, v)]] end}
              true -> {2, fn {m, v} -> [m, value.(t, v)] end}
            end

          repeated_random(t, key, picks, per, format)
      end
    end
  end

  @doc "One random `{member, value}` of a non-empty collection (see random_members/4)."
  def random_one(tables, key) do
    start = {:at, :crypto.strong_rand_bytes(8)}

    case collect(tables, key, start, :asc, 1) do
      [item] -> item
      [] -> List.first(collect(tables, key, :edge, :asc, 1))
    end
  end
end
