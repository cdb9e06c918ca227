defmodule FerricStore.Test.RespServerCase do
  @moduledoc false
  # Helpers for tests that talk to a FerricStore listener over a real socket.

  @doc "Starts a listener on an ephemeral port for a unique instance; returns {instance, port}."
  def start_listener(opts \\ []) do
    opts =
      Keyword.merge([instance: :"resp_test_#{System.unique_integer([:positive])}", port: 0], opts)

    {:ok, _} = ExUnit.Callbacks.start_supervised({FerricStore.Server.Listener, opts})
    {opts[:instance], FerricStore.Server.Listener.port(opts[:instance])}
  end

  def connect(port) do
    {:ok, sock} = :gen_tcp.connect(~c"127.0.0.1", port, [:binary, active: false, packet: :raw])
    sock
  end

  @doc "Sends `data` and reads until `n` complete replies arrived (or the socket closed)."
  def request(sock, data, n \\ 1) do
    :ok = :gen_tcp.send(sock, data)
    read_replies(sock, n, "")
  end

  def read_replies(sock, n, acc) do
    if count_replies(acc) >= n do
      acc
    else
      case :gen_tcp.recv(sock, 0, 5000) do
        {:ok, data} -> read_replies(sock, n, acc <> data)
        {:error, :closed} -> acc <> "<CLOSED>"
      end
    end
  end

  @doc "Reads whatever arrives until the socket closes (or 2 s pass)."
  def read_until_closed(sock, acc \\ "") do
    case :gen_tcp.recv(sock, 0, 2000) do
      {:ok, data} -> read_until_closed(sock, acc <> data)
      {:error, :closed} -> acc <> "<CLOSED>"
      {:error, :timeout} -> acc
    end
  end

  # Counts complete top-level RESP replies in a buffer.
  def count_replies(buf), do: count(buf, 0)

  defp count(buf, n) do
    case skip(buf) do
      {:ok, rest} -> count(rest, n + 1)
      :incomplete -> n
    end
  end

  defp skip(<<t, rest::binary>>) when t in ~c"+-:_,#(" do
    case :binary.split(rest, "\r\n") do
      [_, rest] -> {:ok, rest}
      _ -> :incomplete
    end
  end

  defp skip(<<t, rest::binary>>) when t in ~c"$=!" do
    with [len, rest] <- :binary.split(rest, "\r\n"),
         len = String.to_integer(len) do
      cond do
        len < 0 -> {:ok, rest}
        byte_size(rest) >= len + 2 -> {:ok, binary_part(rest, len + 2, byte_size(rest) - len - 2)}
        true -> :incomplete
      end
    else
      _ -> :incomplete
    end
  end

  defp skip(<<t, rest::binary>>) when t in ~c"*~>%" do
    with [len, rest] <- :binary.split(rest, "\r\n") do
      len = String.to_integer(len)
      items = if t == ?%, do: 2 * len, else: len
      skip_n(rest, max(items, 0))
    else
      _ -> :incomplete
    end
  end

  defp skip(_), do: :incomplete

  defp skip_n(rest, 0), do: {:ok, rest}

  defp skip_n(rest, n) do
    case skip(rest) do
      {:ok, rest} -> skip_n(rest, n - 1)
      :incomplete -> :incomplete
    end
  end

  @doc """
  Decodes one RESP2 reply at the start of `buf`: `{:ok, value, rest}` (simple strings and
  bulks as binaries, errors as `{:error, text}`, null as nil) or `:more`.
  """
  def decode_reply(<<t, rest::binary>>) when t in ~c"+-:$*" do
    case :binary.split(rest, "\r\n") do
      [line, rest] -> decode_line(t, line, rest)
      _ -> :more
    end
  end

  def decode_reply(_buf), do: :more

  defp decode_line(?+, line, rest), do: {:ok, line, rest}
  defp decode_line(?-, line, rest), do: {:ok, {:error, line}, rest}
  defp decode_line(?:, line, rest), do: {:ok, String.to_integer(line), rest}

  defp decode_line(?$, line, rest) do
    case String.to_integer(line) do
      -1 ->
        {:ok, nil, rest}

      n when byte_size(rest) >= n + 2 ->
        {:ok, binary_part(rest, 0, n), binary_part(rest, n + 2, byte_size(rest) - n - 2)}

      _ ->
        :more
    end
  end

  defp decode_line(?*, line, rest) do
    case String.to_integer(line) do
      -1 -> {:ok, nil, rest}
      n -> decode_items(n, rest, [])
    end
  end

  defp decode_items(0, rest, acc), do: {:ok, Enum.reverse(acc), rest}

  defp decode_items(n, buf, acc) do
    case decode_reply(buf) do
      {:ok, value, rest} -> decode_items(n - 1, rest, [value | acc])
      :more -> :more
    end
  end

  @doc "Starts a real redis-server on a free loopback port; returns {port, stop_fun} or nil."
  def start_redis do
    exe = System.find_executable("redis-server")

    if exe do
      {:ok, l} = :gen_tcp.listen(0, ip: {127, 0, 0, 1})
      {:ok, port} = :inet.port(l)
      :gen_tcp.close(l)

      args =
        ~w(--port #{port} --bind 127.0.0.1 --save "" --appendonly no --daemonize no --databases 1)

      args = Enum.map(args, &String.trim(&1, "\""))
      p = Port.open({:spawn_executable, exe}, [:binary, args: args])
      {:os_pid, os_pid} = Port.info(p, :os_pid)
      wait_port(port, 200)
      {port, fn -> System.cmd("kill", [Integer.to_string(os_pid)]) end}
    end
  end

  defp wait_port(_port, 0), do: :ok

  defp wait_port(port, n) do
    case :gen_tcp.connect(~c"127.0.0.1", port, [:binary, active: false]) do
      {:ok, s} -> :gen_tcp.close(s)
      _ -> Process.sleep(50) && wait_port(port, n - 1)
    end
  end
end
