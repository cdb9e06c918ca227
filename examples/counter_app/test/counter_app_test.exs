defmodule CounterAppTest do
  use ExUnit.Case

  test "hits are counted, survive a restart of the store, and the last visitor is kept" do
    :ok = CounterApp.Store.flushdb!()
    assert {:ok, 1} = CounterApp.hit("/home", "ada")
    assert {:ok, 2} = CounterApp.hit("/home", "grace")
    assert CounterApp.hits("/home") == 2
    assert CounterApp.last_visitor("/home") == "grace"
    assert {:ok, ttl} = CounterApp.Store.ttl("last:/home")
    assert ttl in 59..60

    # Restart the store: everything acknowledged is still there.
    :ok = Supervisor.terminate_child(CounterApp.Supervisor, CounterApp.Store)
    {:ok, _} = Supervisor.restart_child(CounterApp.Supervisor, CounterApp.Store)
    assert CounterApp.hits("/home") == 2
    assert {:ok, 3} = CounterApp.hit("/home", "linus")
  end

  test "errors come back as values with Redis' wording" do
    :ok = CounterApp.Store.set("text", "abc")

    assert {:error, %FerricStore.Error{message: "ERR value is not an integer or out of range"}} =
             CounterApp.Store.incr("text")
  end
end
