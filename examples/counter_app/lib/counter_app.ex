defmodule CounterApp do
  @moduledoc "Counts page hits durably and remembers the last visitor for a minute."

  alias CounterApp.Store

  @doc "Records a hit on `page` by `visitor`; returns the new hit count."
  @spec hit(String.t(), String.t()) :: {:ok, integer()} | {:error, FerricStore.Error.t()}
  def hit(page, visitor) do
    with :ok <- Store.set("last:" <> page, visitor, ttl: 60_000) do
      Store.incr("hits:" <> page)
    end
  end

  @doc "The number of hits on `page`."
  @spec hits(String.t()) :: non_neg_integer()
  def hits(page) do
    case Store.get!("hits:" <> page) do
      nil -> 0
      n -> String.to_integer(n)
    end
  end

  @doc "The last visitor of `page` in the past minute, or nil."
  @spec last_visitor(String.t()) :: String.t() | nil
  def last_visitor(page), do: Store.get!("last:" <> page)
end
