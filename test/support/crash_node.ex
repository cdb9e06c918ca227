defmodule FerricStore.CrashNode do
  @moduledoc false
  # A FerricStore instance in its own OS process, for tests that kill it with SIGKILL.
  #
  # `start/2` runs `elixir` with the test build's code path and `main/1` inside it: the
  # child starts an instance serving RESP on the given port and prints one line,
  # `READY <os pid> <recovery stats as an Erlang term>`, then waits. The child halts when
  # its stdin closes, so a test VM that dies never leaves it behind.

  @ready_timeout 60_000

  @type t :: %{port: port(), os_pid: non_neg_integer(), tcp_port: :inet.port_number()}

  ## Public API (test VM)

  @doc """
  Copies the test build's compiled code (ebin, protocols, NIF) to `dest`, so children
  started from it never see a half-written build (other work may recompile meanwhile).
  Returns `dest`, to pass as the `code` argument of `start/4`.
  """
  @spec snapshot_code(Path.t()) :: Path.t()
  def snapshot_code(dest) do
    app = Path.join(Mix.Project.build_path(), "lib/ferricstore")

    for dir <- ["ebin", "consolidated"] do
      File.mkdir_p!(Path.join([dest, "ferricstore", dir]))
      File.cp_r!(Path.join(app, dir), Path.join([dest, "ferricstore", dir]))
    end

    File.mkdir_p!(Path.join([dest, "ferricstore", "priv"]))
    nif = Path.join([app, "priv", "ferricstore_nif.so"])
    File.cp!(nif, Path.join([dest, "ferricstore", "priv", "ferricstore_nif.so"]))
    dest
  end

  @doc "Starts a child serving `data_dir` on `tcp_port`; returns once it answers."
  @spec start(Path.t(), Path.t(), :inet.port_number(), keyword()) :: {t(), map()}
  def start(code, data_dir, tcp_port, opts \\ []) do
    elixir = System.find_executable("elixir") || raise "elixir not found in PATH"
    paths = [Path.join(code, "ferricstore/consolidated"), Path.join(code, "ferricstore/ebin")]
    pa = Enum.flat_map(paths, &["-pa", &1])
    child_opts = :erlang.term_to_binary(Keyword.merge(opts, data_dir: data_dir, port: tcp_port))

    args =
      ["--erl", "+sbwt none +A 4"] ++
        pa ++ ["-e", "FerricStore.CrashNode.main(#{inspect(Base.encode16(child_opts))})"]

    port =
      Port.open({:spawn_executable, elixir}, [
        :binary,
        :exit_status,
        :stderr_to_stdout,
        {:line, 65_536},
        args: args,
        env: [{~c"ERL_LIBS", String.to_charlist(erl_libs())}]
      ])

    await_ready(port, tcp_port, [])
  end

  @doc """
  ERL_LIBS for a child VM: the caller's, else the folder that holds ra and the other
  vendored applications (when `mix test` runs without the Makefile's environment).
  """
  @spec erl_libs() :: String.t()
  def erl_libs do
    case System.get_env("ERL_LIBS", "") do
      "" -> :ra |> :code.lib_dir() |> to_string() |> Path.dirname()
      libs -> libs
    end
  end

  @doc "Kills the child with SIGKILL and waits until the OS reports it gone."
  @spec kill(t()) :: :ok
  def kill(%{port: port, os_pid: os_pid}) do
    {_, 0} = System.cmd("kill", ["-9", Integer.to_string(os_pid)])

    receive do
      {^port, {:exit_status, _}} -> :ok
    after
      10_000 -> raise "child #{os_pid} did not exit after SIGKILL"
    end

    flush(port)
  end

  @doc "Kills the child if it still runs (for on_exit)."
  @spec cleanup(t() | nil) :: :ok
  def cleanup(nil), do: :ok

  def cleanup(%{os_pid: os_pid}) do
    System.cmd("kill", ["-9", Integer.to_string(os_pid)], stderr_to_stdout: true)
    :ok
  end

  @doc "A free TCP port on the loopback interface."
  @spec free_port() :: :inet.port_number()
  def free_port do
    {:ok, sock} = :gen_tcp.listen(0, ip: {127, 0, 0, 1}, reuseaddr: true)
    {:ok, port} = :inet.port(sock)
    :gen_tcp.close(sock)
    port
  end

  defp await_ready(port, tcp_port, log) do
    receive do
      {^port, {:data, {:eol, "READY " <> rest}}} ->
        [os_pid, stats] = String.split(rest, " ", parts: 2)
        {recovery, _} = Code.eval_string(stats)
        {%{port: port, os_pid: String.to_integer(os_pid), tcp_port: tcp_port}, recovery}

      {^port, {:data, {_, line}}} ->
        await_ready(port, tcp_port, [line | log])

      {^port, {:exit_status, status}} ->
        raise "child exited with #{status} before it was ready:\n" <>
                Enum.join(Enum.reverse(log), "\n")
    after
      @ready_timeout ->
        raise "child not ready after #{@ready_timeout} ms:\n" <>
                Enum.join(Enum.reverse(log), "\n")
    end
  end

  defp flush(port) do
    receive do
      {^port, _} -> flush(port)
    after
      0 -> :ok
    end
  end

  ## Child side

  @doc false
  def main(encoded) do
    opts = encoded |> Base.decode16!() |> :erlang.binary_to_term()
    Logger.configure(level: :warning)
    {:ok, _} = Application.ensure_all_started(:ferricstore)
    name = :crash_node
    {:ok, _pid} = FerricStore.start_link([name: name] ++ opts)
    recovery = FerricStore.info(name: name).recovery
    IO.puts("READY #{:os.getpid()} #{inspect(recovery)}")
    # Halt when the parent goes away (stdin closes).
    _ = IO.read(:stdio, :line)
    System.halt(0)
  end
end
