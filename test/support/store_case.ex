defmodule FerricStore.StoreCase do
  @moduledoc false
  # Starts a real, isolated FerricStore instance per test in the test's tmp_dir, with a
  # unique name; `restart/1` stops it and starts it again on the same directory.

  use ExUnit.CaseTemplate

  using do
    quote do
      import FerricStore.StoreCase
    end
  end

  setup context do
    if context[:tmp_dir] && !context[:no_instance] do
      name = :"fs_test_#{System.unique_integer([:positive])}"
      opts = [name: name, data_dir: context.tmp_dir] ++ Map.get(context, :instance_opts, [])
      start_instance(opts)
      on_exit(fn -> stop_instance(name) end)
      {:ok, name: name, opts: [name: name], instance_opts: opts}
    else
      :ok
    end
  end

  def start_instance(opts) do
    {:ok, pid} = FerricStore.start_link(opts)
    Process.unlink(pid)
    pid
  end

  def stop_instance(name) do
    case Process.whereis(:"#{name}.sup") do
      nil -> :ok
      pid -> Supervisor.stop(pid, :normal, 30_000)
    end
  catch
    :exit, _ -> :ok
  end

  # Waits for background work (compaction, expiry) for up to 15 s: on a loaded 2-core CI
  # box, with the crash suites running beside it, 5 s was once too short for compaction.
  def wait_until(fun, tries \\ 750) do
    cond do
      fun.() -> :ok
      tries == 0 -> ExUnit.Assertions.flunk("condition not met in time")
      true -> Process.sleep(20) && wait_until(fun, tries - 1)
    end
  end

  def restart(%{name: name, instance_opts: opts}) do
    stop_instance(name)
    start_instance(opts)
    :ok
  end
end
