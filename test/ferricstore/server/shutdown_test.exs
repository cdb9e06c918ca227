defmodule FerricStore.Server.ShutdownTest do
  # `make run` runs the application's default instance; SIGTERM must stop it cleanly
  # (exit status 0, data files fsynced, nothing acknowledged lost).
  use ExUnit.Case, async: false

  alias FerricStore.{CrashClient, CrashNode}

  @moduletag :integration
  @moduletag :tmp_dir

  test "SIGTERM shuts the standalone server down gracefully with nothing lost", %{tmp_dir: dir} do
    code = CrashNode.snapshot_code(Path.join(dir, "code"))
    data = Path.join(dir, "data")
    port = CrashNode.free_port()
    {child, os_pid} = start_server(code, data, port)
    {:ok, sock} = CrashClient.connect(port)

    {:ok, replies} = CrashClient.pipeline(sock, for(i <- 1..2_000, do: ["SET", "k#{i}", "v#{i}"]))

    assert Enum.all?(replies, &(&1 == {:simple, "OK"}))
    {:ok, 2_000} = CrashClient.command(sock, ["DBSIZE"])

    {_, 0} = System.cmd("kill", ["-TERM", Integer.to_string(os_pid)])

    assert_receive {^child, {:exit_status, 0}}, 30_000

    {node, recovery} = CrashNode.start(code, data, port)
    assert recovery.truncated_bytes == 0
    {:ok, sock} = CrashClient.connect(port)
    {:ok, values} = CrashClient.command(sock, ["MGET" | for(i <- 1..2_000, do: "k#{i}")])
    assert values == for(i <- 1..2_000, do: "v#{i}")
    CrashNode.kill(node)
  end

  # The application started the way `make run` starts it: the default instance from the
  # environment, under the application's supervisor.
  defp start_server(code, data, port) do
    elixir = System.find_executable("elixir")
    pa = Enum.flat_map(["consolidated", "ebin"], &["-pa", Path.join([code, "ferricstore", &1])])

    script = """
    Application.put_all_env(ferricstore: [start_default: true, server: true,
      data_dir: #{inspect(data)}, port: #{port}, bind: "127.0.0.1"])
    Logger.configure(level: :warning)
    {:ok, _} = Application.ensure_all_started(:ferricstore)
    IO.puts("READY \#{:os.getpid()}")
    Process.sleep(:infinity)
    """

    child =
      Port.open({:spawn_executable, elixir}, [
        :binary,
        :exit_status,
        :stderr_to_stdout,
        {:line, 65_536},
        args: pa ++ ["-e", script],
        env: [{~c"ERL_LIBS", String.to_charlist(FerricStore.CrashNode.erl_libs())}]
      ])

    receive do
      {^child, {:data, {:eol, "READY " <> os_pid}}} -> {child, String.to_integer(os_pid)}
    after
      60_000 -> flunk("server did not start")
    end
  end
end
