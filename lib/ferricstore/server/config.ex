defmodule FerricStore.Server.Config do
  @moduledoc false
  # The standalone server's settings for one instance (CONFIG GET/SET) and its listening
  # socket. A public ETS table named after the instance, owned by this process, which
  # the listener supervisor starts first: connections read settings without a call.
  # When no listener runs for an instance (embedded dispatch), reads return the defaults.

  use GenServer

  require Logger

  @defaults %{
    "port" => "0",
    "bind" => "127.0.0.1",
    "requirepass" => "",
    "protected-mode" => "yes",
    "maxmemory" => "0",
    "maxmemory-policy" => "noeviction",
    "proto-max-bulk-len" => "536870912",
    "client-query-buffer-limit" => "1073741824",
    "maxclients" => "10000",
    "timeout" => "0",
    "tcp-keepalive" => "300",
    "databases" => "1",
    "appendonly" => "yes",
    "appendfsync" => "always",
    "save" => "",
    "slowlog-log-slower-than" => "10000",
    "slowlog-max-len" => "128",
    "notify-keyspace-events" => "",
    "latency-tracking" => "yes",
    "latency-tracking-info-percentiles" => "50 99 99.9",
    "cluster-enabled" => "no",
    "hz" => "10",
    "dir" => ""
  }

  @read_only ~w(port bind databases cluster-enabled appendonly dir)

  ## Public API

  @spec start_link(keyword()) :: GenServer.on_start()
  def start_link(opts), do: GenServer.start_link(__MODULE__, opts, name: name(opts[:instance]))

  @doc "The ETS table of `instance` (the name is cached: building atoms is not free)."
  def table(instance) do
    key = {__MODULE__, instance}

    case :persistent_term.get(key, nil) do
      nil ->
        tab = :"#{instance}.FerricStore.Server.Config"
        :persistent_term.put(key, tab)
        tab

      tab ->
        tab
    end
  end

  # File descriptors kept for the store itself (data, hint, WAL and segment files, ra's
  # tables, the VM) when maxclients is fitted to the process' limit, as Redis keeps 32.
  @reserved_fds 128

  @doc """
  The most clients the process' file descriptor limit allows (the limit less
  #{@reserved_fds} kept for the store's own files): a larger `maxclients` would let
  connections take the descriptors that data files and ra's log need.
  """
  @spec max_clients_allowed() :: pos_integer()
  def max_clients_allowed, do: max(fd_limit() - @reserved_fds, 1)

  @doc "The process' file descriptor limit, as the VM sees it."
  @spec fd_limit() :: pos_integer()
  def fd_limit do
    :erlang.system_info(:check_io)
    |> List.wrap()
    |> List.flatten()
    |> Keyword.get(:max_fds, 1_024)
  end

  @doc "File descriptors kept for the store beyond its open data files."
  @spec reserved_fds() :: pos_integer()
  def reserved_fds, do: @reserved_fds

  @doc "maxclients as an integer."
  @spec max_clients(atom()) :: pos_integer()
  def max_clients(instance), do: String.to_integer(get(instance, "maxclients"))

  @default_max_bulk String.to_integer(@defaults["proto-max-bulk-len"])
  @default_slowlog String.to_integer(@defaults["slowlog-log-slower-than"])

  @doc """
  proto-max-bulk-len as an integer. Every read of every connection asks, so it lives
  in a persistent term (a few tens of nanoseconds to read; CONFIG SET rewrites it).
  """
  @spec max_bulk_len(atom()) :: pos_integer()
  def max_bulk_len(instance),
    do: :persistent_term.get({__MODULE__, instance, :max_bulk_len}, @default_max_bulk)

  defp name(instance), do: :"#{instance}.FerricStore.Server.ConfigOwner"

  @spec defaults() :: %{String.t() => String.t()}
  def defaults, do: @defaults

  @doc "One setting as a string (the default when no listener runs for `instance`)."
  @spec get(atom(), String.t()) :: String.t() | nil
  def get(instance, key) do
    case :ets.whereis(table(instance)) do
      :undefined -> Map.get(@defaults, key)
      tab -> lookup(tab, key)
    end
  end

  defp lookup(tab, key) do
    case :ets.lookup(tab, {:config, key}) do
      [{_, value}] -> value
      [] -> Map.get(@defaults, key)
    end
  rescue
    ArgumentError -> Map.get(@defaults, key)
  end

  @doc "Every setting, as `[{name, value}]` sorted by name."
  @spec all(atom()) :: [{String.t(), String.t()}]
  def all(instance),
    do: @defaults |> Map.keys() |> Enum.sort() |> Enum.map(&{&1, get(instance, &1)})

  @doc "Password, or nil when none is set."
  @spec password(atom()) :: String.t() | nil
  def password(instance) do
    case get(instance, "requirepass") do
      "" -> nil
      pass -> pass
    end
  end

  @doc "Whether `key` can be changed with CONFIG SET."
  @spec writable?(String.t()) :: boolean()
  def writable?(key), do: Map.has_key?(@defaults, key) and key not in @read_only

  @doc "Sets a setting (already validated). No-op when no listener runs."
  @spec put(atom(), String.t(), String.t()) :: :ok
  def put(instance, key, value) do
    case :ets.whereis(table(instance)) do
      :undefined ->
        :ok

      tab ->
        :ets.insert(tab, {{:config, key}, value})

        case key do
          "proto-max-bulk-len" ->
            :persistent_term.put({__MODULE__, instance, :max_bulk_len}, String.to_integer(value))

          "slowlog-log-slower-than" ->
            :persistent_term.put({__MODULE__, instance, :slowlog}, String.to_integer(value))

          "latency-tracking" ->
            :persistent_term.put({__MODULE__, instance, :latency}, value == "yes")

          # Redis trims its log at the next command, which is this one.
          "slowlog-max-len" ->
            slowlog_trim(tab, String.to_integer(value))

          _ ->
            :ok
        end

        :ok
    end
  end

  @doc "Counters for INFO stats (connections received, commands processed, ...)."
  @spec incr(atom(), atom() | {:errorstat, String.t()}, integer()) :: :ok
  def incr(instance, counter, by \\ 1) do
    :ets.update_counter(table(instance), {:stat, counter}, by, {{:stat, counter}, 0})
    :ok
  rescue
    ArgumentError -> :ok
  end

  @doc "Zeroes the INFO counters and command statistics (CONFIG RESETSTAT)."
  @spec reset_stats(atom()) :: :ok
  def reset_stats(instance) do
    :ets.match_delete(table(instance), {{:stat, :_}, :_})
    :ets.match_delete(table(instance), {{:cmdstat, :_}, :_, :_, :_, :_})
    :ets.match_delete(table(instance), {{:latency, :_, :_}, :_})
    :ok
  rescue
    ArgumentError -> :ok
  end

  @doc "Whether latency-tracking is on (INFO latencystats; a persistent term)."
  @spec latency_tracking?(atom()) :: boolean()
  def latency_tracking?(instance),
    do: :persistent_term.get({__MODULE__, instance, :latency}, true)

  @doc "Adds a connection's latency histograms (`FerricStore.Server.Stats.latency/0`)."
  @spec add_latency(atom(), map()) :: :ok
  def add_latency(instance, latency) do
    tab = table(instance)

    for {name, buckets} <- latency, {bucket, n} <- buckets do
      key = {:latency, name, bucket}
      :ets.update_counter(tab, key, n, {key, 0})
    end

    :ok
  rescue
    ArgumentError -> :ok
  end

  @doc "Latency histograms by command name: `%{name => [{bucket, count}]}`."
  @spec latency_stats(atom()) :: %{String.t() => [{non_neg_integer(), pos_integer()}]}
  def latency_stats(instance) do
    table(instance)
    |> :ets.match({{:latency, :"$1", :"$2"}, :"$3"})
    |> Enum.group_by(fn [name, _, _] -> name end, fn [_, bucket, n] -> {bucket, n} end)
  rescue
    ArgumentError -> %{}
  end

  @doc """
  Adds a connection's command statistics (INFO commandstats): a map of command name to
  `{calls, usec, rejected_calls, failed_calls}`.
  """
  @spec add_command_stats(atom(), %{String.t() => {integer(), integer(), integer(), integer()}}) ::
          :ok
  def add_command_stats(instance, stats) do
    tab = table(instance)

    Enum.each(stats, fn {name, {calls, usec, rejected, failed}} ->
      key = {:cmdstat, name}

      :ets.update_counter(
        tab,
        key,
        [{2, calls}, {3, usec}, {4, rejected}, {5, failed}],
        {key, 0, 0, 0, 0}
      )
    end)
  rescue
    ArgumentError -> :ok
  end

  @doc "Command statistics: `{name, calls, usec, rejected_calls, failed_calls}`, by name."
  @spec command_stats(atom()) :: [{String.t(), integer(), integer(), integer(), integer()}]
  def command_stats(instance) do
    :ets.match_object(table(instance), {{:cmdstat, :_}, :_, :_, :_, :_})
    |> Enum.map(fn {{:cmdstat, name}, c, u, r, f} -> {name, c, u, r, f} end)
    |> Enum.sort()
  rescue
    ArgumentError -> []
  end

  ## SAVE, BGSAVE, BGREWRITEAOF

  @doc "Unix time of the last successful save (LASTSAVE); the start time before any."
  @spec last_save(atom()) :: non_neg_integer()
  def last_save(instance) do
    case :ets.lookup(table(instance), :last_save) do
      [{_, at}] -> at
      [] -> System.os_time(:second)
    end
  rescue
    ArgumentError -> System.os_time(:second)
  end

  @doc "Records the result of a save."
  @spec saved(atom(), :ok | {:error, term()}) :: :ok
  def saved(instance, result) do
    if result == :ok do
      :ets.insert(table(instance), {:last_save, System.os_time(:second)})
      incr(instance, :saves)
    end

    job_done(instance, :save, result)
  rescue
    ArgumentError -> :ok
  end

  @doc "Records the result of a compaction asked for by BGREWRITEAOF."
  @spec rewritten(atom(), :ok | {:error, term()}) :: :ok
  def rewritten(instance, result) do
    if result == :ok, do: incr(instance, :rewrites)
    job_done(instance, :rewrite, result)
  end

  defp job_done(instance, job, result) do
    :ets.insert(table(instance), {{:job_status, job}, if(result == :ok, do: "ok", else: "err")})
    :ok
  rescue
    ArgumentError -> :ok
  end

  @doc "`\"ok\"` or `\"err\"`: how the last save or rewrite ended."
  @spec job_status(atom(), :save | :rewrite) :: String.t()
  def job_status(instance, job) do
    case :ets.lookup(table(instance), {:job_status, job}) do
      [{_, status}] -> status
      [] -> "ok"
    end
  rescue
    ArgumentError -> "ok"
  end

  @doc "Claims the one slot of a background job; false while one runs."
  @spec claim(atom(), atom()) :: boolean()
  def claim(instance, job) do
    :ets.insert_new(table(instance), {{:running, job}, self()})
  rescue
    ArgumentError -> true
  end

  @spec release(atom(), atom()) :: :ok
  def release(instance, job) do
    :ets.delete(table(instance), {:running, job})
    :ok
  rescue
    ArgumentError -> :ok
  end

  @spec running?(atom(), atom()) :: boolean()
  def running?(instance, job) do
    :ets.member(table(instance), {:running, job})
  rescue
    ArgumentError -> false
  end

  ## SLOWLOG

  @doc "slowlog-log-slower-than in microseconds (negative: the log is off)."
  @spec slowlog_threshold(atom()) :: integer()
  def slowlog_threshold(instance),
    do: :persistent_term.get({__MODULE__, instance, :slowlog}, @default_slowlog)

  @doc """
  Logs a command that took `usec`: `entry` is `{unix_seconds, usec, args, peer, name}`.
  The log keeps the newest slowlog-max-len entries; ids keep growing across SLOWLOG RESET.
  """
  @spec slowlog_add(atom(), tuple()) :: :ok
  def slowlog_add(instance, entry) do
    tab = table(instance)
    id = :ets.update_counter(tab, :slowlog_next_id, 1, {:slowlog_next_id, -1})
    :ets.insert(tab, {{:slowlog, id}, entry})
    # Ids are consecutive and the log was trimmed when its length was last set: at most
    # the one entry that fell out goes.
    :ets.delete(tab, {:slowlog, id - String.to_integer(get(instance, "slowlog-max-len"))})
    :ok
  rescue
    ArgumentError -> :ok
  end

  defp slowlog_trim(tab, keep) do
    case :ets.lookup(tab, :slowlog_next_id) do
      [{_, last}] ->
        :ets.select_delete(tab, [{{{:slowlog, :"$1"}, :_}, [{:"=<", :"$1", last - keep}], [true]}])

      [] ->
        0
    end
  end

  @doc "The newest `count` slowlog entries (all with `:all`), newest first, with their ids."
  @spec slowlog_get(atom(), non_neg_integer() | :all) :: [{non_neg_integer(), tuple()}]
  def slowlog_get(instance, count) do
    entries =
      table(instance)
      |> :ets.match_object({{:slowlog, :_}, :_})
      |> Enum.map(fn {{:slowlog, id}, entry} -> {id, entry} end)
      |> Enum.sort_by(&elem(&1, 0), :desc)

    if count == :all, do: entries, else: Enum.take(entries, count)
  rescue
    ArgumentError -> []
  end

  @spec slowlog_reset(atom()) :: :ok
  def slowlog_reset(instance) do
    :ets.match_delete(table(instance), {{:slowlog, :_}, :_})
    :ok
  rescue
    ArgumentError -> :ok
  end

  @doc "Error replies by prefix (INFO errorstats), sorted by prefix."
  @spec error_stats(atom()) :: [{String.t(), pos_integer()}]
  def error_stats(instance) do
    :ets.match(table(instance), {{:stat, {:errorstat, :"$1"}}, :"$2"})
    |> Enum.map(fn [prefix, n] -> {prefix, n} end)
    |> Enum.sort()
  rescue
    ArgumentError -> []
  end

  @spec stat(atom(), atom()) :: integer()
  def stat(instance, counter) do
    case :ets.lookup(table(instance), {:stat, counter}) do
      [{_, n}] -> n
      [] -> 0
    end
  rescue
    ArgumentError -> 0
  end

  # Like Redis at start-up: a maxclients the descriptor limit cannot serve is lowered,
  # with a warning that says how to get more.
  defp fit_max_clients(wanted) do
    allowed = max_clients_allowed()

    if wanted > allowed do
      Logger.warning(
        "FerricStore: maxclients #{wanted} needs more file descriptors than the limit " <>
          "allows; reduced to #{allowed}. Raise 'ulimit -n' for more clients."
      )

      allowed
    else
      wanted
    end
  end

  ## Callbacks

  @impl true
  def init(opts) do
    instance = Keyword.fetch!(opts, :instance)
    tab = :ets.new(table(instance), [:named_table, :public, :set, read_concurrency: true])

    settings = [
      {"bind", opts[:bind] || "127.0.0.1"},
      {"requirepass", opts[:password] || ""},
      {"protected-mode", if(Keyword.get(opts, :protected_mode, true), do: "yes", else: "no")},
      {"maxmemory", to_string(opts[:maxmemory] || 0)},
      {"dir", to_string(opts[:data_dir] || "")},
      {"maxclients", Integer.to_string(fit_max_clients(opts[:maxclients] || 10_000))}
    ]

    for {k, v} <- settings, do: :ets.insert(tab, {{:config, k}, v})
    :persistent_term.put({__MODULE__, instance, :max_bulk_len}, @default_max_bulk)
    :persistent_term.put({__MODULE__, instance, :slowlog}, @default_slowlog)
    :persistent_term.put({__MODULE__, instance, :latency}, true)
    :ets.insert(tab, {:started_at, System.monotonic_time(:millisecond)})
    :ets.insert(tab, {:last_save, System.os_time(:second)})
    schedule_cron()
    {:ok, %{instance: instance, tab: tab}}
  end

  # Once a second, as Redis' clientsCron: with `timeout` set, every connection is asked
  # to check its own idle time (it knows its last command exactly; the registry row is
  # refreshed at most once a second).
  @impl true
  def handle_info(:cron, state) do
    case Integer.parse(get(state.instance, "timeout")) do
      {seconds, ""} when seconds > 0 ->
        registry = FerricStore.Server.Listener.registry(state.instance)
        pids = Registry.select(registry, [{{:_, :"$1", :_}, [], [:"$1"]}])
        Enum.each(pids, &send(&1, {:idle_check, seconds * 1000}))

      _ ->
        :ok
    end

    schedule_cron()
    {:noreply, state}
  end

  def handle_info(_msg, state), do: {:noreply, state}

  @cron_ms 1000
  defp schedule_cron, do: Process.send_after(self(), :cron, @cron_ms)
end
