defmodule FerricStore.Commands.Server do
  @moduledoc """
  Server commands: COMMAND, INFO, TIME, CONFIG, DBSIZE, FLUSHDB, FLUSHALL, ROLE, SHUTDOWN.

  Store data comes from the public embedded API (`FerricStore.dbsize/1`,
  `FerricStore.flushdb/1`, `FerricStore.info/1`) called with `name: ctx.instance`;
  settings from `FerricStore.Server.Config`.
  """

  import FerricStore.Commands.Spec
  require Logger
  alias FerricStore.Commands
  alias FerricStore.Commands.{Args, Glob, Info, Spec}
  alias FerricStore.Error
  alias FerricStore.Server.{Config, Stats}

  @admin_slow ["@admin", "@slow", "@dangerous"]

  @doc false
  def commands do
    [
      Map.put(keyless("command", -1, ~w(loading stale), ["@slow", "@connection"]), :subcommands, [
        keyless("command|count", 2, ~w(loading stale), ["@slow", "@connection"]),
        keyless("command|info", -2, ~w(loading stale), ["@slow", "@connection"]),
        keyless("command|docs", -2, ~w(loading stale), ["@slow", "@connection"]),
        keyless("command|list", -2, ~w(loading stale), ["@slow", "@connection"]),
        keyless("command|getkeys", -4, ~w(loading stale), ["@slow", "@connection"]),
        keyless("command|help", 2, ~w(loading stale), ["@slow", "@connection"])
      ]),
      keyless("info", -1, ~w(loading stale), ["@slow", "@dangerous"]),
      keyless("time", 1, ~w(loading stale fast), ["@fast"]),
      Map.put(keyless("config", -2, [], ["@slow"]), :subcommands, [
        keyless("config|get", -3, ~w(admin noscript loading stale), [
          "@admin",
          "@slow",
          "@dangerous"
        ]),
        keyless("config|set", -4, ~w(admin noscript loading stale), [
          "@admin",
          "@slow",
          "@dangerous"
        ]),
        keyless("config|resetstat", 2, ~w(admin noscript loading stale), [
          "@admin",
          "@slow",
          "@dangerous"
        ]),
        keyless("config|rewrite", 2, ~w(admin noscript loading stale), [
          "@admin",
          "@slow",
          "@dangerous"
        ]),
        keyless("config|help", 2, ~w(loading stale), ["@slow"])
      ]),
      keyless("shutdown", -1, ~w(admin noscript loading stale no_multi allow_busy), [
        "@admin",
        "@slow",
        "@dangerous"
      ]),
      keyless("role", 1, ~w(noscript loading stale fast), ["@admin", "@fast", "@dangerous"]),
      keyless("dbsize", 1, ~w(readonly fast), ["@keyspace", "@read", "@fast"]),
      keyless("flushdb", -1, ~w(write), ["@keyspace", "@write", "@slow", "@dangerous"]),
      keyless("flushall", -1, ~w(write), ["@keyspace", "@write", "@slow", "@dangerous"]),
      keyless("save", 1, ~w(admin noscript no_async_loading no_multi), @admin_slow),
      keyless("bgsave", -1, ~w(admin noscript no_async_loading), @admin_slow),
      keyless("bgrewriteaof", 1, ~w(admin noscript no_async_loading), @admin_slow),
      keyless("lastsave", 1, ~w(loading stale fast), ["@admin", "@fast", "@dangerous"]),
      Map.put(keyless("wait", 3, ~w(noscript), ["@slow", "@connection"]), :group, "generic"),
      Map.put(keyless("slowlog", -2, [], ["@slow"]), :subcommands, [
        keyless("slowlog|get", -2, ~w(admin loading stale), ["@admin", "@slow", "@dangerous"]),
        keyless("slowlog|len", 2, ~w(admin loading stale), ["@admin", "@slow", "@dangerous"]),
        keyless("slowlog|reset", 2, ~w(admin loading stale), ["@admin", "@slow", "@dangerous"]),
        keyless("slowlog|help", 2, ~w(loading stale), ["@slow"])
      ])
    ]
  end

  @doc false
  # Every acknowledged write is already durable (fsynced through the Raft log), so these
  # shorten the next start instead: SAVE and BGSAVE checkpoint every shard (data files
  # fsynced, the log released), BGREWRITEAOF compacts every sealed data file.
  def handle("save", [], ctx) do
    if Config.running?(ctx.instance, :bgsave),
      do: Error.new(:busy, "ERR Background save already in progress"),
      else: saved(ctx.instance, Commands.store(:save, ctx.instance))
  end

  def handle("bgsave", args, ctx) do
    case Enum.map(args, &Commands.downcase/1) do
      opts when opts in [[], ["schedule"]] ->
        instance = ctx.instance

        background(instance, :bgsave, fn -> saved(instance, Commands.store(:save, instance)) end)
        |> case do
          :started -> {:simple, "Background saving started"}
          :running -> Error.new(:busy, "ERR Background save already in progress")
        end

      _ ->
        Error.new(:syntax)
    end
  end

  def handle("bgrewriteaof", [], ctx) do
    instance = ctx.instance

    background(instance, :rewrite, fn ->
      Config.rewritten(instance, Commands.store(:compact, instance))
    end)
    |> case do
      :started ->
        {:simple, "Background append only file rewriting started"}

      :running ->
        Error.new(:busy, "ERR Background append only file rewriting already in progress")
    end
  end

  def handle("lastsave", [], ctx), do: Config.last_save(ctx.instance)

  # A single node has no replicas: WAIT answers 0 at once when it waits for none, else
  # after its timeout (0: until the client goes, as Redis blocks it). A caller that is
  # not a connection (embedded dispatch) cannot block: 0 at once, as Redis answers a
  # client that may not block.
  def handle("wait", [replicas, timeout], ctx) do
    with {:ok, replicas} <- Args.int!(replicas),
         {:ok, timeout} <- wait_timeout(timeout) do
      if replicas > 0 and ctx.peer != nil, do: wait_for_nothing(timeout)
      0
    end
  end

  def handle("command", [], _ctx), do: Enum.map(Commands.all(), &command_info/1)
  def handle("command", [sub | args], ctx), do: command(Commands.downcase(sub), args, ctx)

  def handle("info", args, ctx) do
    sections = if args == [], do: ["default"], else: Enum.map(args, &Commands.downcase/1)
    {:verbatim, "txt", Info.text(sections, ctx)}
  end

  def handle("time", [], _ctx) do
    us = System.os_time(:microsecond)
    [Integer.to_string(div(us, 1_000_000)), Integer.to_string(rem(us, 1_000_000))]
  end

  def handle("config", [sub | args], ctx), do: config(Commands.downcase(sub), args, ctx)

  # The standalone server (the application's default instance, started with
  # FERRICSTORE_SERVER=true) stops as on SIGTERM: the listener closes, the data files
  # are fsynced, the VM exits. Every acknowledged write is already durable, so SAVE and
  # NOSAVE change nothing. Where FerricStore is embedded in another application, the
  # VM is not the server's to stop.
  def handle("shutdown", args, ctx) do
    opts = Enum.map(args, &Commands.downcase/1)

    cond do
      not Enum.all?(opts, &(&1 in ~w(nosave save now force abort))) or
          ("save" in opts and "nosave" in opts) ->
        Error.new(:syntax)

      "abort" in opts and opts != ["abort"] ->
        Error.new(:syntax)

      opts == ["abort"] ->
        Error.new(:shutdown, "ERR No shutdown in progress.")

      not standalone?(ctx) ->
        Error.new(
          :shutdown,
          "ERR SHUTDOWN is not allowed: FerricStore runs embedded in another application"
        )

      true ->
        Logger.warning("FerricStore: SHUTDOWN requested by client #{ctx.client_id}")
        System.stop(0)
        {:close, {:raw, ""}}
    end
  end

  def handle("slowlog", [sub | args], ctx), do: slowlog(Commands.downcase(sub), args, ctx)

  # A single node, always the leader of its shards: a master without replicas.
  def handle("role", [], _ctx), do: ["master", 0, []]

  def handle("dbsize", [], ctx) do
    case Commands.store(:dbsize, ctx.instance) do
      {:ok, n} -> n
      {:error, error} -> error
    end
  end

  def handle(flush, args, ctx) when flush in ["flushdb", "flushall"] do
    if Enum.all?(args, &(Commands.downcase(&1) in ["async", "sync"])) and length(args) <= 1 do
      Commands.store(:flushdb, ctx.instance)
    else
      Error.new(:syntax)
    end
  end

  defp standalone?(ctx),
    do: ctx.instance == FerricStore and Application.get_env(:ferricstore, :server) == true

  ## COMMAND

  defp command("count", [], _ctx), do: length(Commands.all())
  # Every command and subcommand, as Redis lists them; FILTERBY a pattern (matched
  # without case), an ACL category or a module (FerricStore loads none).
  defp command("list", args, _ctx) do
    all = Enum.flat_map(Commands.all(), &[&1 | Map.get(&1, :subcommands, [])])

    case Enum.map(args, &Commands.downcase/1) do
      [] ->
        Enum.map(all, & &1.name)

      ["filterby", "module", _name] ->
        []

      ["filterby", "aclcat", category] ->
        for spec <- all, ("@" <> category) in Map.get(spec, :acl_categories, []), do: spec.name

      ["filterby", "pattern", pattern] ->
        glob = Glob.compile(pattern)
        for spec <- all, Glob.match?(glob, spec.name), do: spec.name

      _ ->
        Error.new(:syntax)
    end
  end

  defp command("info", [], _ctx), do: Enum.map(Commands.all(), &command_info/1)

  defp command("info", names, _ctx) do
    Enum.map(names, fn name ->
      case spec(name) do
        nil -> nil
        spec -> command_info(spec)
      end
    end)
  end

  defp command("docs", names, _ctx) do
    specs =
      if names == [],
        do: Commands.all(),
        else: names |> Enum.map(&spec/1) |> Enum.reject(&is_nil/1)

    {:map, Enum.map(specs, &{&1.name, command_docs(&1)})}
  end

  defp command("help", [], _ctx) do
    help([
      "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "(no subcommand)",
      "    Return details about all Redis commands.",
      "COUNT",
      "    Return the total number of commands in this Redis server.",
      "LIST",
      "    Return a list of all commands in this Redis server.",
      "INFO [<command-name> ...]",
      "    Return details about multiple Redis commands.",
      "    If no command names are given, documentation details for all",
      "    commands are returned.",
      "DOCS [<command-name> ...]",
      "    Return documentation details about multiple Redis commands.",
      "    If no command names are given, documentation details for all",
      "    commands are returned.",
      "GETKEYS <full-command>",
      "    Return the keys from a full Redis command.",
      "HELP",
      "    Prints this help."
    ])
  end

  # The keys of a full command by its spec (a container's by its subcommand's), with
  # Redis' errors for a command that does not exist, has the wrong arity or takes no keys.
  defp command("getkeys", [name | args] = full, _ctx) do
    spec =
      case {spec(name), args} do
        {%{subcommands: [_ | _]}, [sub | _]} -> spec(name <> "|" <> sub)
        {spec, _} -> spec
      end

    cond do
      spec == nil ->
        Error.new(:syntax, "ERR Invalid command specified")

      # As Redis: a command without keys says so before its arity is checked.
      spec.first_key == 0 and "movablekeys" not in spec.flags ->
        Error.new(:syntax, "ERR The command has no key arguments")

      not Commands.arity_ok?(spec.arity, length(full)) ->
        Error.new(:syntax, "ERR Invalid number of arguments specified for command")

      true ->
        case Spec.key_args(spec, args) do
          {:ok, []} -> Error.new(:syntax, "ERR The command has no key arguments")
          {:ok, keys} -> keys
          :error -> Error.new(:syntax, "ERR Invalid arguments specified for command")
        end
    end
  end

  defp command(sub, _args, _ctx), do: Commands.arity_error("command|" <> sub)

  @doc false
  # Redis 7 COMMAND INFO layout: name, arity, flags, first key, last key, step,
  # ACL categories, tips, key specs, subcommands.
  def command_info(spec) do
    [
      spec.name,
      spec.arity,
      {:set, Enum.map(spec.flags, &{:simple, &1})},
      spec.first_key,
      spec.last_key,
      spec.step,
      {:set, Enum.map(Map.get(spec, :acl_categories, []), &{:simple, &1})},
      {:set, []},
      {:set, []},
      # Redis 7 sends an empty set when there are none (RESP3 `~0`), else an array.
      case Map.get(spec, :subcommands, []) do
        [] -> {:set, []}
        subs -> Enum.map(subs, &command_info/1)
      end
    ]
  end

  # A command's spec by name, or a subcommand's as `container|sub` (COMMAND INFO/DOCS).
  defp spec(name) do
    case String.split(Commands.downcase(name), "|", parts: 2) do
      [name] ->
        with {_mod, spec} <- Commands.lookup(name), do: spec

      [container, _] = full ->
        with {_mod, spec} <- Commands.lookup(container) do
          Enum.find(Map.get(spec, :subcommands, []), &(&1.name == Enum.join(full, "|")))
        end
    end
  end

  defp command_docs(spec) do
    fields = [
      {"summary", Map.get(spec, :summary, "")},
      {"since", Map.get(spec, :since, "1.0.0")},
      {"group", Map.get(spec, :group, "generic")},
      {"complexity", Map.get(spec, :complexity, "")}
    ]

    fields =
      case Map.get(spec, :subcommands, []) do
        [] -> fields
        subs -> fields ++ [{"subcommands", {:map, Enum.map(subs, &{&1.name, command_docs(&1)})}}]
      end

    {:map, fields}
  end

  ## CONFIG

  # As Redis 7: a name without glob characters is answered under the name as typed, a
  # pattern under the parameters' own names; each parameter once (the first match).
  defp config("get", patterns, ctx) do
    all = Config.all(ctx.instance)

    {pairs, _seen} =
      Enum.reduce(patterns, {[], MapSet.new()}, fn pattern, acc ->
        lower = Commands.downcase(pattern)

        if String.contains?(pattern, ["*", "?", "["]) do
          glob = Glob.compile(lower)

          all
          |> Enum.filter(fn {key, _} -> Glob.match?(glob, key) end)
          |> Enum.reduce(acc, fn {key, value}, acc -> config_pair(acc, key, key, value) end)
        else
          case List.keyfind(all, lower, 0) do
            {key, value} -> config_pair(acc, key, pattern, value)
            nil -> acc
          end
        end
      end)

    {:map, Enum.reverse(pairs)}
  end

  defp config("set", args, ctx) do
    cond do
      length(args) < 2 ->
        Commands.arity_error("config|set")

      rem(length(args), 2) != 0 ->
        Error.new(:syntax)

      true ->
        args |> Enum.chunk_every(2) |> config_set(ctx)
    end
  end

  defp config("resetstat", [], ctx) do
    Config.reset_stats(ctx.instance)
    FerricStore.Store.reset_stats(ctx.instance)
  rescue
    # A listener without a store instance (tests).
    ArgumentError -> :ok
  end

  defp config("rewrite", [], _ctx),
    do: Error.new(:config, "ERR The server is running without a config file")

  defp config("help", [], _ctx) do
    help([
      "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "GET <pattern>",
      "    Return parameters matching the glob-like <pattern> and their values.",
      "SET <directive> <value>",
      "    Set the configuration <directive> to <value>.",
      "RESETSTAT",
      "    Reset statistics reported by the INFO command.",
      "REWRITE",
      "    Rewrite the configuration file.",
      "HELP",
      "    Prints this help."
    ])
  end

  defp config(sub, _args, _ctx), do: Commands.arity_error("config|" <> sub)

  # A HELP subcommand's reply: its lines as simple strings.
  defp help(lines), do: Enum.map(lines, &{:simple, &1})

  ## SLOWLOG (entries are logged by FerricStore.Server.Connection)

  defp slowlog("get", [], ctx), do: slowlog_entries(ctx, 10)

  defp slowlog("get", [count], ctx) do
    case Args.int(count) do
      {:ok, -1} -> slowlog_entries(ctx, :all)
      {:ok, n} when n >= 0 -> slowlog_entries(ctx, n)
      _ -> Error.new(:syntax, "ERR count should be greater than or equal to -1")
    end
  end

  defp slowlog("len", [], ctx), do: length(Config.slowlog_get(ctx.instance, :all))
  defp slowlog("reset", [], ctx), do: Config.slowlog_reset(ctx.instance)

  defp slowlog("help", [], _ctx) do
    help([
      "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "GET [<count>]",
      "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
      "    Entries are made of:",
      "    id, timestamp, time in microseconds, arguments array, client IP and port,",
      "    client name",
      "LEN",
      "    Return the length of the slowlog.",
      "RESET",
      "    Reset the slowlog.",
      "HELP",
      "    Prints this help."
    ])
  end

  defp slowlog(sub, _args, _ctx), do: Commands.arity_error("slowlog|" <> sub)

  defp slowlog_entries(ctx, count) do
    for {id, {at, usec, args, peer, name}} <- Config.slowlog_get(ctx.instance, count),
        do: [id, at, usec, args, peer, name]
  end

  defp config_pair({pairs, seen} = acc, key, name, value) do
    if MapSet.member?(seen, key),
      do: acc,
      else: {[{name, value} | pairs], MapSet.put(seen, key)}
  end

  # All or nothing, as Redis 7: an unknown parameter is reported first; else the last
  # immutable or repeated one; else the first bad value. Errors name the argument as typed.
  @immutable_in_redis ~w(databases cluster-enabled)

  defp config_set(args, ctx) do
    pairs = Enum.map(args, fn [name, v] -> {name, Commands.downcase(name), v} end)
    known = Config.defaults()

    {misuse, _seen} =
      Enum.reduce(pairs, {nil, MapSet.new()}, fn {name, key, _}, {misuse, seen} ->
        misuse =
          cond do
            not Map.has_key?(known, key) -> misuse
            key in @immutable_in_redis -> config_error(name, "can't set immutable config")
            MapSet.member?(seen, key) -> config_error(name, "duplicate parameter")
            true -> misuse
          end

        {misuse, MapSet.put(seen, key)}
      end)

    unknown = Enum.find(pairs, fn {_, key, _} -> not Map.has_key?(known, key) end)

    cond do
      unknown ->
        name = elem(unknown, 0)
        Error.new(:config, "ERR Unknown option or number of arguments for CONFIG SET - '#{name}'")

      misuse ->
        misuse

      error = Enum.find_value(pairs, fn {name, key, v} -> validate_value(key, name, v) end) ->
        error

      # Settable in Redis (port, bind, dir, appendonly), fixed here once running: their
      # values are checked first, as Redis checks them.
      fixed = Enum.find(pairs, fn {_, key, _} -> not Config.writable?(key) end) ->
        config_error(elem(fixed, 0), "can't set immutable config")

      true ->
        Enum.each(pairs, fn {_, k, v} -> Config.put(ctx.instance, k, normalize_config(k, v)) end)
        :ok
    end
  end

  defp validate_value("maxmemory", name, value) do
    if parse_memory(value), do: nil, else: config_error(name, "argument must be a memory value")
  end

  defp validate_value(key, name, value)
       when key in ["proto-max-bulk-len", "client-query-buffer-limit"] do
    case parse_memory(value) do
      n when is_integer(n) and n >= 1_048_576 ->
        nil

      _ ->
        config_error(
          name,
          "argument must be between 1048576 and 9223372036854775807 inclusive"
        )
    end
  end

  defp validate_value(key, name, value)
       when key in ["protected-mode", "appendonly", "latency-tracking"] do
    if Commands.downcase(value) in ["yes", "no"],
      do: nil,
      else: config_error(name, "argument must be 'yes' or 'no'")
  end

  defp validate_value("maxmemory-policy", name, value) do
    policies =
      ~w(volatile-lru volatile-lfu volatile-random volatile-ttl allkeys-lru allkeys-lfu allkeys-random noeviction)

    if Commands.downcase(value) in policies,
      do: nil,
      else:
        config_error(
          name,
          "argument(s) must be one of the following: #{Enum.join(policies, ", ")}"
        )
  end

  defp validate_value("latency-tracking-info-percentiles", name, value) do
    case Stats.parse_percentiles(value) do
      nil ->
        config_error(name, "Invalid latency-tracking-info-percentiles parameters")

      ps ->
        if Enum.all?(ps, &(&1 >= 0 and &1 <= 100)),
          do: nil,
          else:
            config_error(
              name,
              "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
            )
    end
  end

  defp validate_value("appendfsync", name, value) do
    if Commands.downcase(value) in ["always", "everysec", "no"],
      do: nil,
      else: config_error(name, "argument(s) must be one of the following: everysec, always, no")
  end

  defp validate_value("save", name, value) do
    if save_params(value), do: nil, else: config_error(name, "Invalid save parameters")
  end

  defp validate_value("notify-keyspace-events", name, value) do
    if keyspace_events(value),
      do: nil,
      else: config_error(name, "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
  end

  # Integer settings: Redis' strict parse (no "+", no leading zeros), then its range.
  @int_ranges %{
    "port" => {0, 65_535},
    "maxclients" => {1, 4_294_967_295},
    "timeout" => {0, 2_147_483_647},
    "tcp-keepalive" => {0, 2_147_483_647},
    "hz" => {0, 2_147_483_647},
    "slowlog-max-len" => {0, 9_223_372_036_854_775_807},
    "slowlog-log-slower-than" => {-1, 9_223_372_036_854_775_807}
  }

  defp validate_value(key, name, value) when is_map_key(@int_ranges, key) do
    {min, max} = @int_ranges[key]

    case FerricStore.Commands.Args.int(value) do
      {:ok, n} when n < min or n > max ->
        config_error(name, "argument must be between #{min} and #{max} inclusive")

      {:ok, n} when key == "maxclients" ->
        allowed = Config.max_clients_allowed()

        if n > allowed,
          do:
            config_error(
              name,
              "The operating system is not able to handle the specified number of " <>
                "clients, try with #{allowed}"
            )

      {:ok, _} ->
        nil

      :error ->
        config_error(name, "argument couldn't be parsed into an integer")
    end
  end

  defp validate_value(_key, _name, _value), do: nil

  defp normalize_config(key, value)
       when key in ["maxmemory", "proto-max-bulk-len", "client-query-buffer-limit"],
       do: Integer.to_string(parse_memory(value))

  # As Redis: any hz is accepted, and kept between 1 and 500.
  defp normalize_config("hz", value),
    do: value |> String.to_integer() |> max(1) |> min(500) |> Integer.to_string()

  defp normalize_config(key, value)
       when key in [
              "protected-mode",
              "maxmemory-policy",
              "appendonly",
              "appendfsync",
              "latency-tracking"
            ],
       do: Commands.downcase(value)

  defp normalize_config("latency-tracking-info-percentiles", value),
    do: value |> Stats.parse_percentiles() |> Enum.map_join(" ", &Stats.format_percentile/1)

  defp normalize_config("save", value),
    do: value |> save_params() |> Enum.map_join(" ", &Integer.to_string/1)

  defp normalize_config("notify-keyspace-events", value),
    do: value |> keyspace_events() |> keyspace_events_string()

  defp normalize_config(_key, value), do: value

  # "save": "" or pairs of <seconds> <changes> (seconds at least 1), one space apart, each
  # read by strtoll as Redis reads them (a "+" sign passes); nil when invalid.
  defp save_params(""), do: []

  defp save_params(value) do
    parsed =
      value
      |> :binary.split(" ", [:global])
      |> Enum.map(&Args.strtoll_whole/1)

    pairs = Enum.chunk_every(parsed, 2)

    if rem(length(parsed), 2) == 0 and
         Enum.all?(pairs, fn [secs, changes] ->
           is_integer(secs) and secs >= 1 and is_integer(changes) and changes >= 0
         end),
       do: parsed,
       else: nil
  end

  # notify-keyspace-events classes (Redis 7.0): the set of class letters, or nil.
  @event_classes ~c"g$lshzxetd"
  @event_flags ~c"g$lshzxetdnKEm"

  defp keyspace_events(value) do
    Enum.reduce_while(:binary.bin_to_list(value), MapSet.new(), fn
      ?A, set -> {:cont, MapSet.union(set, MapSet.new(@event_classes))}
      c, set -> if c in @event_flags, do: {:cont, MapSet.put(set, c)}, else: {:halt, nil}
    end)
  end

  # As Redis writes them back: "A" for all the classes, else each class (and n) in its
  # order; then K, E and m.
  defp keyspace_events_string(set) do
    classes =
      if Enum.all?(@event_classes, &MapSet.member?(set, &1)),
        do: ~c"A",
        else: Enum.filter(~c"g$lshzxetdn", &MapSet.member?(set, &1))

    to_string(classes ++ Enum.filter(~c"KEm", &MapSet.member?(set, &1)))
  end

  defp config_error(key, why),
    do:
      Error.new(:config, "ERR CONFIG SET failed (possibly related to argument '#{key}') - #{why}")

  @doc false
  # Redis memory values: "100", "1k" (1000), "1kb" (1024), "1m", "1mb", "1g", "1gb".
  def parse_memory(value) do
    units = %{
      "" => 1,
      "b" => 1,
      "k" => 1000,
      "kb" => 1024,
      "m" => 1_000_000,
      "mb" => 1024 * 1024,
      "g" => 1_000_000_000,
      "gb" => 1024 * 1024 * 1024
    }

    case Integer.parse(value) do
      {n, unit} when n >= 0 ->
        case Map.fetch(units, Commands.downcase(unit)) do
          {:ok, mult} -> n * mult
          :error -> nil
        end

      _ ->
        nil
    end
  end

  ## Store access

  defp wait_timeout(timeout) do
    case Args.int(timeout) do
      {:ok, ms} when ms >= 0 -> {:ok, ms}
      {:ok, _} -> Error.new(:syntax, "ERR timeout is negative")
      :error -> Error.new(:syntax, "ERR timeout is not an integer or out of range")
    end
  end

  # Runs in the connection's process: a client that goes or is killed ends the wait
  # (the message is put back for the connection to act on).
  defp wait_for_nothing(timeout) do
    receive do
      {:tcp_closed, _} = msg -> send(self(), msg)
      {:tcp_error, _, _} = msg -> send(self(), msg)
      :ferricstore_kill -> send(self(), :ferricstore_kill)
    after
      if(timeout == 0, do: :infinity, else: timeout) -> :ok
    end
  end

  defp saved(instance, result) do
    Config.saved(instance, result)

    case result do
      :ok -> :ok
      {:error, error} -> error
    end
  end

  # One job of each kind at a time, in a process of its own.
  defp background(instance, job, fun) do
    if Config.claim(instance, job) do
      spawn(fn ->
        try do
          fun.()
        after
          Config.release(instance, job)
        end
      end)

      :started
    else
      :running
    end
  end
end
