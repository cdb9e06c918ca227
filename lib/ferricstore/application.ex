defmodule FerricStore.Application do
  @moduledoc false
  use Application

  @impl true
  def start(_type, _args) do
    children =
      if Application.get_env(:ferricstore, :start_default, false) do
        [{FerricStore, default_opts()}]
      else
        []
      end

    Supervisor.start_link(children, strategy: :one_for_one, name: FerricStore.Supervisor)
  end

  defp default_opts do
    env = Application.get_all_env(:ferricstore)

    opts =
      [name: FerricStore]
      |> Keyword.merge(Keyword.take(env, [:data_dir, :shards, :maxmemory, :password]))

    if env[:server] do
      Keyword.merge(opts, port: env[:port] || 6379, bind: env[:bind] || "127.0.0.1")
    else
      opts
    end
  end
end
