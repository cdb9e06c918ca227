# The floor of a durable SET at many clients for any server written like FerricStore's
# (one BEAM process per connection on gen_tcp, writes group-committed by one process),
# with everything else taken away: a RESP parser that only splits frames, SET answered
# `+OK` once its write is durable, every other command answered at once.
#
#   elixir bench/resp/floor.exs PORT DIR ra     writes go through a bare ra cluster
#                                               (its own system, WAL preallocated like
#                                               FerricStore's, a machine that only counts)
#   elixir bench/resp/floor.exs PORT DIR file   no ra: the committer appends the round's
#                                               writes to a preallocated file, then
#                                               fdatasync
#
# The committer works like FerricStore's batcher: one round in flight; the writes that
# arrive meanwhile go together in the next one, which waits (at most 1 ms) until as
# many callers are back as were answered by the last. bench/resp/run.sh starts both
# floors beside FerricStore and redis-server and measures them in the same run.

defmodule Floor.Committer do
  @moduledoc false

  def start(target) do
    pid =
      spawn_link(fn ->
        loop(%{target: target.(), pending: [], count: 0, flight: nil, expect: 0, timer: nil})
      end)

    Process.register(pid, :floor_committer)
  end

  defp loop(s) do
    receive do
      {:write, from, op} ->
        s = %{s | pending: [{from, op} | s.pending], count: s.count + 1}
        loop(if s.flight == nil and s.count >= s.expect, do: commit(s), else: s)

      {:ra_event, _, {:applied, [{corr, _}]}} ->
        {^corr, froms} = s.flight
        Enum.each(froms, &send(&1, :durable))
        s = %{s | flight: nil, expect: length(froms)}

        cond do
          s.count > 0 and s.count >= s.expect -> loop(commit(s))
          true -> loop(%{s | timer: s.timer || Process.send_after(self(), :linger, 1)})
        end

      :linger ->
        s = %{s | timer: nil, expect: 0}
        loop(if s.flight == nil and s.count > 0, do: commit(s), else: s)
    end
  end

  defp commit(s) do
    if s.timer, do: Process.cancel_timer(s.timer)
    {froms, ops} = s.pending |> Enum.reverse() |> Enum.unzip()
    corr = make_ref()
    write(s.target, ops, corr)
    %{s | pending: [], count: 0, flight: {corr, froms}, expect: 0, timer: nil}
  end

  defp write({:file, fd}, ops, corr) do
    :ok = :file.write(fd, :erlang.term_to_iovec(ops))
    :ok = :file.datasync(fd)
    send(self(), {:ra_event, :file, {:applied, [{corr, :ok}]}})
  end

  defp write(server_id, ops, corr), do: :ok = :ra.pipeline_command(server_id, ops, corr, :normal)
end

defmodule Floor.Connection do
  @moduledoc false

  def accept(listen) do
    {:ok, socket} = :gen_tcp.accept(listen)

    pid =
      spawn(fn ->
        receive do
          :go -> :ok = :inet.setopts(socket, active: 100)
        end

        serve(socket, "")
      end)

    :ok = :gen_tcp.controlling_process(socket, pid)
    send(pid, :go)
    accept(listen)
  end

  defp serve(socket, buffer) do
    receive do
      {:tcp, ^socket, data} ->
        {commands, rest} = frames(buffer <> data, [])
        :ok = :gen_tcp.send(socket, Enum.map(commands, &run/1))
        serve(socket, rest)

      {:tcp_passive, ^socket} ->
        :ok = :inet.setopts(socket, active: 100)
        serve(socket, buffer)

      {:tcp_closed, ^socket} ->
        :ok
    end
  end

  defp run([name | args]) do
    case String.upcase(name) do
      "SET" ->
        send(:floor_committer, {:write, self(), List.to_tuple(args)})

        receive do
          :durable -> "+OK\r\n"
        end

      "PING" ->
        "+PONG\r\n"

      # redis-benchmark asks for `save` and `appendonly` first.
      "CONFIG" ->
        "*0\r\n"

      _ ->
        "+OK\r\n"
    end
  end

  defp frames(buffer, acc) do
    case frame(buffer) do
      {:ok, args, rest} -> frames(rest, [args | acc])
      :more -> {Enum.reverse(acc), buffer}
    end
  end

  defp frame("*" <> _ = buffer) do
    case :binary.split(buffer, "\r\n") do
      ["*" <> n, rest] -> args(String.to_integer(n), rest, [])
      _ -> :more
    end
  end

  defp frame(_), do: :more

  defp args(0, rest, acc), do: {:ok, Enum.reverse(acc), rest}

  defp args(n, buffer, acc) do
    with ["$" <> len, rest] <- :binary.split(buffer, "\r\n"),
         len = String.to_integer(len),
         <<arg::binary-size(len), "\r\n", rest::binary>> <- rest do
      args(n - 1, rest, [arg | acc])
    else
      _ -> :more
    end
  end
end

[port, dir, mode] = System.argv()
File.mkdir_p!(dir)

target =
  case mode do
    "file" ->
      fn ->
        {:ok, fd} = :file.open(Path.join(dir, "log"), [:raw, :binary, :write, :read])
        :ok = :file.allocate(fd, 0, 256 * 1024 * 1024)
        {:file, fd}
      end

    "ra" ->
      Code.require_file("../lib/ra_floor.exs", __DIR__)
      id = FerricStore.Bench.RaFloor.start(:floor, dir)
      fn -> id end
  end

Floor.Committer.start(target)

{:ok, listen} =
  :gen_tcp.listen(String.to_integer(port), [
    :binary,
    active: false,
    reuseaddr: true,
    nodelay: true,
    backlog: 1024,
    ip: {127, 0, 0, 1}
  ])

Floor.Connection.accept(listen)
