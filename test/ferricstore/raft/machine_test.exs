defmodule FerricStore.Raft.MachineTest do
  use ExUnit.Case, async: true

  alias FerricStore.Raft.Machine

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
