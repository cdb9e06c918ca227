defmodule FerricStore.Server.CLI do
  @moduledoc """
  Runs the standalone server without Mix: `scripts/server` (what `make run` uses) starts
  the VM (`erl`) on the compiled code and calls `main/1` with the project's `config/`
  directory.

  The configuration is read from the same files `mix run` reads (`config.exs`, with its
  imports, then `runtime.exs`, which maps the `FERRICSTORE_*` environment variables),
  for the `:prod` environment, and the application is started. Skipping Mix (loading
  it, checking every source for changes) makes a start about 0.8 s shorter. The VM stops
  on SIGTERM as under Mix: the application is stopped, the data files are fsynced.
  """

  require Logger

  @doc """
  Loads `config_dir`'s configuration for `:prod`, starts FerricStore and waits. Called
  by `erl -eval` (the directory as a charlist) or from Elixir.
  """
  @spec main([String.t() | charlist()]) :: no_return()
  def main([config_dir]) do
    {:ok, _} = Application.ensure_all_started(:elixir)
    config_dir |> to_string() |> load_config() |> Application.put_all_env(persistent: true)
    # Under the `elixir` command Logger is already running: apply its level either way.
    {:ok, _} = Application.ensure_all_started(:logger)
    if level = Application.get_env(:logger, :level), do: Logger.configure(level: level)
    {:ok, _} = Application.ensure_all_started(:ferricstore)
    Process.sleep(:infinity)
  end

  @doc """
  The configuration of `config_dir` for `:prod`: `config.exs` (and what it imports),
  merged with `runtime.exs` when there is one.
  """
  @spec load_config(Path.t()) :: keyword()
  def load_config(config_dir) do
    config = Config.Reader.read!(Path.join(config_dir, "config.exs"), env: :prod, target: :host)
    runtime = Path.join(config_dir, "runtime.exs")

    if File.exists?(runtime),
      do: Config.Reader.merge(config, Config.Reader.read!(runtime, env: :prod, target: :host)),
      else: config
  end
end
