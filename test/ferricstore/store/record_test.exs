defmodule FerricStore.Store.RecordTest do
  use ExUnit.Case, async: true

  alias FerricStore.Store.Record

  test "user_key/1 names the key of every kind of record, as decode/1 does" do
    key = <<"k", 0, 255, "{tag}">>

    records = [
      Record.disk_key(:string, key),
      Record.header_key(:hash, key, %{gen: 7, n: 2}),
      Record.header_key(:zset, key, %{gen: 7, n: 2}),
      Record.member_key(:hash, key, 7, "field", nil),
      Record.member_key(:list, key, 7, -3, nil),
      Record.member_key(:set, key, 7, "", nil),
      Record.member_key(:zset, key, 7, "m", :neg_inf),
      Record.member_key(:zset, key, 7, "m", 2.5)
    ]

    for rec <- records do
      assert Record.user_key(rec) == key
      assert Record.decode(rec) |> Tuple.to_list() |> Enum.member?(key)
    end
  end

  test "user_key/1 of a FLUSHDB marker or an unknown record concerns every key" do
    assert Record.user_key(Record.flush_key()) == :all
    assert Record.user_key(<<200, "x">>) == :all
    assert Record.user_key(<<6, 0, 0, 0, 9, "short">>) == :all
  end
end
