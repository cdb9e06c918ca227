defmodule FerricStore.Server.Acceptors do
  @moduledoc false
  # Owns the listening socket (it closes when its owner dies) and a pool of linked
  # acceptor processes blocked in gen_tcp:accept/1. An acceptor hands each new socket to a
  # fresh FerricStore.Server.Connection under the connections' DynamicSupervisor; an
  # acceptor that dies is replaced. The bound port is published in the Config table.

  use GenServer

  require Logger

  alias FerricStore.Server.{Config, Connection, Listener}

  @max_clients_error "-ERR max number of clients reached\r\n"

  ## Public API

  def start_link(opts), do: GenServer.start_link(__MODULE__, opts)

  ## Callbacks

  @impl true
  def init(opts) do
    Process.flag(:trap_exit, true)
    instance = Keyword.fetch!(opts, :instance)
    bind = Keyword.get(opts, :bind, "127.0.0.1")
    {:ok, ip} = :inet.parse_address(String.to_charlist(bind))

    listen_opts = [
      :binary,
      ip: ip,
      packet: :raw,
      active: false,
      reuseaddr: true,
      nodelay: true,
      backlog: 1024,
      send_timeout: 30_000,
      send_timeout_close: true,
      exit_on_close: true
    ]

    listen_opts = if tuple_size(ip) == 8, do: [:inet6 | listen_opts], else: listen_opts

    case :gen_tcp.listen(Keyword.get(opts, :port, 6379), listen_opts) do
      {:ok, lsock} ->
        {:ok, port} = :inet.port(lsock)
        Config.put(instance, "port", Integer.to_string(port))
        n = Keyword.get(opts, :acceptors, 4)
        state = %{lsock: lsock, instance: instance, acceptors: MapSet.new()}
        {:ok, Enum.reduce(1..n, state, fn _, st -> spawn_acceptor(st) end)}

      {:error, reason} ->
        {:stop, {:listen_failed, bind, opts[:port], reason}}
    end
  end

  @impl true
  def handle_info({:EXIT, pid, reason}, state) do
    if MapSet.member?(state.acceptors, pid) do
      if reason not in [:normal, :shutdown],
        do: Logger.warning("FerricStore acceptor exited: #{inspect(reason)}")

      {:noreply, spawn_acceptor(%{state | acceptors: MapSet.delete(state.acceptors, pid)})}
    else
      {:stop, reason, state}
    end
  end

  @impl true
  def terminate(_reason, state), do: :gen_tcp.close(state.lsock)

  ## Helpers

  defp spawn_acceptor(state) do
    %{lsock: lsock, instance: instance} = state
    pid = spawn_link(fn -> accept_loop(lsock, instance) end)
    %{state | acceptors: MapSet.put(state.acceptors, pid)}
  end

  defp accept_loop(lsock, instance) do
    case :gen_tcp.accept(lsock) do
      {:ok, sock} ->
        hand_over(sock, instance)
        accept_loop(lsock, instance)

      {:error, :closed} ->
        exit(:normal)

      {:error, reason} when reason in [:emfile, :enfile] ->
        # Out of file descriptors: back off instead of spinning.
        Process.sleep(100)
        accept_loop(lsock, instance)

      {:error, _reason} ->
        accept_loop(lsock, instance)
    end
  end

  # Each connection registers itself as soon as it runs, so the registry counts the
  # clients (a burst of accepts may overshoot maxclients by the acceptors' number).
  # Every data file stays open too: a client is also refused when it would leave fewer
  # than Config.reserved_fds/0 descriptors beside the clients and the data files, which
  # ra's log, the next data file and compactions need.
  defp hand_over(sock, instance) do
    clients = Registry.count(Listener.registry(instance))

    if not admit?(clients, Config.max_clients(instance), data_files(instance), Config.fd_limit()) do
      Config.incr(instance, :rejected_connections)
      :gen_tcp.send(sock, @max_clients_error)
      :gen_tcp.close(sock)
    else
      start_connection(sock, instance)
    end
  end

  @doc """
  Whether one more client fits: below `maxclients`, and leaving
  #{Config.reserved_fds()} descriptors beside the clients and the open data files.

      iex> FerricStore.Server.Acceptors.admit?(10, 10_000, 5, 1_024)
      true
      iex> FerricStore.Server.Acceptors.admit?(10, 10, 5, 1_024)
      false
      iex> FerricStore.Server.Acceptors.admit?(100, 10_000, 28, 256)
      false
  """
  @spec admit?(non_neg_integer(), pos_integer(), non_neg_integer(), pos_integer()) :: boolean()
  def admit?(clients, maxclients, data_files, fd_limit),
    do: clients < maxclients and clients + data_files + Config.reserved_fds() < fd_limit

  defp data_files(instance) do
    FerricStore.Store.config(instance).tables
    |> Tuple.to_list()
    |> Enum.reduce(0, fn tables, n ->
      case :ets.info(tables.files, :size) do
        size when is_integer(size) -> n + size
        :undefined -> n
      end
    end)
  rescue
    # A listener without a store (tests).
    ArgumentError -> 0
  end

  defp start_connection(sock, instance) do
    sup = Listener.connection_supervisor(instance)

    case DynamicSupervisor.start_child(sup, {Connection, instance: instance, socket: sock}) do
      {:ok, pid} ->
        case :gen_tcp.controlling_process(sock, pid) do
          :ok ->
            send(pid, :socket_ready)

          {:error, _} ->
            DynamicSupervisor.terminate_child(sup, pid)
            :gen_tcp.close(sock)
        end

      {:error, _} ->
        :gen_tcp.close(sock)
    end
  end
end
