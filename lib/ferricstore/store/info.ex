defmodule FerricStore.Store.Info do
  @moduledoc false
  # Figures about a running instance, for INFO, metrics and `FerricStore.info/1`.

  alias FerricStore.Store
  alias FerricStore.Store.{Keydir, Ranks, Shard}

  @spec info(atom()) :: map()
  def info(instance) do
    config = Store.config(instance)
    shards = Store.shards(instance)
    tables = Enum.map(shards, &Store.tables(instance, &1))
    words = :erlang.system_info(:wordsize)

    recovery =
      Enum.map(tables, &Keydir.meta(&1.meta, :recovery, %{})) |> Enum.reduce(%{}, &merge_sum/2)

    %{
      keys: sum(tables, &:ets.info(&1.keydir, :size)),
      expires: sum(tables, &:ets.info(&1.expiry, :size)),
      used_memory: sum(tables, &used_memory(&1, words)),
      shards: config.shards,
      data_dir: config.data_dir,
      started_at: config.started_at,
      disk_bytes: disk_bytes(config.data_dir, shards),
      recovery: recovery,
      applied_index: sum(tables, &Keydir.meta(&1.meta, :applied, 0))
    }
  end

  defp sum(tables, fun), do: Enum.reduce(tables, 0, &(fun.(&1) + &2))

  # What the data costs in memory: the keydir (hot values included), the expiry index,
  # collection members in ETS, and the sorted sets' rank index.
  defp used_memory(tables, words) do
    ets = [tables.keydir, tables.expiry, tables.members]
    Enum.reduce(ets, 0, &(:ets.info(&1, :memory) * words + &2)) + Ranks.memory(Ranks.of(tables))
  end

  defp merge_sum(map, acc), do: Map.merge(acc, map, fn _k, a, b -> a + b end)

  defp disk_bytes(data_dir, shards) do
    Enum.reduce(shards, 0, fn n, acc ->
      dir = Path.join(data_dir, "shard_#{n}")

      acc +
        (dir
         |> Path.join("*.data")
         |> Path.wildcard()
         |> Enum.reduce(0, fn path, a ->
           # Compaction may delete a file between listing and stat.
           case File.stat(path) do
             {:ok, %{size: size}} -> a + size
             {:error, _} -> a
           end
         end))
    end)
  end

  @doc false
  def shard_stats(instance, n), do: Shard.stats(instance, n)
end
