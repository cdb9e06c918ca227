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

  # The one home of every setting's default: the processes below read their settings
  # from the merged options (Keyword.fetch!) and keep no defaults of their own.
  @defaults [
    name: FerricStore,
    data_dir: "data",
    shards: 1,
    timeout: 15_000,
    hot_cache: true,
    max_file_size: 128 * 1024 * 1024,
    checkpoint_bytes: 8 * 1024 * 1024,
    wal_max_bytes: 32 * 1024 * 1024,
    segment_max_entries: 64,
    checkpoint_entries: 100_000,
    compaction_ratio: 0.35,
    compaction_min_bytes: 1024 * 1024,
    port: nil,
    bind: "127.0.0.1",
    password: nil,
    maxmemory: 0,
    min_free_disk: 64 * 1024 * 1024
  ]

  def start_link(opts) do
    opts = Keyword.merge(@defaults, opts)
    Supervisor.start_link(__MODULE__, opts, name: :"#{opts[:name]}.sup")
  end

  @impl true
  def init(opts) do
    name = opts[:name]
    data_dir = Path.expand(opts[:data_dir])
    shards = opts[:shards]

    if not (is_integer(shards) and shards > 0),
      do: raise(ArgumentError, "shards must be a positive integer")

    Store.put_config(name, %{
      name: name,
      shards: shards,
      data_dir: data_dir,
      timeout: opts[:timeout],
      hot_cache: opts[:hot_cache],
      maxmemory: opts[:maxmemory],
      tables:
        List.to_tuple(for n <- 0..(shards - 1), do: FerricStore.Store.Keydir.tables(name, n)),
      started_at: System.os_time(:second)
    })

    ra_system = :"#{name}.ra_system"
    shard_opts = fn n -> Keyword.merge(opts, shard: n, instance: name, data_dir: data_dir) end
    shard_opts = fn n -> Keyword.put(shard_opts.(n), :ra_system, ra_system) end
    each = fn mod -> for n <- 0..(shards - 1), do: {mod, shard_opts.(n)} end

    children =
      [
        {FerricStore.Store.RaSystem,
         name: ra_system,
         dir: Path.join(data_dir, "raft"),
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
         protected_mode: Keyword.get(opts, :protected_mode, true)}
      ]
    else
      []
    end
  end
end
