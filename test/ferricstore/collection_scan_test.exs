defmodule FerricStore.CollectionScanTest do
  # HSCAN/SSCAN/ZSCAN with Redis' guarantee: a full iteration returns every member that
  # was there from its start to its end, whatever was added or removed meanwhile. The
  # cursor was an offset in member order: members removed before it made the walk skip
  # as many others, and every step re-walked the collection up to the cursor.
  use FerricStore.StoreCase, async: true

  @moduletag :tmp_dir

  defp scan(:hash, key, cursor, o), do: FerricStore.hscan(key, cursor, o)
  defp scan(:set, key, cursor, o), do: FerricStore.sscan(key, cursor, o)
  defp scan(:zset, key, cursor, o), do: FerricStore.zscan(key, cursor, o)

  defp fill(:hash, key, members, o), do: FerricStore.hset(key, Map.new(members, &{&1, "v"}), o)
  defp fill(:set, key, members, o), do: FerricStore.sadd(key, members, o)
  defp fill(:zset, key, members, o), do: FerricStore.zadd(key, Enum.map(members, &{1.0, &1}), o)

  defp remove(_type, _key, [], _o), do: {:ok, 0}
  defp remove(:hash, key, members, o), do: FerricStore.hdel(key, members, o)
  defp remove(:set, key, members, o), do: FerricStore.srem(key, members, o)
  defp remove(:zset, key, members, o), do: FerricStore.zrem(key, members, o)

  defp name({m, _}), do: m
  defp name(m), do: m

  # Every step removes what it returned (the usual "scan and delete" loop), and after
  # the first one most members that were not returned yet go too, and new ones come.
  for type <- [:hash, :set, :zset] do
    test "#{type}: members present throughout come back while others go and come",
         %{opts: o} do
      type = unquote(type)
      # Interleaved in member order, so that removals fall before the cursor too.
      id = fn i -> "m:" <> String.pad_leading("#{i}", 5, "0") end
      stay = for i <- 1..3_600, rem(i, 6) == 0, do: id.(i) <> ":stay"
      tmp = for i <- 1..3_600, rem(i, 6) != 0, do: id.(i) <> ":tmp"
      {:ok, _} = fill(type, "c", stay ++ tmp, o)

      got =
        Stream.unfold({0, :first}, fn
          :done ->
            nil

          {cursor, step} ->
            {:ok, {next, items}} = scan(type, "c", cursor, [count: 25] ++ o)
            names = Enum.map(items, &name/1)
            {:ok, _} = remove(type, "c", Enum.filter(names, &String.ends_with?(&1, ":tmp")), o)

            if step == :first do
              {:ok, _} = remove(type, "c", Enum.take_every(tmp, 2), o)
              {:ok, _} = fill(type, "c", for(i <- 1..500, do: id.(i * 7) <> ":new"), o)
            end

            {names, if(next == 0, do: :done, else: {next, :later})}
        end)
        |> Enum.concat()
        |> MapSet.new()

      missing = Enum.reject(stay, &MapSet.member?(got, &1))
      assert missing == []
    end
  end

  test "a cursor the store does not know starts the walk over", %{opts: o} do
    {:ok, _} = FerricStore.sadd("s", for(i <- 1..300, do: "m#{i}"), o)
    {:ok, {_next, first}} = FerricStore.sscan("s", 0, [count: 10] ++ o)
    assert {:ok, {next, ^first}} = FerricStore.sscan("s", 123_456_789, [count: 10] ++ o)
    assert next != 0
  end

  test "a cursor handed out before a restart starts the walk over", %{opts: o} = ctx do
    {:ok, _} = FerricStore.hset("h", Map.new(1..300, &{"f#{&1}", "v"}), o)
    {:ok, {_, first}} = FerricStore.hscan("h", 0, [count: 10] ++ o)
    {:ok, {cursor, _}} = FerricStore.hscan("h", 0, [count: 10] ++ o)
    restart(ctx)
    assert {:ok, {_, ^first}} = FerricStore.hscan("h", cursor, [count: 10] ++ o)
  end

  test "a full walk of an unchanged collection returns each member once", %{opts: o} do
    members = for i <- 1..1_000, do: "m#{i}"
    {:ok, _} = FerricStore.sadd("s", members, o)

    walk = fn walk, cursor, acc ->
      {:ok, {next, items}} = FerricStore.sscan("s", cursor, [count: 7] ++ o)
      if next == 0, do: acc ++ items, else: walk.(walk, next, acc ++ items)
    end

    assert Enum.sort(walk.(walk, 0, [])) == Enum.sort(members)
  end
end
