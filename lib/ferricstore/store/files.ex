defmodule FerricStore.Store.Files do
  @moduledoc false
  # Names and numbering of a shard's data files.
  #
  # A file id is `base * 1000 + generation`. The active file and every file rotated
  # after it get a new base; compacting a sealed file writes generation + 1 of the same
  # base, so sorting ids keeps the order in which records were written, and start-up can
  # load files oldest first whatever was compacted. Names are the id zero-padded to 12
  # digits: 000000001000.data is base 1, generation 0; its compacted successor is
  # 000000001001.data.

  @gens 1000

  @spec first() :: pos_integer()
  def first, do: @gens

  @doc "The id of the next active file after `fid`."
  @spec next_base(pos_integer()) :: pos_integer()
  def next_base(fid), do: (div(fid, @gens) + 1) * @gens

  @doc "The id of the compacted successor of `fid`."
  @spec next_generation(pos_integer()) :: pos_integer()
  def next_generation(fid), do: fid + 1

  @spec base(pos_integer()) :: pos_integer()
  def base(fid), do: div(fid, @gens)

  @spec data_path(Path.t(), pos_integer()) :: Path.t()
  def data_path(dir, fid), do: Path.join(dir, name(fid) <> ".data")

  @spec hint_path(Path.t(), pos_integer()) :: Path.t()
  def hint_path(dir, fid), do: Path.join(dir, name(fid) <> ".hint")

  defp name(fid), do: fid |> Integer.to_string() |> String.pad_leading(12, "0")

  @doc """
  The data files of `dir`, oldest first, after finishing interrupted compactions: of
  several generations of one base, the newest one that has its hint file wins (a
  compaction writes its hint last) and the others are deleted.
  """
  @spec list(Path.t()) :: [pos_integer()]
  def list(dir) do
    names = File.ls!(dir)
    data = for name <- names, {fid, ".data"} <- [Integer.parse(name)], do: fid

    # A hint file whose data file is gone (a crash between the two deletions of an
    # older version) describes nothing: it goes too.
    for name <- names,
        {fid, ".hint"} <- [Integer.parse(name)],
        fid not in data,
        do: File.rm(hint_path(dir, fid))

    data
    |> Enum.group_by(&base/1)
    |> Enum.sort()
    |> Enum.map(fn {_base, fids} -> settle(dir, Enum.sort(fids, :desc)) end)
  end

  defp settle(_dir, [only]), do: only

  defp settle(dir, [newest | older]) do
    if File.exists?(hint_path(dir, newest)) do
      Enum.each(older, &remove(dir, &1))
      newest
    else
      # An interrupted compaction: its output is incomplete, the original is whole.
      remove(dir, newest)
      settle(dir, older)
    end
  end

  @doc """
  Deletes a data file and its hint file, the hint first: a crash in between leaves a
  data file without its hint, which `list/1` settles like any interrupted compaction.
  """
  @spec remove(Path.t(), pos_integer()) :: :ok
  def remove(dir, fid) do
    _ = File.rm(hint_path(dir, fid))
    _ = File.rm(data_path(dir, fid))
    :ok
  end
end
