defmodule FerricStore.Instance do
  @moduledoc false
  # The supervision tree of one isolated FerricStore instance. Every process name, ETS
  # table and the ra system are derived from the instance name, so several instances
  # (and tests) run side by side in one node.
  #
  #   Instance (rest_for_one)
  #   ├── RaSystem          ra system under <data_dir>/raft (WAL shared by the shards)
  #   ├── Shard 0..n-1      tables, recovery, ra server, checkpoints
  #   ├── Batcher 0..n-1    group commit of concurrent writes into Raft entries
  #   ├── Expirer 0..n-1    active expiry on the leader
  #   └── Listener          only with `port:` (standalone RESP server)

  use Supervisor

  alias FerricStore.Store
  alias FerricStore.Store.{Batcher, Expirer, Shard}

  defp valid?(:atom, v), do: is_atom(v) and v not in [nil, true, false]
  defp valid?(:binary, v), do: is_binary(v)
  defp valid?(:boolean, v), do: is_boolean(v)
  defp valid?(:pos_integer, v), do: is_integer(v) and v > 0
  defp valid?(:non_neg_integer, v), do: is_integer(v) and v >= 0
  defp valid?(:timeout, v), do: (is_integer(v) and v > 0) or v == :infinity
  defp valid?(:ratio, v), do: is_number(v) and v >= 0
  defp valid?(:port, v), do: v == nil or (is_integer(v) and v >= 0 and v <= 65_535)
  defp valid?(:password, v), do: v == nil or is_binary(v)

  defp describe(:atom), do: "an atom"
  defp describe(:binary), do: "a binary"
  defp describe(:boolean), do: "a boolean"
  defp describe(:pos_integer), do: "a positive integer"
  defp describe(:non_neg_integer), do: "a non-negative integer"
  defp describe(:timeout), do: "a positive integer (ms) or :infinity"
  defp describe(:ratio), do: "a non-negative number (dead bytes per live byte)"
  defp describe(:port), do: "nil or a TCP port number (0: any free port)"
  defp describe(:password), do: "nil or a binary"

  # The one home of every setting: its default and its type (checked before anything
  # starts). The processes below read their settings from the merged options
  # (Keyword.fetch!) and keep no defaults of their own.
  @options [
    name: {FerricStore, :atom},
    data_dir: {"data", :binary},
    shards: {1, :pos_integer},
    timeout: {15_000, :timeout},
    hot_cache: {true, :boolean},
    max_file_size: {128 * 1024 * 1024, :pos_integer},
    checkpoint_bytes: {8 * 1024 * 1024, :pos_integer},
    wal_max_bytes: {32 * 1024 * 1024, :pos_integer},
    segment_max_entries: {64, :pos_integer},
    checkpoint_entries: {100_000, :pos_integer},
    compaction_ratio: {0.35, :ratio},
    compaction_min_bytes: {1024 * 1024, :non_neg_integer},
    port: {nil, :port},
    bind: {"127.0.0.1", :binary},
    password: {nil, :password},
    protected_mode: {true, :boolean},
    maxmemory: {0, :non_neg_integer},
    min_free_disk: {64 * 1024 * 1024, :non_neg_integer},
    snapshot_interval: {4096, :pos_integer}
  ]

  @defaults for {key, {default, _type}} <- @options, do: {key, default}
  @types Map.new(@options, fn {key, {_default, type}} -> {key, type} end)

  @doc """
  Starts the instance. Its options are checked first, before any process or file is
  made: an unknown key or an ill-typed value raises ArgumentError naming the option.
  """
  def start_link(opts) do
    opts = Keyword.merge(@defaults, check!(opts))
    Supervisor.start_link(__MODULE__, opts, name: :"#{opts[:name]}.sup")
  end

  defp check!(opts) when is_list(opts) do
    for pair <- opts do
      case pair do
        {key, value} when is_atom(key) and is_map_key(@types, key) ->
          if not valid?(@types[key], value),
            do: bad!("#{key}: must be #{describe(@types[key])}", value)

        {key, value} when is_atom(key) ->
          known = @defaults |> Keyword.keys() |> Enum.map_join(", ", &inspect/1)
          bad!("unknown option #{inspect(key)} (it takes #{known})", value)

        other ->
          bad!("options must be a keyword list", other)
      end
    end

    opts
  end

  defp check!(opts), do: bad!("options must be a keyword list", opts)

  defp bad!(what, got), do: FerricStore.Commands.Check.bad!({:start_link, 1}, what, got)

  @impl true
  def init(opts) do
    name = opts[:name]
    data_dir = Path.expand(opts[:data_dir])
    shards = opts[:shards]

    Store.put_config(name, %{
      name: name,
      shards: shards,
      data_dir: data_dir,
      timeout: opts[:timeout],
      hot_cache: opts[:hot_cache],
      maxmemory: opts[:maxmemory],
      tables:
        List.to_tuple(for n <- 0..(shards - 1), do: FerricStore.Store.Keydir.tables(name, n)),
      started_at: System.os_time(:second),
      # INFO stats: keyspace hits, keyspace misses, expired keys (Store.stat/2).
      stats: :counters.new(3, [:write_concurrency])
    })

    ra_system = :"#{name}.ra_system"
    ra_dir = Path.join(data_dir, "raft")

    shard_opts = fn n ->
      Keyword.merge(opts,
        shard: n,
        instance: name,
        data_dir: data_dir,
        ra_system: ra_system,
        ra_dir: ra_dir
      )
    end

    each = fn mod -> for n <- 0..(shards - 1), do: {mod, shard_opts.(n)} end

    children =
      [
        {FerricStore.Store.RaSystem,
         name: ra_system,
         dir: ra_dir,
         wal_max_bytes: opts[:wal_max_bytes],
         segment_max_entries: opts[:segment_max_entries]}
      ] ++
        each.(Shard) ++ each.(Batcher) ++ each.(Expirer) ++ listener(opts)

    Supervisor.init(children, strategy: :rest_for_one, max_restarts: 3, max_seconds: 5)
  end

  defp listener(opts) do
    if is_integer(opts[:port]) do
      [
        {FerricStore.Server.Listener,
         instance: opts[:name],
         port: opts[:port],
         bind: opts[:bind],
         password: opts[:password],
         protected_mode: opts[:protected_mode]}
      ]
    else
      []
    end
  end
end
