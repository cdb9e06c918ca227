defmodule FerricStore.Test.ClientInstance do
  @moduledoc false
  # A FerricStore instance with its RESP server on an ephemeral loopback port, for one
  # test module that talks to it through a real client or next to redis-server (started
  # in setup_all, stopped by on_exit).

  def start!(prefix \\ :clients) do
    name = :"#{prefix}_#{System.unique_integer([:positive])}"
    dir = Path.join(System.tmp_dir!(), "#{name}")
    File.rm_rf!(dir)
    {:ok, sup} = FerricStore.start_link(name: name, data_dir: dir, port: 0)
    # setup_all's process exits before on_exit runs: keep the instance alive until then.
    Process.unlink(sup)

    ExUnit.Callbacks.on_exit(fn ->
      if Process.alive?(sup), do: Supervisor.stop(sup)
      File.rm_rf(dir)
    end)

    %{name: name, port: FerricStore.Server.Listener.port(name)}
  end
end
