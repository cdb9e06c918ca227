defmodule FerricStore.Store.Router do
  @moduledoc false
  # Maps keys to shards the way Redis Cluster maps keys to slots: CRC16 (XMODEM) of the
  # key, or of the part between the first `{` and the next `}` when that part is not
  # empty (hash tags), modulo 16384. Slots are spread evenly over the shards.

  import Bitwise

  @slots 16_384

  @crc_table (for byte <- 0..255 do
                Enum.reduce(1..8, byte <<< 8, fn _, crc ->
                  if (crc &&& 0x8000) != 0,
                    do: bxor(crc <<< 1, 0x1021) &&& 0xFFFF,
                    else: crc <<< 1 &&& 0xFFFF
                end)
              end)
             |> List.to_tuple()

  @doc "CRC16/XMODEM of a binary, as Redis Cluster computes it."
  @spec crc16(binary()) :: non_neg_integer()
  def crc16(data), do: crc16(data, 0)

  defp crc16(<<byte, rest::binary>>, crc) do
    crc16(rest, bxor(crc <<< 8 &&& 0xFFFF, elem(@crc_table, bxor(crc >>> 8, byte) &&& 0xFF)))
  end

  defp crc16(<<>>, crc), do: crc

  @doc "The hash slot (0..16383) of a key, honouring `{hash tags}`."
  @spec slot(binary()) :: non_neg_integer()
  def slot(key) do
    rem(crc16(hash_part(key)), @slots)
  end

  defp hash_part(key) do
    case :binary.match(key, "{") do
      {open, 1} ->
        rest = binary_part(key, open + 1, byte_size(key) - open - 1)

        case :binary.match(rest, "}") do
          {close, 1} when close > 0 -> binary_part(rest, 0, close)
          _ -> key
        end

      :nomatch ->
        key
    end
  end

  @doc "The shard (0-based) that owns `key` when there are `shards` shards."
  @spec shard(binary(), pos_integer()) :: non_neg_integer()
  def shard(_key, 1), do: 0
  def shard(key, shards), do: div(slot(key) * shards, @slots)

  @doc """
  The one shard that owns all `keys`, or `{:error, :crossslot}` when they live on
  different shards (a multi-key write must never be split across Raft groups).
  """
  @spec same_shard([binary()], pos_integer()) :: {:ok, non_neg_integer()} | {:error, :crossslot}
  def same_shard(_keys, 1), do: {:ok, 0}

  def same_shard([first | rest], shards) do
    shard = shard(first, shards)

    if Enum.all?(rest, &(shard(&1, shards) == shard)),
      do: {:ok, shard},
      else: {:error, :crossslot}
  end
end
