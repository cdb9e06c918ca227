defmodule FerricStore do
  @moduledoc """
  A durable, Redis-compatible cache that lives inside your BEAM node.

  Every write goes through Raft (`ra`) and is fsynced before the call returns `:ok`;
  reads are ETS lookups in the calling process.

  ## Starting an instance

  Put an instance in your supervision tree:

      children = [
        {FerricStore, name: MyApp.Cache, data_dir: "/var/lib/my_app/cache"}
      ]

  or define a module bound to your application's configuration, in the manner of
  `Ecto.Repo`:

      defmodule MyApp.Cache do
        use FerricStore, otp_app: :my_app
      end

      # config/runtime.exs
      config :my_app, MyApp.Cache, data_dir: "/var/lib/my_app/cache"

      # then: children = [MyApp.Cache]; MyApp.Cache.set("k", "v")

  The application itself starts the default instance (named `FerricStore`) only when
  `config :ferricstore, start_default: true` (the standalone server does).

  Options of `start_link/1`: `:name` (default `FerricStore`), `:data_dir`, `:shards`
  (default 1), `:timeout` (ms a call waits for its write, default 15000), `:hot_cache`
  (keep values read from disk in memory, default true), `:max_file_size`,
  `:port` / `:bind` / `:password` (also serve RESP on a TCP port).

  ## Calling it

  Every function takes the key (or keys) first and, last, a keyword list of options
  that always accepts `:name`, the instance (default `FerricStore`).

  ## Return values

  `{:ok, value}` (with `{:ok, nil}` for a missing key), `:ok`, or
  `{:error, %FerricStore.Error{}}` whose `message` is Redis' own error text. Every
  function has a raising `!` twin that returns the bare value.

      iex> FerricStore.set("greeting", "hello")
      :ok
      iex> FerricStore.get("greeting")
      {:ok, "hello"}
      iex> FerricStore.incr("greeting")
      {:error, %FerricStore.Error{reason: :not_integer, message: "ERR value is not an integer or out of range"}}
      iex> FerricStore.get!("missing")
      nil
  """

  alias FerricStore.Commands.{Keyspace, Strings}

  @type key :: binary()
  @type value :: binary()
  @type error :: {:error, FerricStore.Error.t()}
  @type opts :: keyword()

  @doc "Starts an instance; see the module documentation for the options."
  @spec start_link(keyword()) :: Supervisor.on_start()
  def start_link(opts \\ []), do: FerricStore.Instance.start_link(opts)

  @doc false
  def child_spec(opts) do
    %{
      id: Keyword.get(opts, :name, FerricStore),
      start: {__MODULE__, :start_link, [opts]},
      type: :supervisor,
      shutdown: :infinity
    }
  end

  defmacro __using__(opts) do
    otp_app = Keyword.fetch!(opts, :otp_app)

    quote bind_quoted: [otp_app: otp_app] do
      @doc false
      def child_spec(opts) do
        opts = Keyword.merge(Application.get_env(unquote(otp_app), __MODULE__, []), opts)
        FerricStore.child_spec(Keyword.put(opts, :name, __MODULE__))
      end

      def start_link(opts \\ []) do
        opts = Keyword.merge(Application.get_env(unquote(otp_app), __MODULE__, []), opts)
        FerricStore.start_link(Keyword.put(opts, :name, __MODULE__))
      end

      for {fun, arity} <- FerricStore.__api__(), fun <- [fun, :"#{fun}!"] do
        args = Macro.generate_arguments(arity - 1, __MODULE__)

        def unquote(fun)(unquote_splicing(args), opts \\ []) do
          FerricStore.unquote(fun)(unquote_splicing(args), Keyword.put(opts, :name, __MODULE__))
        end
      end
    end
  end

  defp name(opts), do: Keyword.get(opts, :name, FerricStore)

  ## Strings

  @doc """
  Gets the value of `key`.

      iex> FerricStore.set("user:1", "ada")
      :ok
      iex> FerricStore.get("user:1")
      {:ok, "ada"}
      iex> FerricStore.get("user:404")
      {:ok, nil}
  """
  @spec get(key(), opts()) :: {:ok, value() | nil} | error()
  def get(key, opts \\ []), do: Strings.get(name(opts), key)

  @doc """
  Sets `key` to `value`. Returns `:ok` once the write is durable.

  Options: `ttl:` / `px:` (ms from now), `ex:` (seconds from now), `pxat:` / `exat:`
  (absolute Unix time in ms / s), `keepttl: true`, `nx: true` (only if missing),
  `xx: true` (only if present), `get: true` (return the previous value).

  With `nx:` or `xx:` the result is `{:ok, true}` when written and `{:ok, false}`
  when not; with `get: true` it is `{:ok, previous_value_or_nil}`.

      iex> FerricStore.set("session", "s1", ttl: 60_000)
      :ok
      iex> FerricStore.set("session", "s2", nx: true)
      {:ok, false}
      iex> FerricStore.set("session", "s3", get: true)
      {:ok, "s1"}
  """
  @spec set(key(), value(), opts()) :: :ok | {:ok, boolean() | value() | nil} | error()
  def set(key, value, opts \\ []), do: Strings.set(name(opts), key, value, opts)

  @doc "Sets `key` only if it does not exist: `{:ok, true}` when set."
  @spec setnx(key(), value(), opts()) :: {:ok, boolean()} | error()
  def setnx(key, value, opts \\ []), do: Strings.set(name(opts), key, value, [nx: true] ++ opts)

  @doc "Sets `key` and returns its previous value."
  @spec getset(key(), value(), opts()) :: {:ok, value() | nil} | error()
  def getset(key, value, opts \\ []), do: Strings.set(name(opts), key, value, get: true)

  @doc "Gets and deletes `key`."
  @spec getdel(key(), opts()) :: {:ok, value() | nil} | error()
  def getdel(key, opts \\ []), do: Strings.getdel(name(opts), key)

  @doc """
  Gets `key` and changes its expiry: `ttl:`/`px:`/`ex:`/`pxat:`/`exat:`, or
  `persist: true`. Without those options it is a plain `get/2`.
  """
  @spec getex(key(), opts()) :: {:ok, value() | nil} | error()
  def getex(key, opts \\ []), do: Strings.getex(name(opts), key, opts)

  @doc "Values of many keys, `nil` for the missing ones (and for non-strings)."
  @spec mget([key()], opts()) :: {:ok, [value() | nil]}
  def mget(keys, opts \\ []), do: Strings.mget(name(opts), keys)

  @doc "Sets many keys atomically (all on one shard): a map or a list of pairs."
  @spec mset(map() | [{key(), value()}], opts()) :: :ok | error()
  def mset(pairs, opts \\ []), do: Strings.mset(name(opts), Enum.to_list(pairs))

  @doc "Sets many keys atomically only if none exists: `{:ok, true}` when set."
  @spec msetnx(map() | [{key(), value()}], opts()) :: {:ok, boolean()} | error()
  def msetnx(pairs, opts \\ []), do: Strings.msetnx(name(opts), Enum.to_list(pairs))

  @doc """
  Increments the integer value of `key` by one (a missing key counts as 0).

      iex> FerricStore.incr("visits")
      {:ok, 1}
      iex> FerricStore.incrby("visits", 41)
      {:ok, 42}
      iex> FerricStore.decr("visits")
      {:ok, 41}
  """
  @spec incr(key(), opts()) :: {:ok, integer()} | error()
  def incr(key, opts \\ []), do: Strings.incrby(name(opts), key, 1)

  @doc "Increments the integer value of `key` by `by`."
  @spec incrby(key(), integer(), opts()) :: {:ok, integer()} | error()
  def incrby(key, by, opts \\ []), do: Strings.incrby(name(opts), key, by)

  @doc "Decrements the integer value of `key` by one."
  @spec decr(key(), opts()) :: {:ok, integer()} | error()
  def decr(key, opts \\ []), do: Strings.incrby(name(opts), key, -1)

  @doc "Decrements the integer value of `key` by `by`."
  @spec decrby(key(), integer(), opts()) :: {:ok, integer()} | error()
  def decrby(key, by, opts \\ []), do: Strings.incrby(name(opts), key, -by)

  @doc """
  Increments the float value of `key` by `by`; returns the new value.

      iex> FerricStore.set("price", "10.5")
      :ok
      iex> FerricStore.incrbyfloat("price", 0.1)
      {:ok, 10.6}
  """
  @spec incrbyfloat(key(), number(), opts()) :: {:ok, float()} | error()
  def incrbyfloat(key, by, opts \\ []) do
    with {:ok, text} <- Strings.incrbyfloat(name(opts), key, by) do
      {f, ""} = Float.parse(text)
      {:ok, f}
    end
  end

  @doc "Appends `value` to `key`; returns the new length."
  @spec append(key(), value(), opts()) :: {:ok, non_neg_integer()} | error()
  def append(key, value, opts \\ []), do: Strings.append(name(opts), key, value)

  @doc "Length of the value of `key` (0 when missing)."
  @spec strlen(key(), opts()) :: {:ok, non_neg_integer()} | error()
  def strlen(key, opts \\ []), do: Strings.strlen(name(opts), key)

  @doc "Substring of the value between `start` and `stop` (inclusive, negative from the end)."
  @spec getrange(key(), integer(), integer(), opts()) :: {:ok, value()} | error()
  def getrange(key, start, stop, opts \\ []), do: Strings.getrange(name(opts), key, start, stop)

  @doc "Overwrites part of the value at `offset` (zero-padding as needed); returns the new length."
  @spec setrange(key(), non_neg_integer(), value(), opts()) :: {:ok, non_neg_integer()} | error()
  def setrange(key, offset, value, opts \\ []),
    do: Strings.setrange(name(opts), key, offset, value)

  @doc """
  Compare-and-swap: sets `key` to `new` only if its current value is `expected`
  (`nil` expects the key to be missing). Returns `{:ok, true}` when swapped. The TTL
  is kept unless one of `ttl:`/`px:`/`ex:`/`pxat:`/`exat:` is given.

      iex> FerricStore.set("lock", "owner-a")
      :ok
      iex> FerricStore.cas("lock", "owner-b", "owner-c")
      {:ok, false}
      iex> FerricStore.cas("lock", "owner-a", "owner-c")
      {:ok, true}
  """
  @spec cas(key(), value() | nil, value(), opts()) :: {:ok, boolean()} | error()
  def cas(key, expected, new, opts \\ []), do: Strings.cas(name(opts), key, expected, new, opts)

  ## Keyspace

  @doc "Deletes a key or a list of keys; returns how many existed."
  @spec del(key() | [key()], opts()) :: {:ok, non_neg_integer()} | error()
  def del(keys, opts \\ []), do: Keyspace.del(name(opts), List.wrap(keys))

  @doc "How many of the given keys exist."
  @spec exists(key() | [key()], opts()) :: {:ok, non_neg_integer()}
  def exists(keys, opts \\ []), do: Keyspace.exists(name(opts), List.wrap(keys))

  @doc "Type of `key`: \"string\", ..., or \"none\"."
  @spec type(key(), opts()) :: {:ok, String.t()}
  def type(key, opts \\ []), do: Keyspace.type(name(opts), key)

  @doc """
  Sets a TTL of `seconds`. `{:ok, false}` when the key is missing or a condition
  (`nx:`, `xx:`, `gt:`, `lt:`) is not met.

      iex> FerricStore.set("temp", "x")
      :ok
      iex> FerricStore.expire("temp", 100)
      {:ok, true}
      iex> FerricStore.ttl("temp")
      {:ok, 100}
  """
  @spec expire(key(), integer(), opts()) :: {:ok, boolean()} | error()
  def expire(key, seconds, opts \\ []),
    do: expire_at_ms(key, seconds * 1000 + FerricStore.Store.now(), opts)

  @doc "Sets a TTL of `ms` milliseconds."
  @spec pexpire(key(), integer(), opts()) :: {:ok, boolean()} | error()
  def pexpire(key, ms, opts \\ []), do: expire_at_ms(key, ms + FerricStore.Store.now(), opts)

  @doc "Expires `key` at the Unix time `seconds`."
  @spec expireat(key(), integer(), opts()) :: {:ok, boolean()} | error()
  def expireat(key, seconds, opts \\ []), do: expire_at_ms(key, seconds * 1000, opts)

  @doc "Expires `key` at the Unix time `ms` (milliseconds)."
  @spec pexpireat(key(), integer(), opts()) :: {:ok, boolean()} | error()
  def pexpireat(key, ms, opts \\ []), do: expire_at_ms(key, ms, opts)

  defp expire_at_ms(key, at, opts) do
    flags = for flag <- [:nx, :xx, :gt, :lt], opts[flag] == true, do: flag
    Keyspace.expire_at(name(opts), key, at, flags)
  end

  @doc "Seconds to live: -2 when the key is missing, -1 when it has no TTL."
  @spec ttl(key(), opts()) :: {:ok, integer()}
  def ttl(key, opts \\ []), do: Keyspace.ttl(name(opts), key)

  @doc "Milliseconds to live: -2 when the key is missing, -1 when it has no TTL."
  @spec pttl(key(), opts()) :: {:ok, integer()}
  def pttl(key, opts \\ []), do: Keyspace.pttl(name(opts), key)

  @doc "Removes the TTL of `key`: `{:ok, true}` when it had one."
  @spec persist(key(), opts()) :: {:ok, boolean()} | error()
  def persist(key, opts \\ []), do: Keyspace.persist(name(opts), key)

  @doc """
  Keys matching a Redis glob pattern (`*`, `?`, `[a-z]`, `\\\\x`). Walks the whole
  keydir: prefer `scan/2` on large data sets.
  """
  @spec keys(binary(), opts()) :: {:ok, [key()]}
  def keys(pattern \\ "*", opts \\ []), do: Keyspace.keys(name(opts), pattern)

  @doc """
  One step of an incremental iteration: returns `{:ok, {next_cursor, keys}}`; start
  with cursor 0 and stop when the returned cursor is 0. Options: `match:`, `count:`,
  `type:` (an atom such as `:string`).
  """
  @spec scan(non_neg_integer(), opts()) :: {:ok, {non_neg_integer(), [key()]}}
  def scan(cursor, opts \\ []), do: Keyspace.scan(name(opts), cursor, opts)

  @doc "Number of keys."
  @spec dbsize(opts()) :: {:ok, non_neg_integer()}
  def dbsize(opts \\ []), do: Keyspace.dbsize(name(opts))

  @doc "Deletes every key (durably, like any write)."
  @spec flushdb(opts()) :: :ok | error()
  def flushdb(opts \\ []), do: Keyspace.flushdb(name(opts))

  @doc "Facts about a running instance (keys, expires, memory, shards, data_dir)."
  @spec info(opts()) :: map()
  def info(opts \\ []), do: FerricStore.Store.Info.info(name(opts))

  @api [
    get: 2,
    set: 3,
    setnx: 3,
    getset: 3,
    getdel: 2,
    getex: 2,
    mget: 2,
    mset: 2,
    msetnx: 2,
    incr: 2,
    incrby: 3,
    decr: 2,
    decrby: 3,
    incrbyfloat: 3,
    append: 3,
    strlen: 2,
    getrange: 4,
    setrange: 4,
    cas: 4,
    del: 2,
    exists: 2,
    type: 2,
    expire: 3,
    pexpire: 3,
    expireat: 3,
    pexpireat: 3,
    ttl: 2,
    pttl: 2,
    persist: 2,
    keys: 2,
    scan: 2,
    dbsize: 1,
    flushdb: 1
  ]

  @doc false
  def __api__, do: @api

  for {fun, arity} <- @api do
    bang = :"#{fun}!"
    args = Macro.generate_arguments(arity - 1, __MODULE__)

    @doc "Like `#{fun}/#{arity}` but returns the bare value and raises `FerricStore.Error`."
    @spec unquote(bang)(unquote_splicing(Enum.map(args, fn _ -> quote(do: term()) end)), opts()) ::
            term()
    def unquote(bang)(unquote_splicing(args), opts \\ []) do
      case unquote(fun)(unquote_splicing(args), opts) do
        :ok -> :ok
        {:ok, value} -> value
        {:error, %FerricStore.Error{} = error} -> raise error
      end
    end
  end
end
