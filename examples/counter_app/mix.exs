defmodule CounterApp.MixProject do
  use Mix.Project

  # A small consumer of FerricStore: the proof that "add :ferricstore to mix.exs" works.
  def project do
    [
      app: :counter_app,
      version: "0.1.0",
      elixir: "~> 1.14",
      deps: [{:ferricstore, path: "../.."}]
    ]
  end

  def application do
    [extra_applications: [:logger], mod: {CounterApp.Application, []}]
  end
end
