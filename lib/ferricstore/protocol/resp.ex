defmodule FerricStore.Protocol.RESP do
  @moduledoc """
  The Redis serialization protocol (RESP2 and RESP3): a pure request parser and reply encoder.

  ## Parsing requests

  `parse/2` reads one command from the front of a binary, either a multibulk request
  (`*2\\r\\n$4\\r\\nECHO\\r\\n$2\\r\\nhi\\r\\n`) or an inline one (`ECHO hi\\r\\n`, with Redis'
  quoting rules), and returns:

    * `{:ok, [binary], rest}` - a command and the bytes after it;
    * `{:continuation, cont}` - the input ends mid-command: call `continue/2` with `cont`
      and the next bytes. Arguments already read are kept in `cont`, so a command that
      arrives in many reads is parsed in linear time, and a large bulk is collected chunk
      by chunk: nothing is allocated up front because a header announced a size;
    * `{:error, message}` - a protocol error, `message` being the exact text Redis 7 sends
      (`"ERR Protocol error: invalid bulk length"`). The server replies with it and closes.

  Empty inline lines and empty multibulks (`*0`, `*-1`) are skipped, as Redis does.
  `parse_all/2` reads every complete command of a buffer (pipelining).

  Limits follow Redis 7: `:max_bulk_len` (proto-max-bulk-len, 512 MB), 1024 * 1024
  arguments per command, 64 KB for an inline request or a header line. With
  `auth_required: true` (a password is set and the client has not authenticated yet)
  a multibulk may hold at most 10 arguments of at most 16 KB, like Redis.

  ## Encoding replies

  `encode/2` turns a reply term into iodata for protocol 2 or 3. The reply terms are the
  contract between every command module and the server:

  | term | RESP3 | RESP2 |
  |---|---|---|
  | `:ok` | `+OK` | `+OK` |
  | `{:simple, str}` | `+str` | `+str` |
  | binary | bulk string | bulk string |
  | `nil` | `_` | `$-1` |
  | `:null_array` | `_` | `*-1` |
  | integer | `:n` | `:n` |
  | float or `{:double, float \\| :inf \\| :neg_inf \\| :nan}` | `,d` | bulk string, `format_double/1` |
  | list | `*` array | `*` array |
  | `{:map, [{k, v}]}` | `%` map | flat array `k1, v1, ...` |
  | `{:set, list}` | `~` set | array |
  | `{:push, list}` | `>` push | array |
  | `{:verbatim, "txt", text}` | `=` verbatim | bulk string |
  | `{:bool, b}` | `#t` / `#f` | `:1` / `:0` |
  | `%FerricStore.Error{}` or `{:error, %FerricStore.Error{}}` | `-message` | `-message` |
  | `{:raw, iodata}` | iodata as is (already encoded) | same |
  | `{:stream, count, produce}` | `*` array of `count` elements from `produce` | same (see `stream/3`) |
  """

  alias FerricStore.Error

  @crlf "\r\n"
  @default_max_bulk_len 512 * 1024 * 1024
  @max_multibulk_len 1024 * 1024
  @max_inline_len 64 * 1024
  @unauth_max_multibulk 10
  @unauth_max_bulk 16_384

  @typedoc "A parsed command: the command name and its arguments, as sent."
  @type command :: [binary()]

  @typedoc "Parser options: `:max_bulk_len` (bytes) and `:auth_required` (boolean)."
  @type parse_opts :: [max_bulk_len: pos_integer(), auth_required: boolean()]

  @typedoc "An opaque parser state for a command that is not complete yet."
  @opaque continuation ::
            {:header, binary(), parse_opts()}
            | {:multibulk, non_neg_integer(), [binary()], pending(), parse_opts()}

  @typep pending :: {:line, binary()} | {:bulk, non_neg_integer(), iodata(), non_neg_integer()}

  @type reply ::
          :ok
          | :null_array
          | nil
          | binary()
          | integer()
          | float()
          | [reply()]
          | {:simple, String.t()}
          | {:double, float() | :inf | :neg_inf | :nan}
          | {:map, [{reply(), reply()}]}
          | {:set, [reply()]}
          | {:push, [reply()]}
          | {:verbatim, String.t(), binary()}
          | {:bool, boolean()}
          | {:raw, iodata()}
          | {:stream, non_neg_integer(), (pos_integer() -> [reply()])}
          | Error.t()
          | {:error, Error.t()}

  ## Parsing

  @doc """
  Parses one command from the front of `data`.

      iex> FerricStore.Protocol.RESP.parse("*2\\r\\n$4\\r\\nECHO\\r\\n$2\\r\\nhi\\r\\nPING\\r\\n")
      {:ok, ["ECHO", "hi"], "PING\\r\\n"}

      iex> FerricStore.Protocol.RESP.parse(~s(SET k "a b"\\r\\n))
      {:ok, ["SET", "k", "a b"], ""}

      iex> FerricStore.Protocol.RESP.parse("*1\\r\\n$abc\\r\\n")
      {:error, "ERR Protocol error: invalid bulk length"}
  """
  @spec parse(binary(), parse_opts()) ::
          {:ok, command(), binary()} | {:continuation, continuation()} | {:error, String.t()}
  def parse(data, opts \\ []) when is_binary(data), do: parse_start(data, opts)

  @doc "Resumes parsing after `{:continuation, cont}` with the next bytes."
  @spec continue(continuation(), binary()) ::
          {:ok, command(), binary()} | {:continuation, continuation()} | {:error, String.t()}
  def continue({:header, buf, opts}, data), do: parse_start(buf <> data, opts)

  def continue({:multibulk, left, acc, {:line, buf}, opts}, data),
    do: multibulk_args(buf <> data, left, acc, opts)

  def continue({:multibulk, left, acc, {:bulk, len, chunks, have}, opts}, data),
    do: bulk_body(data, len, chunks, have, left, acc, opts)

  @doc """
  Parses every complete command of `data` (pipelining).

  Returns the commands in order and what follows them: `{:continuation, cont}` when the
  buffer ends mid-command, `:done` when it ends exactly after a command, or
  `{:error, message}` for a protocol error after the commands already read (which Redis
  executes before it replies with the error).

  With `auth_required: true` it stops after the first command and returns the bytes
  after it as `{:more, rest}`: that command (AUTH, HELLO ... AUTH) may lift the limits
  that apply to the next ones, so the caller runs it before parsing on.

      iex> {cmds, {:continuation, _}} =
      ...>   FerricStore.Protocol.RESP.parse_all("PING\\r\\n*1\\r\\n$4\\r\\nPING\\r\\n*1\\r\\n$4\\r\\nPI")
      iex> cmds
      [["PING"], ["PING"]]
  """
  @spec parse_all(binary() | {continuation(), binary()}, parse_opts()) ::
          {[command()],
           :done | {:continuation, continuation()} | {:more, binary()} | {:error, String.t()}}
  def parse_all(data, opts \\ [])

  def parse_all({cont, data}, _opts), do: collect(continue(cont, data), cont_opts(cont), [])
  def parse_all(data, opts) when is_binary(data), do: collect(parse(data, opts), opts, [])

  defp collect({:ok, cmd, ""}, _opts, acc), do: {Enum.reverse([cmd | acc]), :done}

  defp collect({:ok, cmd, rest}, opts, acc) do
    if Keyword.get(opts, :auth_required, false),
      do: {Enum.reverse([cmd | acc]), {:more, rest}},
      else: collect(parse(rest, opts), opts, [cmd | acc])
  end

  defp collect({:continuation, {:header, "", _}}, _opts, acc), do: {Enum.reverse(acc), :done}
  defp collect({:continuation, _} = cont, _opts, acc), do: {Enum.reverse(acc), cont}
  defp collect({:error, _} = err, _opts, acc), do: {Enum.reverse(acc), err}

  defp cont_opts({:header, _, opts}), do: opts
  defp cont_opts({:multibulk, _, _, _, opts}), do: opts

  defp parse_start(data, opts), do: do_parse_start(data, opts)

  defp do_parse_start(<<>>, opts), do: {:continuation, {:header, <<>>, opts}}

  defp do_parse_start(<<?*, rest::binary>> = data, opts) do
    case fast_int(rest) do
      {n, after_line} when n > 0 and n <= @unauth_max_multibulk ->
        multibulk_args(after_line, n, [], opts)

      _ ->
        multibulk_header(data, rest, opts)
    end
  end

  defp do_parse_start(data, opts), do: inline(data, opts)

  defp multibulk_header(data, rest, opts) do
    case :binary.match(rest, "\r\n") do
      {pos, 2} ->
        <<count::binary-size(pos), "\r\n", after_line::binary>> = rest

        case to_int(count) do
          {:ok, n} when n > @max_multibulk_len ->
            {:error, "ERR Protocol error: invalid multibulk length"}

          {:ok, n} when n <= 0 ->
            do_parse_start(after_line, opts)

          {:ok, n} ->
            if n > @unauth_max_multibulk and Keyword.get(opts, :auth_required, false) do
              {:error, "ERR Protocol error: unauthenticated multibulk length"}
            else
              multibulk_args(after_line, n, [], opts)
            end

          :error ->
            {:error, "ERR Protocol error: invalid multibulk length"}
        end

      :nomatch when byte_size(data) > @max_inline_len ->
        {:error, "ERR Protocol error: too big mbulk count string"}

      :nomatch ->
        {:continuation, {:header, data, opts}}
    end
  end

  # Inline commands end at "\n" (an optional "\r" before it is dropped).
  defp inline(data, opts) do
    case :binary.match(data, "\n") do
      {pos, 1} ->
        <<line::binary-size(pos), "\n", rest::binary>> = data

        case split_args(strip_cr(line)) do
          {:ok, []} -> do_parse_start(rest, opts)
          {:ok, args} -> {:ok, args, rest}
          :error -> {:error, "ERR Protocol error: unbalanced quotes in request"}
        end

      :nomatch when byte_size(data) > @max_inline_len ->
        {:error, "ERR Protocol error: too big inline request"}

      :nomatch ->
        {:continuation, {:header, data, opts}}
    end
  end

  defp strip_cr(line) do
    size = byte_size(line) - 1

    case line do
      <<head::binary-size(size), "\r">> -> head
      _ -> line
    end
  end

  defp multibulk_args(data, 0, acc, _opts), do: {:ok, Enum.reverse(acc), data}

  defp multibulk_args(<<?$, rest::binary>> = data, left, acc, opts) do
    # Fast path for the common well-formed header; anything unusual (errors, limits,
    # a header split across reads) takes the general path below with its exact errors.
    case fast_int(rest) do
      {n, body} when n <= @unauth_max_bulk ->
        if n <= max_bulk_len(opts),
          do: bulk_body(body, n, [], 0, left, acc, opts),
          else: {:error, "ERR Protocol error: invalid bulk length"}

      _ ->
        bulk_header(data, rest, left, acc, opts)
    end
  end

  defp multibulk_args(<<>>, left, acc, opts),
    do: {:continuation, {:multibulk, left, acc, {:line, <<>>}, opts}}

  defp multibulk_args(<<c, _::binary>>, _left, _acc, _opts), do: {:error, expected_bulk(c)}

  # Redis formats the byte with "%c": a NUL ends the C string there. (A CR or LF
  # becomes a space when the error is encoded, as in every error reply.)
  defp expected_bulk(0), do: "ERR Protocol error: expected '$', got '"
  defp expected_bulk(c), do: "ERR Protocol error: expected '$', got '#{<<c>>}'"

  # A non-negative decimal without leading zeros followed by CRLF, as string2ll accepts.
  defp fast_int(<<"0\r\n", rest::binary>>), do: {0, rest}
  defp fast_int(<<d, rest::binary>>) when d in ?1..?9, do: fast_digits(rest, d - ?0, 1)
  defp fast_int(_), do: :slow

  defp fast_digits(<<d, rest::binary>>, acc, n) when d in ?0..?9 and n < 15,
    do: fast_digits(rest, acc * 10 + d - ?0, n + 1)

  defp fast_digits(<<"\r\n", rest::binary>>, acc, _n), do: {acc, rest}
  defp fast_digits(_, _acc, _n), do: :slow

  defp bulk_header(data, rest, left, acc, opts) do
    case :binary.match(rest, "\r\n") do
      {pos, 2} ->
        <<len::binary-size(pos), "\r\n", body::binary>> = rest
        max = max_bulk_len(opts)

        case to_int(len) do
          {:ok, n} when n < 0 or n > max ->
            {:error, "ERR Protocol error: invalid bulk length"}

          {:ok, n} ->
            if n > @unauth_max_bulk and Keyword.get(opts, :auth_required, false) do
              {:error, "ERR Protocol error: unauthenticated bulk length"}
            else
              bulk_body(body, n, [], 0, left, acc, opts)
            end

          :error ->
            {:error, "ERR Protocol error: invalid bulk length"}
        end

      :nomatch when byte_size(data) > @max_inline_len ->
        {:error, "ERR Protocol error: too big bulk count string"}

      :nomatch ->
        {:continuation, {:multibulk, left, acc, {:line, data}, opts}}
    end
  end

  # A bulk of `len` bytes is followed by two bytes that Redis skips without looking at
  # them (normally "\r\n"); we do the same so that both servers read the same commands.
  # Fast path: the whole bulk is in this read. A large argument is copied out of the
  # read buffer, otherwise a value kept in the keydir would pin the whole buffer.
  defp bulk_body(data, len, [], 0, left, acc, opts) when byte_size(data) >= len + 2 do
    <<arg::binary-size(len), _crlf::binary-size(2), rest::binary>> = data
    arg = if len > 64, do: :binary.copy(arg), else: arg
    multibulk_args(rest, left - 1, [arg | acc], opts)
  end

  defp bulk_body(data, len, chunks, have, left, acc, opts) do
    need = len + 2 - have

    if byte_size(data) >= need do
      <<last::binary-size(need), rest::binary>> = data
      whole = IO.iodata_to_binary([chunks, last])
      <<arg::binary-size(len), _::binary>> = whole
      multibulk_args(rest, left - 1, [arg | acc], opts)
    else
      pending = {:bulk, len, [chunks, data], have + byte_size(data)}
      {:continuation, {:multibulk, left, acc, pending, opts}}
    end
  end

  defp max_bulk_len([{:max_bulk_len, max} | _]), do: max
  defp max_bulk_len(opts), do: Keyword.get(opts, :max_bulk_len, @default_max_bulk_len)

  # Redis' string2ll: optional "-", digits, no leading zeros, no "+", no blanks.
  defp to_int("0"), do: {:ok, 0}
  defp to_int(<<?-, d, _::binary>> = s) when d in ?1..?9, do: digits(s)
  defp to_int(<<d, _::binary>> = s) when d in ?1..?9 and byte_size(s) <= 20, do: digits(s)
  defp to_int(_), do: :error

  defp digits(s) do
    case Integer.parse(s) do
      {n, ""} when n >= -9_223_372_036_854_775_808 and n <= 9_223_372_036_854_775_807 -> {:ok, n}
      _ -> :error
    end
  end

  @doc """
  Splits an inline request into arguments like Redis' `sdssplitargs`: blanks separate
  arguments, `"double quotes"` understand `\\n \\r \\t \\b \\a \\\\ \\" \\xHH`, `'single
  quotes'` understand `\\'`, a quote inside a word opens a quoted part of that word, and a
  closing quote must be followed by a blank or the end.

      iex> FerricStore.Protocol.RESP.split_args(~S(set "a\\x41 b" 'it\\'s'))
      {:ok, ["set", "aA b", "it's"]}

      iex> FerricStore.Protocol.RESP.split_args(~S(echo a"b c"d))
      :error

      iex> FerricStore.Protocol.RESP.split_args(~S(echo a"b c" x'y'))
      {:ok, ["echo", "ab c", "xy"]}

      iex> FerricStore.Protocol.RESP.split_args(~S(set "a))
      :error
  """
  @spec split_args(binary()) :: {:ok, [binary()]} | :error
  def split_args(line), do: split_args(line, [])

  defp split_args(line, acc) do
    case skip_blanks(line) do
      "" -> {:ok, Enum.reverse(acc)}
      <<?", rest::binary>> -> dquoted(rest, [], acc)
      <<?', rest::binary>> -> squoted(rest, [], acc)
      rest -> unquoted(rest, [], acc)
    end
  end

  defp skip_blanks(<<c, rest::binary>>) when c in [?\s, ?\n, ?\r, ?\t, ?\v, ?\f, 0],
    do: skip_blanks(rest)

  defp skip_blanks(rest), do: rest

  defp unquoted(<<c, _::binary>> = rest, cur, acc) when c in [?\s, ?\n, ?\r, ?\t, 0],
    do: split_args(rest, [arg(cur) | acc])

  defp unquoted(<<>>, cur, acc), do: {:ok, Enum.reverse([arg(cur) | acc])}
  # As in sdssplitargs, a quote inside a word opens a quoted part of the same argument.
  defp unquoted(<<?", rest::binary>>, cur, acc), do: dquoted(rest, cur, acc)
  defp unquoted(<<?', rest::binary>>, cur, acc), do: squoted(rest, cur, acc)
  defp unquoted(<<c, rest::binary>>, cur, acc), do: unquoted(rest, [c | cur], acc)

  defp dquoted(<<?\\, ?x, h1, h2, rest::binary>>, cur, acc)
       when h1 in ?0..?9 or h1 in ?a..?f or h1 in ?A..?F,
       do: hex(h1, h2, rest, cur, acc)

  defp dquoted(<<?\\, c, rest::binary>>, cur, acc), do: dquoted(rest, [unescape(c) | cur], acc)
  defp dquoted(<<?", rest::binary>>, cur, acc), do: close_quote(rest, cur, acc)
  defp dquoted(<<>>, _cur, _acc), do: :error
  defp dquoted(<<c, rest::binary>>, cur, acc), do: dquoted(rest, [c | cur], acc)

  defp hex(h1, h2, rest, cur, acc) do
    case Integer.parse(<<h1, h2>>, 16) do
      {byte, ""} -> dquoted(rest, [byte | cur], acc)
      _ -> dquoted(<<h2, rest::binary>>, [h1, ?x | cur], acc)
    end
  end

  defp unescape(?n), do: ?\n
  defp unescape(?r), do: ?\r
  defp unescape(?t), do: ?\t
  defp unescape(?b), do: ?\b
  defp unescape(?a), do: 7
  defp unescape(c), do: c

  defp squoted(<<?\\, ?', rest::binary>>, cur, acc), do: squoted(rest, [?' | cur], acc)
  defp squoted(<<?', rest::binary>>, cur, acc), do: close_quote(rest, cur, acc)
  defp squoted(<<>>, _cur, _acc), do: :error
  defp squoted(<<c, rest::binary>>, cur, acc), do: squoted(rest, [c | cur], acc)

  defp close_quote(<<>>, cur, acc), do: {:ok, Enum.reverse([arg(cur) | acc])}

  # Redis requires isspace() (or the end) after a closing quote.
  defp close_quote(<<c, _::binary>> = rest, cur, acc) when c in [?\s, ?\n, ?\r, ?\t, ?\v, ?\f, 0],
    do: split_args(rest, [arg(cur) | acc])

  defp close_quote(_rest, _cur, _acc), do: :error

  defp arg(rev_bytes), do: rev_bytes |> Enum.reverse() |> IO.iodata_to_binary()

  ## Encoding

  @doc """
  Encodes a reply term for protocol `2` or `3` (see the table in the module doc).

      iex> FerricStore.Protocol.RESP.encode(["a", 1, nil], 2) |> IO.iodata_to_binary()
      "*3\\r\\n$1\\r\\na\\r\\n:1\\r\\n$-1\\r\\n"

      iex> FerricStore.Protocol.RESP.encode({:map, [{"a", 1.5}]}, 3) |> IO.iodata_to_binary()
      "%1\\r\\n$1\\r\\na\\r\\n,1.5\\r\\n"
  """
  @spec encode(reply(), 2 | 3) :: iodata()
  def encode(reply, protocol \\ 2)

  def encode(:ok, _p), do: "+OK\r\n"

  def encode(bin, _p) when is_binary(bin),
    do: [?$, Integer.to_string(byte_size(bin)), @crlf, bin, @crlf]

  def encode(int, _p) when is_integer(int), do: [?:, Integer.to_string(int), @crlf]
  def encode(nil, 2), do: "$-1\r\n"
  def encode(nil, 3), do: "_\r\n"
  def encode(:null_array, 2), do: "*-1\r\n"
  def encode(:null_array, 3), do: "_\r\n"
  def encode({:simple, str}, _p), do: [?+, strip_newlines(str), @crlf]
  def encode(list, p) when is_list(list), do: aggregate(?*, length(list), list, p)
  def encode(float, p) when is_float(float), do: encode({:double, float}, p)
  def encode({:double, d}, 3), do: [?,, format_double(d), @crlf]
  def encode({:double, d}, 2), do: encode(format_double(d), 2)
  def encode({:map, pairs}, 3), do: map(?%, pairs)
  def encode({:map, pairs}, 2), do: aggregate(?*, 2 * length(pairs), flatten_pairs(pairs), 2)
  def encode({:set, list}, 3), do: aggregate(?~, length(list), list, 3)
  def encode({:set, list}, 2), do: encode(list, 2)
  def encode({:push, list}, 3), do: aggregate(?>, length(list), list, 3)
  def encode({:push, list}, 2), do: encode(list, 2)
  def encode({:bool, true}, 3), do: "#t\r\n"
  def encode({:bool, false}, 3), do: "#f\r\n"
  def encode({:bool, b}, 2), do: if(b, do: ":1\r\n", else: ":0\r\n")
  def encode({:raw, iodata}, _p), do: iodata
  def encode({:stream, count, produce}, p), do: encode(drain(count, produce, []), p)
  def encode(%Error{message: message}, _p), do: [?-, strip_newlines(message), @crlf]
  def encode({:error, %Error{} = error}, p), do: encode(error, p)

  def encode({:verbatim, format, text}, 3) do
    [?=, Integer.to_string(byte_size(text) + 4), @crlf, format, ?:, text, @crlf]
  end

  def encode({:verbatim, _format, text}, 2), do: encode(text, 2)

  @doc """
  Encodes a `{:stream, count, produce}` array in pieces: calls `send` with the header
  and then with each chunk of encoded elements (`produce.(max)` returns up to `max`
  elements, at least one), so the whole reply is never in memory. Stops at the first
  `send` that does not return `:ok` and returns it.
  """
  @spec stream({:stream, non_neg_integer(), function()}, 2 | 3, (iodata() -> term())) :: term()
  def stream({:stream, count, produce}, p, send) do
    case send.([?*, Integer.to_string(count), @crlf]) do
      :ok -> stream_chunks(count, produce, p, send)
      other -> other
    end
  end

  @stream_chunk 1024

  defp stream_chunks(0, _produce, _p, _send), do: :ok

  defp stream_chunks(left, produce, p, send) do
    items = Enum.take(produce.(min(left, @stream_chunk)), left)

    case send.(Enum.map(items, &encode(&1, p))) do
      :ok -> stream_chunks(left - length(items), produce, p, send)
      other -> other
    end
  end

  defp drain(0, _produce, acc), do: acc |> Enum.reverse() |> Enum.concat()

  defp drain(left, produce, acc) do
    items = Enum.take(produce.(min(left, @stream_chunk)), left)
    drain(left - length(items), produce, [items | acc])
  end

  defp aggregate(tag, count, items, p),
    do: [tag, Integer.to_string(count), @crlf | Enum.map(items, &encode(&1, p))]

  defp map(tag, pairs),
    do: [
      tag,
      Integer.to_string(length(pairs)),
      @crlf | Enum.map(pairs, fn {k, v} -> [encode(k, 3), encode(v, 3)] end)
    ]

  defp flatten_pairs(pairs), do: Enum.flat_map(pairs, fn {k, v} -> [k, v] end)

  # A CR or LF inside a simple string or an error would end the line early and desync the
  # client: Redis replaces them with spaces, so do we.
  defp strip_newlines(str) do
    if :binary.match(str, ["\r", "\n"]) == :nomatch,
      do: str,
      else: :binary.replace(str, ["\r", "\n"], " ", [:global])
  end

  @doc """
  Formats a double the way Redis 7.0 replies with one (C's `%.17g`; `inf`, `-inf`, `nan`).

      iex> FerricStore.Protocol.RESP.format_double(3.5)
      "3.5"
      iex> FerricStore.Protocol.RESP.format_double(10.0)
      "10"
      iex> FerricStore.Protocol.RESP.format_double(0.1)
      "0.10000000000000001"
      iex> FerricStore.Protocol.RESP.format_double(1.0e20)
      "1e+20"
      iex> FerricStore.Protocol.RESP.format_double(:neg_inf)
      "-inf"
  """
  @spec format_double(float() | :inf | :neg_inf | :nan) :: String.t()
  def format_double(:inf), do: "inf"
  def format_double(:neg_inf), do: "-inf"
  def format_double(:nan), do: "nan"
  def format_double(int) when is_integer(int), do: format_double(int * 1.0)

  # Integral values below 1e17 (most scores) print as their integer, as %.17g does;
  # -0.0 keeps its sign. The general case below builds the same text digit by digit.
  def format_double(f) when is_float(f) and f > -1.0e17 and f < 1.0e17 and f == trunc(f) do
    case <<f::float>> do
      <<1::1, _::63>> when f == 0 -> "-0"
      _ -> Integer.to_string(trunc(f))
    end
  end

  def format_double(f) when is_float(f) do
    # 17 significant digits: "-d.dddddddddddddddde+XX"
    sci = :erlang.float_to_binary(f, scientific: 16)
    [mantissa, exp] = :binary.split(sci, "e")
    exp = String.to_integer(exp)
    {sign, mantissa} = split_sign(mantissa)
    digits = String.replace(mantissa, ".", "")

    if exp < -4 or exp >= 17 do
      [int | frac] = String.graphemes(digits)
      frac = frac |> Enum.join() |> String.trim_trailing("0")
      mant = if frac == "", do: int, else: int <> "." <> frac
      exp_sign = if exp < 0, do: "-", else: "+"
      exp_digits = exp |> abs() |> Integer.to_string() |> String.pad_leading(2, "0")
      sign <> mant <> "e" <> exp_sign <> exp_digits
    else
      fixed =
        if exp >= 0 do
          {int, frac} = String.split_at(digits, exp + 1)
          trim_fraction(int, frac)
        else
          trim_fraction("0", String.duplicate("0", -exp - 1) <> digits)
        end

      sign <> fixed
    end
  end

  defp split_sign("-" <> rest), do: {"-", rest}
  defp split_sign(rest), do: {"", rest}

  defp trim_fraction(int, frac) do
    case String.trim_trailing(frac, "0") do
      "" -> int
      frac -> int <> "." <> frac
    end
  end
end
