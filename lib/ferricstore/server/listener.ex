defmodule FerricStore.Server.Listener do
  @moduledoc """
  The standalone RESP server of one FerricStore instance: a TCP listener, an acceptor pool
  and one process per client connection (`FerricStore.Server.Connection`).

  ## Starting

      children = [
        {FerricStore, name: MyStore, data_dir: "data"},
        {FerricStore.Server.Listener, instance: MyStore, port: 6379}
      ]

  Options:

    * `:instance` (required) - the instance name that commands use
    * `:port` - TCP port, `0` for an ephemeral one (read it back with `port/1`); default 6379
    * `:bind` - address to listen on, default `"127.0.0.1"`
    * `:password` - `nil` or the password of the `default` user (AUTH / HELLO AUTH)
    * `:protected_mode` - default `true`: without a password only loopback clients are
      served, others get Redis' `DENIED` text and are disconnected
    * `:acceptors` - size of the acceptor pool, default 4
    * `:maxclients` - default 10000

  ## Processes

  A `rest_for_one` supervisor over: a `Registry` of connected clients (CLIENT LIST/KILL),
  `FerricStore.Server.Config` (settings in a public ETS table), a `DynamicSupervisor` of
  connections (temporary: a client that crashes is just disconnected), and
  `FerricStore.Server.Acceptors` (owns the listening socket and the acceptor processes).
  We use our own `gen_tcp` acceptors rather than ranch: it is ~100 lines and keeps the
  library free of an extra runtime dependency (see docs/server.md).
  """

  use Supervisor

  import Bitwise, only: [>>>: 2]

  alias FerricStore.Server.{Acceptors, Config}

  ## Public API

  @spec start_link(keyword()) :: Supervisor.on_start()
  def start_link(opts) do
    instance = Keyword.fetch!(opts, :instance)
    Supervisor.start_link(__MODULE__, opts, name: :"#{instance}.FerricStore.Server.Listener")
  end

  @spec child_spec(keyword()) :: Supervisor.child_spec()
  def child_spec(opts) do
    %{
      id: {__MODULE__, Keyword.fetch!(opts, :instance)},
      start: {__MODULE__, :start_link, [opts]},
      type: :supervisor
    }
  end

  @doc "The TCP port the listener of `instance` is bound to."
  @spec port(atom()) :: non_neg_integer()
  def port(instance), do: String.to_integer(Config.get(instance, "port"))

  @doc "The `Registry` of the connected clients of `instance` (keys: client ids)."
  @spec registry(atom()) :: atom()
  def registry(instance), do: :"#{instance}.FerricStore.Server.Clients"

  @doc false
  def connection_supervisor(instance), do: :"#{instance}.FerricStore.Server.Connections"

  @doc """
  Whether a client at `ip` may connect: protected mode (on, and no password) only lets
  loopback clients in.

      iex> FerricStore.Server.Listener.allowed?({10, 0, 0, 1}, true, nil)
      false
      iex> FerricStore.Server.Listener.allowed?({127, 0, 0, 1}, true, nil)
      true
      iex> FerricStore.Server.Listener.allowed?({10, 0, 0, 1}, true, "secret")
      true
  """
  @spec allowed?(:inet.ip_address(), boolean(), String.t() | nil) :: boolean()
  def allowed?(ip, protected_mode?, password) do
    not protected_mode? or password not in [nil, ""] or loopback?(ip)
  end

  defp loopback?({127, _, _, _}), do: true
  defp loopback?({0, 0, 0, 0, 0, 0, 0, 1}), do: true
  defp loopback?({0, 0, 0, 0, 0, 0xFFFF, a, _}), do: a >>> 8 == 127
  defp loopback?(_), do: false

  ## Callbacks

  @impl true
  def init(opts) do
    instance = Keyword.fetch!(opts, :instance)

    # maxclients (CONFIG SET-able) is checked by the acceptors against the registry.
    children = [
      {Registry, keys: :unique, name: registry(instance)},
      {Config, opts},
      {DynamicSupervisor, name: connection_supervisor(instance), strategy: :one_for_one},
      {Acceptors, opts}
    ]

    Supervisor.init(children, strategy: :rest_for_one)
  end
end
