defmodule FerricStore.Store.Batcher do
  @moduledoc false
  # Turns writes from many concurrent callers into few Raft entries.
  #
  # Callers `GenServer.call` their operation. Calls that arrive while the batcher is busy
  # queue in its mailbox; a `:flush` message sent to itself runs after them, so one
  # Raft entry carries everything that arrived meanwhile, while a lone writer is
  # submitted at once (no added latency). One entry is in flight at a time
  # (`pipeline_command`); each caller is answered when ra reports its entry applied,
  # which is after the WAL fsync: a reply means durable.
  #
  # When an entry is applied, the callers just answered usually come straight back
  # with their next write. Sending at once what is pending then would split the
  # writers into two groups that alternate, each group paying a whole round (fsync,
  # apply, replies). The batcher instead waits until as many callers are waiting as
  # were in the last round (at most 1 ms), so concurrent writers share each round:
  # measured in paired runs, 50 redis-benchmark clients went from 14-18k to 18-27k
  # durable SETs/s and 64 embedded writers from 33-47k to 42-50k; a lone writer is
  # not delayed (it is the one caller expected back). When a wait runs out with 3 in 4
  # callers still away (writers that write once and go), the next 16 rounds are sent at
  # once, so writers that do not loop pay the 1 ms at most once every 17 rounds.

  use GenServer

  @max_ops 512
  @max_in_flight 1
  @eager_rounds 16

  ## Public API

  def start_link(opts) do
    GenServer.start_link(__MODULE__, opts, name: name(opts[:instance], opts[:shard]))
  end

  def child_spec(opts) do
    %{id: {__MODULE__, opts[:shard]}, start: {__MODULE__, :start_link, [opts]}}
  end

  @spec name(atom(), non_neg_integer()) :: atom()
  def name(instance, shard), do: :"#{instance}.batcher.#{shard}"

  @doc """
  Submits one operation and waits for its result.

  Inside `FerricStore.Server.Pipeline` (`:ferricstore_pipeline` in the process
  dictionary) the operation is not sent: with `:collect` it is thrown as
  `{:ferricstore_write, batcher, op, timeout}` for the pipeline to send with its
  neighbours, and with `{:result, result}` (the second run of the handler, once the
  pipeline's writes are applied) that result is returned.
  """
  @spec submit(atom(), non_neg_integer(), tuple(), timeout()) :: term()
  def submit(instance, shard, op, timeout), do: submit_to(name(instance, shard), op, timeout)

  @doc "Like `submit/4`, given the batcher's registered name."
  @spec submit_to(atom(), tuple(), timeout()) :: term()
  def submit_to(name, op, timeout) do
    case Process.get(:ferricstore_pipeline) do
      nil ->
        call(name, op, timeout)

      :collect ->
        throw({:ferricstore_write, name, op, timeout})

      {:result, result} ->
        # A handler writes once (Pipeline's rule); a second write would run alone.
        Process.put(:ferricstore_pipeline, :done)
        result

      :done ->
        call(name, op, timeout)
    end
  end

  defp call(name, op, timeout) do
    GenServer.call(name, {:op, op}, timeout)
  catch
    :exit, {:timeout, _} -> {:error, FerricStore.Error.new(:timeout)}
    :exit, {:noproc, _} -> {:error, FerricStore.Error.new(:unavailable)}
  end

  @doc """
  Sends `ops` to the batcher `name` in one request, without waiting
  (`:gen_server.send_request/2`): they are applied in order, in one Raft entry.
  `await_many/3` collects their results.
  """
  @spec request_many(atom(), [tuple()]) :: term()
  def request_many(name, ops), do: :gen_server.send_request(name, {:ops, ops})

  @doc "The results of a `request_many/2` of `count` operations, in order."
  @spec await_many(term(), non_neg_integer(), timeout()) :: [term()]
  def await_many(request, count, timeout) do
    case :gen_server.wait_response(request, timeout) do
      {:reply, results} ->
        results

      :timeout ->
        Process.demonitor(request, [:flush])
        List.duplicate({:error, FerricStore.Error.new(:timeout)}, count)

      {:error, _down} ->
        List.duplicate({:error, FerricStore.Error.new(:unavailable)}, count)
    end
  end

  ## Callbacks

  @impl true
  def init(opts) do
    {:ok,
     %{
       server_id: FerricStore.Store.Shard.server_id(opts[:instance], opts[:shard]),
       pending: [],
       pending_count: 0,
       flush_scheduled: false,
       # Callers expected back before the next entry goes out (see linger/1).
       expect: 0,
       linger: nil,
       # Rounds left without waiting, after a wait in vain (see linger/1).
       eager_rounds: 0,
       in_flight: %{},
       # ra stores {notify, corr, pid} in each log entry and, when a restarted node
       # re-applies old entries, notifies that pid again. Pids repeat across restarts,
       # so correlations carry a tag of this incarnation (its start time in
       # nanoseconds) and stale ones are ignored. Not :crypto: loading it on the first
       # start takes ~75 ms of the instance's start-up.
       incarnation: {System.os_time(:nanosecond), :erlang.unique_integer()},
       next_corr: 0,
       data_dir: opts[:data_dir],
       min_free_disk: Keyword.fetch!(opts, :min_free_disk)
     }}
  end

  @impl true
  def handle_call({:op, op}, from, state) do
    queued(%{
      state
      | pending: [{op, from} | state.pending],
        pending_count: state.pending_count + 1
    })
  end

  # A pipeline's writes: each is pending on its own, tagged as a part of one request.
  # An entry always takes everything pending, so the parts stay together and are
  # answered in one reply.
  def handle_call({:ops, ops}, from, state) do
    pending = Enum.reduce(ops, state.pending, fn op, acc -> [{op, {:part, from}} | acc] end)
    queued(%{state | pending: pending, pending_count: state.pending_count + length(ops)})
  end

  defp queued(state) do
    cond do
      state.pending_count >= @max_ops -> {:noreply, flush(state)}
      state.flush_scheduled -> {:noreply, state}
      map_size(state.in_flight) > 0 -> {:noreply, state}
      state.pending_count < state.expect -> {:noreply, linger(state)}
      true -> send(self(), :flush) && {:noreply, %{state | flush_scheduled: true}}
    end
  end

  @impl true
  def handle_info(:flush, state), do: {:noreply, flush(%{state | flush_scheduled: false})}

  # Not all callers came back within 1 ms. When 3 in 4 did not (writers that write once,
  # then do other work), the next rounds go out at once instead of each waiting in vain;
  # a few slow ones (a loaded machine) change nothing.
  def handle_info(:linger, state) do
    eager = if state.pending_count * 4 < state.expect, do: @eager_rounds, else: 0
    {:noreply, flush(%{state | linger: nil, expect: 0, eager_rounds: eager})}
  end

  def handle_info({:ra_event, _leader, {:applied, applied}}, state) do
    {in_flight, answered} =
      Enum.reduce(applied, {state.in_flight, 0}, fn {corr, reply}, {in_flight, n} ->
        {froms, in_flight} = Map.pop(in_flight, corr)
        answer(froms, reply)
        {in_flight, n + length(froms || [])}
      end)

    state =
      if state.eager_rounds > 0,
        do: %{state | in_flight: in_flight, expect: 0, eager_rounds: state.eager_rounds - 1},
        else: %{state | in_flight: in_flight, expect: answered + state.pending_count}

    {:noreply, if(state.pending_count >= state.expect, do: flush(state), else: linger(state))}
  end

  def handle_info({:ra_event, _from, {:rejected, {_reason, _hint, corr}}}, state) do
    {froms, in_flight} = Map.pop(state.in_flight, corr)
    answer(froms, :unavailable)
    {:noreply, flush(%{state | in_flight: in_flight})}
  end

  def handle_info(_msg, state), do: {:noreply, state}

  ## Helpers

  # Group commit across rounds: the callers just answered usually come straight back
  # with their next write. Submitting what is pending at once would split the writers
  # into two groups that alternate, each paying a whole round; waiting until they are
  # back (at most 1 ms) keeps them in one entry.
  defp linger(%{linger: nil} = state),
    do: %{state | linger: Process.send_after(self(), :linger, 1)}

  defp linger(state), do: state

  defp cancel_linger(%{linger: nil} = state), do: state

  defp cancel_linger(state) do
    Process.cancel_timer(state.linger)
    %{state | linger: nil}
  end

  defp flush(%{pending: []} = state), do: state

  defp flush(state) when map_size(state.in_flight) >= @max_in_flight, do: state

  defp flush(state) do
    if disk_full?(state), do: refuse(state), else: submit(state)
  end

  # ra's log cannot take writes on a full disk (its segment writer crashes and writes
  # hang), so a write is refused with a clear error while less than `min_free_disk` is
  # left, and accepted again as soon as there is room. One statvfs per Raft entry.
  defp disk_full?(%{data_dir: nil}), do: false

  defp disk_full?(state) do
    case FerricStore.Bitcask.available_space(state.data_dir) do
      {:ok, free} -> free < state.min_free_disk
      {:error, _} -> false
    end
  end

  defp refuse(state) do
    error =
      {:error,
       FerricStore.Error.new(
         :disk_full,
         "MISCONF Errors writing to the data directory: No space left on device"
       )}

    state.pending |> Enum.reverse() |> Enum.map(&elem(&1, 1)) |> reply_all_with(error)
    %{state | pending: [], pending_count: 0}
  end

  defp submit(state) do
    state = cancel_linger(state)
    {ops, froms} = state.pending |> Enum.reverse() |> Enum.unzip()
    corr = {state.incarnation, state.next_corr}
    :ok = :ra.pipeline_command(state.server_id, {:batch, ops}, corr, :normal)

    %{
      state
      | pending: [],
        pending_count: 0,
        in_flight: Map.put(state.in_flight, corr, froms),
        next_corr: state.next_corr + 1
    }
  end

  defp answer(nil, _reply), do: :ok

  defp answer(froms, {:results, results}), do: reply_all(froms, results)

  defp answer(froms, _other),
    do: reply_all_with(froms, {:error, FerricStore.Error.new(:unavailable)})

  defp reply_all_with(froms, error), do: reply_all(froms, Enum.map(froms, fn _ -> error end))

  # A lone caller gets its result; the parts of one pipeline request get their results
  # in one list, in order.
  defp reply_all(froms, results) do
    parts =
      Enum.zip_reduce(froms, results, %{}, fn
        {:part, from}, result, parts ->
          Map.update(parts, from, [result], &[result | &1])

        from, result, parts ->
          GenServer.reply(from, result)
          parts
      end)

    Enum.each(parts, fn {from, rs} -> GenServer.reply(from, Enum.reverse(rs)) end)
  end
end
