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

  Such a module is bound to one instance, named after the module: its functions
  (and its `start_link/1` and `child_spec/1`) replace any `name:` they are given with
  the module's name. To reach another instance, call `FerricStore` with `name:`.

  The application itself starts the default instance (named `FerricStore`) only when
  `config :ferricstore, start_default: true` (the standalone server does).

  Options of `start_link/1`: `:name` (default `FerricStore`), `:data_dir`, `:shards`
  (default 1), `:timeout` (ms a call waits for its write, default 15000), `:hot_cache`
  (keep values read from disk in memory, default true), `:max_file_size`,
  `:port` / `:bind` / `:password` (also serve RESP on a TCP port). They are checked
  before anything starts: an unknown option or a value of the wrong type (`shards: 0`,
  `timeout: :x`, a string `name:`) raises `ArgumentError` naming the option.

  ## Calling it

  Every function takes the key (or keys) first and, last, a keyword list of options
  that always accepts `:name`, the instance (an atom, default `FerricStore`). A
  function takes only the options its documentation lists: any other (`bogus: 1`) or
  one of the wrong type (`nx: 1`, `ttl: "100"`) raises `ArgumentError` naming the
  function and the option. Flags are booleans and TTLs integers; a `nil` `count:`,
  `rank:`, `maxlen:`, `limit:`, `match:` or `type:` is the same as none.

  ## Return values

  `{:ok, value}` (with `{:ok, nil}` for a missing key), `:ok`, or
  `{:error, %FerricStore.Error{}}` whose `message` is Redis' own error text. Every
  function has a raising `!` twin that returns the bare value (`info/1`, which
  returns a map and cannot fail, too).

      iex> FerricStore.set("greeting", "hello")
      :ok
      iex> FerricStore.get("greeting")
      {:ok, "hello"}
      iex> FerricStore.incr("greeting")
      {:error, %FerricStore.Error{reason: :not_integer, message: "ERR value is not an integer or out of range"}}
      iex> FerricStore.get!("missing")
      nil

  ## Argument errors

  Redis' own failures are values, as above: a wrong type, a negative pop count
  (`"ERR value is out of range, must be positive"`), a value over Redis'
  proto-max-bulk-len of 512 MB (`reason: :string_too_long`), a conflicting option.
  Calling a function with arguments of the wrong Elixir type is a bug in the caller
  and raises `ArgumentError` at once, in the calling process, before anything is
  written; the message names the function and the argument:

      iex> FerricStore.lpush("queue", 123)
      ** (ArgumentError) FerricStore.lpush/3: values must be binaries, got: 123

  Keys, values, hash fields and set members are binaries (for reads too: an atom key
  raises rather than reading as missing); counts, indexes and TTLs are integers;
  sorted-set scores are numbers, `:inf`, `:neg_inf` or Redis' syntax as a string.
  Calling an instance that was never started raises `ArgumentError` too
  ("FerricStore instance :nope is not started; ..."): it is a bug in the caller's
  setup, not a failure of the store (an instance whose processes are down returns
  `{:error, %FerricStore.Error{}}`).

  A command given no element where Redis needs one (`lpush("l", [])`, `sadd`,
  `hset`, `zadd`, `srem`, `hdel`, `zrem`) returns Redis' error, "ERR wrong number of
  arguments for 'lpush' command"; `nil` is not an element and raises.
  """

  alias FerricStore.Commands.{Check, Hashes, Keyspace, Lists, Objects, Sets, Strings, ZSets}

  @type key :: binary()
  @type value :: binary()
  @type error :: {:error, FerricStore.Error.t()}
  @type opts :: keyword()
  @type score :: float() | :inf | :neg_inf
  @type score_bound :: number() | :inf | :neg_inf | {:exclusive, number()} | binary()

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

      def keys, do: keys("*")
      def keys!, do: keys!("*")
      def info(opts \\ []), do: FerricStore.info(Keyword.put(opts, :name, __MODULE__))
      def info!(opts \\ []), do: info(opts)
    end
  end

  # The calling API function as {name, arity}, for the argument checks' messages.
  defmacrop here, do: Macro.escape(__CALLER__.function)

  # The instance `opts` name, once they were checked: `known` lists the options the
  # calling function takes besides `name:` (Check.opts!/3 raises for any other).
  defmacrop name!(opts, known \\ []) do
    fun = Macro.escape(__CALLER__.function)
    quote do: Check.opts!(unquote(opts), unquote(fun), unquote(known))
  end

  defp key_arg!(key, fun), do: Check.key!(key, fun)
  defp keys_arg!(keys, fun), do: Check.keys!(keys, fun)
  defp field_arg!(field, fun), do: Check.key!(field, fun, "field")
  defp fields_arg!(fields, fun), do: Check.list!(fields, fun, "fields must be binaries")
  defp member_arg!(member, fun), do: Check.key!(member, fun, "member")
  defp members_arg!(members, fun), do: Check.list!(members, fun, "members must be binaries")

  # SINTER and friends need a key (Redis: wrong number of arguments).
  defp nonempty_arg!(keys, fun) do
    case keys_arg!(keys, fun) do
      [] -> Check.bad!(fun, "keys must not be empty", [])
      keys -> keys
    end
  end

  defp cursor_arg!(cursor, _fun) when is_integer(cursor) and cursor >= 0, do: cursor

  defp cursor_arg!(cursor, fun),
    do: Check.bad!(fun, "cursor must be a non-negative integer", cursor)

  # One element or a list of them; nil is not an element (it used to read as none).
  defp wrap_arg!(nil, fun, what), do: Check.bad!(fun, what, nil)
  defp wrap_arg!(list, _fun, _what) when is_list(list), do: list
  defp wrap_arg!(elem, _fun, _what), do: [elem]

  # LPUSH, SADD, HSET... take at least one element: Redis' arity error for none.
  defp some([], cmd), do: {:error, arity(cmd)}
  defp some(_list, _cmd), do: :ok

  defp arity(cmd),
    do: FerricStore.Error.new(:arity, "ERR wrong number of arguments for '#{cmd}' command")

  # SCAN's options as Redis checks them: COUNT below 1 is a syntax error; `type:` is an
  # atom or Redis' name for it (a string), and anything else raises.
  defp scan_opts(opts, fun) do
    case opts[:count] do
      c when is_integer(c) and c < 1 -> {:error, FerricStore.Error.new(:syntax)}
      _ -> {:ok, scan_type(opts, opts[:type], fun)}
    end
  end

  @scan_types [:string, :hash, :list, :set, :zset]

  defp scan_type(opts, nil, _fun), do: opts
  defp scan_type(opts, type, _fun) when type in @scan_types, do: opts

  defp scan_type(opts, type, fun) when is_binary(type) do
    case Enum.find(@scan_types, &(Atom.to_string(&1) == String.downcase(type))) do
      nil -> bad_scan_type!(type, fun)
      atom -> Keyword.put(opts, :type, atom)
    end
  end

  defp scan_type(_opts, type, fun), do: bad_scan_type!(type, fun)

  defp bad_scan_type!(type, fun),
    do: Check.bad!(fun, "type: must be one of #{inspect(@scan_types)} or their names", type)

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
  def get(key, opts \\ []), do: Strings.get(name!(opts), key_arg!(key, here()))

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
  def set(key, value, opts \\ []) do
    name = name!(opts, [:ttl, :px, :ex, :pxat, :exat, :keepttl, :nx, :xx, :get])

    with :ok <- Check.bins([key, value], here(), "key and value must be binaries"),
         do:
           Strings.set(
             name,
             key,
             value,
             opts
           )
  end

  @doc "Sets `key` only if it does not exist: `{:ok, true}` when set."
  @spec setnx(key(), value(), opts()) :: {:ok, boolean()} | error()
  def setnx(key, value, opts \\ []) do
    name = name!(opts, [:ttl, :px, :ex, :pxat, :exat])

    with :ok <- Check.bins([key, value], here(), "key and value must be binaries"),
         do:
           Strings.set(
             name,
             key,
             value,
             [nx: true] ++ opts
           )
  end

  @doc "Sets `key` and returns its previous value."
  @spec getset(key(), value(), opts()) :: {:ok, value() | nil} | error()
  def getset(key, value, opts \\ []) do
    with :ok <- Check.bins([key, value], here(), "key and value must be binaries"),
         do: Strings.set(name!(opts), key, value, get: true)
  end

  @doc "Gets and deletes `key`."
  @spec getdel(key(), opts()) :: {:ok, value() | nil} | error()
  def getdel(key, opts \\ []), do: Strings.getdel(name!(opts), key_arg!(key, here()))

  @doc """
  Gets `key` and changes its expiry: `ttl:`/`px:`/`ex:`/`pxat:`/`exat:`, or
  `persist: true`. Without those options it is a plain `get/2`.
  """
  @spec getex(key(), opts()) :: {:ok, value() | nil} | error()
  def getex(key, opts \\ []) do
    name = name!(opts, [:ttl, :px, :ex, :pxat, :exat, :persist, :keepttl])
    key = key_arg!(key, here())
    expiry = Enum.count([:ttl, :px, :ex, :pxat, :exat], &Keyword.has_key?(opts, &1))

    # GETEX takes one expiry or PERSIST, and has no KEEPTTL (Redis: a syntax error).
    if expiry > 1 or (expiry == 1 and opts[:persist] == true) or Keyword.has_key?(opts, :keepttl),
      do: {:error, FerricStore.Error.new(:syntax)},
      else: Strings.getex(name, key, opts)
  end

  @doc "Values of many keys, `nil` for the missing ones (and for non-strings)."
  @spec mget([key()], opts()) :: {:ok, [value() | nil]}
  def mget(keys, opts \\ []), do: Strings.mget(name!(opts), keys_arg!(keys, here()))

  @doc "Sets many keys atomically (all on one shard): a map or a list of pairs."
  @spec mset(map() | [{key(), value()}], opts()) :: :ok | error()
  def mset(pairs, opts \\ []) do
    with {:ok, pairs} <- Check.pairs(pairs, here(), "pairs must be {key, value} binaries"),
         do: Strings.mset(name!(opts), pairs)
  end

  @doc "Sets many keys atomically only if none exists: `{:ok, true}` when set."
  @spec msetnx(map() | [{key(), value()}], opts()) :: {:ok, boolean()} | error()
  def msetnx(pairs, opts \\ []) do
    with {:ok, pairs} <- Check.pairs(pairs, here(), "pairs must be {key, value} binaries"),
         do: Strings.msetnx(name!(opts), pairs)
  end

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
  def incr(key, opts \\ []), do: Strings.incrby(name!(opts), key_arg!(key, here()), 1)

  @doc "Increments the integer value of `key` by `by`."
  @spec incrby(key(), integer(), opts()) :: {:ok, integer()} | error()
  def incrby(key, by, opts \\ []),
    do: Strings.incrby(name!(opts), key_arg!(key, here()), Check.int!(by, here(), "by"))

  @doc "Decrements the integer value of `key` by one."
  @spec decr(key(), opts()) :: {:ok, integer()} | error()
  def decr(key, opts \\ []), do: Strings.incrby(name!(opts), key_arg!(key, here()), -1)

  @doc "Decrements the integer value of `key` by `by`."
  @spec decrby(key(), integer(), opts()) :: {:ok, integer()} | error()
  def decrby(key, by, opts \\ []) do
    key = key_arg!(key, here())

    case Check.int!(by, here(), "by") do
      # Redis negates the decrement in a long long first.
      -0x8000000000000000 ->
        {:error, FerricStore.Error.new(:overflow, "ERR decrement would overflow")}

      by when by > 0x7FFFFFFFFFFFFFFF ->
        {:error, FerricStore.Error.new(:not_integer)}

      by ->
        Strings.incrby(name!(opts), key, -by)
    end
  end

  @doc """
  Increments the float value of `key` by `by` (a number, or a float in Redis' syntax
  as a string); returns the new value.

  Like Redis, the sum is computed and stored as a long double, whose range goes past a
  float's: when the stored result is beyond a float (`1.0e308` added twice), the write
  is done and the value is returned as the digit string Redis replies with, not as a
  float.

      iex> FerricStore.set("price", "10.5")
      :ok
      iex> FerricStore.incrbyfloat("price", 0.1)
      {:ok, 10.6}
  """
  @spec incrbyfloat(key(), number() | binary(), opts()) :: {:ok, float() | binary()} | error()
  def incrbyfloat(key, by, opts \\ []) do
    key = key_arg!(key, here())
    by = float_arg!(by, here())
    with {:ok, text} <- Strings.incrbyfloat(name!(opts), key, by), do: {:ok, to_float(text)}
  end

  defp float_arg!(by, _fun) when is_number(by) or is_binary(by), do: by

  defp float_arg!(by, fun),
    do: Check.bad!(fun, "by must be a number", by)

  @doc "Appends `value` to `key`; returns the new length."
  @spec append(key(), value(), opts()) :: {:ok, non_neg_integer()} | error()
  def append(key, value, opts \\ []) do
    with :ok <- Check.bins([key, value], here(), "key and value must be binaries"),
         do: Strings.append(name!(opts), key, value)
  end

  @doc "Length of the value of `key` (0 when missing)."
  @spec strlen(key(), opts()) :: {:ok, non_neg_integer()} | error()
  def strlen(key, opts \\ []), do: Strings.strlen(name!(opts), key_arg!(key, here()))

  @doc "Substring of the value between `start` and `stop` (inclusive, negative from the end)."
  @spec getrange(key(), integer(), integer(), opts()) :: {:ok, value()} | error()
  def getrange(key, start, stop, opts \\ []) do
    Strings.getrange(
      name!(opts),
      key_arg!(key, here()),
      Check.int!(start, here(), "start"),
      Check.int!(stop, here(), "stop")
    )
  end

  @doc "Overwrites part of the value at `offset` (zero-padding as needed); returns the new length."
  @spec setrange(key(), non_neg_integer(), value(), opts()) :: {:ok, non_neg_integer()} | error()
  def setrange(key, offset, value, opts \\ []) do
    offset = Check.int!(offset, here(), "offset")

    # The new length (offset + value) is checked against proto-max-bulk-len by setrange.
    with :ok <- Check.bins([key], here(), "key must be a binary"),
         :ok <- Check.bins([value], here(), "value must be a binary"),
         do: Strings.setrange(name!(opts), key, offset, value)
  end

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
  def cas(key, expected, new, opts \\ []) do
    name = name!(opts, [:ttl, :px, :ex, :pxat, :exat])

    with :ok <- Check.bins([key, new], here(), "key and new value must be binaries"),
         :ok <- Check.bins(List.wrap(expected), here(), "expected must be a binary or nil"),
         do: Strings.cas(name, key, expected, new, opts)
  end

  ## Keyspace

  @doc "Deletes a key or a list of keys; returns how many existed."
  @spec del(key() | [key()], opts()) :: {:ok, non_neg_integer()} | error()
  def del(keys, opts \\ []), do: Keyspace.del(name!(opts), keys_arg!(keys, here()))

  @doc "How many of the given keys exist."
  @spec exists(key() | [key()], opts()) :: {:ok, non_neg_integer()}
  def exists(keys, opts \\ []), do: Keyspace.exists(name!(opts), keys_arg!(keys, here()))

  @doc "Type of `key`: \"string\", ..., or \"none\"."
  @spec type(key(), opts()) :: {:ok, String.t()}
  def type(key, opts \\ []), do: Keyspace.type(name!(opts), key_arg!(key, here()))

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
    do:
      expire_cmd(
        "expire",
        key_arg!(key, here()),
        Check.int!(seconds, here(), "seconds"),
        opts,
        here()
      )

  @doc "Sets a TTL of `ms` milliseconds."
  @spec pexpire(key(), integer(), opts()) :: {:ok, boolean()} | error()
  def pexpire(key, ms, opts \\ []),
    do: expire_cmd("pexpire", key_arg!(key, here()), Check.int!(ms, here(), "ms"), opts, here())

  @doc "Expires `key` at the Unix time `seconds`."
  @spec expireat(key(), integer(), opts()) :: {:ok, boolean()} | error()
  def expireat(key, seconds, opts \\ []),
    do:
      expire_cmd(
        "expireat",
        key_arg!(key, here()),
        Check.int!(seconds, here(), "seconds"),
        opts,
        here()
      )

  @doc "Expires `key` at the Unix time `ms` (milliseconds)."
  @spec pexpireat(key(), integer(), opts()) :: {:ok, boolean()} | error()
  def pexpireat(key, ms, opts \\ []),
    do: expire_cmd("pexpireat", key_arg!(key, here()), Check.int!(ms, here(), "ms"), opts, here())

  # A time outside 64 bits, or one whose absolute ms leave them, is Redis' error.
  defp expire_cmd(cmd, key, n, opts, fun) do
    name = Check.opts!(opts, fun, [:nx, :xx, :gt, :lt])
    flags = for flag <- [:nx, :xx, :gt, :lt], opts[flag] == true, do: flag
    Keyspace.expire(name, key, cmd, n, flags)
  end

  @doc "Seconds to live: -2 when the key is missing, -1 when it has no TTL."
  @spec ttl(key(), opts()) :: {:ok, integer()}
  def ttl(key, opts \\ []), do: Keyspace.ttl(name!(opts), key_arg!(key, here()))

  @doc "Milliseconds to live: -2 when the key is missing, -1 when it has no TTL."
  @spec pttl(key(), opts()) :: {:ok, integer()}
  def pttl(key, opts \\ []), do: Keyspace.pttl(name!(opts), key_arg!(key, here()))

  @doc "Removes the TTL of `key`: `{:ok, true}` when it had one."
  @spec persist(key(), opts()) :: {:ok, boolean()} | error()
  def persist(key, opts \\ []), do: Keyspace.persist(name!(opts), key_arg!(key, here()))

  @doc """
  Keys matching a Redis glob pattern (`*`, `?`, `[a-z]`, `\\\\x`). Walks the whole
  keydir: prefer `scan/2` on large data sets. `keys(name: MyApp.Cache)` (options
  without a pattern) is `keys("*", name: MyApp.Cache)`.
  """
  @spec keys(binary() | opts(), opts()) :: {:ok, [key()]}
  def keys(pattern \\ "*", opts \\ [])

  def keys([{key, _} | _] = opts, []) when is_atom(key), do: keys("*", opts)

  def keys(pattern, opts) when is_binary(pattern), do: Keyspace.keys(name!(opts), pattern)

  def keys(pattern, _opts),
    do: Check.bad!({:keys, 2}, "pattern must be a binary", pattern)

  @doc """
  One step of an incremental iteration: returns `{:ok, {next_cursor, keys}}`; start
  with cursor 0 and stop when the returned cursor is 0. As in Redis, a full iteration
  returns every key that was there from its start to its end at least once (a key may
  come twice), whatever was written or deleted meanwhile. Options: `match:` (a glob
  pattern), `count:` (a positive integer; below 1 is Redis' syntax error), `type:`
  (`:string`, `:hash`, `:list`, `:set` or `:zset`, or the same as Redis spells it,
  `"string"`; another raises).
  """
  @spec scan(non_neg_integer(), opts()) :: {:ok, {non_neg_integer(), [key()]}}
  def scan(cursor, opts \\ []) do
    cursor = cursor_arg!(cursor, here())
    name = name!(opts, [:match, :count, :type])
    with {:ok, opts} <- scan_opts(opts, here()), do: Keyspace.scan(name, cursor, opts)
  end

  @doc "Number of keys."
  @spec dbsize(opts()) :: {:ok, non_neg_integer()}
  def dbsize(opts \\ []), do: Keyspace.dbsize(name!(opts))

  @doc "Deletes every key (durably, like any write)."
  @spec flushdb(opts()) :: :ok | error()
  def flushdb(opts \\ []), do: Keyspace.flushdb(name!(opts))

  @doc """
  Fsyncs every data file and lets the Raft log go up to the last applied write, so a
  restart replays nothing before it (SAVE, BGSAVE). Every acknowledged write is durable
  without it: this only shortens the next start.

      iex> FerricStore.save()
      :ok
  """
  @spec save(opts()) :: :ok | error()
  def save(opts \\ []), do: FerricStore.Store.save(name!(opts))

  @doc """
  Compacts every sealed data file now, whatever its share of dead bytes, and waits for
  it (BGREWRITEAOF). Compaction otherwise starts by itself as files fill with overwritten
  and deleted records.

      iex> FerricStore.compact()
      :ok
  """
  @spec compact(opts()) :: :ok | error()
  def compact(opts \\ []), do: FerricStore.Store.compact(name!(opts))

  @doc "Facts about a running instance (keys, expires, memory, shards, data_dir)."
  @spec info(opts()) :: map()
  def info(opts \\ []), do: FerricStore.Store.Info.info(name!(opts))

  @doc "Same as `info/1` (which cannot fail), for symmetry with the other `!` twins."
  @spec info!(opts()) :: map()
  def info!(opts \\ []), do: info(opts)

  ## Whole values (any type)

  @doc """
  Renames `src` to `dst` (any type, with its TTL), replacing `dst`. With `nx: true`
  only when `dst` does not exist, returning `{:ok, true}` when renamed. Both keys must
  live on one shard.

      iex> FerricStore.sadd("draft", ["a", "b"])
      {:ok, 2}
      iex> FerricStore.rename("draft", "final")
      :ok
      iex> FerricStore.smembers("final")
      {:ok, ["a", "b"]}
      iex> FerricStore.rename("draft", "other")
      {:error, %FerricStore.Error{reason: :no_such_key, message: "ERR no such key"}}
  """
  @spec rename(key(), key(), opts()) :: :ok | {:ok, boolean()} | error()
  def rename(src, dst, opts \\ []) do
    name = name!(opts, [:nx])

    with :ok <- Check.bins([src, dst], here(), "keys must be binaries"),
         do: Objects.rename(name, src, dst, opts[:nx] == true)
  end

  @doc "Renames `src` to `dst` only if `dst` does not exist: `{:ok, true}` when renamed."
  @spec renamenx(key(), key(), opts()) :: {:ok, boolean()} | error()
  def renamenx(src, dst, opts \\ []) do
    with :ok <- Check.bins([src, dst], here(), "keys must be binaries"),
         do: Objects.rename(name!(opts), src, dst, true)
  end

  @doc """
  Copies `src` (any type, with its TTL) to `dst`: `{:ok, true}` when copied,
  `{:ok, false}` when `src` is missing or `dst` exists (unless `replace: true`).
  """
  @spec copy(key(), key(), opts()) :: {:ok, boolean()} | error()
  def copy(src, dst, opts \\ []) do
    name = name!(opts, [:replace])

    with :ok <- Check.bins([src, dst], here(), "keys must be binaries"),
         do: Objects.copy(name, src, dst, opts[:replace] == true)
  end

  @doc """
  The internal representation Redis 7.0 would report for the value at `key`
  (`"embstr"`, `"int"`, `"raw"`, `"listpack"`, `"hashtable"`, `"quicklist"`,
  `"intset"`, `"skiplist"`), or nil for a missing key.
  """
  @spec object_encoding(key(), opts()) :: {:ok, String.t() | nil}
  def object_encoding(key, opts \\ []), do: Objects.encoding(name!(opts), key_arg!(key, here()))

  @doc "A random key, or nil when there is none."
  @spec randomkey(opts()) :: {:ok, key() | nil}
  def randomkey(opts \\ []), do: Objects.randomkey(name!(opts))

  ## Hashes

  @doc """
  Sets fields of the hash at `key` from a map or a list of `{field, value}` pairs;
  returns how many fields were added.

      iex> FerricStore.hset("user:7", %{"name" => "ada", "lang" => "elixir"})
      {:ok, 2}
      iex> FerricStore.hget("user:7", "name")
      {:ok, "ada"}
      iex> FerricStore.hgetall("user:7")
      {:ok, %{"lang" => "elixir", "name" => "ada"}}
      iex> FerricStore.hincrby("user:7", "logins", 3)
      {:ok, 3}
  """
  @spec hset(key(), map() | [{binary(), value()}], opts()) :: {:ok, non_neg_integer()} | error()
  def hset(key, fields, opts \\ []) do
    with :ok <- Check.bins([key], here(), "key must be a binary"),
         {:ok, fields} <- Check.pairs(fields, here(), "fields must be {field, value} binaries"),
         :ok <- some(fields, "hset"),
         do: Hashes.hset(name!(opts), key, fields)
  end

  @doc "Sets `field` only if it does not exist: `{:ok, true}` when set."
  @spec hsetnx(key(), binary(), value(), opts()) :: {:ok, boolean()} | error()
  def hsetnx(key, field, value, opts \\ []) do
    with :ok <- Check.bins([key, field, value], here(), "key, field and value must be binaries"),
         do: bool(Hashes.hsetnx(name!(opts), key, field, value))
  end

  @doc "The value of `field`, or nil."
  @spec hget(key(), binary(), opts()) :: {:ok, value() | nil} | error()
  def hget(key, field, opts \\ []),
    do: Hashes.hget(name!(opts), key_arg!(key, here()), field_arg!(field, here()))

  @doc "The values of `fields` (nil for missing ones)."
  @spec hmget(key(), [binary()], opts()) :: {:ok, [value() | nil]} | error()
  def hmget(key, fields, opts \\ []),
    do: Hashes.hmget(name!(opts), key_arg!(key, here()), fields_arg!(fields, here()))

  @doc "Every field and value, as a map (`%{}` for a missing key)."
  @spec hgetall(key(), opts()) :: {:ok, %{binary() => value()}} | error()
  def hgetall(key, opts \\ []),
    do:
      with(
        {:ok, pairs} <- Hashes.hgetall(name!(opts), key_arg!(key, here())),
        do: {:ok, Map.new(pairs)}
      )

  @doc "Deletes fields; returns how many existed."
  @spec hdel(key(), binary() | [binary()], opts()) :: {:ok, non_neg_integer()} | error()
  def hdel(key, fields, opts \\ []) do
    key = key_arg!(key, here())
    fields = fields_arg!(wrap_arg!(fields, here(), "fields must be binaries"), here())
    with :ok <- some(fields, "hdel"), do: Hashes.hdel(name!(opts), key, fields)
  end

  @doc "Does `field` exist?"
  @spec hexists(key(), binary(), opts()) :: {:ok, boolean()} | error()
  def hexists(key, field, opts \\ []),
    do: Hashes.hexists(name!(opts), key_arg!(key, here()), field_arg!(field, here()))

  @doc "Number of fields."
  @spec hlen(key(), opts()) :: {:ok, non_neg_integer()} | error()
  def hlen(key, opts \\ []), do: Hashes.hlen(name!(opts), key_arg!(key, here()))

  @doc "Every field name (in field order)."
  @spec hkeys(key(), opts()) :: {:ok, [binary()]} | error()
  def hkeys(key, opts \\ []), do: Hashes.hkeys(name!(opts), key_arg!(key, here()))

  @doc "Every value (in field order)."
  @spec hvals(key(), opts()) :: {:ok, [value()]} | error()
  def hvals(key, opts \\ []), do: Hashes.hvals(name!(opts), key_arg!(key, here()))

  @doc "Length of the value of `field` (0 when missing)."
  @spec hstrlen(key(), binary(), opts()) :: {:ok, non_neg_integer()} | error()
  def hstrlen(key, field, opts \\ []),
    do: Hashes.hstrlen(name!(opts), key_arg!(key, here()), field_arg!(field, here()))

  @doc "Increments the integer value of `field` by `by`."
  @spec hincrby(key(), binary(), integer(), opts()) :: {:ok, integer()} | error()
  def hincrby(key, field, by, opts \\ []) do
    with :ok <- Check.bins([key, field], here(), "key and field must be binaries"),
         do: Hashes.hincrby(name!(opts), key, field, Check.int!(by, here(), "by"))
  end

  @doc """
  Increments the float value of `field` by `by`; returns the new value, or the stored
  digit string when it is beyond a float (as `incrbyfloat/3`).
  """
  @spec hincrbyfloat(key(), binary(), number() | binary(), opts()) ::
          {:ok, float() | binary()} | error()
  def hincrbyfloat(key, field, by, opts \\ []) do
    by = float_arg!(by, here())

    with :ok <- Check.bins([key, field], here(), "key and field must be binaries"),
         {:ok, text} <- Hashes.hincrbyfloat(name!(opts), key, field, by),
         do: {:ok, to_float(text)}
  end

  @doc """
  Random fields: one field (or nil) without `count:`; with `count: n` up to n distinct
  fields (n > 0) or abs(n) fields that may repeat (n < 0, at most
  #{Check.max_picks()} of them: the list is built in memory). `with_values: true`
  returns `{field, value}` pairs.
  """
  @spec hrandfield(key(), opts()) :: {:ok, binary() | nil | list()} | error()
  def hrandfield(key, opts \\ []) do
    name = name!(opts, [:count, :with_values])
    key = key_arg!(key, here())

    with {:ok, count} <- Check.rand_count(opts[:count], here()),
         do:
           Hashes.hrandfield(
             name,
             key,
             count,
             opts[:with_values] == true
           )
  end

  # HSCAN/SSCAN/ZSCAN (Commands.Collection.scan/6).
  @collection_scan """
  A full iteration returns every member present from its start to its end at least once
  (one may come twice), as in Redis. A cursor names the next member to return; the shard
  keeps its newest 10,000, and an older or unknown cursor starts the iteration over.
  """

  @doc """
  One step of an iteration over the fields: `{:ok, {next_cursor, [{field, value}]}}`
  (`match:`, `count:`); start with cursor 0 and stop when it comes back 0. #{@collection_scan}
  """
  @spec hscan(key(), non_neg_integer(), opts()) ::
          {:ok, {non_neg_integer(), [{binary(), value()}]}} | error()
  def hscan(key, cursor, opts \\ []) do
    key = key_arg!(key, here())
    cursor = cursor_arg!(cursor, here())
    name = name!(opts, [:match, :count])
    with {:ok, opts} <- scan_opts(opts, here()), do: Hashes.hscan(name, key, cursor, opts)
  end

  ## Lists

  @doc """
  Pushes elements (one or a list) at the head of the list; returns its new length.

      iex> FerricStore.rpush("queue", ["a", "b"])
      {:ok, 2}
      iex> FerricStore.lpush("queue", "z")
      {:ok, 3}
      iex> FerricStore.lrange("queue", 0, -1)
      {:ok, ["z", "a", "b"]}
      iex> FerricStore.rpop("queue")
      {:ok, "b"}
      iex> FerricStore.lpop("queue", count: 5)
      {:ok, ["z", "a"]}
  """
  @spec lpush(key(), value() | [value()], opts()) :: {:ok, non_neg_integer()} | error()
  def lpush(key, elems, opts \\ []) do
    elems = wrap_arg!(elems, here(), "values must be binaries")

    with :ok <- Check.bins([key], here(), "key must be a binary"),
         :ok <- Check.bins(elems, here(), "values must be binaries"),
         :ok <- some(elems, "lpush"),
         do: Lists.lpush(name!(opts), key, elems)
  end

  @doc "Pushes elements at the tail of the list; returns its new length."
  @spec rpush(key(), value() | [value()], opts()) :: {:ok, non_neg_integer()} | error()
  def rpush(key, elems, opts \\ []) do
    elems = wrap_arg!(elems, here(), "values must be binaries")

    with :ok <- Check.bins([key], here(), "key must be a binary"),
         :ok <- Check.bins(elems, here(), "values must be binaries"),
         :ok <- some(elems, "rpush"),
         do: Lists.rpush(name!(opts), key, elems)
  end

  @doc "Like `lpush/3`, only if the list exists (0 otherwise)."
  @spec lpushx(key(), value() | [value()], opts()) :: {:ok, non_neg_integer()} | error()
  def lpushx(key, elems, opts \\ []) do
    elems = wrap_arg!(elems, here(), "values must be binaries")

    with :ok <- Check.bins([key], here(), "key must be a binary"),
         :ok <- Check.bins(elems, here(), "values must be binaries"),
         :ok <- some(elems, "lpushx"),
         do: Lists.lpushx(name!(opts), key, elems)
  end

  @doc "Like `rpush/3`, only if the list exists (0 otherwise)."
  @spec rpushx(key(), value() | [value()], opts()) :: {:ok, non_neg_integer()} | error()
  def rpushx(key, elems, opts \\ []) do
    elems = wrap_arg!(elems, here(), "values must be binaries")

    with :ok <- Check.bins([key], here(), "key must be a binary"),
         :ok <- Check.bins(elems, here(), "values must be binaries"),
         :ok <- some(elems, "rpushx"),
         do: Lists.rpushx(name!(opts), key, elems)
  end

  @doc "Pops the first element (or nil); with `count: n` a list of up to n elements (nil when missing)."
  @spec lpop(key(), opts()) :: {:ok, value() | [value()] | nil} | error()
  def lpop(key, opts \\ []) do
    name = name!(opts, [:count])
    key = key_arg!(key, here())

    with {:ok, count} <- Check.pop_count(opts[:count], here()),
         do: Lists.lpop(name, key, count)
  end

  @doc "Pops the last element (or nil); with `count: n` a list of up to n elements."
  @spec rpop(key(), opts()) :: {:ok, value() | [value()] | nil} | error()
  def rpop(key, opts \\ []) do
    name = name!(opts, [:count])
    key = key_arg!(key, here())

    with {:ok, count} <- Check.pop_count(opts[:count], here()),
         do: Lists.rpop(name, key, count)
  end

  @doc "Length of the list (0 when missing)."
  @spec llen(key(), opts()) :: {:ok, non_neg_integer()} | error()
  def llen(key, opts \\ []), do: Lists.llen(name!(opts), key_arg!(key, here()))

  @doc "Elements between `start` and `stop` (inclusive, negative from the end)."
  @spec lrange(key(), integer(), integer(), opts()) :: {:ok, [value()]} | error()
  def lrange(key, start, stop, opts \\ []) do
    Lists.lrange(
      name!(opts),
      key_arg!(key, here()),
      Check.int!(start, here(), "start"),
      Check.int!(stop, here(), "stop")
    )
  end

  @doc "The element at `index` (negative from the end), or nil."
  @spec lindex(key(), integer(), opts()) :: {:ok, value() | nil} | error()
  def lindex(key, index, opts \\ []),
    do: Lists.lindex(name!(opts), key_arg!(key, here()), Check.int!(index, here(), "index"))

  @doc "Sets the element at `index`."
  @spec lset(key(), integer(), value(), opts()) :: :ok | error()
  def lset(key, index, elem, opts \\ []) do
    index = Check.int!(index, here(), "index")

    with :ok <- Check.bins([key, elem], here(), "key and value must be binaries"),
         do: Lists.lset(name!(opts), key, index, elem)
  end

  @doc "Inserts `elem` `:before` or `:after` the first `pivot`; the new length, -1 without pivot."
  @spec linsert(key(), :before | :after, value(), value(), opts()) :: {:ok, integer()} | error()
  def linsert(key, where, pivot, elem, opts \\ []) when where in [:before, :after] do
    with :ok <- Check.bins([key, pivot, elem], here(), "key, pivot and value must be binaries"),
         do: Lists.linsert(name!(opts), key, where, pivot, elem)
  end

  @doc "Removes `count` occurrences of `elem` (from the tail if negative, all if 0)."
  @spec lrem(key(), integer(), value(), opts()) :: {:ok, non_neg_integer()} | error()
  def lrem(key, count, elem, opts \\ []) do
    count = Check.int!(count, here(), "count")

    with :ok <- Check.bins([key, elem], here(), "key and value must be binaries"),
         do: Lists.lrem(name!(opts), key, count, elem)
  end

  @doc "Keeps only the elements between `start` and `stop`."
  @spec ltrim(key(), integer(), integer(), opts()) :: :ok | error()
  def ltrim(key, start, stop, opts \\ []) do
    Lists.ltrim(
      name!(opts),
      key_arg!(key, here()),
      Check.int!(start, here(), "start"),
      Check.int!(stop, here(), "stop")
    )
  end

  @doc """
  Position of `elem` (nil); options `rank:` (not 0; negative from the tail), `count:`
  (a list of positions, 0: all), `maxlen:` (0: no limit).
  """
  @spec lpos(key(), value(), opts()) :: {:ok, integer() | [integer()] | nil} | error()
  def lpos(key, elem, opts \\ []) do
    name = name!(opts, [:rank, :count, :maxlen])
    key = key_arg!(key, here())
    elem = Check.key!(elem, here(), "value")
    rank = Check.int_opt(opts, :rank, here())
    count = Check.int_opt(opts, :count, here())
    maxlen = Check.int_opt(opts, :maxlen, here())

    cond do
      rank == 0 ->
        {:error,
         FerricStore.Error.new(
           :syntax,
           "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
         )}

      count != nil and count < 0 ->
        {:error, FerricStore.Error.new(:syntax, "ERR COUNT can't be negative")}

      maxlen != nil and maxlen < 0 ->
        {:error, FerricStore.Error.new(:syntax, "ERR MAXLEN can't be negative")}

      true ->
        Lists.lpos(name, key, elem,
          rank: rank || 1,
          count: count,
          maxlen: maxlen || 0
        )
    end
  end

  @doc "Atomically pops from `src` (`:left`/`:right`) and pushes to `dst`; the element or nil."
  @spec lmove(key(), key(), :left | :right, :left | :right, opts()) ::
          {:ok, value() | nil} | error()
  def lmove(src, dst, from, to, opts \\ [])
      when from in [:left, :right] and to in [:left, :right] do
    with :ok <- Check.bins([src, dst], here(), "keys must be binaries"),
         do: Lists.lmove(name!(opts), src, dst, from, to)
  end

  @doc "`lmove(src, dst, :right, :left)`."
  @spec rpoplpush(key(), key(), opts()) :: {:ok, value() | nil} | error()
  def rpoplpush(src, dst, opts \\ []) do
    with :ok <- Check.bins([src, dst], here(), "keys must be binaries"),
         do: Lists.rpoplpush(name!(opts), src, dst)
  end

  @doc """
  Pops up to `count:` elements (default 1; 0 or less is Redis' "count should be greater
  than 0") from the `:left` or `:right` of the first list among `keys` (a key or a list):
  `{key, elements}`, or nil when no key holds a list. A key of another type before that
  list is a WRONGTYPE error (keys after it are not looked at). The pop is one atomic
  write, so every key must live on one shard (a CROSSSLOT error otherwise; use hash tags
  such as `{jobs}:high`).

      iex> FerricStore.rpush("jobs:low", ["a", "b", "c"])
      {:ok, 3}
      iex> FerricStore.lmpop(["jobs:high", "jobs:low"], :left, count: 2)
      {:ok, {"jobs:low", ["a", "b"]}}
      iex> FerricStore.lmpop("jobs:high", :right)
      {:ok, nil}
  """
  @spec lmpop(key() | [key()], :left | :right, opts()) ::
          {:ok, {key(), [value()]} | nil} | error()
  def lmpop(keys, side, opts \\ []) do
    name = name!(opts, [:count])
    keys = nonempty_arg!(keys, here())
    side = Check.side!(side, [:left, :right], here())

    with {:ok, count} <- Check.mpop_count(opts[:count], here()),
         do: Lists.lmpop(name, keys, side, count)
  end

  ## Sets

  @doc """
  Adds members (one or a list); returns how many were new.

      iex> FerricStore.sadd("tags", ["elixir", "redis", "elixir"])
      {:ok, 2}
      iex> FerricStore.sismember("tags", "redis")
      {:ok, true}
      iex> FerricStore.smembers("tags")
      {:ok, ["elixir", "redis"]}
  """
  @spec sadd(key(), binary() | [binary()], opts()) :: {:ok, non_neg_integer()} | error()
  def sadd(key, members, opts \\ []) do
    members = wrap_arg!(members, here(), "members must be binaries")

    with :ok <- Check.bins([key], here(), "key must be a binary"),
         :ok <- Check.bins(members, here(), "members must be binaries"),
         :ok <- some(members, "sadd"),
         do: Sets.sadd(name!(opts), key, members)
  end

  @doc "Removes members; returns how many existed."
  @spec srem(key(), binary() | [binary()], opts()) :: {:ok, non_neg_integer()} | error()
  def srem(key, members, opts \\ []) do
    members = wrap_arg!(members, here(), "members must be binaries")

    with :ok <- Check.bins([key], here(), "key must be a binary"),
         :ok <- Check.bins(members, here(), "members must be binaries"),
         :ok <- some(members, "srem"),
         do: Sets.srem(name!(opts), key, members)
  end

  @doc "Every member (in member order)."
  @spec smembers(key(), opts()) :: {:ok, [binary()]} | error()
  def smembers(key, opts \\ []), do: Sets.smembers(name!(opts), key_arg!(key, here()))

  @doc "Is `member` in the set?"
  @spec sismember(key(), binary(), opts()) :: {:ok, boolean()} | error()
  def sismember(key, member, opts \\ []),
    do: Sets.sismember(name!(opts), key_arg!(key, here()), member_arg!(member, here()))

  @doc "Membership of each of `members`."
  @spec smismember(key(), [binary()], opts()) :: {:ok, [boolean()]} | error()
  def smismember(key, members, opts \\ []),
    do: Sets.smismember(name!(opts), key_arg!(key, here()), members_arg!(members, here()))

  @doc "Number of members."
  @spec scard(key(), opts()) :: {:ok, non_neg_integer()} | error()
  def scard(key, opts \\ []), do: Sets.scard(name!(opts), key_arg!(key, here()))

  @doc "Removes and returns a random member (or nil); with `count: n` a list."
  @spec spop(key(), opts()) :: {:ok, binary() | [binary()] | nil} | error()
  def spop(key, opts \\ []) do
    name = name!(opts, [:count])
    key = key_arg!(key, here())

    with {:ok, count} <- Check.pop_count(opts[:count], here()),
         do: Sets.spop(name, key, count)
  end

  @doc """
  A random member (or nil); with `count: n` distinct (n > 0) or repeating (n < 0, at
  most #{Check.max_picks()}: the list is built in memory) members.
  """
  @spec srandmember(key(), opts()) :: {:ok, binary() | [binary()] | nil} | error()
  def srandmember(key, opts \\ []) do
    name = name!(opts, [:count])
    key = key_arg!(key, here())

    with {:ok, count} <- Check.rand_count(opts[:count], here()),
         do: Sets.srandmember(name, key, count)
  end

  @doc "Atomically moves `member` from `src` to `dst`: `{:ok, true}` when moved."
  @spec smove(key(), key(), binary(), opts()) :: {:ok, boolean()} | error()
  def smove(src, dst, member, opts \\ []) do
    with :ok <- Check.bins([src, dst, member], here(), "keys and member must be binaries"),
         do: bool(Sets.smove(name!(opts), src, dst, member))
  end

  @doc "Members in every set of `keys`."
  @spec sinter([key()], opts()) :: {:ok, [binary()]} | error()
  def sinter(keys, opts \\ []), do: Sets.sinter(name!(opts), nonempty_arg!(keys, here()))

  @doc "Members in any set of `keys`."
  @spec sunion([key()], opts()) :: {:ok, [binary()]} | error()
  def sunion(keys, opts \\ []), do: Sets.sunion(name!(opts), nonempty_arg!(keys, here()))

  @doc "Members of the first set in none of the others."
  @spec sdiff([key()], opts()) :: {:ok, [binary()]} | error()
  def sdiff(keys, opts \\ []), do: Sets.sdiff(name!(opts), nonempty_arg!(keys, here()))

  @doc "Stores `sinter(keys)` at `dst`; returns its size."
  @spec sinterstore(key(), [key()], opts()) :: {:ok, non_neg_integer()} | error()
  def sinterstore(dst, keys, opts \\ []) do
    keys = nonempty_arg!(keys, here())

    with :ok <- Check.bins([dst], here(), "dst must be a binary"),
         do: Sets.sinterstore(name!(opts), dst, keys)
  end

  @doc "Stores `sunion(keys)` at `dst`; returns its size."
  @spec sunionstore(key(), [key()], opts()) :: {:ok, non_neg_integer()} | error()
  def sunionstore(dst, keys, opts \\ []) do
    keys = nonempty_arg!(keys, here())

    with :ok <- Check.bins([dst], here(), "dst must be a binary"),
         do: Sets.sunionstore(name!(opts), dst, keys)
  end

  @doc "Stores `sdiff(keys)` at `dst`; returns its size."
  @spec sdiffstore(key(), [key()], opts()) :: {:ok, non_neg_integer()} | error()
  def sdiffstore(dst, keys, opts \\ []) do
    keys = nonempty_arg!(keys, here())

    with :ok <- Check.bins([dst], here(), "dst must be a binary"),
         do: Sets.sdiffstore(name!(opts), dst, keys)
  end

  @doc "Size of the intersection of `keys`, stopping at `limit:` (0: no limit)."
  @spec sintercard([key()], opts()) :: {:ok, non_neg_integer()} | error()
  def sintercard(keys, opts \\ []), do: intercard(keys, opts, here(), &Sets.sintercard/3)

  # SINTERCARD and ZINTERCARD: the `limit:` option, then `count.(name, keys, limit)`.
  defp intercard(keys, opts, fun, count) do
    name = Check.opts!(opts, fun, [:limit])
    keys = nonempty_arg!(keys, fun)

    case Check.int_opt(opts, :limit, fun) || 0 do
      limit when limit < 0 ->
        {:error, FerricStore.Error.new(:out_of_range, "ERR LIMIT can't be negative")}

      limit ->
        count.(name, keys, limit)
    end
  end

  @doc """
  One step of an iteration over the members: `{:ok, {next_cursor, members}}` (`match:`,
  `count:`); start with cursor 0 and stop when it comes back 0. #{@collection_scan}
  """
  @spec sscan(key(), non_neg_integer(), opts()) ::
          {:ok, {non_neg_integer(), [binary()]}} | error()
  def sscan(key, cursor, opts \\ []) do
    key = key_arg!(key, here())
    cursor = cursor_arg!(cursor, here())
    name = name!(opts, [:match, :count])
    with {:ok, opts} <- scan_opts(opts, here()), do: Sets.sscan(name, key, cursor, opts)
  end

  ## Sorted sets

  @doc """
  Adds or updates members from `{score, member}` pairs (or a `%{member => score}` map);
  returns how many were added. Scores are numbers, `:inf` or `:neg_inf` (and are
  returned as floats or those atoms). Options: `nx:`, `xx:`, `gt:`, `lt:`, `ch:` (count
  changed members too), `incr:` (one pair; returns the new score or nil).

      iex> FerricStore.zadd("board", [{10, "ada"}, {7.5, "bob"}])
      {:ok, 2}
      iex> FerricStore.zadd("board", [{5, "ada"}], gt: true, ch: true)
      {:ok, 0}
      iex> FerricStore.zrange("board", 0, -1, with_scores: true)
      {:ok, [{"bob", 7.5}, {"ada", 10.0}]}
      iex> FerricStore.zrange("board", 8, :inf, by: :score)
      {:ok, ["ada"]}
      iex> FerricStore.zrank("board", "ada")
      {:ok, 1}
  """
  @spec zadd(key(), [{score(), binary()}] | %{binary() => score()}, opts()) ::
          {:ok, non_neg_integer() | score() | nil} | error()
  def zadd(key, pairs, opts \\ []) do
    name = name!(opts, [:nx, :xx, :gt, :lt, :ch, :incr])
    pairs = if is_map(pairs), do: Enum.map(pairs, fn {m, s} -> {s, m} end), else: pairs
    flags = for f <- [:nx, :xx, :gt, :lt, :ch, :incr], opts[f] == true, do: {f, true}

    with :ok <- Check.bins([key], here(), "key must be a binary"),
         {:ok, pairs} <- zpairs(pairs, [], here()),
         :ok <- zadd_some(pairs, flags),
         :ok <- zadd_check(flags, pairs),
         do: ZSets.zadd(name, key, pairs, flags)
  end

  @doc "Increments the score of `member` by `by`; returns the new score."
  @spec zincrby(key(), score(), binary(), opts()) :: {:ok, score()} | error()
  def zincrby(key, by, member, opts \\ []) do
    with :ok <- Check.bins([key, member], here(), "key and member must be binaries"),
         {:ok, by} <- zscore_arg(score_arg!(by, here())),
         do: ZSets.zincrby(name!(opts), key, by, member)
  end

  @doc "Removes members; returns how many existed."
  @spec zrem(key(), binary() | [binary()], opts()) :: {:ok, non_neg_integer()} | error()
  def zrem(key, members, opts \\ []) do
    key = key_arg!(key, here())
    members = members_arg!(wrap_arg!(members, here(), "members must be binaries"), here())
    with :ok <- some(members, "zrem"), do: ZSets.zrem(name!(opts), key, members)
  end

  @doc "The score of `member`, or nil."
  @spec zscore(key(), binary(), opts()) :: {:ok, score() | nil} | error()
  def zscore(key, member, opts \\ []),
    do: ZSets.zscore(name!(opts), key_arg!(key, here()), member_arg!(member, here()))

  @doc "The scores of `members` (nil for missing ones)."
  @spec zmscore(key(), [binary()], opts()) :: {:ok, [score() | nil]} | error()
  def zmscore(key, members, opts \\ []),
    do: ZSets.zmscore(name!(opts), key_arg!(key, here()), members_arg!(members, here()))

  @doc "Number of members."
  @spec zcard(key(), opts()) :: {:ok, non_neg_integer()} | error()
  def zcard(key, opts \\ []), do: ZSets.zcard(name!(opts), key_arg!(key, here()))

  @doc """
  Number of members with a score between `min` and `max`: numbers, `:inf`, `:neg_inf`,
  `{:exclusive, score}` or Redis' syntax as a string (`"(1.5"`, `"-inf"`).
  """
  @spec zcount(key(), score_bound(), score_bound(), opts()) ::
          {:ok, non_neg_integer()} | error()
  def zcount(key, min, max, opts \\ []) do
    key = key_arg!(key, here())

    with {:ok, min} <- zbound(:score, min),
         {:ok, max} <- zbound(:score, max),
         do: ZSets.zcount(name!(opts), key, min, max)
  end

  @doc "Number of members between two lex bounds in Redis' syntax (`\"[a\"`, `\"(b\"`, `\"-\"`, `\"+\"`)."
  @spec zlexcount(key(), binary(), binary(), opts()) :: {:ok, non_neg_integer()} | error()
  def zlexcount(key, min, max, opts \\ []) do
    key = key_arg!(key, here())

    with {:ok, min} <- zbound(:lex, min),
         {:ok, max} <- zbound(:lex, max),
         do: ZSets.zlexcount(name!(opts), key, min, max)
  end

  @doc "0-based rank of `member` by ascending score, or nil."
  @spec zrank(key(), binary(), opts()) :: {:ok, non_neg_integer() | nil} | error()
  def zrank(key, member, opts \\ []),
    do: ZSets.zrank(name!(opts), key_arg!(key, here()), member_arg!(member, here()))

  @doc "0-based rank of `member` by descending score, or nil."
  @spec zrevrank(key(), binary(), opts()) :: {:ok, non_neg_integer() | nil} | error()
  def zrevrank(key, member, opts \\ []),
    do: ZSets.zrank(name!(opts), key_arg!(key, here()), member_arg!(member, here()), true)

  @doc """
  Members between `min` and `max`: ranks (default), scores (`by: :score`, bounds as in
  `zcount/4`) or lex bounds (`by: :lex`). `rev: true` walks from the highest (bounds
  stay `min`, `max`), `limit: {offset, count}` (by score or lex), `with_scores: true`
  returns `{member, score}` pairs.
  """
  @spec zrange(key(), term(), term(), opts()) ::
          {:ok, [binary()] | [{binary(), score()}]} | error()
  def zrange(key, min, max, opts \\ []) do
    name = name!(opts, [:by, :rev, :limit, :with_scores])
    key = key_arg!(key, here())

    with {:ok, spec} <- zspec(min, max, opts, here()),
         {:ok, items} <- ZSets.zrange(name, key, spec) do
      {:ok, if(opts[:with_scores], do: items, else: Enum.map(items, &elem(&1, 0)))}
    end
  end

  @doc "Stores `zrange(src, min, max, opts)` at `dst`; returns its size."
  @spec zrangestore(key(), key(), term(), term(), opts()) :: {:ok, non_neg_integer()} | error()
  def zrangestore(dst, src, min, max, opts \\ []) do
    name = name!(opts, [:by, :rev, :limit])

    with :ok <- Check.bins([dst, src], here(), "keys must be binaries"),
         {:ok, spec} <- zspec(min, max, opts, here()),
         do: ZSets.zrangestore(name, dst, src, spec)
  end

  @doc "Removes the members ranked `start`..`stop`; returns how many."
  @spec zremrangebyrank(key(), integer(), integer(), opts()) ::
          {:ok, non_neg_integer()} | error()
  def zremrangebyrank(key, start, stop, opts \\ []) do
    key = key_arg!(key, here())

    with {:ok, spec} <- zspec(start, stop, [by: :rank], here()),
         do: ZSets.zremrange(name!(opts), key, spec)
  end

  @doc "Removes the members with a score between `min` and `max`; returns how many."
  @spec zremrangebyscore(key(), score_bound(), score_bound(), opts()) ::
          {:ok, non_neg_integer()} | error()
  def zremrangebyscore(key, min, max, opts \\ []) do
    key = key_arg!(key, here())

    with {:ok, spec} <- zspec(min, max, [by: :score], here()),
         do: ZSets.zremrange(name!(opts), key, spec)
  end

  @doc "Removes the members between two lex bounds; returns how many."
  @spec zremrangebylex(key(), binary(), binary(), opts()) :: {:ok, non_neg_integer()} | error()
  def zremrangebylex(key, min, max, opts \\ []) do
    key = key_arg!(key, here())

    with {:ok, spec} <- zspec(min, max, [by: :lex], here()),
         do: ZSets.zremrange(name!(opts), key, spec)
  end

  @doc "Pops the member with the lowest score: `[{member, score}]`, up to `count:` (default 1)."
  @spec zpopmin(key(), opts()) :: {:ok, [{binary(), score()}]} | error()
  def zpopmin(key, opts \\ []) do
    name = name!(opts, [:count])
    key = key_arg!(key, here())

    with {:ok, count} <- Check.pop_count(opts[:count] || 1, here()),
         do: ZSets.zpopmin(name, key, count)
  end

  @doc "Pops the member with the highest score: `[{member, score}]`, up to `count:` (default 1)."
  @spec zpopmax(key(), opts()) :: {:ok, [{binary(), score()}]} | error()
  def zpopmax(key, opts \\ []) do
    name = name!(opts, [:count])
    key = key_arg!(key, here())

    with {:ok, count} <- Check.pop_count(opts[:count] || 1, here()),
         do: ZSets.zpopmax(name, key, count)
  end

  @doc """
  Pops up to `count:` members (default 1; 0 or less is Redis' "count should be greater
  than 0") with the lowest (`:min`) or highest (`:max`) scores from the first sorted set
  among `keys` (a key or a list): `{key, [{member, score}]}`, or nil when no key holds a
  sorted set. A key of another type (a set too) before it is a WRONGTYPE error. As
  `lmpop/3`, every key must live on one shard.

      iex> FerricStore.zadd("board", [{10, "ada"}, {7.5, "bob"}, {3, "cy"}])
      {:ok, 3}
      iex> FerricStore.zmpop(["empty", "board"], :max, count: 2)
      {:ok, {"board", [{"ada", 10.0}, {"bob", 7.5}]}}
      iex> FerricStore.zmpop("empty", :min)
      {:ok, nil}
  """
  @spec zmpop(key() | [key()], :min | :max, opts()) ::
          {:ok, {key(), [{binary(), score()}]} | nil} | error()
  def zmpop(keys, side, opts \\ []) do
    name = name!(opts, [:count])
    keys = nonempty_arg!(keys, here())
    dir = if Check.side!(side, [:min, :max], here()) == :min, do: :asc, else: :desc

    with {:ok, count} <- Check.mpop_count(opts[:count], here()),
         do: ZSets.zmpop(name, keys, dir, count)
  end

  @doc """
  A random member (or nil); with `count: n` a list of `{member, score}` pairs, distinct
  (n > 0) or repeating (n < 0, at most #{Check.max_picks()}: the list is built in memory).
  """
  @spec zrandmember(key(), opts()) :: {:ok, binary() | [{binary(), score()}] | nil} | error()
  def zrandmember(key, opts \\ []) do
    name = name!(opts, [:count])
    key = key_arg!(key, here())

    with {:ok, count} <- Check.rand_count(opts[:count], here()),
         do: ZSets.zrandmember(name, key, count)
  end

  @doc """
  Union of the sorted sets at `keys` as `{member, score}` pairs in score order. Options:
  `weights:` (one number per key), `aggregate:` (`:sum`, `:min`, `:max`).
  """
  @spec zunion([key()], opts()) :: {:ok, [{binary(), score()}]} | error()
  def zunion(keys, opts \\ []),
    do:
      zcombine(
        name!(opts, [:weights, :aggregate]),
        :union,
        nonempty_arg!(keys, here()),
        opts,
        here()
      )

  @doc "Intersection of the sorted sets at `keys` (options as `zunion/2`)."
  @spec zinter([key()], opts()) :: {:ok, [{binary(), score()}]} | error()
  def zinter(keys, opts \\ []),
    do:
      zcombine(
        name!(opts, [:weights, :aggregate]),
        :inter,
        nonempty_arg!(keys, here()),
        opts,
        here()
      )

  @doc """
  Size of the intersection of the sorted sets (or sets) at `keys`, counting no further
  than `limit:` (0, the default: no limit), so a small limit answers early.

      iex> FerricStore.zadd("a", [{1, "x"}, {2, "y"}, {3, "z"}])
      {:ok, 3}
      iex> FerricStore.sadd("b", ["y", "z"])
      {:ok, 2}
      iex> FerricStore.zintercard(["a", "b"])
      {:ok, 2}
      iex> FerricStore.zintercard(["a", "b"], limit: 1)
      {:ok, 1}
  """
  @spec zintercard([key()], opts()) :: {:ok, non_neg_integer()} | error()
  def zintercard(keys, opts \\ []), do: intercard(keys, opts, here(), &ZSets.zintercard/3)

  @doc "Members of the first sorted set in none of the others."
  @spec zdiff([key()], opts()) :: {:ok, [{binary(), score()}]} | error()
  def zdiff(keys, opts \\ []),
    do: zcombine(name!(opts), :diff, nonempty_arg!(keys, here()), opts, here())

  @doc "Stores `zunion(keys, opts)` at `dst`; returns its size."
  @spec zunionstore(key(), [key()], opts()) :: {:ok, non_neg_integer()} | error()
  def zunionstore(dst, keys, opts \\ []) do
    keys = nonempty_arg!(keys, here())

    with :ok <- Check.bins([dst], here(), "dst must be a binary"),
         do: zstore(name!(opts, [:weights, :aggregate]), :union, dst, keys, opts, here())
  end

  @doc "Stores `zinter(keys, opts)` at `dst`; returns its size."
  @spec zinterstore(key(), [key()], opts()) :: {:ok, non_neg_integer()} | error()
  def zinterstore(dst, keys, opts \\ []) do
    keys = nonempty_arg!(keys, here())

    with :ok <- Check.bins([dst], here(), "dst must be a binary"),
         do: zstore(name!(opts, [:weights, :aggregate]), :inter, dst, keys, opts, here())
  end

  @doc "Stores `zdiff(keys)` at `dst`; returns its size."
  @spec zdiffstore(key(), [key()], opts()) :: {:ok, non_neg_integer()} | error()
  def zdiffstore(dst, keys, opts \\ []) do
    keys = nonempty_arg!(keys, here())

    with :ok <- Check.bins([dst], here(), "dst must be a binary"),
         do: zstore(name!(opts), :diff, dst, keys, opts, here())
  end

  @doc """
  One step of an iteration over the members: `{:ok, {next_cursor, [{member, score}]}}`
  (`match:`, `count:`); start with cursor 0 and stop when it comes back 0. #{@collection_scan}
  """
  @spec zscan(key(), non_neg_integer(), opts()) ::
          {:ok, {non_neg_integer(), [{binary(), score()}]}} | error()
  def zscan(key, cursor, opts \\ []) do
    key = key_arg!(key, here())
    cursor = cursor_arg!(cursor, here())
    name = name!(opts, [:match, :count])
    with {:ok, opts} <- scan_opts(opts, here()), do: ZSets.zscan(name, key, cursor, opts)
  end

  defp zcombine(name, op, keys, opts, fun) do
    with {:ok, weights, aggregate} <- zcombine_opts(keys, opts, fun),
         do: ZSets.zcombine(name, op, keys, weights, aggregate)
  end

  defp zstore(name, op, dst, keys, opts, fun) do
    with {:ok, weights, aggregate} <- zcombine_opts(keys, opts, fun),
         do: ZSets.zstore(name, op, dst, keys, weights, aggregate)
  end

  # Redis: one weight per key and AGGREGATE SUM|MIN|MAX, else a syntax error.
  defp zcombine_opts(keys, opts, fun) do
    aggregate = Keyword.get(opts, :aggregate, :sum)

    with {:ok, weights} <- zweights(opts[:weights], fun) do
      if aggregate in [:sum, :min, :max] and (weights == nil or length(weights) == length(keys)),
        do: {:ok, weights, aggregate},
        else: {:error, FerricStore.Error.new(:syntax)}
    end
  end

  defp zweights(nil, _fun), do: {:ok, nil}

  defp zweights(ws, fun) when is_list(ws) do
    Enum.reduce_while(Enum.reverse(ws), {:ok, []}, fn w, {:ok, acc} ->
      case zscore_arg(score_arg!(w, fun)) do
        {:ok, w} -> {:cont, {:ok, [w | acc]}}
        error -> {:halt, error}
      end
    end)
  end

  defp zweights(ws, fun), do: Check.bad!(fun, "weights must be a list of numbers", ws)

  defp zpairs([], acc, _fun), do: {:ok, Enum.reverse(acc)}

  defp zpairs([{score, member} | rest], acc, fun) do
    with :ok <- Check.bin(member, fun, "members must be binaries"),
         {:ok, s} <- zscore_arg(score_arg!(score, fun)),
         do: zpairs(rest, [{s, member} | acc], fun)
  end

  defp zpairs(bad, _acc, fun),
    do: Check.bad!(fun, "pairs must be {score, member} tuples", List.first(List.wrap(bad)))

  # A score argument of the API: a number, :inf, :neg_inf or Redis' syntax as a string.
  defp score_arg!(s, _fun) when is_number(s) or is_binary(s) or s in [:inf, :neg_inf], do: s
  defp score_arg!(s, fun), do: Check.bad!(fun, "scores must be numbers, :inf or :neg_inf", s)

  defp zscore_arg(s) when s in [:inf, :neg_inf], do: {:ok, s}
  defp zscore_arg(s) when is_number(s), do: {:ok, s * 1.0}
  defp zscore_arg(s) when is_binary(s), do: ZSets.parse_score(s)
  defp zscore_arg(_), do: {:error, FerricStore.Error.new(:not_float)}

  # ZADD's arity is -4: "ZADD k" and "ZADD k NX" lack arguments; with two flags and no
  # pair the count passes and the missing pair is a syntax error.
  defp zadd_some([], flags) when length(flags) < 2, do: {:error, arity("zadd")}
  defp zadd_some([], _flags), do: {:error, FerricStore.Error.new(:syntax)}
  defp zadd_some(_pairs, _flags), do: :ok

  defp zadd_check(flags, pairs) do
    cond do
      flags[:nx] && flags[:xx] ->
        {:error,
         FerricStore.Error.new(
           :syntax,
           "ERR XX and NX options at the same time are not compatible"
         )}

      (flags[:gt] && flags[:lt]) || (flags[:nx] && (flags[:gt] || flags[:lt])) ->
        {:error,
         FerricStore.Error.new(
           :syntax,
           "ERR GT, LT, and/or NX options at the same time are not compatible"
         )}

      flags[:incr] && length(pairs) != 1 ->
        {:error,
         FerricStore.Error.new(
           :syntax,
           "ERR INCR option supports a single increment-element pair"
         )}

      true ->
        :ok
    end
  end

  defp zspec(min, max, opts, fun) do
    by = Keyword.get(opts, :by, :rank)
    spec = %{by: by, rev: opts[:rev] == true}

    spec =
      case opts[:limit] do
        nil -> {:ok, spec}
        {o, c} when not is_integer(o) or not is_integer(c) -> bad_limit!(opts[:limit], fun)
        {_, -1} when by == :rank -> {:ok, spec}
        _ when by == :rank -> :rank_limit
        {o, _} when o < 0 -> {:ok, Map.put(spec, :limit, {0, 0})}
        {o, c} when c < 0 -> {:ok, Map.put(spec, :limit, {o, -1})}
        limit when is_tuple(limit) -> {:ok, Map.put(spec, :limit, limit)}
        bad -> bad_limit!(bad, fun)
      end

    with {:ok, spec} <- limit_by_rank(spec),
         {:ok, min} <- zbound(by, min),
         {:ok, max} <- zbound(by, max) do
      {:ok, Map.merge(spec, %{min: min, max: max})}
    end
  end

  defp bad_limit!(bad, fun), do: Check.bad!(fun, "limit: must be {offset, count} integers", bad)

  defp limit_by_rank(:rank_limit) do
    {:error,
     FerricStore.Error.new(
       :syntax,
       "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
     )}
  end

  defp limit_by_rank(ok), do: ok

  defp zbound(:rank, i) when is_integer(i), do: {:ok, i}
  defp zbound(:score, {:exclusive, s}), do: with({:ok, s} <- zscore_arg(s), do: {:ok, {false, s}})
  defp zbound(:score, s) when is_binary(s), do: ZSets.score_bound(s)
  defp zbound(:score, s), do: with({:ok, s} <- zscore_arg(s), do: {:ok, {true, s}})
  defp zbound(:lex, s) when is_binary(s), do: ZSets.lex_bound(s)
  defp zbound(_by, _), do: {:error, FerricStore.Error.new(:syntax)}

  defp bool({:ok, n}) when is_integer(n), do: {:ok, n > 0}
  defp bool(other), do: other

  defp to_float(f) when is_float(f), do: f

  # INCRBYFLOAT's result is a long double's digits: one beyond a float stays text.
  defp to_float(text) when is_binary(text) do
    # Float.parse raises for digits past a float's range.
    {f, ""} = Float.parse(text)
    f
  rescue
    ArgumentError -> text
  end

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
    flushdb: 1,
    save: 1,
    compact: 1,
    rename: 3,
    renamenx: 3,
    copy: 3,
    object_encoding: 2,
    randomkey: 1,
    hset: 3,
    hsetnx: 4,
    hget: 3,
    hmget: 3,
    hgetall: 2,
    hdel: 3,
    hexists: 3,
    hlen: 2,
    hkeys: 2,
    hvals: 2,
    hstrlen: 3,
    hincrby: 4,
    hincrbyfloat: 4,
    hrandfield: 2,
    hscan: 3,
    lpush: 3,
    rpush: 3,
    lpushx: 3,
    rpushx: 3,
    lpop: 2,
    rpop: 2,
    llen: 2,
    lrange: 4,
    lindex: 3,
    lset: 4,
    lrem: 4,
    ltrim: 4,
    lpos: 3,
    linsert: 5,
    lmove: 5,
    rpoplpush: 3,
    lmpop: 3,
    sadd: 3,
    srem: 3,
    smembers: 2,
    sismember: 3,
    smismember: 3,
    scard: 2,
    spop: 2,
    srandmember: 2,
    smove: 4,
    sinter: 2,
    sunion: 2,
    sdiff: 2,
    sinterstore: 3,
    sunionstore: 3,
    sdiffstore: 3,
    sintercard: 2,
    sscan: 3,
    zadd: 3,
    zincrby: 4,
    zrem: 3,
    zscore: 3,
    zmscore: 3,
    zcard: 2,
    zcount: 4,
    zlexcount: 4,
    zrank: 3,
    zrevrank: 3,
    zrange: 4,
    zrangestore: 5,
    zremrangebyrank: 4,
    zremrangebyscore: 4,
    zremrangebylex: 4,
    zpopmin: 2,
    zpopmax: 2,
    zmpop: 3,
    zrandmember: 2,
    zunion: 2,
    zinter: 2,
    zdiff: 2,
    zintercard: 2,
    zunionstore: 3,
    zinterstore: 3,
    zdiffstore: 3,
    zscan: 3
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
