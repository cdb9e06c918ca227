defmodule FerricStore.Store.CompactionCollectionsTest do
  # Compaction of files that hold collection headers and members (issue #5 storage):
  # live members move, dead ones (overwritten, removed, older generations) go, and
  # everything reads the same before and after a restart.
  use FerricStore.StoreCase, async: true

  alias FerricStore.Commands
  alias FerricStore.Commands.Context
  alias FerricStore.Store.Shard

  @moduletag :tmp_dir
  @moduletag instance_opts: [max_file_size: 16 * 1024, compaction_min_bytes: 0]

  defp cmd(name, args) do
    {reply, _} = Commands.dispatch(args, Context.new(instance: name, authenticated?: true))
    reply
  end

  defp snapshot(name) do
    %{
      hash: cmd(name, ["HGETALL", "h"]),
      set: cmd(name, ["SMEMBERS", "s"]) |> sorted(),
      zset: cmd(name, ["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
      zranks: for(i <- [1, 15, 30], do: cmd(name, ["ZRANK", "z", "z#{i}"])),
      zrev: cmd(name, ["ZREVRANGE", "z", "-5", "-2"]),
      zcount: cmd(name, ["ZCOUNT", "z", "(10", "60"]),
      list: cmd(name, ["LRANGE", "l", "0", "-1"]),
      gone: cmd(name, ["EXISTS", "gone"])
    }
  end

  defp sorted({:set, list}), do: Enum.sort(list)
  defp sorted(list) when is_list(list), do: Enum.sort(list)

  test "collections survive compaction and restart", %{name: name} = ctx do
    pad = :binary.copy("p", 200)

    for round <- 1..6, i <- 1..30 do
      cmd(name, ["HSET", "h", "f#{i}", "#{round}#{pad}"])
      cmd(name, ["SADD", "s", "m#{i}#{pad}"])
      cmd(name, ["ZADD", "z", "#{round * i}", "z#{i}"])
      cmd(name, ["RPUSH", "l", "#{round}:#{i}"])
      cmd(name, ["HSET", "gone", "f#{i}", pad])
    end

    for i <- 1..10, do: cmd(name, ["HDEL", "h", "f#{i}"])
    for i <- 1..10, do: cmd(name, ["SREM", "s", "m#{i}#{pad}"])
    cmd(name, ["LTRIM", "l", "0", "99"])
    cmd(name, ["DEL", "gone"])

    before = snapshot(name)
    assert {:map, pairs} = before.hash
    assert length(pairs) == 20
    assert :ok = Shard.compact(name, 0)
    assert snapshot(name) == before
    restart(ctx)
    assert snapshot(name) == before
    assert :ok = Shard.compact(name, 0)
    restart(ctx)
    assert snapshot(name) == before
  end

  test "compaction shrinks files of overwritten members", %{name: name, tmp_dir: dir} do
    pad = :binary.copy("q", 500)
    for round <- 1..10, i <- 1..20, do: cmd(name, ["HSET", "h", "f#{i}", "#{round}#{pad}"])

    size = fn ->
      Path.wildcard(Path.join([dir, "shard_0", "*.data"]))
      |> Enum.map(&File.stat!(&1).size)
      |> Enum.sum()
    end

    before = size.()
    assert :ok = Shard.compact(name, 0)
    Process.sleep(2_200)
    assert size.() < before / 2
    assert cmd(name, ["HGET", "h", "f7"]) == "10" <> pad
  end
end
