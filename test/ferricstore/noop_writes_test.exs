defmodule FerricStore.NoopWritesTest do
  # Writes that change nothing (SADD of present members, SREM/HDEL/ZREM of absent ones,
  # HSETNX of a present field) answer without a Raft entry, as Redis answers them without
  # writing or fsyncing its AOF, and only when that is certain.
  use FerricStore.StoreCase, async: true

  alias FerricStore.Commands.Context
  alias FerricStore.Server.Pipeline
  alias FerricStore.Store
  alias FerricStore.Store.Keydir

  @moduletag :tmp_dir

  defp applied(name), do: Keydir.meta(Store.tables(name, 0).meta, :applied, 0)

  test "members already there: 0, and no Raft entry", %{name: name, opts: o} do
    assert {:ok, 2} = FerricStore.sadd("s", ["a", "b"], o)
    before = applied(name)
    assert {:ok, 0} = FerricStore.sadd("s", ["a", "b"], o)
    assert {:ok, 0} = FerricStore.sadd("s", "a", o)
    assert applied(name) == before

    # One new member: a real write.
    assert {:ok, 1} = FerricStore.sadd("s", ["a", "c"], o)
    assert applied(name) > before
    assert {:ok, ["a", "b", "c"]} = FerricStore.smembers("s", o)
  end

  test "SREM of absent members or of a missing set: 0, and no Raft entry",
       %{name: name, opts: o} do
    assert {:ok, 2} = FerricStore.sadd("s", ["a", "b"], o)
    before = applied(name)
    assert {:ok, 0} = FerricStore.srem("s", ["x", "y"], o)
    assert {:ok, 0} = FerricStore.srem("missing", ["a"], o)
    assert applied(name) == before

    assert {:ok, 1} = FerricStore.srem("s", ["x", "a"], o)
    assert applied(name) > before
    assert {:ok, ["b"]} = FerricStore.smembers("s", o)

    # Members of a deleted set are absent from the new one.
    assert {:ok, 1} = FerricStore.del("s", o)
    assert {:ok, 1} = FerricStore.sadd("s", ["c"], o)
    assert {:ok, 0} = FerricStore.srem("s", ["b"], o)
    :ok = FerricStore.set("str", "v", o)
    assert {:error, %FerricStore.Error{reason: :wrongtype}} = FerricStore.srem("str", ["a"], o)
  end

  test "HDEL and ZREM of absent members, HSETNX of a present field", %{name: name, opts: o} do
    assert {:ok, 2} = FerricStore.hset("h", %{"a" => "1", "b" => "2"}, o)
    assert {:ok, 2} = FerricStore.zadd("z", [{1, "a"}, {2, "b"}], o)
    before = applied(name)
    assert {:ok, 0} = FerricStore.hdel("h", ["x", "y"], o)
    assert {:ok, 0} = FerricStore.hdel("missing", ["a"], o)
    assert {:ok, false} = FerricStore.hsetnx("h", "a", "new", o)
    assert {:ok, 0} = FerricStore.zrem("z", ["x"], o)
    assert {:ok, 0} = FerricStore.zrem("missing", ["a"], o)
    assert applied(name) == before

    assert {:ok, 1} = FerricStore.hdel("h", ["x", "a"], o)
    assert {:ok, true} = FerricStore.hsetnx("h", "c", "3", o)
    assert {:ok, 1} = FerricStore.zrem("z", ["x", "a"], o)
    assert applied(name) > before
    assert {:ok, %{"b" => "2", "c" => "3"}} = FerricStore.hgetall("h", o)
    assert {:ok, ["b"]} = FerricStore.zrange("z", 0, -1, o)

    # Wrong types still answer WRONGTYPE (from the machine).
    :ok = FerricStore.set("str", "v", o)
    assert {:error, %FerricStore.Error{reason: :wrongtype}} = FerricStore.hdel("str", ["a"], o)
    assert {:error, %FerricStore.Error{reason: :wrongtype}} = FerricStore.zrem("str", ["a"], o)

    assert {:error, %FerricStore.Error{reason: :wrongtype}} =
             FerricStore.hsetnx("str", "a", "1", o)
  end

  test "a set deleted and made again: old members do not count", %{opts: o} do
    assert {:ok, 2} = FerricStore.sadd("s", ["a", "b"], o)
    assert {:ok, 1} = FerricStore.del("s", o)
    assert {:ok, 1} = FerricStore.sadd("s", ["c"], o)
    assert {:ok, 1} = FerricStore.sadd("s", ["a"], o)
    assert {:ok, ["a", "c"]} = FerricStore.smembers("s", o)

    # An expired set is missing; a string key answers WRONGTYPE, as before.
    assert {:ok, true} = FerricStore.pexpire("s", 1, o)
    Process.sleep(5)
    assert {:ok, 1} = FerricStore.sadd("s", ["a"], o)
    :ok = FerricStore.set("str", "v", o)
    assert {:error, %FerricStore.Error{reason: :wrongtype}} = FerricStore.sadd("str", ["a"], o)
  end

  test "inside a pipeline the earlier writes still count", %{name: name, opts: o} do
    assert {:ok, 1} = FerricStore.sadd("s", ["a"], o)
    ctx = Context.new(instance: name, authenticated?: true)
    assert [1, 1, 0] = Pipeline.run([~w(SREM s a), ~w(SADD s a), ~w(SADD s a)], ctx)
    assert {:ok, ["a"]} = FerricStore.smembers("s", o)
    assert [1, 1, 0] = Pipeline.run([~w(SADD s b), ~w(SREM s b), ~w(SREM s b)], ctx)
    assert {:ok, ["a"]} = FerricStore.smembers("s", o)
  end
end
