defmodule FerricStore.Commands do
  @moduledoc """
  The command registry and dispatcher shared by the RESP server and embedded callers.

  ## Command families

  Each family module (`FerricStore.Commands.Connection`, `...Server`, `...Strings`,
  `...Keyspace`, ...) exports:

    * `commands/0` - a list of specs, one per command, with Redis' COMMAND INFO meaning:

          %{name: "set", arity: -3, flags: ["write", "denyoom"],
            first_key: 1, last_key: 1, step: 1}

      `name` is lowercase; `arity` counts the command name (positive: exactly, negative: at
      least). Optional keys: `acl_categories` (`["@string", ...]`) and `subcommands` (a list
      of specs named `"config|get"`, for container commands: the dispatcher checks the
      subcommand exists and its arity, with Redis' texts).
    * `handle(name, args, ctx)` - `name` lowercase, `args` without the command name (for a
      container command they start with the subcommand as sent), `ctx` a
      `FerricStore.Commands.Context`. Returns a reply term (see `FerricStore.Protocol.RESP`),
      `{reply, new_ctx}`, `{:close, reply}` (reply, then close the connection) or
      `{:close, reply, new_ctx}`.

  Families are looked up at run time (`Code.ensure_loaded?/1`), so one that is not there
  yet is simply absent. The name table is built once and kept in `:persistent_term`.

  ## Dispatch

  `dispatch/2` does what Redis' `processCommand` does before running a command, in the
  same order and with the same texts: unknown command, wrong number of arguments, unknown
  subcommand, then `NOAUTH` unless the command is flagged `no_auth`.
  """

  require Logger

  alias FerricStore.Commands.{Context, Spec}
  alias FerricStore.Error
  alias FerricStore.Protocol.RESP

  @families [
    FerricStore.Commands.Connection,
    FerricStore.Commands.Server,
    FerricStore.Commands.Strings,
    FerricStore.Commands.Keyspace,
    FerricStore.Commands.Hashes,
    FerricStore.Commands.Lists,
    FerricStore.Commands.Sets,
    FerricStore.Commands.ZSets,
    FerricStore.Commands.Objects
  ]

  # Each family's Redis group: the one its data commands' ACL categories are made of
  # (Spec.categories/3; nil where each command lists its own), and the COMMAND DOCS group.
  @groups %{
    FerricStore.Commands.Connection => {nil, "connection"},
    FerricStore.Commands.Server => {nil, "server"},
    FerricStore.Commands.Strings => {"string", "string"},
    FerricStore.Commands.Keyspace => {"keyspace", "generic"},
    FerricStore.Commands.Objects => {"keyspace", "generic"},
    FerricStore.Commands.Hashes => {"hash", "hash"},
    FerricStore.Commands.Lists => {"list", "list"},
    FerricStore.Commands.Sets => {"set", "set"},
    FerricStore.Commands.ZSets => {"sortedset", "sorted-set"}
  }

  @upper_key {__MODULE__, :upper_names}
  @table_key {__MODULE__, :table}

  @type spec :: %{
          required(:name) => String.t(),
          required(:arity) => integer(),
          required(:flags) => [String.t()],
          required(:first_key) => non_neg_integer(),
          required(:last_key) => integer(),
          required(:step) => non_neg_integer(),
          optional(:acl_categories) => [String.t()],
          optional(:group) => String.t(),
          optional(:subcommands) => [spec()]
        }

  @type result :: {RESP.reply(), Context.t()} | {:close, RESP.reply(), Context.t()}

  ## Public API

  # Called through a variable: the embedded API is another module's, and the server
  # commands must compile and answer before it exists.
  @store FerricStore

  @doc """
  The embedded API's `fun` (an arity-1 function taking the options) on `instance`, for
  the server commands (DBSIZE, SAVE, INFO, ...); `{:error, unavailable}` for a listener
  started without a store.
  """
  @spec store(atom(), atom()) :: term()
  def store(fun, instance) do
    if Code.ensure_loaded?(@store) and function_exported?(@store, fun, 1),
      do: apply(@store, fun, [[name: instance]]),
      else: {:error, Error.new(:unavailable)}
  rescue
    ArgumentError -> {:error, Error.new(:unavailable)}
  end

  @doc "The family modules, in lookup order (a name defined twice keeps the first)."
  @spec families() :: [module()]
  def families, do: @families

  @doc """
  Runs one command (`[name | args]`, name in any case) and returns the reply and the
  context to use for the next command.

      iex> ctx = FerricStore.Commands.Context.new(instance: :demo)
      iex> {reply, _ctx} = FerricStore.Commands.dispatch(["PING"], ctx)
      iex> reply
      {:simple, "PONG"}
  """
  @spec dispatch([binary()], Context.t()) :: result()
  def dispatch(command, %Context{} = ctx), do: command |> dispatch_stat(ctx) |> elem(0)

  @typedoc """
  How a dispatched command counts in INFO commandstats: `nil` for an unknown command or
  subcommand (counted in errorstats only, as in Redis), else its name (`"get"`,
  `"config|get"`) and whether it ran or was rejected before running (arity,
  authentication).
  """
  @type stat :: {String.t(), :ran | :rejected} | nil

  @doc "Like `dispatch/2`, with the command's `t:stat/0`."
  @spec dispatch_stat([binary()], Context.t()) :: {result(), stat()}
  def dispatch_stat([name | args], %Context{} = ctx) do
    case lookup_any_case(name) do
      nil ->
        {{unknown_command(name, args), ctx}, nil}

      {module, spec} ->
        with :ok <- check_arity(spec.name, spec.arity, length(args) + 1),
             :ok <- check_subcommand(spec, args),
             :ok <- check_auth(spec, args, ctx) do
          {run(module, spec.name, args, ctx), {stat_name(spec, args), :ran}}
        else
          {:error, %Error{reason: :unknown_subcommand} = error} -> {{error, ctx}, nil}
          {:error, %Error{} = error} -> {{error, ctx}, {stat_name(spec, args), :rejected}}
        end
    end
  end

  def dispatch_stat([], ctx), do: {{Error.new(:syntax, "ERR empty command"), ctx}, nil}

  @doc """
  The name `command` counts under in INFO commandstats and SLOWLOG's flags: the
  command's, or `"container|sub"` for a known subcommand; `nil` for an unknown command.
  """
  @spec stat_name([binary()]) :: String.t() | nil
  def stat_name([name | args]) do
    case lookup_any_case(name) do
      nil -> nil
      {_module, spec} -> stat_name(spec, args)
    end
  end

  def stat_name([]), do: nil

  defp stat_name(%{subcommands: [_ | _] = subs} = spec, [sub | _]) do
    full = spec.name <> "|" <> downcase(sub)
    if Enum.any?(subs, &(&1.name == full)), do: full, else: spec.name
  end

  defp stat_name(spec, _args), do: spec.name

  @doc "The spec and family module of a command (lowercase name), or `nil`."
  @spec lookup(String.t()) :: {module(), spec()} | nil
  def lookup(lname), do: Map.get(table(), lname)

  @doc "Every command spec, sorted by name."
  @spec all() :: [spec()]
  def all, do: table() |> Map.values() |> Enum.map(&elem(&1, 1)) |> Enum.sort_by(& &1.name)

  @doc """
  Rebuilds the name table from the families' `commands/0` (after a family module was
  loaded or changed, e.g. in development). Called on first use.
  """
  @spec reload() :: map()
  def reload do
    table =
      @families
      |> Enum.filter(&(Code.ensure_loaded?(&1) and function_exported?(&1, :commands, 0)))
      |> Enum.flat_map(fn mod ->
        Enum.map(mod.commands(), &{&1.name, {mod, with_groups(&1, Map.fetch!(@groups, mod))}})
      end)
      |> Enum.reverse()
      |> Map.new()

    :persistent_term.put(@upper_key, Map.new(table, fn {name, v} -> {upcase(name), v} end))
    :persistent_term.put(@table_key, table)
    table
  end

  defp with_groups(spec, {category, docs}) do
    spec =
      if category,
        do:
          Map.put_new_lazy(spec, :acl_categories, fn -> Spec.categories(category, spec.flags) end),
        else: spec

    # A command can name its own group (WAIT is "generic" among the server commands).
    case Map.put_new(spec, :group, docs) do
      %{subcommands: subs} = spec ->
        %{spec | subcommands: Enum.map(subs, &with_groups(&1, {category, docs}))}

      spec ->
        spec
    end
  end

  @doc """
  ASCII lowercase, as Redis compares names and options (`strcasecmp`); other bytes pass
  through. An argument already in lower case is returned as it is, without a copy.
  """
  @spec downcase(binary()) :: binary()
  def downcase(bin) do
    if has_byte_in?(bin, ?A, ?Z), do: for(<<c <- bin>>, into: "", do: <<lower(c)>>), else: bin
  end

  @doc "ASCII uppercase (see `downcase/1`): options such as `WITHSCORES` in any case."
  @spec upcase(binary()) :: binary()
  def upcase(bin) do
    if has_byte_in?(bin, ?a, ?z), do: for(<<c <- bin>>, into: "", do: <<upper(c)>>), else: bin
  end

  defp has_byte_in?(<<c, _::binary>>, lo, hi) when c >= lo and c <= hi, do: true
  defp has_byte_in?(<<_, rest::binary>>, lo, hi), do: has_byte_in?(rest, lo, hi)
  defp has_byte_in?(<<>>, _lo, _hi), do: false

  @doc "Redis' `wrong number of arguments` error for `name` (`\"config|get\"` for a subcommand)."
  @spec arity_error(String.t()) :: Error.t()
  def arity_error(name),
    do: Error.new(:wrong_arity, "ERR wrong number of arguments for '#{name}' command")

  ## Helpers

  # Clients send names in upper or lower case: both are looked up as they are before
  # a mixed-case name is lowercased (one map lookup per command in the common case).
  defp lookup_any_case(name) do
    table = table()

    case Map.get(table, name) do
      nil ->
        case Map.get(:persistent_term.get(@upper_key, %{}), name) do
          nil -> Map.get(table, downcase(name))
          found -> found
        end

      found ->
        found
    end
  end

  defp table do
    case :persistent_term.get(@table_key, nil) do
      nil -> reload()
      table -> table
    end
  end

  defp run(module, name, args, ctx) do
    case module.handle(name, args, ctx) do
      {:close, reply} -> {:close, reply, ctx}
      {:close, _reply, %Context{}} = close -> close
      {reply, %Context{} = new_ctx} -> {reply, new_ctx}
      reply -> {reply, ctx}
    end
  rescue
    exception ->
      Logger.error(
        "FerricStore command #{name} failed: " <>
          Exception.format(:error, exception, __STACKTRACE__)
      )

      {Error.new(:internal, "ERR internal error while running '#{name}'"), ctx}
  catch
    :exit, reason ->
      Logger.error("FerricStore command #{name} exited: #{inspect(reason)}")
      {Error.new(:timeout), ctx}
  end

  defp check_arity(name, arity, argc) do
    if arity_ok?(arity, argc), do: :ok, else: {:error, arity_error(name)}
  end

  @doc "Whether `argc` words (the name included) fit Redis' `arity` (negative: at least)."
  @spec arity_ok?(integer(), non_neg_integer()) :: boolean()
  def arity_ok?(arity, argc) when arity >= 0, do: argc == arity
  def arity_ok?(arity, argc), do: argc >= -arity

  defp check_subcommand(%{subcommands: subs} = spec, [sub | rest]) when subs != [] do
    full = spec.name <> "|" <> downcase(sub)

    case Enum.find(subs, &(&1.name == full)) do
      nil ->
        {:error,
         Error.new(
           :unknown_subcommand,
           "ERR unknown subcommand '#{truncate(sub, 128)}'. Try #{upcase(spec.name)} HELP."
         )}

      sub_spec ->
        check_arity(full, sub_spec.arity, length(rest) + 2)
    end
  end

  defp check_subcommand(_spec, _args), do: :ok

  defp check_auth(_spec, _args, %Context{authenticated?: true}), do: :ok

  defp check_auth(spec, _args, _ctx) do
    if "no_auth" in spec.flags,
      do: :ok,
      else: {:error, Error.new(:noauth, "NOAUTH Authentication required.")}
  end

  # Redis 7: "unknown command '%.128s', with args beginning with: " and then each argument
  # as "'arg' " while the list is shorter than 128 bytes (the last one cut to fit).
  defp unknown_command(name, args) do
    shown =
      Enum.reduce_while(args, "", fn arg, acc ->
        if byte_size(acc) < 128,
          do: {:cont, acc <> "'" <> truncate(arg, 128 - byte_size(acc)) <> "' "},
          else: {:halt, acc}
      end)

    Error.new(
      :unknown_command,
      "ERR unknown command '#{truncate(name, 128)}', with args beginning with: " <> shown
    )
  end

  # C's "%.*s" also stops at a NUL byte.
  defp truncate(bin, max) do
    bin = bin |> :binary.split(<<0>>) |> hd()
    if byte_size(bin) > max, do: binary_part(bin, 0, max), else: bin
  end

  defp lower(c) when c in ?A..?Z, do: c + 32
  defp lower(c), do: c
  defp upper(c) when c in ?a..?z, do: c - 32
  defp upper(c), do: c
end
