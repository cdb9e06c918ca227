defmodule FerricStore.Commands.Connection do
  @moduledoc """
  Connection commands: PING, ECHO, SELECT, HELLO, AUTH, CLIENT, QUIT, RESET.

  They work on the `FerricStore.Commands.Context` of the client and answer with Redis 7's
  replies and error texts. The password is the listener's (`requirepass`, see
  `FerricStore.Server.Config`); the only user is `default`.
  """

  import FerricStore.Commands.Spec
  alias FerricStore.Commands
  alias FerricStore.Commands.{Args, Context}
  alias FerricStore.Error
  alias FerricStore.Server.{Config, Listener}

  @version "7.0.15"

  @conn ["@fast", "@connection"]
  @noauth ~w(noscript loading stale fast no_auth allow_busy)

  @doc "The Redis version FerricStore reports (HELLO, INFO)."
  @spec redis_version() :: String.t()
  def redis_version, do: @version

  @doc false
  def commands do
    [
      keyless("ping", -1, ~w(fast), @conn),
      keyless("echo", 2, ~w(fast loading stale), @conn),
      keyless("select", 2, ~w(loading stale fast), @conn),
      keyless("hello", -1, @noauth, @conn),
      keyless("auth", -2, @noauth, @conn),
      keyless("quit", -1, @noauth, @conn),
      keyless("reset", 1, @noauth, @conn),
      Map.put(keyless("client", -2, [], ["@slow"]), :subcommands, [
        keyless("client|id", 2, ~w(noscript loading stale), ["@slow", "@connection"]),
        keyless("client|setname", 3, ~w(noscript loading stale), ["@slow", "@connection"]),
        keyless("client|getname", 2, ~w(noscript loading stale), ["@slow", "@connection"]),
        keyless("client|setinfo", 4, ~w(noscript loading stale), ["@slow", "@connection"]),
        keyless("client|info", 2, ~w(noscript loading stale), ["@slow", "@connection"]),
        keyless("client|list", -2, ~w(admin noscript loading stale), [
          "@admin",
          "@slow",
          "@dangerous",
          "@connection"
        ]),
        keyless("client|kill", -3, ~w(admin noscript loading stale), [
          "@admin",
          "@slow",
          "@dangerous",
          "@connection"
        ]),
        keyless("client|no-evict", 3, ~w(admin noscript loading stale), [
          "@admin",
          "@slow",
          "@dangerous",
          "@connection"
        ]),
        keyless("client|no-touch", 3, ~w(noscript loading stale), ["@slow", "@connection"]),
        keyless("client|reply", 3, ~w(noscript loading stale), ["@slow", "@connection"]),
        keyless("client|getredir", 2, ~w(noscript loading stale), ["@slow", "@connection"]),
        keyless("client|trackinginfo", 2, ~w(noscript loading stale), ["@slow", "@connection"]),
        keyless("client|help", 2, ~w(loading stale), ["@slow", "@connection"])
      ])
    ]
  end

  @doc false
  def handle("ping", [], _ctx), do: {:simple, "PONG"}
  def handle("ping", [msg], _ctx), do: msg
  def handle("ping", _, _ctx), do: Commands.arity_error("ping")
  def handle("echo", [msg], _ctx), do: msg

  # One database: SELECT 0 works, any other index in int range is out of range, as in a
  # Redis configured with `databases 1` (test/differential/DIFFERENCES.md).
  def handle("select", [db], ctx) do
    case Args.db_index(db) do
      :ok -> {:ok, %{ctx | db: 0}}
      {:error, error} -> error
    end
  end

  def handle("quit", _args, _ctx), do: {:close, :ok}

  def handle("reset", [], ctx) do
    password = Config.password(ctx.instance)

    ctx = %Context{
      ctx
      | protocol: 2,
        client_name: nil,
        db: 0,
        multi: nil,
        watching: %{},
        subscriptions: %Context{}.subscriptions,
        blocked: nil,
        tracking: nil,
        authenticated?: password == nil,
        user: "default"
    }

    {{:simple, "RESET"}, ctx}
  end

  def handle("auth", [pass], ctx) do
    case Config.password(ctx.instance) do
      nil ->
        Error.new(
          :auth,
          "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
        )

      _ ->
        authenticate("default", pass, ctx)
    end
  end

  def handle("auth", [user, pass], ctx), do: authenticate(user, pass, ctx)
  def handle("auth", _args, _ctx), do: Error.new(:syntax)

  def handle("hello", [], ctx), do: hello(ctx.protocol, [], ctx)

  def handle("hello", [ver | opts], ctx) do
    case Args.int(ver) do
      {:ok, v} when v in [2, 3] -> hello(v, opts, ctx)
      {:ok, _} -> Error.new(:noproto, "NOPROTO unsupported protocol version")
      :error -> Error.new(:not_integer, "ERR Protocol version is not an integer or out of range")
    end
  end

  def handle("client", [sub | args], ctx), do: client(Commands.downcase(sub), args, ctx)

  ## HELLO

  # As Redis 7.0 reads HELLO's options: left to right, AUTH authenticating and SETNAME
  # naming the client at once (both stay though a later option is wrong); only a HELLO
  # that succeeds changes the protocol.
  defp hello(proto, opts, ctx) do
    with {:ok, ctx} <- hello_opts(opts, ctx),
         {:ok, ctx} <- authenticated(ctx) do
      ctx = %{ctx | protocol: proto}

      reply =
        {:map,
         [
           {"server", "redis"},
           {"version", @version},
           {"proto", proto},
           {"id", ctx.client_id},
           {"mode", "standalone"},
           {"role", "master"},
           {"modules", []}
         ]}

      {reply, ctx}
    else
      {:error, error, ctx} -> {error, ctx}
    end
  end

  # Without authentication, HELLO fails; what its options did (a name) stays, as in Redis.
  defp authenticated(ctx) do
    case hello_auth(nil, ctx) do
      {:ok, ctx} -> {:ok, ctx}
      {:error, error} -> {:error, error, ctx}
    end
  end

  defp hello_opts([], ctx), do: {:ok, ctx}

  defp hello_opts([opt | rest] = all, ctx) do
    case {Commands.downcase(opt), rest} do
      {"auth", [user, pass | rest]} ->
        case hello_auth({user, pass}, ctx) do
          {:ok, ctx} -> hello_opts(rest, ctx)
          {:error, error} -> {:error, error, ctx}
        end

      {"setname", [new | rest]} ->
        case valid_name(new) do
          :ok -> hello_opts(rest, %{ctx | client_name: empty_nil(new)})
          {:error, error} -> {:error, error, ctx}
        end

      _ ->
        {:error, Error.new(:syntax, "ERR Syntax error in HELLO option '#{hd(all)}'"), ctx}
    end
  end

  defp hello_auth(nil, %Context{authenticated?: true} = ctx), do: {:ok, ctx}

  defp hello_auth(nil, _ctx) do
    {:error,
     Error.new(
       :noauth,
       "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
     )}
  end

  defp hello_auth({user, pass}, ctx) do
    case authenticate(user, pass, ctx) do
      {:ok, ctx} -> {:ok, ctx}
      error -> {:error, error}
    end
  end

  defp authenticate(user, pass, ctx) do
    password = Config.password(ctx.instance)

    if user == "default" and (password == nil or secure_equal?(pass, password)) do
      {:ok, %{ctx | authenticated?: true, user: "default"}}
    else
      Error.new(:wrongpass, "WRONGPASS invalid username-password pair or user is disabled.")
    end
  end

  defp secure_equal?(a, b) do
    byte_size(a) == byte_size(b) and :crypto.hash_equals(a, b)
  end

  ## CLIENT

  defp client("id", [], ctx), do: ctx.client_id

  defp client("setname", [name], ctx) do
    case valid_name(name) do
      :ok -> {:ok, %{ctx | client_name: empty_nil(name)}}
      {:error, error} -> error
    end
  end

  defp client("getname", [], ctx), do: ctx.client_name

  defp client("setinfo", [attr, value], ctx) do
    case Commands.downcase(attr) do
      attr when attr in ["lib-name", "lib-ver"] ->
        if valid_chars?(value) do
          field = if attr == "lib-name", do: :lib_name, else: :lib_ver
          {:ok, Map.put(ctx, field, empty_nil(value))}
        else
          Error.new(:syntax, "ERR #{attr} cannot contain spaces, newlines or special characters.")
        end

      _ ->
        Error.new(:syntax, "ERR Unrecognized option '#{attr}'")
    end
  end

  defp client("info", [], ctx), do: {:verbatim, "txt", client_line(self_info(ctx, "client|info"))}

  defp client("list", args, ctx) do
    with {:ok, select} <- list_filter(args) do
      all = clients(ctx, "client|list")

      rows =
        case select do
          # As Redis: in the order asked, repeated ids repeated, unknown ids left out.
          {:ids, ids} ->
            by_id = Map.new(all, &{&1.id, &1})
            for id <- ids, row = by_id[id], row != nil, do: row

          filter ->
            all |> Enum.filter(filter) |> Enum.sort_by(& &1.id)
        end

      {:verbatim, "txt", Enum.map_join(rows, &client_line/1)}
    end
    |> unwrap()
  end

  defp client("kill", [addr], ctx) do
    case Enum.find(clients(ctx, "client|kill"), &(&1.addr == addr)) do
      nil -> Error.new(:no_such_client, "ERR No such client")
      info -> kill(info) && :ok
    end
  end

  defp client("kill", args, ctx) do
    with {:ok, filters} <- kill_filters(args, [], true) do
      {skipme, filters} = Keyword.pop(filters, :skipme, true)

      victims =
        clients(ctx, "client|kill")
        |> Enum.filter(fn info -> Enum.all?(filters, &kill_match?(&1, info)) end)
        |> Enum.reject(&(skipme and &1.id == ctx.client_id))

      Enum.each(victims, &kill/1)
      length(victims)
    end
    |> unwrap()
  end

  defp client(sub, [mode], _ctx) when sub in ["no-evict", "no-touch"] do
    if Commands.downcase(mode) in ["on", "off"], do: :ok, else: Error.new(:syntax)
  end

  # OFF and SKIP reply nothing themselves; SKIP while OFF changes nothing (the connection
  # drops the replies, see FerricStore.Server.Connection).
  defp client("reply", [mode], ctx) do
    case {Commands.downcase(mode), ctx.reply} do
      {"on", _} -> {:ok, %{ctx | reply: :on}}
      {"off", _} -> {{:raw, ""}, %{ctx | reply: :off}}
      {"skip", :off} -> {{:raw, ""}, ctx}
      {"skip", _} -> {{:raw, ""}, %{ctx | reply: :skip_next}}
      _ -> Error.new(:syntax)
    end
  end

  # Tracking is never on yet (CLIENT TRACKING comes with client-side caching).
  defp client("getredir", [], _ctx), do: -1

  defp client("trackinginfo", [], _ctx),
    do: {:map, [{"flags", {:set, ["off"]}}, {"redirect", -1}, {"prefixes", []}]}

  defp client("help", [], _ctx) do
    [
      {:simple, "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"},
      {:simple, "ID"},
      {:simple, "    Return the ID of the current connection."},
      {:simple, "INFO"},
      {:simple, "    Return information about the current client connection."},
      {:simple, "KILL <ip:port>"},
      {:simple, "    Kill connection made from <ip:port>."},
      {:simple, "KILL <option> <value> [<option> <value> [...]]"},
      {:simple, "    Kill connections. Options are: ID, ADDR, LADDR, USER, SKIPME, MAXAGE."},
      {:simple, "LIST [TYPE normal|master|replica|pubsub] [ID <id> [<id> ...]]"},
      {:simple, "    Return information about client connections."},
      {:simple, "GETNAME"},
      {:simple, "    Return the name of the current connection."},
      {:simple, "SETNAME <name>"},
      {:simple, "    Assign the name <name> to the current connection."},
      {:simple, "SETINFO <LIB-NAME|LIB-VER> <value>"},
      {:simple, "    Set client library name or version."},
      {:simple, "HELP"},
      {:simple, "    Prints this help."}
    ]
  end

  defp client(sub, _args, _ctx), do: Commands.arity_error("client|" <> sub)

  defp unwrap({:error, error}), do: error
  defp unwrap(reply), do: reply

  defp list_filter([]), do: {:ok, fn _ -> true end}

  defp list_filter([type, t]) do
    if Commands.downcase(type) == "type" do
      case Commands.downcase(t) do
        "normal" -> {:ok, fn info -> info.sub == 0 and info.psub == 0 end}
        "pubsub" -> {:ok, fn info -> info.sub > 0 or info.psub > 0 end}
        x when x in ["master", "replica", "slave"] -> {:ok, fn _ -> false end}
        _ -> {:error, Error.new(:syntax, "ERR Unknown client type '#{t}'")}
      end
    else
      id_filter([type, t])
    end
  end

  defp list_filter(args), do: id_filter(args)

  defp id_filter([id | ids]) do
    if Commands.downcase(id) == "id" and ids != [] do
      parsed = Enum.map(ids, &Args.int/1)

      if Enum.all?(parsed, &match?({:ok, _}, &1)),
        do: {:ok, {:ids, Enum.map(parsed, &elem(&1, 1))}},
        else: {:error, Error.new(:syntax, "ERR Invalid client ID")}
    else
      {:error, Error.new(:syntax)}
    end
  end

  defp kill_filters([], acc, _), do: {:ok, acc}

  defp kill_filters([key, value | rest], acc, _) do
    case {Commands.downcase(key), value} do
      {"id", v} ->
        case Integer.parse(v) do
          {n, ""} when n > 0 -> kill_filters(rest, [{:id, n} | acc], true)
          _ -> {:error, Error.new(:syntax, "ERR client-id should be greater than 0")}
        end

      {"addr", v} ->
        kill_filters(rest, [{:addr, v} | acc], true)

      {"laddr", v} ->
        kill_filters(rest, [{:laddr, v} | acc], true)

      # The only user is `default` (no ACL yet).
      {"user", "default"} ->
        kill_filters(rest, [{:user, "default"} | acc], true)

      {"user", v} ->
        {:error, Error.new(:no_such_user, "ERR No such user '#{v}'")}

      {"maxage", v} ->
        case Integer.parse(v) do
          {n, ""} -> kill_filters(rest, [{:maxage, n} | acc], true)
          _ -> {:error, Error.new(:not_integer)}
        end

      {"skipme", v} ->
        case Commands.downcase(v) do
          "yes" -> kill_filters(rest, [{:skipme, true} | acc], true)
          "no" -> kill_filters(rest, [{:skipme, false} | acc], true)
          _ -> {:error, Error.new(:syntax)}
        end

      {"type", v} ->
        if Commands.downcase(v) in ~w(normal pubsub master replica slave),
          do: kill_filters(rest, [{:type, Commands.downcase(v)} | acc], true),
          else: {:error, Error.new(:syntax, "ERR Unknown client type '#{v}'")}

      _ ->
        {:error, Error.new(:syntax)}
    end
  end

  defp kill_filters(_, _, _), do: {:error, Error.new(:syntax)}

  defp kill_match?({:id, id}, info), do: info.id == id
  defp kill_match?({:addr, a}, info), do: info.addr == a
  defp kill_match?({:laddr, a}, info), do: info.laddr == a
  defp kill_match?({:user, u}, info), do: info.user == u
  defp kill_match?({:maxage, s}, info), do: age(info) >= s
  defp kill_match?({:type, "normal"}, info), do: info.sub == 0 and info.psub == 0
  defp kill_match?({:type, "pubsub"}, info), do: info.sub > 0 or info.psub > 0
  defp kill_match?({:type, _}, _info), do: false

  defp kill(%{pid: pid}) when is_pid(pid), do: send(pid, :ferricstore_kill)
  defp kill(_info), do: true

  # Every client of the instance: the listener's registry rows, with the caller's own row
  # taken from its current context (fresher than the registry).
  defp clients(ctx, cmd) do
    me = self_info(ctx, cmd)

    others =
      try do
        Registry.select(Listener.registry(ctx.instance), [
          {{:"$1", :"$2", :"$3"}, [], [{{:"$2", :"$3"}}]}
        ])
      rescue
        ArgumentError -> []
      end
      |> Enum.map(fn {pid, info} -> Map.put(info, :pid, pid) end)
      |> Enum.reject(&(&1.id == ctx.client_id))

    [me | others]
  end

  defp self_info(ctx, cmd) do
    now = System.monotonic_time(:millisecond)

    FerricStore.Server.Connection.info(ctx, %{
      pid: self(),
      last_at: now,
      cmd: cmd
    })
  end

  defp age(info), do: div(System.monotonic_time(:millisecond) - (info.created_at || 0), 1000)

  defp client_line(info) do
    now = System.monotonic_time(:millisecond)
    idle = div(now - (info[:last_at] || now), 1000)

    "id=#{info.id} addr=#{info.addr} laddr=#{info.laddr} fd=-1 name=#{info.name} " <>
      "age=#{age(info)} idle=#{idle} flags=#{if info.sub + info.psub > 0, do: "P", else: "N"} " <>
      "db=#{info.db} sub=#{info.sub} psub=#{info.psub} ssub=0 multi=#{info.multi} " <>
      "qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 " <>
      "events=r cmd=#{info[:cmd] || "NULL"} user=#{info.user} redir=-1 resp=#{info.resp} " <>
      "lib-name=#{info.lib_name} lib-ver=#{info.lib_ver}\n"
  end

  # Redis: client names may not contain spaces, newlines or special characters (only
  # bytes '!'..'~').
  defp valid_name(nil), do: :ok

  defp valid_name(name) do
    if valid_chars?(name),
      do: :ok,
      else:
        {:error,
         Error.new(
           :syntax,
           "ERR Client names cannot contain spaces, newlines or special characters."
         )}
  end

  defp valid_chars?(bin), do: for(<<c <- bin>>, reduce: true, do: (ok -> ok and c in ?!..?~))

  defp empty_nil(""), do: nil
  defp empty_nil(s), do: s
end
