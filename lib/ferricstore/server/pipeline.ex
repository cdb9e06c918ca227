defmodule FerricStore.Server.Pipeline do
  @moduledoc false
  # Runs a pipeline's consecutive write commands together while keeping their order.
  #
  # A durable write waits for its Raft entry to be fsynced. Run one at a time, a client
  # pipelining 16 SETs pays 16 commits. Here the connection runs each command's handler
  # up to its `Store.write`, which (with `:ferricstore_pipeline` set to `:collect` in the
  # process dictionary) throws the operation instead of sending it; the operations then
  # go to their shard's batcher in one request, in pipeline order, so they are applied in
  # that order and share Raft entries; once they are applied, each handler runs again and
  # its `Store.write` returns that write's result (`{:result, r}`), so every reply comes
  # from the handler's own code. No process per command: measured with
  # `redis-benchmark -P 16`, see bench/RESULTS.md.
  #
  # Only commands whose handler makes exactly one `Store.write` and reads nothing before
  # it qualify (a read on the caller side could miss an earlier write of the same
  # pipeline that is still in flight; the no-op checks of `Collection.no_op?/5` stand
  # aside inside a pipeline). Any other command waits until the writes before it are
  # done.

  alias FerricStore.Commands
  alias FerricStore.Store.Batcher

  @pipelined MapSet.new(~w(
    set setex psetex setnx getset getdel incr decr incrby decrby incrbyfloat append
    mset msetnx del unlink expire pexpire expireat pexpireat persist
    hset hmset hsetnx hdel hincrby lpush rpush lpushx rpushx lpop rpop
    sadd srem zadd zincrby zrem
  ))

  @pipelined_any_case MapSet.union(@pipelined, MapSet.new(@pipelined, &String.upcase/1))

  @doc "Whether `command` may run concurrently with its neighbours (see above)."
  @spec pipelined?([binary()]) :: boolean()
  def pipelined?([name | _]) do
    cond do
      MapSet.member?(@pipelined_any_case, name) -> true
      # Names in one case were found above or are not listed: only mixed case
      # (`Set`, `hSet`) needs a lowercase copy.
      not mixed_case?(name) -> false
      true -> MapSet.member?(@pipelined, Commands.downcase(name))
    end
  end

  def pipelined?(_), do: false

  defp mixed_case?(name), do: mixed_case?(name, false, false)
  defp mixed_case?(_, true, true), do: true

  defp mixed_case?(<<c, rest::binary>>, _up, low) when c in ?A..?Z,
    do: mixed_case?(rest, true, low)

  defp mixed_case?(<<c, rest::binary>>, up, _low) when c in ?a..?z,
    do: mixed_case?(rest, up, true)

  defp mixed_case?(<<_, rest::binary>>, up, low), do: mixed_case?(rest, up, low)
  defp mixed_case?(<<>>, _up, _low), do: false

  @doc "Runs `commands` (all `pipelined?/1`) and returns their replies in order."
  @spec run([[binary()]], FerricStore.Commands.Context.t()) :: [term()]
  def run(commands, ctx), do: commands |> run_with_stats(ctx) |> Enum.map(&elem(&1, 0))

  @doc "Like `run/2`, each reply with its `t:FerricStore.Commands.stat/0`."
  @spec run_with_stats([[binary()]], FerricStore.Commands.Context.t()) ::
          [{term(), Commands.stat()}]
  def run_with_stats(commands, ctx) do
    # First pass: each handler runs up to its write, which is collected instead of sent
    # (or to its reply, if it answers without writing: a syntax error, a wrong arity).
    planned = Enum.map(commands, &plan(&1, ctx))

    results =
      planned
      |> Enum.with_index()
      |> Enum.flat_map(fn
        {{:write, batcher, op, timeout}, i} -> [{batcher, {i, op, timeout}}]
        _ -> []
      end)
      |> Enum.group_by(&elem(&1, 0), &elem(&1, 1))
      |> submit_all()

    # Second pass: the handlers that wrote run again and get their write's result
    # where they made the write, so each reply is built by its own handler's code.
    Enum.zip_with(commands, Enum.with_index(planned), fn
      command, {{:write, _batcher, _op, _timeout}, i} ->
        {finish(command, ctx, Map.fetch!(results, i)), {Commands.stat_name(command), :ran}}

      _command, {{:reply, reply, stat}, _i} ->
        {reply, stat}
    end)
  end

  defp plan(command, ctx) do
    Process.put(:ferricstore_pipeline, :collect)
    {{reply, _ctx}, stat} = Commands.dispatch_stat(command, ctx)
    {:reply, reply, stat}
  catch
    :throw, {:ferricstore_write, batcher, op, timeout} -> {:write, batcher, op, timeout}
  after
    Process.delete(:ferricstore_pipeline)
  end

  defp finish(command, ctx, result) do
    Process.put(:ferricstore_pipeline, {:result, result})
    {reply, _ctx} = Commands.dispatch(command, ctx)
    reply
  after
    Process.delete(:ferricstore_pipeline)
  end

  # One request per batcher (shard) with all of its writes in pipeline order, all sent
  # before any reply is awaited; returns %{index => result}. The writes of one pipeline
  # are one instance's, so they share its timeout.
  defp submit_all(by_batcher) do
    by_batcher
    |> Enum.map(fn {batcher, writes} ->
      {writes, Batcher.request_many(batcher, Enum.map(writes, &elem(&1, 1)))}
    end)
    |> Enum.flat_map(fn {[{_, _, timeout} | _] = writes, request} ->
      results = Batcher.await_many(request, length(writes), timeout)
      Enum.zip_with(writes, results, fn {i, _op, _timeout}, result -> {i, result} end)
    end)
    |> Map.new()
  end
end
