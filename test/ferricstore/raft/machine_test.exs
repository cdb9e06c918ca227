defmodule FerricStore.Raft.MachineTest do
  use ExUnit.Case, async: true

  alias FerricStore.Raft.Machine
  alias FerricStore.Store

  # An operation whose value is not a binary used to reach the data file's NIF, which
  # raised in the ra server's apply: the server exited, every write hung, and each
  # restart replayed the entry and crashed again (found by a hunt of the embedded API).
  # Operations are built here directly, past the API's own checks.
  @tag :tmp_dir
  @tag capture_log: true
  test "an operation with a value that is not a binary fails alone, now and on replay", %{
    tmp_dir: dir
  } do
    name = :"machine_bad_value_#{System.unique_integer([:positive])}"
    {:ok, sup} = FerricStore.start_link(name: name, data_dir: dir)
    :ok = FerricStore.set("keep", "me", name: name)

    for {key, family, op} <- [
          {"l", :lists, {:push, "l", ["a", 123], :left, false}},
          {"s", :strings, {:set, "s", 123, 0, nil, false}},
          {"h", :hashes, {:hset, "h", [{"f", nil}], false}}
        ] do
      assert {:error, %FerricStore.Error{reason: :internal}} = Store.write(name, key, family, op)
    end

    # The same entry can carry good operations: they are applied.
    request =
      Store.Batcher.request_many(Store.Batcher.name(name, 0), [
        {Store.now(), :lists, {:push, "l", [:x], :left, false}},
        {Store.now(), :lists, {:push, "l2", ["ok"], :left, false}}
      ])

    [bad, good] = Store.Batcher.await_many(request, 2, 5_000)

    assert {:error, %FerricStore.Error{reason: :internal}} = bad
    assert {:ok, 1} = good
    ra = Process.whereis(:"#{name}.ra.0")
    :ok = FerricStore.set("after", "x", name: name)
    assert Process.whereis(:"#{name}.ra.0") == ra
    assert {:ok, 0} = FerricStore.exists(["l", "s", "h"], name: name)

    Supervisor.stop(sup)
    {:ok, sup} = FerricStore.start_link(name: name, data_dir: dir)
    assert {:ok, "me"} = FerricStore.get("keep", name: name)
    assert {:ok, "x"} = FerricStore.get("after", name: name)
    assert {:ok, ["ok"]} = FerricStore.lrange("l2", 0, -1, name: name)
    Supervisor.stop(sup)
  end

  # A replayed checkpoint can name an index below ra's snapshot; releasing it again made
  # ra 2.2 exit with term_not_found_for_index at start-up (found by the SIGKILL test).
  test "a checkpoint releases the log only past the last released index" do
    state = %{instance: :x, shard: 0, tables: %{}}

    assert {state, :ok, [{:release_cursor, 15, %{released: 15}}]} =
             Machine.apply(%{index: 20}, {:checkpoint, 15}, state)

    assert {^state, :ok} = Machine.apply(%{index: 21}, {:checkpoint, 10}, state)
    assert {^state, :ok} = Machine.apply(%{index: 22}, {:checkpoint, 15}, state)

    assert {%{released: 30}, :ok, [{:release_cursor, 30, _}]} =
             Machine.apply(%{index: 40}, {:checkpoint, 30}, state)
  end
end
