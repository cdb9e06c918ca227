defmodule FerricStore.Store.MembersPublishTest do
  # Publishing an entry's member writes replaces the rows its commands read
  # (Batch.fetch_member/3 keeps them): dead bytes and the rank index must come out as if
  # every replaced row were looked up again, also when the same entry later drops the
  # collection or flushes the shard.
  use FerricStore.StoreCase, async: true

  alias FerricStore.Store.{Batcher, Keydir}

  @moduletag :tmp_dir

  # Runs `ops` in one Raft entry, in order (a pipeline's writes travel this way).
  defp entry(name, ops) do
    now = System.os_time(:millisecond)
    ops = for {family, op} <- ops, do: {now, family, op}
    request = Batcher.request_many(Batcher.name(name, 0), ops)
    Batcher.await_many(request, length(ops), 5_000)
  end

  defp dead_bytes(name) do
    meta = Keydir.tables(name, 0).meta
    :ets.match(meta, {{:dead, :_}, :"$1"}) |> List.flatten() |> Enum.sum()
  end

  defp member_size(name, key, member) do
    [{_, _, _, _, _, size}] = :ets.lookup(Keydir.tables(name, 0).members, {key, member})
    size
  end

  test "overwriting members counts each replaced record dead once", %{name: name} = ctx do
    {:ok, 2} = FerricStore.hset("h", [{"f", "v0"}, {"g", "w0"}], ctx.opts)
    {:ok, 1} = FerricStore.zadd("z", [{5, "a"}], ctx.opts)
    {:ok, 1} = FerricStore.sadd("s", ["m"], ctx.opts)
    old = member_size(name, "h", "f") + member_size(name, "h", "g") + member_size(name, "z", "a")
    before = dead_bytes(name)

    # HSET of existing fields, twice for f in the same entry, and a new score for a.
    assert [{:ok, 0}, {:ok, 0}, {:ok, 0}] =
             entry(name, [
               {:hashes, {:hset, "h", [{"f", "v1"}, {"g", "w1"}], false}},
               {:hashes, {:hset, "h", [{"f", "v2"}], false}},
               {:zsets, {:zadd, "z", [{1.0, "a"}], %{}}}
             ])

    assert dead_bytes(name) - before == old
    assert {:ok, %{"f" => "v2", "g" => "w1"}} == FerricStore.hgetall("h", ctx.opts)

    assert {:ok, [{"a", 1.0}]} ==
             FerricStore.zrange("z", 0, -1, Keyword.put(ctx.opts, :with_scores, true))

    assert {:ok, 0} == FerricStore.zcount("z", 5, 5, ctx.opts)
    assert {:ok, 1} == FerricStore.zcount("z", 1, 1, ctx.opts)
  end

  # The same history on a second instance, whose entry leaves out the commands before
  # the DEL or FLUSHDB: their records are replaced within the entry (never published), so
  # both instances must count the same dead bytes. Reusing a row read before the drop
  # would count it twice.
  defp reference(ctx, setup, ops) do
    other = :"#{ctx.name}_ref"
    start_instance(name: other, data_dir: Path.join(ctx.tmp_dir, "ref"))
    on_exit(fn -> stop_instance(other) end)
    setup.(name: other)
    entry(other, ops)
    dead_bytes(other)
  end

  test "a member read, then its collection deleted and written again in one entry",
       %{name: name} = ctx do
    setup = fn o ->
      {:ok, 1} = FerricStore.zadd("z", [{5, "a"}], o)
      {:ok, 1} = FerricStore.hset("h", [{"f", "v0"}], o)
    end

    setup.(ctx.opts)

    after_drop = [
      {:keyspace, {:del, ["z", "h"]}},
      {:zsets, {:zadd, "z", [{3.0, "a"}], %{}}},
      {:hashes, {:hset, "h", [{"f", "v2"}], false}}
    ]

    reads = [
      {:zsets, {:zadd, "z", [{1.0, "a"}], %{}}},
      {:hashes, {:hset, "h", [{"f", "v1"}], false}}
    ]

    assert [{:ok, 0}, {:ok, 0}, {:ok, 2}, {:ok, 1}, {:ok, 1}] = entry(name, reads ++ after_drop)

    assert {:ok, [{"a", 3.0}]} ==
             FerricStore.zrange("z", 0, -1, Keyword.put(ctx.opts, :with_scores, true))

    assert {:ok, 0} == FerricStore.zrank("z", "a", ctx.opts)
    assert {:ok, 1} == FerricStore.zcard("z", ctx.opts)
    assert {:ok, 0} == FerricStore.zcount("z", 5, 5, ctx.opts)
    assert {:ok, %{"f" => "v2"}} == FerricStore.hgetall("h", ctx.opts)
    assert dead_bytes(name) == reference(ctx, setup, after_drop)
  end

  test "a member read, then FLUSHDB, then written again in one entry", %{name: name} = ctx do
    setup = fn o ->
      {:ok, 2} = FerricStore.zadd("z", [{5, "a"}, {6, "b"}], o)
      {:ok, 1} = FerricStore.sadd("s", ["m"], o)
    end

    setup.(ctx.opts)

    after_flush = [
      {:keyspace, {:flush}},
      {:zsets, {:zadd, "z", [{2.0, "a"}], %{}}},
      {:sets, {:sadd, "s", ["m"]}}
    ]

    reads = [{:zsets, {:zadd, "z", [{1.0, "a"}], %{}}}, {:sets, {:sadd, "s", ["m"]}}]
    assert [{:ok, 0}, {:ok, 0}, :ok, {:ok, 1}, {:ok, 1}] = entry(name, reads ++ after_flush)

    assert {:ok, [{"a", 2.0}]} ==
             FerricStore.zrange("z", 0, -1, Keyword.put(ctx.opts, :with_scores, true))

    assert {:ok, 1} == FerricStore.zcard("z", ctx.opts)
    assert {:ok, 0} == FerricStore.zcount("z", 5, 6, ctx.opts)
    assert {:ok, ["m"]} == FerricStore.smembers("s", ctx.opts)
    assert dead_bytes(name) == reference(ctx, setup, after_flush)

    # Still right after a restart (rebuilt from the files).
    restart(ctx)

    assert {:ok, [{"a", 2.0}]} ==
             FerricStore.zrange("z", 0, -1, Keyword.put(ctx.opts, :with_scores, true))

    assert {:ok, ["m"]} == FerricStore.smembers("s", ctx.opts)
  end
end
