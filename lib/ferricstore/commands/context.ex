defmodule FerricStore.Commands.Context do
  @moduledoc """
  The per-client state a command runs with: which instance it talks to, the negotiated
  protocol, who the client is, and the room for connection features that keep state
  between commands (MULTI queue, WATCH, subscriptions, blocking, CLIENT TRACKING).

  A command module receives the context in `handle/3` and returns a new one when it changes
  it (`{reply, ctx}`). The standalone server keeps one context per connection; embedded
  callers build one with `new/1`.

  ## Fields

    * `:instance` - the FerricStore instance name (the `name:` option of store calls)
    * `:protocol` - `2` or `3` (RESP version; `HELLO 3` switches)
    * `:client_id`, `:client_name`, `:lib_name`, `:lib_ver` - CLIENT ID / SETNAME / SETINFO
    * `:authenticated?`, `:user` - AUTH state (`"default"` user)
    * `:db` - the selected database (always 0: FerricStore has one keyspace)
    * `:peer`, `:local` - `"ip:port"` of the client and of our end (`nil` when embedded)
    * `:created_at` - monotonic milliseconds when the client connected
    * `:server` - the listener settings the commands need (`:password`, `:port`, ...)
    * `:multi` - `nil`, or the queued commands of a MULTI (reversed)
    * `:watching` - keys under WATCH (key => version)
    * `:subscriptions` - `%{channels: MapSet, patterns: MapSet, shard_channels: MapSet}`
    * `:blocked` - `nil`, or the state of a blocking command in progress
    * `:tracking` - `nil`, or CLIENT TRACKING settings
    * `:reply` - CLIENT REPLY: `:on`, `:off`, `:skip_next` (SKIP was given) or
      `:skipping` (the command being run is the one skipped)
    * `:assigns` - a free map for features that come later
  """

  @type t :: %__MODULE__{
          instance: atom(),
          protocol: 2 | 3,
          client_id: pos_integer(),
          client_name: String.t() | nil,
          lib_name: String.t() | nil,
          lib_ver: String.t() | nil,
          authenticated?: boolean(),
          user: String.t(),
          db: non_neg_integer(),
          peer: String.t() | nil,
          local: String.t() | nil,
          created_at: integer(),
          server: map(),
          multi: nil | [[binary()]],
          watching: map(),
          subscriptions: %{channels: MapSet.t(), patterns: MapSet.t(), shard_channels: MapSet.t()},
          blocked: term(),
          tracking: term(),
          reply: :on | :off | :skip_next | :skipping,
          assigns: map()
        }

  defstruct instance: nil,
            protocol: 2,
            client_id: nil,
            client_name: nil,
            lib_name: nil,
            lib_ver: nil,
            authenticated?: true,
            user: "default",
            db: 0,
            peer: nil,
            local: nil,
            created_at: nil,
            server: %{},
            multi: nil,
            watching: %{},
            subscriptions: %{
              channels: MapSet.new(),
              patterns: MapSet.new(),
              shard_channels: MapSet.new()
            },
            blocked: nil,
            tracking: nil,
            reply: :on,
            assigns: %{}

  @doc """
  Builds a context. `:instance` is required; a client id is allocated when not given, and
  the client starts authenticated unless `server: %{password: pass}` is set.

      iex> ctx = FerricStore.Commands.Context.new(instance: :demo)
      iex> {ctx.protocol, ctx.db, ctx.authenticated?}
      {2, 0, true}
  """
  @spec new(keyword()) :: t()
  def new(opts) do
    server = Map.new(Keyword.get(opts, :server, %{}))

    fields =
      opts
      |> Keyword.put_new_lazy(:client_id, &next_client_id/0)
      |> Keyword.put_new_lazy(:created_at, fn -> System.monotonic_time(:millisecond) end)
      |> Keyword.put_new(:authenticated?, server[:password] in [nil, ""])
      |> Keyword.put(:server, server)

    struct!(__MODULE__, fields)
  end

  @doc """
  Whether the client is in subscribed mode (any channel, pattern or shard channel).

      iex> FerricStore.Commands.Context.subscribed?(FerricStore.Commands.Context.new(instance: :demo))
      false
  """
  @spec subscribed?(t()) :: boolean()
  def subscribed?(%__MODULE__{subscriptions: subs}),
    do: Enum.any?(Map.values(subs), &(MapSet.size(&1) > 0))

  @doc "Allocates a client id: unique and increasing on this node, like Redis' CLIENT ID."
  @spec next_client_id() :: pos_integer()
  def next_client_id, do: System.unique_integer([:positive, :monotonic])
end
