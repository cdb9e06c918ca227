defmodule FerricStore.Store.FilesTest do
  use ExUnit.Case, async: true

  alias FerricStore.Store.Files

  @moduletag :tmp_dir

  test "list/1 settles generations and drops hint files without their data file",
       %{tmp_dir: dir} do
    touch = fn fid, ext -> File.write!(Path.join(dir, name(fid) <> ext), "") end
    # Base 1: compacted (1001 complete). Base 2: an interrupted compaction (2001 has no
    # hint yet). Base 4: only a hint is left (a crash between the two deletions).
    for {fid, exts} <- [
          {1000, ~w(.data .hint)},
          {1001, ~w(.data .hint)},
          {2000, ~w(.data .hint)},
          {2001, ~w(.data)},
          {3000, ~w(.data)},
          {4000, ~w(.hint)}
        ],
        ext <- exts,
        do: touch.(fid, ext)

    assert Files.list(dir) == [1001, 2000, 3000]

    assert Enum.sort(File.ls!(dir)) ==
             Enum.sort(~w(000000001001.data 000000001001.hint 000000002000.data
                          000000002000.hint 000000003000.data))
  end

  test "remove/2 deletes a data file and its hint", %{tmp_dir: dir} do
    File.write!(Files.data_path(dir, 1000), "")
    File.write!(Files.hint_path(dir, 1000), "")
    :ok = Files.remove(dir, 1000)
    assert File.ls!(dir) == []
  end

  defp name(fid), do: fid |> Integer.to_string() |> String.pad_leading(12, "0")
end
