defmodule FerricStore.Test.RedisServer do
  @moduledoc false
  # Starts Debian's redis-server on a free loopback port for one test module and stops it
  # again. The process is owned by an Erlang port; `stop/1` kills it by OS pid, and the
  # test's on_exit calls it, so no redis-server outlives the test run.

  alias FerricStore.Test.RESPClient

  defstruct [:port, :os_pid, :erl_port, :dir]

  @doc "Is redis-server installed? Tests are skipped with a clear message when it is not."
  def available?, do: System.find_executable("redis-server") != nil

  @doc """
  Starts a redis-server. `extra` are additional command-line arguments
  (e.g. `["--appendonly", "yes"]`); the default is a server without persistence.
  """
  def start!(extra \\ ["--save", "", "--appendonly", "no"]) do
    exe = System.find_executable("redis-server") || raise "redis-server is not installed"
    port = free_port()

    dir =
      Path.join(System.tmp_dir!(), "ferric_redis_#{port}_#{System.unique_integer([:positive])}")

    File.mkdir_p!(dir)

    args =
      ["--port", Integer.to_string(port), "--bind", "127.0.0.1", "--daemonize", "no"] ++
        ["--dir", dir, "--logfile", Path.join(dir, "redis.log")] ++ extra

    erl_port = Port.open({:spawn_executable, exe}, [:binary, :exit_status, args: args])
    {:os_pid, os_pid} = Port.info(erl_port, :os_pid)
    server = %__MODULE__{port: port, os_pid: os_pid, erl_port: erl_port, dir: dir}
    wait_ready(server, 100)
    server
  end

  @doc """
  For a test module's setup_all: a redis-server (`extra` as in `start!/1`) and a fresh
  FerricStore instance with a listener, both stopped (and their files removed) when the
  module is done. Returns `%{redis: server, name: instance, ferric_port: port}`.
  """
  def start_with_ferricstore!(prefix, extra \\ ["--save", "", "--appendonly", "no"]) do
    redis = start!(extra)
    ExUnit.Callbacks.on_exit(fn -> stop(redis) end)
    %{name: name, port: port} = FerricStore.Test.ClientInstance.start!(prefix)
    %{redis: redis, name: name, ferric_port: port}
  end

  @doc "Kills the server and removes its directory."
  def stop(%__MODULE__{os_pid: os_pid, dir: dir}) do
    System.cmd("kill", ["-9", Integer.to_string(os_pid)], stderr_to_stdout: true)
    File.rm_rf(dir)
    :ok
  end

  @doc "A TCP port nobody listens on right now (loopback)."
  def free_port do
    {:ok, s} = :gen_tcp.listen(0, ip: {127, 0, 0, 1})
    {:ok, port} = :inet.port(s)
    :gen_tcp.close(s)
    port
  end

  defp wait_ready(server, 0), do: raise("redis-server on port #{server.port} did not start")

  defp wait_ready(server, tries) do
    with {:ok, sock} <- RESPClient.connect(server.port),
         {:simple, "PONG"} <- RESPClient.command(sock, ["PING"]) do
      RESPClient.close(sock)
    else
      _ ->
        Process.sleep(50)
        wait_ready(server, tries - 1)
    end
  end
end
