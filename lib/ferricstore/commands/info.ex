defmodule FerricStore.Commands.Info do
  @moduledoc false
  # INFO's sections and fields, as Redis 7.0 names them (clients parse them: keep the
  # names; FerricStore's own fields start with `ferricstore_`). The counters come from
  # FerricStore.Server.Config (connections, errors, commands, saves) and the store.

  alias FerricStore.Commands.Connection
  alias FerricStore.Server.{Config, Stats}

  @default_sections ~w(server clients memory persistence stats replication cpu modules errorstats
                       cluster keyspace)
  @all_sections ~w(server clients memory persistence stats replication cpu modules commandstats
                   errorstats latencystats cluster keyspace)

  @doc "The INFO text of `sections` (lowercase names; \"default\", \"all\", \"everything\")."
  @spec text([String.t()], FerricStore.Commands.Context.t()) :: String.t()
  def text(sections, ctx) do
    wanted =
      cond do
        Enum.any?(sections, &(&1 in ["all", "everything"])) -> @all_sections
        "default" in sections -> @default_sections
        true -> Enum.filter(@all_sections, &(&1 in sections))
      end

    store_info = store_info(ctx)

    wanted
    |> Enum.map(fn section ->
      [section_title(section), "\r\n", lines(section_fields(section, ctx, store_info))]
    end)
    |> Enum.intersperse("\r\n")
    |> IO.iodata_to_binary()
  end

  defp section_title("cpu"), do: "# CPU"
  defp section_title(s), do: "# " <> String.capitalize(s)

  defp lines(fields), do: Enum.map(fields, fn {k, v} -> [k, ?:, to_string(v), "\r\n"] end)

  defp section_fields("server", ctx, _info) do
    {uptime_s, _} = uptime(ctx)

    [
      {"redis_version", Connection.redis_version()},
      {"ferricstore_version", Application.spec(:ferricstore, :vsn) || "0.1.0"},
      {"redis_mode", "standalone"},
      {"os", os()},
      {"arch_bits", :erlang.system_info(:wordsize) * 8},
      {"multiplexing_api", "beam"},
      {"process_id", System.pid()},
      {"run_id", run_id(ctx.instance)},
      {"tcp_port", Config.get(ctx.instance, "port")},
      {"uptime_in_seconds", uptime_s},
      {"uptime_in_days", div(uptime_s, 86_400)},
      {"hz", Config.get(ctx.instance, "hz")},
      {"configured_hz", Config.get(ctx.instance, "hz")},
      {"server_time_usec", System.os_time(:microsecond)},
      {"executable", ""},
      {"config_file", ""}
    ]
  end

  defp section_fields("clients", ctx, _info) do
    connected =
      try do
        Registry.count(FerricStore.Server.Listener.registry(ctx.instance))
      rescue
        ArgumentError -> 1
      end

    [
      {"connected_clients", connected},
      {"cluster_connections", 0},
      {"maxclients", Config.get(ctx.instance, "maxclients")},
      {"blocked_clients", 0},
      {"tracking_clients", 0}
    ]
  end

  defp section_fields("memory", ctx, info) do
    used = info[:used_memory] || 0
    maxmemory = String.to_integer(Config.get(ctx.instance, "maxmemory"))

    [
      {"used_memory", used},
      {"used_memory_human", human(used)},
      {"used_memory_rss", :erlang.memory(:total)},
      {"used_memory_peak", used},
      {"maxmemory", maxmemory},
      {"maxmemory_human", human(maxmemory)},
      {"maxmemory_policy", Config.get(ctx.instance, "maxmemory-policy")},
      {"mem_allocator", "beam"}
    ]
  end

  defp section_fields("persistence", ctx, info) do
    recovery = Map.get(info, :recovery, %{})

    [
      {"loading", 0},
      {"async_loading", 0},
      {"rdb_changes_since_last_save", 0},
      {"rdb_bgsave_in_progress", if(Config.running?(ctx.instance, :bgsave), do: 1, else: 0)},
      {"rdb_last_save_time", Config.last_save(ctx.instance)},
      {"rdb_last_bgsave_status", Config.job_status(ctx.instance, :save)},
      {"rdb_saves", Config.stat(ctx.instance, :saves)},
      {"aof_enabled", 1},
      {"aof_rewrite_in_progress", if(Config.running?(ctx.instance, :rewrite), do: 1, else: 0)},
      {"aof_last_bgrewrite_status", Config.job_status(ctx.instance, :rewrite)},
      {"aof_rewrites", Config.stat(ctx.instance, :rewrites)},
      {"aof_last_write_status", "ok"},
      # What the last start-up found in the data files (see docs/store.md).
      {"ferricstore_data_files", Map.get(recovery, :files, 0)},
      {"ferricstore_recovered_records", Map.get(recovery, :loaded, 0)},
      {"ferricstore_recovery_skipped_records", Map.get(recovery, :skipped, 0)},
      {"ferricstore_recovery_truncated_bytes", Map.get(recovery, :truncated_bytes, 0)},
      {"ferricstore_recovery_load_ms", Map.get(recovery, :load_ms, 0)},
      {"ferricstore_disk_bytes", Map.get(info, :disk_bytes, 0)},
      {"ferricstore_applied_index", Map.get(info, :applied_index, 0)}
    ]
  end

  defp section_fields("stats", ctx, _info) do
    [
      {"total_connections_received", Config.stat(ctx.instance, :total_connections_received)},
      {"total_commands_processed", Config.stat(ctx.instance, :total_commands_processed)},
      {"rejected_connections", Config.stat(ctx.instance, :rejected_connections)},
      {"total_error_replies", Config.stat(ctx.instance, :total_error_replies)},
      {"expired_keys", store_stat(ctx, :expired_keys)},
      # Nothing is evicted yet: maxmemory is not enforced.
      {"evicted_keys", 0},
      {"keyspace_hits", store_stat(ctx, :keyspace_hits)},
      {"keyspace_misses", store_stat(ctx, :keyspace_misses)}
    ]
  end

  defp section_fields("replication", _ctx, _info) do
    [
      {"role", "master"},
      {"connected_slaves", 0},
      {"master_replid", String.duplicate("0", 40)},
      {"master_repl_offset", 0}
    ]
  end

  defp section_fields("cpu", _ctx, _info) do
    {user, sys} = cpu_seconds()
    format = &:erlang.float_to_binary(&1, decimals: 6)

    # FerricStore starts no child processes (Redis' forks for RDB/AOF rewrites).
    [
      {"used_cpu_sys", format.(sys)},
      {"used_cpu_user", format.(user)},
      {"used_cpu_sys_children", format.(0.0)},
      {"used_cpu_user_children", format.(0.0)}
    ]
  end

  # Counted by the connections, which add theirs at least once a second (and before
  # their own INFO).
  defp section_fields("commandstats", ctx, _info) do
    for {name, calls, usec, rejected, failed} <- Config.command_stats(ctx.instance) do
      per_call = if calls > 0, do: usec / calls, else: 0.0

      {"cmdstat_" <> name,
       "calls=#{calls},usec=#{usec},usec_per_call=#{:erlang.float_to_binary(per_call, decimals: 2)}," <>
         "rejected_calls=#{rejected},failed_calls=#{failed}"}
    end
  end

  # Nothing while latency-tracking is off, as Redis.
  defp section_fields("latencystats", ctx, _info) do
    if Config.latency_tracking?(ctx.instance) do
      percentiles =
        ctx.instance
        |> Config.get("latency-tracking-info-percentiles")
        |> Stats.parse_percentiles()

      for {name, buckets} <- Enum.sort(Config.latency_stats(ctx.instance)),
          do: {"latency_percentiles_usec_" <> name, Stats.percentiles(buckets, percentiles)}
    else
      []
    end
  end

  defp section_fields("errorstats", ctx, _info) do
    for {prefix, n} <- Config.error_stats(ctx.instance),
        do: {"errorstat_" <> prefix, "count=#{n}"}
  end

  # No modules can be loaded.
  defp section_fields("modules", _ctx, _info), do: []
  defp section_fields("cluster", _ctx, _info), do: [{"cluster_enabled", 0}]

  defp section_fields("keyspace", _ctx, info) do
    case info[:keys] || 0 do
      0 -> []
      keys -> [{"db0", "keys=#{keys},expires=#{info[:expires] || 0},avg_ttl=0"}]
    end
  end

  # The process' user and system CPU seconds (Linux: /proc/self/stat, in clock ticks of
  # 1/100 s); elsewhere the VM's runtime counts as user time.
  defp cpu_seconds do
    with {:ok, stat} <- File.read("/proc/self/stat"),
         [_, after_name] <- :binary.split(stat, ") "),
         fields = String.split(after_name, " "),
         {utime, ""} <- Integer.parse(Enum.at(fields, 11, "")),
         {stime, ""} <- Integer.parse(Enum.at(fields, 12, "")) do
      {utime / 100, stime / 100}
    else
      _ ->
        {ms, _} = :erlang.statistics(:runtime)
        {ms / 1000, 0.0}
    end
  end

  defp uptime(ctx) do
    started =
      try do
        case :ets.lookup(Config.table(ctx.instance), :started_at) do
          [{_, t}] -> t
          [] -> ctx.created_at
        end
      rescue
        ArgumentError -> ctx.created_at || System.monotonic_time(:millisecond)
      end

    ms = System.monotonic_time(:millisecond) - started
    {div(ms, 1000), ms}
  end

  defp run_id(instance) do
    :crypto.hash(:sha, [Atom.to_string(instance), :erlang.term_to_binary(node())])
    |> Base.encode16(case: :lower)
  end

  defp os do
    {family, name} = :os.type()
    "#{family} #{name}"
  end

  defp human(bytes) when bytes >= 1024 * 1024 * 1024,
    do: :erlang.float_to_binary(bytes / 1_073_741_824, decimals: 2) <> "G"

  defp human(bytes) when bytes >= 1024 * 1024,
    do: :erlang.float_to_binary(bytes / 1_048_576, decimals: 2) <> "M"

  defp human(bytes) when bytes >= 1024,
    do: :erlang.float_to_binary(bytes / 1024, decimals: 2) <> "K"

  defp human(bytes), do: "#{bytes}B"

  ## Store access

  defp store_stat(ctx, name) do
    FerricStore.Store.stat(ctx.instance, name)
  rescue
    ArgumentError -> 0
  end

  # INFO must answer even when the instance has no store (a listener started alone).
  defp store_info(ctx) do
    case FerricStore.Commands.store(:info, ctx.instance) do
      %{} = info -> info
      _ -> %{}
    end
  catch
    :exit, _ -> %{}
  end
end
