# Embedded-mode benchmark (issue #3). Run with bench/embedded/run.sh, which also
# measures fio's fdatasync latency on the same disk in the same run.
#
#   hot GET ops/s        FerricStore.get/2 on hot values vs a raw :ets.lookup loop
#   cold GET p50         values on disk only (page cache), hot cache off
#   durable SET p50      one writer, each call waits for the fsynced Raft commit, next
#                        to a bare ra cluster's lone command (the floor through ra)
#   durable SET ops/s    64 concurrent writer processes, 256 B values

Logger.configure(level: :warning)
{:ok, _} = Application.ensure_all_started(:ferricstore)

dir = System.get_env("BENCH_DIR", "bench/out/embedded")
File.rm_rf!(dir)
File.mkdir_p!(dir)
keys = String.to_integer(System.get_env("BENCH_KEYS", "100000"))
value = :binary.copy("v", 256)

percentile = fn list, p ->
  sorted = Enum.sort(list)
  Enum.at(sorted, min(length(sorted) - 1, trunc(length(sorted) * p)))
end

start = fn name, opts ->
  {:ok, pid} = FerricStore.start_link([name: name, data_dir: Path.join(dir, "#{name}")] ++ opts)
  Process.unlink(pid)
  pid
end

stop = fn name -> Supervisor.stop(:"#{name}.sup") end

# -- load ----------------------------------------------------------------------
start.(:bench, [])
key = fn i -> "key:" <> Integer.to_string(i) end

1..keys
|> Enum.chunk_every(500)
|> Task.async_stream(
  fn chunk -> :ok = FerricStore.mset(Enum.map(chunk, &{key.(&1), value}), name: :bench) end,
  max_concurrency: 16,
  timeout: :infinity
)
|> Stream.run()

# -- hot GET vs raw ETS ----------------------------------------------------------
raw = :ets.new(:raw, [:set, :public, read_concurrency: true])
for i <- 1..keys, do: :ets.insert(raw, {key.(i), :string, value, 0, 1, 0, 300})
lookups = 1_000_000
sample = for _ <- 1..lookups, do: key.(:rand.uniform(keys))

{raw_us, _} =
  :timer.tc(fn -> Enum.each(sample, fn k -> [{_, _, _, _, _, _, _}] = :ets.lookup(raw, k) end) end)

{fs_us, _} =
  :timer.tc(fn -> Enum.each(sample, fn k -> {:ok, _} = FerricStore.get(k, name: :bench) end) end)

raw_ops = lookups / (raw_us / 1.0e6)
hot_ops = lookups / (fs_us / 1.0e6)

# -- durable SET, one writer -----------------------------------------------------
# Interleaved with the floor of any design whose writes go through ra: a bare ra
# cluster in its own system (its WAL preallocated like FerricStore's) whose machine
# only counts, fed one 300-byte command at a time by `pipeline_command` from the
# caller, which waits for its `applied` event. Both see the same disk minute by minute.
Code.require_file("../lib/ra_floor.exs", __DIR__)
floor_id = FerricStore.Bench.RaFloor.start(:bench_floor, Path.join(dir, "ra_floor"))

command = :binary.copy("r", 300)

floor_write = fn i ->
  :ok = :ra.pipeline_command(floor_id, {:set, i, command}, i, :normal)

  receive do
    {:ra_event, _, {:applied, [{^i, _}]}} -> :ok
  end
end

for i <- 1..200, do: floor_write.(i)

{set_lat, floor_lat} =
  for i <- 1..2_000 do
    {us, :ok} = :timer.tc(fn -> FerricStore.set(key.(i), value, name: :bench) end)
    {floor_us, :ok} = :timer.tc(fn -> floor_write.(1_000 + i) end)
    {us, floor_us}
  end
  |> Enum.unzip()

# -- durable SET, 64 writers -----------------------------------------------------
per_writer = String.to_integer(System.get_env("BENCH_PER_WRITER", "1500"))

{t64, _} =
  :timer.tc(fn ->
    1..64
    |> Enum.map(fn w ->
      Task.async(fn ->
        for i <- 1..per_writer, do: :ok = FerricStore.set("w#{w}:#{i}", value, name: :bench)
      end)
    end)
    |> Enum.each(&Task.await(&1, :infinity))
  end)

set64_ops = 64 * per_writer / (t64 / 1.0e6)
stop.(:bench)

# -- cold GET ----------------------------------------------------------------------
start.(:bench, hot_cache: false)
cold_sample = Enum.take(sample, 200_000)

cold_lat =
  for k <- cold_sample,
      do: elem(:timer.tc(fn -> {:ok, _} = FerricStore.get(k, name: :bench) end), 0)

stop.(:bench)

IO.puts("""
keys=#{keys} value=256B
hot GET:   #{round(hot_ops)} ops/s   raw :ets.lookup: #{round(raw_ops)} ops/s   ratio #{Float.round(hot_ops / raw_ops, 2)}
cold GET:  p50 #{percentile.(cold_lat, 0.5)} us   p99 #{percentile.(cold_lat, 0.99)} us
durable SET (1 writer): p50 #{percentile.(set_lat, 0.5)} us   p99 #{percentile.(set_lat, 0.99)} us
  floor, a bare ra cluster with a counting machine: p50 #{percentile.(floor_lat, 0.5)} us   p99 #{percentile.(floor_lat, 0.99)} us
durable SET (64 writers): #{round(set64_ops)} ops/s
""")
