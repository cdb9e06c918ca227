defmodule FerricStore.Bench.RaFloor do
  @moduledoc false
  # The floor of any design whose writes go through ra (bench/embedded, bench/resp): a
  # bare ra cluster of one member in a ra system of its own, its WAL preallocated like
  # FerricStore's, whose machine only counts the commands it applies.

  @doc "Starts the system `name` with its files in `dir`; returns the member's server id."
  def start(name, dir) do
    {:ok, _} = Application.ensure_all_started(:ra)
    File.mkdir_p!(dir)

    config =
      Map.merge(:ra_system.default_config(), %{
        name: name,
        data_dir: String.to_charlist(dir),
        wal_data_dir: String.to_charlist(dir),
        names: :ra_system.derive_names(name),
        wal_pre_allocate: true
      })

    {:ok, _} = :ra_system.start(config)
    id = {:"#{name}_1", node()}
    machine = {:simple, fn command, n -> n + count(command) end, 0}
    {:ok, _, _} = :ra.start_cluster(name, name, machine, [id])
    id
  end

  # A list is a round of several writes.
  defp count(ops) when is_list(ops), do: length(ops)
  defp count(_command), do: 1
end
