defmodule FerricStore.Store.Expirer do
  @moduledoc false
  # Active expiry for one shard, on the Raft leader only: reads due keys from the
  # shard's expiry index (ordered by expire_at; no keydir scans) and deletes them
  # through Raft, so every replica removes the same keys. Reads never return an
  # expired key whatever this process is doing (lazy expiry in the read path).

  use GenServer

  alias FerricStore.Store.{Batcher, Keydir}

  @interval 100
  @max_keys 1_000

  def start_link(opts) do
    GenServer.start_link(__MODULE__, opts, name: name(opts[:instance], opts[:shard]))
  end

  def child_spec(opts) do
    %{id: {__MODULE__, opts[:shard]}, start: {__MODULE__, :start_link, [opts]}}
  end

  @spec name(atom(), non_neg_integer()) :: atom()
  def name(instance, shard), do: :"#{instance}.expirer.#{shard}"

  @impl true
  def init(opts) do
    instance = opts[:instance]
    shard = opts[:shard]
    Process.send_after(self(), :tick, @interval)
    {:ok, %{instance: instance, shard: shard, tables: Keydir.tables(instance, shard)}}
  end

  @impl true
  def handle_info(:tick, state) do
    next =
      if Keydir.meta(state.tables.meta, :leader, false) do
        now = System.os_time(:millisecond)

        case Keydir.due(state.tables.expiry, now, @max_keys) do
          [] ->
            @interval

          due ->
            case Batcher.submit(
                   state.instance,
                   state.shard,
                   {now, :keyspace, {:expire_due, due}},
                   30_000
                 ) do
              {:ok, deleted} -> FerricStore.Store.count_expired(state.instance, deleted)
              _ -> :ok
            end

            if length(due) == @max_keys, do: 0, else: @interval
        end
      else
        @interval
      end

    Process.send_after(self(), :tick, next)
    {:noreply, state}
  end

  def handle_info(_msg, state), do: {:noreply, state}
end
