defmodule FerricStore.CrashClient do
  @moduledoc false
  # A minimal blocking RESP2 client for crash tests: one command at a time, replies
  # decoded to plain terms. Any socket failure is `{:error, :closed}` (the server died).

  @timeout 30_000

  @doc "Connects, retrying while the server is starting."
  @spec connect(:inet.port_number(), non_neg_integer()) :: {:ok, port()} | {:error, term()}
  def connect(port, tries \\ 100) do
    case :gen_tcp.connect(~c"127.0.0.1", port, [:binary, active: false, packet: :line], 1_000) do
      {:ok, sock} ->
        {:ok, sock}

      {:error, _} when tries > 0 ->
        Process.sleep(50)
        connect(port, tries - 1)

      error ->
        error
    end
  end

  @doc "Sends one command; returns `{:ok, reply}` or `{:error, :closed}`."
  @spec command(port(), [iodata()]) :: {:ok, term()} | {:error, :closed}
  def command(sock, args) do
    case :gen_tcp.send(sock, encode(args)) do
      :ok -> {:ok, read!(sock)}
      {:error, _} -> {:error, :closed}
    end
  catch
    :throw, :closed -> {:error, :closed}
  end

  @doc "Sends many commands in one write and reads all their replies."
  @spec pipeline(port(), [[iodata()]]) :: {:ok, [term()]} | {:error, :closed}
  def pipeline(sock, commands) do
    case :gen_tcp.send(sock, Enum.map(commands, &encode/1)) do
      :ok -> {:ok, Enum.map(commands, fn _ -> read!(sock) end)}
      {:error, _} -> {:error, :closed}
    end
  catch
    :throw, :closed -> {:error, :closed}
  end

  defp encode(args) do
    [
      "*",
      Integer.to_string(length(args)),
      "\r\n"
      | Enum.map(args, fn arg ->
          arg = IO.iodata_to_binary(to_string_arg(arg))
          ["$", Integer.to_string(byte_size(arg)), "\r\n", arg, "\r\n"]
        end)
    ]
  end

  defp to_string_arg(arg) when is_integer(arg), do: Integer.to_string(arg)
  defp to_string_arg(arg), do: arg

  defp read!(sock) do
    case line(sock) do
      "+" <> s -> {:simple, s}
      "-" <> e -> {:error_reply, e}
      ":" <> n -> String.to_integer(n)
      "$-1" -> nil
      "*-1" -> nil
      "$" <> n -> bulk(sock, String.to_integer(n))
      "*" <> n -> for _ <- 1..String.to_integer(n)//1, do: read!(sock)
    end
  end

  defp line(sock) do
    case :gen_tcp.recv(sock, 0, @timeout) do
      {:ok, line} -> binary_part(line, 0, byte_size(line) - 2)
      {:error, _} -> throw(:closed)
    end
  end

  defp bulk(sock, len) do
    _ = :inet.setopts(sock, packet: :raw)

    result =
      case :gen_tcp.recv(sock, len + 2, @timeout) do
        {:ok, <<data::binary-size(len), "\r\n">>} -> data
        {:error, _} -> throw(:closed)
      end

    _ = :inet.setopts(sock, packet: :line)
    result
  end
end
