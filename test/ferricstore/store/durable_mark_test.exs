defmodule FerricStore.Store.DurableMarkTest do
  use ExUnit.Case, async: true

  alias FerricStore.Store.DurableMark

  @moduletag :tmp_dir

  test "reads the highest index written; 0 when there is none", %{tmp_dir: dir} do
    assert DurableMark.read(dir) == 0
    :ok = DurableMark.write(dir, 10)
    assert DurableMark.read(dir) == 10
    :ok = DurableMark.write(dir, 20)
    :ok = DurableMark.write(dir, 40)
    assert DurableMark.read(dir) == 40
  end

  test "a torn write damages one slot: the previous index is still read", %{tmp_dir: dir} do
    :ok = DurableMark.write(dir, 100)
    :ok = DurableMark.write(dir, 300)
    path = Path.join(dir, "durable")
    data = File.read!(path)
    # The slot holding 300 is the one written last; tear it.
    slot = if binary_part(data, 0, 8) == <<300::64>>, do: 0, else: 20

    File.write!(path, [
      binary_part(data, 0, slot),
      <<300::64, 0::32>>,
      binary_part(data, slot + 12, byte_size(data) - slot - 12)
    ])

    assert DurableMark.read(dir) == 100
    # The next write goes over the torn slot, keeping 100 until it is complete.
    :ok = DurableMark.write(dir, 500)
    assert DurableMark.read(dir) == 500
    assert File.read!(path) |> :binary.match(<<100::64>>) != :nomatch
  end

  test "garbage reads as nothing durable", %{tmp_dir: dir} do
    File.write!(Path.join(dir, "durable"), :binary.copy(<<0>>, 40))
    assert DurableMark.read(dir) == 0
    File.write!(Path.join(dir, "durable"), "xyz")
    assert DurableMark.read(dir) == 0
  end
end
