defmodule FerricStore.Store.RecoveryTest do
  # Start-up splits the keys between several loaders (Store.Recovery): whatever their
  # number, the rebuilt tables must be exactly those that one loader builds, FLUSHDB
  # markers, type changes, deletes, TTLs and collections included.
  use FerricStore.StoreCase, async: true

  alias FerricStore.Store.{Keydir, Recovery}

  @moduletag :tmp_dir
  # Small files: the history spans many sealed files (hint files) and the active one.
  @moduletag instance_opts: [max_file_size: 16_384]

  test "any number of loaders rebuilds the tables one loader builds", ctx do
    o = ctx.opts

    for round <- 1..3 do
      :ok = FerricStore.set("only#{round}", "r", o)

      for i <- 1..240 do
        k = "k#{rem(i * 7, 90)}"

        case rem(i, 8) do
          0 -> {:ok, _} = FerricStore.del(k, o)
          1 -> :ok = FerricStore.set(k, "ttl#{round}.#{i}", Keyword.put(o, :ttl, 3_600_000))
          2 -> hset_or_del("h#{rem(i, 5)}", [{"f#{rem(i, 11)}", "#{i}"}], o)
          3 -> {:ok, _} = FerricStore.zadd("z#{rem(i, 4)}", [{i / 3, "m#{rem(i, 17)}"}], o)
          4 -> {:ok, _} = FerricStore.sadd("s#{rem(i, 3)}", ["m#{rem(i, 7)}"], o)
          5 -> {:ok, _} = FerricStore.rpush("l#{rem(i, 3)}", ["e#{i}"], o)
          # Keys that change type: a string over a hash, and back (hset_or_del/3).
          6 -> :ok = FerricStore.set("h#{rem(i, 5)}", "a string now", o)
          _ -> :ok = FerricStore.set(k, :binary.copy("v", rem(i, 40)), o)
        end
      end

      if round < 3, do: :ok = FerricStore.flushdb(o)
    end

    # (No compaction here: no file gathers compaction_min_bytes of dead bytes.)
    meta = Keydir.tables(ctx.name, 0).meta
    live_dead = for {{:dead, _fid}, _n} = row <- :ets.tab2list(meta), into: %{}, do: row
    stop_instance(ctx.name)
    dir = Path.join(ctx.tmp_dir, "shard_0")
    assert length(Path.wildcard(Path.join(dir, "*.hint"))) >= 2

    {one, stats1} = recover(dir, 1)
    assert Map.has_key?(one.keydir, "only3")
    refute Map.has_key?(one.keydir, "only1") or Map.has_key?(one.keydir, "only2")
    assert map_size(one.members) > 0 and map_size(one.expiry) > 0
    # Start-up counts the same dead bytes per file as apply/3 did while the data was
    # written: overwrites, deletes, type changes, collections and FLUSHDB included.
    assert one.dead == live_dead

    for n <- [2, 3, 4] do
      {tables, stats} = recover(dir, n)
      assert tables == one, "#{n} loaders rebuilt other tables than one loader"

      assert Map.take(stats, [:loaded, :applied, :skipped, :files]) ==
               Map.take(stats1, [:loaded, :applied, :skipped, :files])
    end
  end

  defp hset_or_del(key, fields, o) do
    case FerricStore.hset(key, fields, o) do
      {:ok, _} -> :ok
      {:error, %FerricStore.Error{}} -> {:ok, 1} = FerricStore.del(key, o)
    end
  end

  defp recover(dir, loaders) do
    tables = Keydir.tables(:"recovery_#{System.unique_integer([:positive])}", 0)
    :ok = Keydir.create(tables)
    stats = Recovery.run(dir, tables, loaders)

    dead = for {{:dead, _fid}, _n} = row <- :ets.tab2list(tables.meta), into: %{}, do: row

    snapshot = %{
      keydir: Map.new(:ets.tab2list(tables.keydir), &{elem(&1, 0), &1}),
      expiry: MapSet.new(:ets.tab2list(tables.expiry)),
      members: Map.new(:ets.tab2list(tables.members), &{elem(&1, 0), &1}),
      dead: dead
    }

    for t <- [:keydir, :expiry, :files, :meta, :members], do: :ets.delete(tables[t])
    {snapshot, stats}
  end
end
