# The FerricStore side of the issue #6 benchmark (see bench.exs for the subcommands);
# restarts run the standalone server itself (scripts/server, from bench/startup/run.sh).

defmodule StartupBench do
  # The instance name scripts/server serves (the application's default instance), so a
  # restart finds the Raft log the load left, as after a real stop.
  @name FerricStore
  @procs 16
  @batch 500

  def main(["load", dir, n]) do
    n = String.to_integer(n)
    {:ok, _} = FerricStore.start_link(name: @name, data_dir: dir)
    {us, :ok} = :timer.tc(fn -> load(n, 256) end)

    IO.puts(
      "loaded #{n} keys in #{Float.round(us / 1.0e6, 1)} s (#{round(n / (us / 1.0e6))} keys/s)"
    )

    IO.puts("disk bytes (data files): #{FerricStore.info(name: @name).disk_bytes}")
    stop()
  end

  def main(["overwrite", dir, gb, passes]) do
    value_size = 4096
    n = div(String.to_integer(gb) * 1024 * 1024 * 1024, value_size)
    {:ok, _} = FerricStore.start_link(name: @name, data_dir: dir)
    live = n * value_size
    IO.puts("live data: #{n} keys x #{value_size} B = #{mb(live)} MB")

    for pass <- 1..String.to_integer(passes) do
      {us, :ok} = :timer.tc(fn -> load(n, value_size, pass) end)
      info = FerricStore.info(name: @name)
      raft = du(Path.join(dir, "raft"))

      IO.puts(
        "pass #{pass}: #{Float.round(us / 1.0e6, 1)} s, data files #{mb(info.disk_bytes)} MB " <>
          "(#{Float.round(info.disk_bytes / live, 2)}x live), raft dir #{mb(raft)} MB, " <>
          "total #{Float.round((info.disk_bytes + raft) / live, 2)}x live"
      )
    end

    if function_exported?(FerricStore.Store.Shard, :compact, 2) do
      {us, _} = :timer.tc(fn -> FerricStore.Store.Shard.compact(@name, 0) end)
      # Compacted files are deleted 2 s after their successor is in place.
      Process.sleep(2_500)
      info = FerricStore.info(name: @name)

      IO.puts(
        "after Shard.compact (#{Float.round(us / 1.0e6, 1)} s) and the 2 s grace: data files #{mb(info.disk_bytes)} MB " <>
          "(#{Float.round(info.disk_bytes / live, 2)}x live)"
      )
    end

    stop()
  end

  defp load(n, size, pass \\ 0) do
    chunks = Enum.chunk_every(0..(n - 1), @batch)
    per = div(length(chunks) + @procs - 1, @procs)

    chunks
    |> Enum.chunk_every(per)
    |> Enum.map(fn mine ->
      Task.async(fn ->
        Enum.each(mine, fn keys ->
          pairs = for i <- keys, do: {"key:#{i}", value(i, size, pass)}
          :ok = FerricStore.mset(pairs, name: @name)
        end)
      end)
    end)
    |> Enum.each(&Task.await(&1, :infinity))
  end

  # The same bytes redis gets from gen_redis.py: "v<n>:" then filler, `size` bytes.
  defp value(i, size, pass) do
    head = "v#{i}.#{pass}:"
    head <> :binary.copy("x", size - byte_size(head))
  end

  defp stop do
    pid = Process.whereis(:"#{@name}.sup")
    Supervisor.stop(pid, :normal, :infinity)
  end

  defp du(dir) do
    dir
    |> Path.join("**")
    |> Path.wildcard()
    |> Enum.reduce(0, fn p, acc ->
      case File.stat(p) do
        {:ok, %{type: :regular, size: s}} -> acc + s
        _ -> acc
      end
    end)
  end

  defp mb(bytes), do: Float.round(bytes / 1_048_576, 1)
end
