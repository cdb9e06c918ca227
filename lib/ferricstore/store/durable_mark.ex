defmodule FerricStore.Store.DurableMark do
  @moduledoc false
  # The highest Raft index whose records are known to be on disk in the data files,
  # kept in `<shard dir>/durable` for start-up.
  #
  # A checkpoint fsyncs the data files up to its index and only then lets ra drop its
  # log up to there; the mark is written (and fsynced) between the two, so it is never
  # below ra's snapshot. Start-up needs it to tell a torn tail from damage in the active
  # file: records after a bad one whose entries are at or below the mark were on disk,
  # and ra no longer holds those entries, so they must be kept, not cut (ra replays only
  # what lies after its snapshot).
  #
  # Two 20-byte slots, written in turn: <<index::64, crc32(index)::32, 0::64>>. A torn
  # write damages one slot only; the valid slot with the higher index wins. A missing or
  # unreadable file reads as 0 (nothing known durable: the active file is cut at its
  # first bad record, as before the mark existed).

  @name "durable"
  @slot 20

  @doc "The durable index recorded in `dir` (0 when none)."
  @spec read(Path.t()) :: non_neg_integer()
  def read(dir) do
    case File.read(Path.join(dir, @name)) do
      {:ok, data} -> data |> slots() |> Enum.max(fn -> 0 end) |> max(0)
      {:error, _} -> 0
    end
  end

  @doc """
  Records `index` as durable: written over the older of the two slots (the one the
  previous write did not use) and fsynced. The file is created (and its directory
  fsynced) on first use.
  """
  @spec write(Path.t(), non_neg_integer()) :: :ok | {:error, term()}
  def write(dir, index) do
    path = Path.join(dir, @name)
    new? = not File.exists?(path)

    slot =
      case File.read(path) do
        {:ok, <<a::binary-size(@slot), b::binary-size(@slot)>>} ->
          if slot_index(a) <= slot_index(b), do: 0, else: @slot

        # Only the first slot was ever written.
        {:ok, <<_::binary-size(@slot)>>} ->
          @slot

        _ ->
          0
      end

    with {:ok, f} <- :file.open(path, [:read, :write, :raw, :binary]),
         :ok <- write_slot(f, slot, index),
         :ok <- if(new?, do: FerricStore.Bitcask.fsync_dir(path), else: :ok) do
      :ok
    end
  end

  defp write_slot(f, slot, index) do
    bytes = <<index::64, :erlang.crc32(<<index::64>>)::32, 0::64>>

    with :ok <- :file.pwrite(f, slot, bytes),
         :ok <- :file.datasync(f) do
      :file.close(f)
    else
      error ->
        :file.close(f)
        error
    end
  end

  defp slots(data), do: for(<<slot::binary-size(@slot) <- data>>, do: slot_index(slot))

  # A slot's index, or -1 when its checksum does not match (never written, or torn).
  defp slot_index(<<index::64, crc::32, _::64>>) do
    if crc == :erlang.crc32(<<index::64>>), do: index, else: -1
  end
end
