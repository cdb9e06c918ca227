defmodule FerricStore.Server.ShutdownTest do
  # `make run` runs the application's default instance; SIGTERM must stop it cleanly
  # (exit status 0, data files fsynced, nothing acknowledged lost).
  use ExUnit.Case, async: false

  alias FerricStore.{CrashClient, CrashNode}

  @moduletag :integration
  @moduletag :tmp_dir

  test "SIGTERM shuts the standalone server down gracefully with nothing lost", %{tmp_dir: dir} do
    stop = fn _sock, os_pid ->
      {_, 0} = System.cmd("kill", ["-TERM", Integer.to_string(os_pid)])
    end

    recovery = stop_and_check(dir, 2_000, stop)
    assert recovery.truncated_bytes == 0
  end

  test "SHUTDOWN stops the standalone server like SIGTERM", %{tmp_dir: dir} do
    # As Redis: no reply, the connection closes, the process exits with status 0.
    stop = fn sock, _os_pid ->
      :ok = :gen_tcp.send(sock, "SHUTDOWN\r\n")
      assert {:error, :closed} = :gen_tcp.recv(sock, 0, 30_000)
    end

    stop_and_check(dir, 500, stop)
  end

  # Starts the server, writes `n` keys, stops it with `stop`, expects exit status 0, and
  # checks every key after a restart; returns the restart's recovery stats.
  defp stop_and_check(dir, n, stop) do
    code = CrashNode.snapshot_code(Path.join(dir, "code"))
    data = Path.join(dir, "data")
    port = CrashNode.free_port()
    {child, os_pid} = start_server(code, data, port)
    {:ok, sock} = CrashClient.connect(port)
    {:ok, replies} = CrashClient.pipeline(sock, for(i <- 1..n, do: ["SET", "k#{i}", "v#{i}"]))
    assert Enum.all?(replies, &(&1 == {:simple, "OK"}))
    {:ok, ^n} = CrashClient.command(sock, ["DBSIZE"])

    stop.(sock, os_pid)
    assert_receive {^child, {:exit_status, 0}}, 30_000

    {node, recovery} = CrashNode.start(code, data, port)
    {:ok, sock} = CrashClient.connect(port)
    {:ok, values} = CrashClient.command(sock, ["MGET" | for(i <- 1..n, do: "k#{i}")])
    assert values == for(i <- 1..n, do: "v#{i}")
    CrashNode.kill(node)
    recovery
  end

  # The server started the way `make run` starts it: scripts/server (here on this test
  # build's code), which reads the project's config files; they take the settings from
  # the environment and start the application's default instance.
  defp start_server(code, data, port) do
    script = Path.join(File.cwd!(), "scripts/server")

    env = [
      {~c"ERL_LIBS", String.to_charlist(FerricStore.CrashNode.erl_libs())},
      {~c"FERRICSTORE_BUILD", String.to_charlist(Path.join(code, "ferricstore"))},
      {~c"FERRICSTORE_SERVER", ~c"true"},
      {~c"FERRICSTORE_DATA_DIR", String.to_charlist(data)},
      {~c"FERRICSTORE_PORT", String.to_charlist(Integer.to_string(port))}
    ]

    child =
      Port.open({:spawn_executable, script}, [
        :binary,
        :exit_status,
        :stderr_to_stdout,
        {:line, 65_536},
        env: env
      ])

    # The script execs the VM: the port's OS process is the server.
    {:os_pid, os_pid} = Port.info(child, :os_pid)
    :ok = await_port(port, 600)
    {child, os_pid}
  end

  defp await_port(_port, 0), do: flunk("server did not start")

  defp await_port(port, tries) do
    case :gen_tcp.connect(~c"127.0.0.1", port, [:binary, active: false], 100) do
      {:ok, sock} ->
        :gen_tcp.close(sock)

      {:error, _} ->
        Process.sleep(100)
        await_port(port, tries - 1)
    end
  end
end
