defmodule CounterApp.Application do
  @moduledoc false
  use Application

  @impl true
  def start(_type, _args) do
    Supervisor.start_link([CounterApp.Store], strategy: :one_for_one, name: CounterApp.Supervisor)
  end
end
