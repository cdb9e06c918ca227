defmodule FerricStore.Test.RESPClient do
  @moduledoc false
  # A deliberately tiny RESP2/RESP3 client for the differential and client tests. It keeps
  # every distinction a reply can carry on the wire (simple vs bulk string, null bulk vs
  # null array vs RESP3 null, integer vs double, map vs array), so that two servers can be
  # compared reply by reply without a client library normalising the differences away.
  #
  # Reply terms:
  #   {:simple, s} | {:error, s} | integer | binary (bulk) | {:null, :bulk} | {:null, :array}
  #   | :null (RESP3 `_`) | [reply] | {:map, [{k, v}]} | {:set, [reply]} | {:push, [reply]}
  #   | {:double, s} | {:bool, b} | {:big, s} | {:verbatim, fmt, s}

  @timeout 10_000

  @spec connect(:inet.port_number(), keyword()) :: {:ok, :gen_tcp.socket()} | {:error, term()}
  def connect(port, opts \\ []) do
    host = Keyword.get(opts, :host, {127, 0, 0, 1})

    :gen_tcp.connect(host, port, [:binary, active: false, packet: :raw, nodelay: true], @timeout)
  end

  @spec connect!(:inet.port_number()) :: :gen_tcp.socket()
  def connect!(port) do
    {:ok, sock} = connect(port)
    sock
  end

  @spec close(:gen_tcp.socket()) :: :ok
  def close(sock), do: :gen_tcp.close(sock)

  @doc "Sends one command and reads its reply."
  def command(sock, args) do
    [reply] = pipeline(sock, [args])
    reply
  end

  @doc "Sends every command in one write and reads as many replies."
  def pipeline(sock, commands) do
    :ok = :gen_tcp.send(sock, Enum.map(commands, &encode/1))
    read_replies(sock, length(commands), "", [])
  end

  @doc "Sends raw bytes (inline commands, malformed input) and reads `n` replies."
  def raw(sock, bytes, n) do
    :ok = :gen_tcp.send(sock, bytes)
    read_replies(sock, n, "", [])
  end

  @spec encode([binary() | integer()]) :: iodata()
  def encode(args) do
    ["*", Integer.to_string(length(args)), "\r\n" | Enum.map(args, &bulk/1)]
  end

  defp bulk(arg) when is_integer(arg), do: bulk(Integer.to_string(arg))
  defp bulk(arg), do: ["$", Integer.to_string(byte_size(arg)), "\r\n", arg, "\r\n"]

  defp read_replies(_sock, 0, _buf, acc), do: Enum.reverse(acc)

  defp read_replies(sock, n, buf, acc) do
    case parse(buf) do
      {:ok, reply, rest} ->
        read_replies(sock, n - 1, rest, [reply | acc])

      :more ->
        case :gen_tcp.recv(sock, 0, @timeout) do
          {:ok, data} ->
            read_replies(sock, n, buf <> data, acc)

          {:error, reason} ->
            raise "RESP client: recv failed (#{inspect(reason)}) #{inspect(acc)}"
        end
    end
  end

  @doc "Parses one reply from the front of `buf`: `{:ok, reply, rest}` or `:more`."
  def parse(<<type, rest::binary>> = buf) do
    case :binary.match(rest, "\r\n") do
      :nomatch -> :more
      {pos, 2} -> parse_line(type, binary_part(rest, 0, pos), skip(rest, pos + 2), buf)
    end
  end

  def parse(""), do: :more

  defp skip(bin, n), do: binary_part(bin, n, byte_size(bin) - n)

  defp parse_line(?+, line, rest, _), do: {:ok, {:simple, line}, rest}
  defp parse_line(?-, line, rest, _), do: {:ok, {:error, line}, rest}
  defp parse_line(?:, line, rest, _), do: {:ok, String.to_integer(line), rest}
  defp parse_line(?,, line, rest, _), do: {:ok, {:double, line}, rest}
  defp parse_line(?(, line, rest, _), do: {:ok, {:big, line}, rest}
  defp parse_line(?_, "", rest, _), do: {:ok, :null, rest}
  defp parse_line(?#, "t", rest, _), do: {:ok, {:bool, true}, rest}
  defp parse_line(?#, "f", rest, _), do: {:ok, {:bool, false}, rest}
  defp parse_line(?$, "-1", rest, _), do: {:ok, {:null, :bulk}, rest}
  defp parse_line(?*, "-1", rest, _), do: {:ok, {:null, :array}, rest}

  defp parse_line(t, len, rest, _) when t in [?$, ?=, ?!] do
    len = String.to_integer(len)

    case rest do
      <<data::binary-size(len), "\r\n", rest::binary>> ->
        case t do
          ?$ ->
            {:ok, data, rest}

          ?! ->
            {:ok, {:error, data}, rest}

          ?= ->
            <<fmt::binary-size(3), ":", text::binary>> = data
            {:ok, {:verbatim, fmt, text}, rest}
        end

      _ ->
        :more
    end
  end

  defp parse_line(t, count, rest, _) when t in [?*, ?~, ?>, ?%, ?|] do
    n = String.to_integer(count)
    n = if t in [?%, ?|], do: 2 * n, else: n

    case parse_n(rest, n, []) do
      :more ->
        :more

      {:ok, items, rest} ->
        case t do
          ?* -> {:ok, items, rest}
          ?~ -> {:ok, {:set, items}, rest}
          ?> -> {:ok, {:push, items}, rest}
          ?% -> {:ok, {:map, pairs(items)}, rest}
          # An attribute precedes the reply it describes: keep the reply, drop the attribute.
          ?| -> parse(rest)
        end
    end
  end

  defp parse_line(t, line, _rest, buf),
    do: raise("RESP client: unexpected reply type #{<<t>>} #{inspect(line)} in #{inspect(buf)}")

  defp parse_n(rest, 0, acc), do: {:ok, Enum.reverse(acc), rest}

  defp parse_n(rest, n, acc) do
    case parse(rest) do
      :more -> :more
      {:ok, item, rest} -> parse_n(rest, n - 1, [item | acc])
    end
  end

  defp pairs([k, v | rest]), do: [{k, v} | pairs(rest)]
  defp pairs([]), do: []
end
