defmodule FerricStore.Server.Pipeline do
  @moduledoc false
  # Runs a pipeline's consecutive write commands concurrently while keeping their order.
  #
  # A durable write waits for its Raft entry to be fsynced. Run one at a time, a client
  # pipelining 16 SETs pays 16 commits; here each command runs in its own process, and
  # the next one starts only once the previous one's request is queued in its shard's
  # batcher (or the command finished without writing, e.g. a syntax error). Requests
  # therefore reach each batcher in pipeline order and are applied in that order, while
  # all of them share a few Raft entries. Replies are collected in order.
  #
  # Only commands whose handler makes exactly one `Store.write` and reads nothing before
  # it qualify (a read on the caller side could miss an earlier write of the same
  # pipeline that is still in flight). Any other command waits until the writes before
  # it are done.

  alias FerricStore.Commands

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
  def run(commands, ctx) do
    owner = self()

    workers =
      Enum.map(commands, fn command ->
        {pid, ref} =
          spawn_monitor(fn ->
            Process.put(:ferricstore_pipeline, owner)
            {reply, _ctx} = Commands.dispatch(command, ctx)
            send(owner, {:ferricstore_done, self(), reply})
          end)

        {pid, ref, await_submitted(pid, ref)}
      end)

    Enum.map(workers, fn
      {_pid, _ref, {:done, reply}} -> reply
      {pid, ref, :submitted} -> await_done(pid, ref)
    end)
  end

  # Returns once the worker queued its write, or with its reply if it finished (or
  # died) without writing.
  defp await_submitted(pid, ref) do
    receive do
      {:ferricstore_submitted, ^pid} ->
        :submitted

      {:ferricstore_done, ^pid, reply} ->
        Process.demonitor(ref, [:flush])
        {:done, reply}

      {:DOWN, ^ref, _, _, reason} ->
        {:done, crashed(reason)}
    end
  end

  defp await_done(pid, ref) do
    receive do
      {:ferricstore_done, ^pid, reply} ->
        Process.demonitor(ref, [:flush])
        reply

      {:DOWN, ^ref, _, _, reason} ->
        crashed(reason)
    end
  end

  defp crashed(reason),
    do: FerricStore.Error.new(:internal, "ERR internal error: #{inspect(reason)}")
end
