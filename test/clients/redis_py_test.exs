defmodule FerricStore.Clients.RedisPyTest do
  # redis-py (the .venv of scripts/setup.sh) doing real work against FerricStore with
  # protocol=2 and protocol=3: strings, counters, TTLs, MSET/MGET, scan_iter and a
  # pipeline of 1000 commands (redis_py_session.py holds the checks).
  use ExUnit.Case, async: true

  @moduletag :integration
  @python Path.expand("../../.venv/bin/python", __DIR__)
  @script Path.expand("redis_py_session.py", __DIR__)

  setup_all do
    if not File.exists?(@python), do: raise("#{@python} is missing: run scripts/setup.sh")
    FerricStore.Test.ClientInstance.start!()
  end

  for protocol <- [2, 3] do
    @protocol protocol
    test "redis-py with protocol=#{protocol}", %{port: port} do
      {out, status} =
        System.cmd(@python, [@script, Integer.to_string(port), Integer.to_string(@protocol)],
          stderr_to_stdout: true
        )

      assert status == 0, out
      assert out =~ "ok "
    end
  end
end
