defmodule FerricStore.Store.RouterTest do
  use ExUnit.Case, async: true

  alias FerricStore.Store.Router

  test "crc16 and slots match Redis Cluster" do
    assert Router.crc16("123456789") == 0x31C3
    assert Router.slot("foo") == 12_182
    assert Router.slot("bar") == 5_061
    assert Router.slot("{user1000}.following") == Router.slot("{user1000}.followers")
    # An empty tag does not count: the whole key is hashed.
    assert Router.slot("foo{}{bar}") == rem(Router.crc16("foo{}{bar}"), 16_384)
    assert Router.slot("foo{{bar}}zap") == rem(Router.crc16("{bar"), 16_384)
  end

  test "keys spread over shards and tags pin them together" do
    counts = Enum.frequencies(for i <- 1..4_000, do: Router.shard("key:#{i}", 4))
    assert map_size(counts) == 4
    assert Enum.all?(Map.values(counts), &(&1 > 800))
    assert {:ok, _} = Router.same_shard(["{u1}a", "{u1}b", "{u1}c"], 4)
    assert {:error, :crossslot} = Router.same_shard(["a", "b", "c", "d", "e"], 4)
  end
end
