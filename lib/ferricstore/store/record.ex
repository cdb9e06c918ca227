defmodule FerricStore.Store.Record do
  @moduledoc false
  # How keydir entries are named inside data-file records. The engine stores opaque key
  # bytes; the first byte says what the record is, so start-up can rebuild every kind of
  # row from hint files and scans alone.
  #
  #   <<0, key::binary>>   a string value
  #   <<255>>              FLUSHDB marker: everything written before it is gone

  @string 0
  @flush 255

  @spec disk_key(atom(), binary()) :: binary()
  def disk_key(:string, key), do: <<@string, key::binary>>

  @spec flush_key() :: binary()
  def flush_key, do: <<@flush>>

  @doc "Decodes a record key: `{:string, key}`, `:flush`, or `:unknown`."
  @spec decode(binary()) :: {atom(), binary()} | :flush | :unknown
  def decode(<<@string, key::binary>>), do: {:string, key}
  def decode(<<@flush>>), do: :flush
  def decode(_), do: :unknown
end
