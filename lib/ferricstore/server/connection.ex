defmodule FerricStore.Server.Connection do
  @moduledoc """
  One process per client connection of the standalone server.

  ## The loop

  The socket runs in `{active, N}` mode. Each read is parsed completely
  (`FerricStore.Protocol.RESP.parse_all/2`): every complete command runs in order through
  `FerricStore.Commands.dispatch/2` and all their replies go out in one `gen_tcp:send`
  (flushed early past #{div(256 * 1024, 1024)} KB). A command cut by the end of a read
  waits in the parser's continuation.

  Back-pressure: `send` blocks while the client does not read (the kernel buffer is
  full), and a blocked process reads nothing more; after 30 s of a stuck send the socket
  is closed (`send_timeout_close`), like Redis' output buffer limit for a client that
  stopped reading.

  A protocol error gets its Redis reply, then the connection closes; the node and the
  other clients are untouched.

  ## Out-of-band messages

  Other processes can push to a client: `{:ferricstore_push, reply}` is encoded with the
  connection's protocol and written (pub/sub messages, CLIENT TRACKING invalidations,
  the reply of a blocked command), and `:ferricstore_kill` closes the connection
  (CLIENT KILL). State for MULTI/WATCH/SUBSCRIBE/blocking lives in the
  `FerricStore.Commands.Context` the commands return.
  """

  use GenServer, restart: :temporary

  require Logger

  alias FerricStore.Commands
  alias FerricStore.Commands.Context
  alias FerricStore.Error
  alias FerricStore.Protocol.RESP
  alias FerricStore.Server.Pipeline
  alias FerricStore.Server.{Config, Listener, Stats}

  @active_n 100
  @flush_bytes 256 * 1024

  @denied "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n"

  ## Public API

  @doc false
  def start_link(opts), do: GenServer.start_link(__MODULE__, opts)

  @doc "The client info row of a connection (as kept in the listener's registry)."
  @spec info(Context.t(), map()) :: map()
  def info(%Context{} = ctx, extra \\ %{}) do
    Map.merge(
      %{
        id: ctx.client_id,
        addr: ctx.peer,
        laddr: ctx.local,
        name: ctx.client_name,
        lib_name: ctx.lib_name,
        lib_ver: ctx.lib_ver,
        created_at: ctx.created_at,
        db: ctx.db,
        user: ctx.user,
        resp: ctx.protocol,
        multi: if(ctx.multi, do: length(ctx.multi), else: -1),
        sub: MapSet.size(ctx.subscriptions.channels),
        psub: MapSet.size(ctx.subscriptions.patterns)
      },
      extra
    )
  end

  ## Callbacks

  @impl true
  def init(opts) do
    instance = Keyword.fetch!(opts, :instance)
    ctx = Context.new(instance: instance, server: %{password: Config.password(instance)})

    {:ok,
     %{
       socket: Keyword.fetch!(opts, :socket),
       ctx: ctx,
       cont: nil,
       last_cmd: nil,
       last_at: nil,
       # Per-request bookkeeping is batched: the registry row (CLIENT LIST) and the INFO
       # command counter are refreshed at most once a second (or at once when the
       # connection's context changed).
       registry: Listener.registry(instance),
       touched_at: nil,
       refresh_timer: nil,
       commands: 0,
       # INFO commandstats, flushed with the counter: name => {calls, usec, rejected,
       # failed}.
       cmdstats: %{},
       # INFO latencystats, flushed with them: name => %{bucket => count}.
       latency: %{}
     }}
  end

  @impl true
  def handle_info(:socket_ready, %{socket: sock, ctx: ctx} = state) do
    with {:ok, {ip, _} = peer} <- :inet.peername(sock),
         {:ok, local} <- :inet.sockname(sock) do
      Config.incr(ctx.instance, :total_connections_received)

      if Listener.allowed?(
           ip,
           Config.get(ctx.instance, "protected-mode") == "yes",
           Config.password(ctx.instance)
         ) do
        ctx = %{ctx | peer: format_addr(peer), local: format_addr(local)}
        state = %{state | ctx: ctx, last_at: System.monotonic_time(:millisecond)}

        {:ok, _} = Registry.register(Listener.registry(ctx.instance), ctx.client_id, info(ctx))

        :ok = :inet.setopts(sock, [{:active, @active_n} | keepalive(ctx.instance)])
        {:noreply, state}
      else
        Config.incr(ctx.instance, :rejected_connections)
        :gen_tcp.send(sock, @denied)
        :gen_tcp.close(sock)
        {:stop, :normal, state}
      end
    else
      _ -> {:stop, :normal, state}
    end
  end

  def handle_info({:tcp, sock, data}, %{socket: sock} = state) do
    case state.cont do
      nil -> handle_data(RESP.parse_all(data, parse_opts(state)), state)
      cont -> handle_data(RESP.parse_all({cont, data}, []), %{state | cont: nil})
    end
  end

  def handle_info({:tcp_passive, sock}, %{socket: sock} = state) do
    case :inet.setopts(sock, active: @active_n) do
      :ok -> {:noreply, state}
      {:error, _} -> {:stop, :normal, state}
    end
  end

  def handle_info({:tcp_closed, sock}, %{socket: sock} = state), do: {:stop, :normal, state}

  def handle_info(:refresh, state),
    do: {:noreply, refresh(%{state | refresh_timer: nil}, System.monotonic_time(:millisecond))}

  def handle_info({:tcp_error, sock, _reason}, %{socket: sock} = state),
    do: {:stop, :normal, state}

  def handle_info({:ferricstore_push, reply}, state) do
    send_out(state, RESP.encode(reply, state.ctx.protocol))
  end

  # CONFIG SET timeout: an idle client is closed, without a reply, as in Redis; one in
  # subscribed mode is not (it waits for messages, not commands).
  def handle_info({:idle_check, max_idle_ms}, state) do
    idle = System.monotonic_time(:millisecond) - state.last_at
    subscribed? = Context.subscribed?(state.ctx)

    if idle >= max_idle_ms and not subscribed? do
      :gen_tcp.close(state.socket)
      {:stop, :normal, state}
    else
      {:noreply, state}
    end
  end

  def handle_info(:ferricstore_kill, state) do
    :gen_tcp.close(state.socket)
    {:stop, :normal, state}
  end

  def handle_info(_other, state), do: {:noreply, state}

  # However the connection ends (QUIT, CLIENT KILL, a protocol error, the peer gone),
  # its commands still count in INFO.
  @impl true
  def terminate(_reason, state), do: flush_stats(state)

  ## Helpers

  # tcp-keepalive (seconds; 0: off), set on each new connection as Redis does on Linux:
  # probes after that idle time, then every third of it, three of them.
  @ipproto_tcp 6
  @tcp_keepidle 4
  @tcp_keepintvl 5
  @tcp_keepcnt 6

  defp keepalive(instance) do
    case Integer.parse(Config.get(instance, "tcp-keepalive")) do
      {interval, ""} when interval > 0 ->
        keepalive_opts(interval)

      _ ->
        []
    end
  end

  defp keepalive_opts(interval) do
    if match?({:unix, :linux}, :os.type()) do
      [
        {:keepalive, true},
        {:raw, @ipproto_tcp, @tcp_keepidle, <<interval::native-32>>},
        {:raw, @ipproto_tcp, @tcp_keepintvl, <<max(div(interval, 3), 1)::native-32>>},
        {:raw, @ipproto_tcp, @tcp_keepcnt, <<3::native-32>>}
      ]
    else
      [keepalive: true]
    end
  end

  # Runs what one read parsed. `{:more, rest}`: the parser stopped after a command run
  # unauthenticated (it may be AUTH), so the rest is parsed with the limits that hold
  # after it, as Redis checks them command by command.
  defp handle_data({commands, tail}, state) do
    ctx_before = state.ctx
    state = %{state | commands: state.commands + length(commands)}

    case run(commands, state, [], 0) do
      {:stop, state} ->
        {:stop, :normal, state}

      {:ok, out, state} ->
        case tail do
          :done ->
            send_out(state, out) |> touch(ctx_before)

          {:continuation, cont} ->
            send_out(%{state | cont: cont}, out) |> touch(ctx_before)

          {:more, rest} ->
            with {:noreply, state} <- send_out(state, out) |> touch(ctx_before),
                 do: handle_data(RESP.parse_all(rest, parse_opts(state)), state)

          {:error, message} ->
            error = Error.new(:protocol, message)
            count_error(state.ctx.instance, error)
            _ = :gen_tcp.send(state.socket, [out, RESP.encode(error, state.ctx.protocol)])
            close_after_reply(state.socket)
            {:stop, :normal, state}
        end
    end
  end

  # The bulk limit is read for every read, so CONFIG SET proto-max-bulk-len applies to
  # the next command of every connection, as in Redis.
  defp parse_opts(state) do
    [
      max_bulk_len: Config.max_bulk_len(state.ctx.instance),
      auth_required: not state.ctx.authenticated?
    ]
  end

  # Runs commands in order, accumulating encoded replies; flushes past @flush_bytes so a
  # huge pipeline does not hold all its replies in memory.
  defp run([], state, out, _size), do: {:ok, out, state}

  # A lone command (the common case without pipelining) runs as it is.
  defp run([command], state, out, size), do: run_one(command, [], state, out, size)

  # CLIENT REPLY OFF or SKIP: one command at a time, each reply kept or dropped.
  defp run([command | rest], %{ctx: %{reply: mode}} = state, out, size) when mode != :on,
    do: run_one(command, rest, state, out, size)

  defp run([command | rest] = commands, state, out, size) do
    case Enum.split_while(commands, &Pipeline.pipelined?/1) do
      {[_, _ | _] = writes, rest} -> run_writes(writes, rest, state, out, size)
      _ -> run_one(command, rest, state, out, size)
    end
  end

  # Two or more consecutive writes: in flight together (FerricStore.Server.Pipeline).
  # Their time is shared out evenly: they were in flight together.
  defp run_writes(writes, rest, state, out, size) do
    started = :erlang.monotonic_time(:microsecond)
    results = Pipeline.run_with_stats(writes, state.ctx)
    usec = div(:erlang.monotonic_time(:microsecond) - started, length(writes))

    state =
      Enum.zip_reduce(writes, results, state, fn command, {reply, stat}, state ->
        count_error(state.ctx.instance, reply)
        record(state, command, stat, reply, usec)
      end)

    encoded = Enum.map(results, &RESP.encode(elem(&1, 0), state.ctx.protocol))
    state = %{state | last_cmd: hd(List.last(writes))}
    continue(rest, state, [out, encoded], size + IO.iodata_length(encoded))
  end

  defp run_one(command, rest, state, out, size) do
    state = if reads_stats?(command), do: flush_stats(state), else: state
    out = if blocks?(command), do: send_before_block(state, out), else: out
    ctx = skipping(state.ctx)
    started = :erlang.monotonic_time(:microsecond)
    {result, stat} = Commands.dispatch_stat(command, ctx)
    usec = :erlang.monotonic_time(:microsecond) - started
    {result, quiet?} = reply_mode(result)
    state = record(%{state | ctx: result_ctx(result)}, command, stat, elem(result, 0), usec)

    case result do
      {reply, %Context{} = ctx} when quiet? ->
        count_error(ctx.instance, reply)
        continue(rest, %{state | ctx: ctx, last_cmd: hd(command)}, out, size)

      {:close, _reply, ctx} when quiet? ->
        _ = :gen_tcp.send(state.socket, out)
        close_after_reply(state.socket)
        {:stop, %{state | ctx: ctx}}

      {{:stream, _count, _produce} = reply, %Context{} = ctx} ->
        # A reply too long to build in memory: what came before it, then the reply in
        # chunks, each sent before the next is made (send blocks on a slow reader).
        state = %{state | ctx: ctx, last_cmd: hd(command)}
        socket = state.socket
        send_chunk = fn iodata -> :gen_tcp.send(socket, iodata) end

        with :ok <- send_chunk.(out),
             :ok <- RESP.stream(reply, ctx.protocol, send_chunk) do
          run(rest, state, [], 0)
        else
          _ -> {:stop, state}
        end

      {reply, %Context{} = ctx} ->
        count_error(ctx.instance, reply)
        encoded = RESP.encode(reply, ctx.protocol)
        state = %{state | ctx: ctx, last_cmd: hd(command)}
        continue(rest, state, [out, encoded], size + IO.iodata_length(encoded))

      {:close, reply, ctx} ->
        _ = :gen_tcp.send(state.socket, [out, RESP.encode(reply, ctx.protocol)])
        close_after_reply(state.socket)
        {:stop, %{state | ctx: ctx}}
    end
  end

  # CLIENT REPLY: the command after SKIP is the one skipped.
  defp skipping(%Context{reply: :skip_next} = ctx), do: %{ctx | reply: :skipping}
  defp skipping(ctx), do: ctx

  # Whether the reply is dropped (CLIENT REPLY OFF, or the skipped command): the mode
  # after the command decides, so CLIENT REPLY ON's own OK goes out.
  defp reply_mode(result) do
    case result_ctx(result) do
      %Context{reply: :on} -> {result, false}
      %Context{reply: :skipping} = ctx -> {put_ctx(result, %{ctx | reply: :on}), true}
      %Context{reply: :off} -> {result, true}
      %Context{reply: :skip_next} -> {result, false}
    end
  end

  defp put_ctx({:close, reply, _ctx}, ctx), do: {:close, reply, ctx}
  defp put_ctx({reply, _ctx}, ctx), do: {reply, ctx}

  defp result_ctx({:close, _reply, ctx}), do: ctx
  defp result_ctx({_reply, ctx}), do: ctx

  # INFO sees every command this connection ran before it, and CONFIG RESETSTAT resets
  # them too.
  defp reads_stats?([name | _]) when byte_size(name) == 4, do: Commands.downcase(name) == "info"

  defp reads_stats?([name, sub]) when byte_size(name) == 6 and byte_size(sub) == 9,
    do: Commands.downcase(name) == "config" and Commands.downcase(sub) == "resetstat"

  defp reads_stats?(_command), do: false

  # A command that may wait (WAIT) first lets the replies before it go out.
  defp blocks?([name | _]) when byte_size(name) == 4, do: Commands.downcase(name) == "wait"
  defp blocks?(_command), do: false

  defp send_before_block(_state, []), do: []

  defp send_before_block(state, out) do
    _ = :gen_tcp.send(state.socket, out)
    []
  end

  # INFO commandstats and SLOWLOG (FerricStore.Server.Stats).
  defp record(state, _command, nil, _reply, _usec), do: state

  defp record(state, _command, {_name, :rejected} = stat, reply, usec),
    do: %{state | cmdstats: Stats.add(state.cmdstats, stat, reply, usec)}

  defp record(%{ctx: ctx} = state, command, {name, :ran} = stat, reply, usec) do
    slowlog(ctx, command, usec)

    latency =
      if Config.latency_tracking?(ctx.instance),
        do: Stats.add_latency(state.latency, name, usec),
        else: state.latency

    %{state | cmdstats: Stats.add(state.cmdstats, stat, reply, usec), latency: latency}
  end

  defp slowlog(ctx, command, usec) do
    threshold = Config.slowlog_threshold(ctx.instance)

    if threshold >= 0 and usec >= threshold,
      do: Config.slowlog_add(ctx.instance, Stats.slowlog_entry(ctx, command, usec))
  end

  # INFO errorstats: error replies by their first word (ERR, WRONGTYPE, ...).
  defp count_error(instance, {:error, %Error{} = error}), do: count_error(instance, error)

  defp count_error(instance, %Error{message: message}) do
    prefix = message |> :binary.split(" ") |> hd()
    Config.incr(instance, {:errorstat, prefix})
    Config.incr(instance, :total_error_replies)
  end

  defp count_error(_instance, _reply), do: :ok

  # Closing a socket that still has unread input makes the kernel send a reset, and a
  # client can then lose the reply it was sent just before (redis-py reports a reset
  # connection instead of the error). So the write side is shut first (the reply, then
  # end of stream), and what the client still sends is read and dropped until it closes
  # its side, for at most @drain_ms and @drain_bytes.
  @drain_ms 200
  @drain_bytes 1_048_576

  defp close_after_reply(socket) do
    with :ok <- :gen_tcp.shutdown(socket, :write),
         :ok <- :inet.setopts(socket, active: false) do
      drain(socket, System.monotonic_time(:millisecond) + @drain_ms, @drain_bytes)
    end

    :gen_tcp.close(socket)
  end

  defp drain(socket, deadline, left) do
    wait = deadline - System.monotonic_time(:millisecond)

    with true <- wait > 0 and left > 0,
         {:ok, data} <- :gen_tcp.recv(socket, 0, wait) do
      drain(socket, deadline, left - byte_size(data))
    end
  end

  # Goes on with the rest of the pipeline; replies past @flush_bytes are sent first.
  defp continue(rest, state, out, size) when size > @flush_bytes do
    case :gen_tcp.send(state.socket, out) do
      :ok -> run(rest, state, [], 0)
      {:error, _} -> {:stop, state}
    end
  end

  defp continue(rest, state, out, size), do: run(rest, state, out, size)

  defp send_out(state, []), do: {:noreply, state}

  defp send_out(state, out) do
    case :gen_tcp.send(state.socket, out) do
      :ok -> {:noreply, state}
      {:error, _} -> {:stop, :normal, state}
    end
  end

  # Keeps the registry row (CLIENT LIST: name, protocol, last command, idle time) and the
  # INFO counters current: at once when the context changed, else at most once a second.
  defp touch({:noreply, %{ctx: ctx} = state}, ctx_before) do
    now = System.monotonic_time(:millisecond)
    state = %{state | last_at: now}

    cond do
      ctx != ctx_before or state.touched_at == nil or now - state.touched_at >= 1_000 ->
        {:noreply, refresh(state, now)}

      state.refresh_timer == nil ->
        # What a connection that then goes quiet counted reaches INFO within a second.
        {:noreply, %{state | refresh_timer: Process.send_after(self(), :refresh, 1_000)}}

      true ->
        {:noreply, state}
    end
  end

  defp touch(other, _ctx_before), do: other

  defp refresh(%{ctx: ctx} = state, now) do
    cmd = if state.last_cmd, do: Commands.downcase(state.last_cmd), else: "NULL"

    Registry.update_value(state.registry, ctx.client_id, fn _ ->
      info(ctx, %{last_at: state.last_at || now, cmd: cmd})
    end)

    %{flush_stats(state) | touched_at: now}
  end

  defp flush_stats(state) do
    if state.commands > 0,
      do: Config.incr(state.ctx.instance, :total_commands_processed, state.commands)

    if state.cmdstats != %{}, do: Config.add_command_stats(state.ctx.instance, state.cmdstats)
    if state.latency != %{}, do: Config.add_latency(state.ctx.instance, state.latency)
    %{state | commands: 0, cmdstats: %{}, latency: %{}}
  end

  defp format_addr({{a, b, c, d}, port}), do: "#{a}.#{b}.#{c}.#{d}:#{port}"
  defp format_addr({ip, port}), do: "#{:inet.ntoa(ip)}:#{port}"
end
