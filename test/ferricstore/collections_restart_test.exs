defmodule FerricStore.CollectionsRestartTest do
  # Every collection type survives a restart with its members, counts, scores, list
  # order and TTL; a collection deleted, expired, overwritten or renamed before the
  # restart does not bring members of its old generation back.
  use FerricStore.StoreCase, async: true

  @moduletag :tmp_dir

  # What every read of the four types answers, to compare before and after restarts.
  defp snapshot(o) do
    %{
      hash: FerricStore.hgetall!("h", o),
      hlen: FerricStore.hlen!("h", o),
      list: FerricStore.lrange!("l", 0, -1, o),
      llen: FerricStore.llen!("l", o),
      lindex: FerricStore.lindex!("l", -1, o),
      set: FerricStore.smembers!("s", o),
      scard: FerricStore.scard!("s", o),
      zset: FerricStore.zrange!("z", 0, -1, [with_scores: true] ++ o),
      zcard: FerricStore.zcard!("z", o),
      zrank: FerricStore.zrank!("z", "m2", o),
      zbyscore: FerricStore.zrange!("z", :neg_inf, 0, [by: :score] ++ o),
      types: Enum.map(~w(h l s z), &FerricStore.type!(&1, o))
    }
  end

  defp ttls(o), do: Enum.map(~w(h l s z), &FerricStore.ttl!(&1, o))

  defp fill(o) do
    {:ok, _} = FerricStore.hset("h", Map.new(1..50, &{"f#{&1}", "v#{&1}"}), o)
    {:ok, _} = FerricStore.hdel("h", ["f3", "f4"], o)
    {:ok, _} = FerricStore.hincrby("h", "n", 7, o)
    {:ok, _} = FerricStore.rpush("l", Enum.map(1..30, &"e#{&1}"), o)
    {:ok, _} = FerricStore.lpush("l", ["x", "y"], o)
    {:ok, _} = FerricStore.rpop("l", o)
    {:ok, _} = FerricStore.linsert("l", :before, "e10", "ins", o)
    :ok = FerricStore.lset("l", 0, "first", o)
    {:ok, _} = FerricStore.sadd("s", Enum.map(1..40, &"m#{&1}"), o)
    {:ok, _} = FerricStore.srem("s", ["m1", "m2"], o)
    {:ok, _} = FerricStore.zadd("z", Enum.map(1..40, &{&1 * 1.5 - 20, "m#{&1}"}), o)
    {:ok, _} = FerricStore.zadd("z", [{:inf, "top"}, {:neg_inf, "bottom"}], o)
    {:ok, _} = FerricStore.zincrby("z", 100, "m2", o)
    {:ok, _} = FerricStore.zrem("z", "m3", o)
    for k <- ~w(h l s z), do: {:ok, true} = FerricStore.expire(k, 1000, o)
  end

  test "members, counts, scores, order and TTLs survive restarts", %{opts: o} = ctx do
    fill(o)
    before = snapshot(o)
    assert before.hlen == 49
    assert before.llen == 32
    assert before.scard == 38
    assert before.zcard == 41
    assert {"m2", 83.0} in before.zset

    restart(ctx)
    assert snapshot(o) == before
    assert Enum.all?(ttls(o), &(&1 in 998..1000))

    # Writes after a restart extend what was loaded (cold values stay readable).
    {:ok, _} = FerricStore.rpush("l", "tail", o)
    {:ok, _} = FerricStore.hset("h", %{"f1" => "new"}, o)
    after_writes = snapshot(o)
    assert List.last(after_writes.list) == "tail"
    assert after_writes.hash["f1"] == "new"

    restart(ctx)
    assert snapshot(o) == after_writes
    restart(ctx)
    assert snapshot(o) == after_writes
  end

  test "encodings that Redis keeps after shrinking are kept across restarts", %{opts: o} = ctx do
    {:ok, _} = FerricStore.sadd("s", ["1", "x"], o)
    {:ok, 1} = FerricStore.srem("s", "x", o)
    {:ok, _} = FerricStore.hset("h", %{"f" => String.duplicate("v", 65)}, o)
    {:ok, _} = FerricStore.hset("h", %{"f" => "v"}, o)
    {:ok, _} = FerricStore.zadd("z", [{1, String.duplicate("m", 65)}, {2, "a"}], o)
    {:ok, 1} = FerricStore.zrem("z", String.duplicate("m", 65), o)
    :ok = FerricStore.rename("z", "z2", o)
    encodings = fn -> Enum.map(~w(s h z2), &FerricStore.object_encoding!(&1, o)) end
    assert encodings.() == ~w(hashtable hashtable skiplist)

    restart(ctx)
    assert encodings.() == ~w(hashtable hashtable skiplist)
  end

  # A cold member's location holds its whole record's size, which used to be taken for
  # its value's: small hashes turned "hashtable" after a restart (found by a restart hunt).
  test "a small hash is still listpack after a restart, up to 64-byte values", %{opts: o} = ctx do
    {:ok, _} = FerricStore.hset("h20", %{"f" => String.duplicate("v", 20)}, o)
    {:ok, _} = FerricStore.hset("h64", %{"f" => String.duplicate("v", 64)}, o)
    {:ok, _} = FerricStore.hset("h65", %{"f" => String.duplicate("v", 65)}, o)
    encodings = fn -> Enum.map(~w(h20 h64 h65), &FerricStore.object_encoding!(&1, o)) end
    assert encodings.() == ~w(listpack listpack hashtable)

    restart(ctx)
    assert encodings.() == ~w(listpack listpack hashtable)
  end

  test "old generations do not come back after DEL, overwrite or re-creation", %{opts: o} = ctx do
    fill(o)
    {:ok, 4} = FerricStore.del(~w(h l s z), o)
    # Re-created with other members: only these must be there after a restart.
    {:ok, 1} = FerricStore.hset("h", %{"only" => "1"}, o)
    {:ok, 1} = FerricStore.rpush("l", "only", o)
    {:ok, 1} = FerricStore.sadd("s", "only", o)
    {:ok, 1} = FerricStore.zadd("z", [{1, "only"}], o)
    # A string over a collection, then a collection again.
    {:ok, _} = FerricStore.sadd("t", ~w(a b c), o)
    :ok = FerricStore.set("t", "str", o)
    {:ok, 1} = FerricStore.del("t", o)
    {:ok, _} = FerricStore.sadd("t", "d", o)
    {:ok, _} = FerricStore.zadd("t2", [{1, "a"}], o)
    :ok = FerricStore.set("t2", "over", o)
    before = snapshot(o)

    restart(ctx)
    assert snapshot(o) == before
    assert before.hash == %{"only" => "1"}
    assert before.list == ["only"]
    assert before.set == ["only"]
    assert before.zset == [{"only", 1.0}]
    assert {:ok, ["d"]} = FerricStore.smembers("t", o)
    assert {:ok, "over"} = FerricStore.get("t2", o)
    {:ok, 1} = FerricStore.del("t2", o)
    {:ok, 0} = FerricStore.zcard("t2", o)
    {:ok, 1} = FerricStore.zadd("t2", [{5, "b"}], o)
    restart(ctx)
    assert {:ok, [{"b", 5.0}]} = FerricStore.zrange("t2", 0, -1, [with_scores: true] ++ o)
    assert Enum.all?(ttls(o), &(&1 == -1))
  end

  test "expired collections stay gone, and a new one under the key starts empty",
       %{opts: o} = ctx do
    fill(o)
    for k <- ~w(h l s z), do: {:ok, true} = FerricStore.pexpire(k, 30, o)
    Process.sleep(60)
    assert snapshot(o).types == ~w(none none none none)

    restart(ctx)
    assert snapshot(o).types == ~w(none none none none)
    {:ok, 1} = FerricStore.sadd("s", "fresh", o)
    {:ok, 1} = FerricStore.zadd("z", [{2, "fresh"}], o)

    restart(ctx)
    assert {:ok, ["fresh"]} = FerricStore.smembers("s", o)
    assert {:ok, [{"fresh", 2.0}]} = FerricStore.zrange("z", 0, -1, [with_scores: true] ++ o)
    assert {:ok, %{}} = FerricStore.hgetall("h", o)
    assert {:ok, []} = FerricStore.lrange("l", 0, -1, o)
  end

  test "renamed and copied collections survive restarts, the source does not come back",
       %{opts: o} = ctx do
    fill(o)
    before = snapshot(o)
    for k <- ~w(h l s z), do: :ok = FerricStore.rename(k, k <> "2", o)
    {:ok, true} = FerricStore.copy("z2", "zc", o)
    {:ok, true} = FerricStore.copy("l2", "h2", [replace: true] ++ o)

    restart(ctx)
    assert snapshot(o).types == ~w(none none none none)
    assert {:ok, before.set} == FerricStore.smembers("s2", o)
    assert {:ok, before.list} == FerricStore.lrange("l2", 0, -1, o)
    assert {:ok, before.list} == FerricStore.lrange("h2", 0, -1, o)
    assert {:ok, before.zset} == FerricStore.zrange("z2", 0, -1, [with_scores: true] ++ o)
    assert {:ok, before.zset} == FerricStore.zrange("zc", 0, -1, [with_scores: true] ++ o)
    assert {:ok, ttl} = FerricStore.ttl("zc", o)
    assert ttl in 990..1000

    # Re-creating the source key starts a new, empty collection.
    {:ok, 1} = FerricStore.sadd("s", "new", o)
    restart(ctx)
    assert {:ok, ["new"]} = FerricStore.smembers("s", o)
  end
end
