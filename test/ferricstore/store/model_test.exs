defmodule FerricStore.Store.ModelTest do
  # Issue #6: random operations, restarts and compactions against a Map model; the store
  # always equals the model. The seed is printed; replay with MODEL_SEED=<seed>.
  use FerricStore.StoreCase, async: true

  @moduletag :tmp_dir
  @moduletag instance_opts: [max_file_size: 32_768, compaction_min_bytes: 16_384]
  @moduletag timeout: 120_000

  @ops 3_000
  @keys 40
  @ttl_s 1_000

  alias FerricStore.Store.Shard

  test "the store equals a Map model through restarts", ctx do
    seed =
      String.to_integer(System.get_env("MODEL_SEED", "#{:erlang.unique_integer([:positive])}"))

    run_model(ctx, seed, false)
  end

  # Seeds 82 and 2194 once lost keys: compact_all compacted a file that was waiting for
  # its delayed deletion again, over the generation the keydir already pointed at.
  test "the store equals a Map model through restarts and compactions", ctx do
    seed =
      String.to_integer(System.get_env("MODEL_SEED", "#{:erlang.unique_integer([:positive])}"))

    run_model(ctx, seed, true)
  end

  for seed <- [82, 2194] do
    test "regression: compaction then restart keeps every key (seed #{seed})", ctx do
      run_model(ctx, unquote(seed), true)
    end
  end

  defp run_model(ctx, seed, compact?) do
    :rand.seed(:exsss, {seed, 4, 4})

    IO.puts(
      "\nmodel test seed #{seed} (MODEL_SEED=#{seed}); compactions: #{compact?} " <>
        "(Shard.compact/2 present: #{function_exported?(Shard, :compact, 2)})"
    )

    {model, counts} =
      Enum.reduce(1..@ops, {%{}, %{}}, fn i, {model, counts} ->
        op = random_op()
        Process.put(:trail, Enum.take([{i, op_summary(op)} | Process.get(:trail, [])], 12))
        track(i, op)
        model = run(op, model, ctx, compact?)

        if rem(i, 250) == 0 or elem(op, 0) in [:restart, :compact],
          do: assert_equal(model, ctx, op)

        {model, Map.update(counts, elem(op, 0), 1, &(&1 + 1))}
      end)

    restart(ctx)
    assert_equal(model, ctx, :final_restart)
    IO.puts("model test: #{inspect(Enum.sort(counts))}, #{map_size(model)} keys at the end")
  end

  # The model: key => {value, ttl?}. TTLs are long (they never expire during the test),
  # so the model needs no clock; the store's pttl is checked to be positive.
  defp random_op do
    key = "k#{:rand.uniform(@keys)}"

    case :rand.uniform(1000) do
      n when n <= 300 -> {:set, key, random_value(), false}
      n when n <= 380 -> {:set, key, random_value(), true}
      n when n <= 480 -> {:del, key}
      n when n <= 620 -> {:incr, key, :rand.uniform(200) - 100}
      n when n <= 740 -> {:append, key, Enum.random(["v", "xy", :binary.copy("a", 300)])}
      n when n <= 850 -> {:expire, key}
      n when n <= 930 -> {:persist, key}
      n when n <= 940 -> {:flushdb}
      n when n <= 975 -> {:restart}
      _ -> {:compact}
    end
  end

  defp random_value do
    case :rand.uniform(4) do
      1 -> Integer.to_string(:rand.uniform(10_000) - 5_000)
      2 -> ""
      _ -> "v" <> :binary.copy(<<Enum.random(?a..?z)>>, :rand.uniform(2_000))
    end
  end

  defp run({:set, k, v, ttl?}, model, ctx, _) do
    opts = if ttl?, do: [ex: @ttl_s], else: []
    assert :ok = FerricStore.set(k, v, opts ++ [name: ctx.name])
    Map.put(model, k, {v, ttl?})
  end

  defp run({:del, k}, model, ctx, _) do
    assert {:ok, n} = FerricStore.del(k, name: ctx.name)
    assert n == if(Map.has_key?(model, k), do: 1, else: 0)
    Map.delete(model, k)
  end

  defp run({:incr, k, by}, model, ctx, _) do
    result = FerricStore.incrby(k, by, name: ctx.name)

    case Map.get(model, k) do
      nil ->
        assert result == {:ok, by}
        Map.put(model, k, {Integer.to_string(by), false})

      {v, ttl?} ->
        case Integer.parse(v) do
          {n, ""} when v != "" ->
            assert result == {:ok, n + by}
            Map.put(model, k, {Integer.to_string(n + by), ttl?})

          _ ->
            assert {:error, %FerricStore.Error{reason: :not_integer}} = result
            model
        end
    end
  end

  defp run({:append, k, a}, model, ctx, _) do
    {v, ttl?} = Map.get(model, k, {"", false})
    assert {:ok, byte_size(v) + byte_size(a)} == FerricStore.append(k, a, name: ctx.name)
    Map.put(model, k, {v <> a, ttl?})
  end

  defp run({:expire, k}, model, ctx, _) do
    result = FerricStore.expire(k, @ttl_s, name: ctx.name)

    case Map.get(model, k) do
      nil ->
        assert result == {:ok, false}
        model

      {v, _} ->
        assert result == {:ok, true}
        Map.put(model, k, {v, true})
    end
  end

  defp run({:persist, k}, model, ctx, _) do
    result = FerricStore.persist(k, name: ctx.name)

    case Map.get(model, k) do
      {v, true} ->
        assert result == {:ok, true}
        Map.put(model, k, {v, false})

      _ ->
        assert result == {:ok, false}
        model
    end
  end

  defp run({:flushdb}, _model, ctx, _) do
    assert :ok = FerricStore.flushdb(name: ctx.name)
    %{}
  end

  defp run({:restart}, model, ctx, _) do
    restart(ctx)
    model
  end

  defp run({:compact}, model, ctx, true) do
    Shard.compact(ctx.name, 0)
    model
  end

  defp run({:compact}, model, _ctx, false), do: model

  # The last operations on each key (and every flushdb/restart/compact), for messages.
  defp track(i, op) do
    key = if tuple_size(op) > 1, do: elem(op, 1), else: :all
    Process.put({:history, key}, Enum.take([{i, op_summary(op)} | history(key)], 5))
  end

  defp history(key), do: Process.get({:history, key}, [])

  defp op_summary(op), do: op |> Tuple.to_list() |> Enum.map(&short/1) |> List.to_tuple()
  defp short(b) when is_binary(b) and byte_size(b) > 12, do: binary_part(b, 0, 12) <> "..."
  defp short(x), do: x

  defp assert_equal(model, ctx, after_op) do
    after_op = {after_op, last_ops: Process.get(:trail)}
    o = [name: ctx.name]
    {:ok, keys} = FerricStore.keys("*", o)
    extra = keys -- Map.keys(model)
    missing = Map.keys(model) -- keys

    assert {extra, missing} == {[], []},
           "after #{inspect(after_op)}: keys never written or deleted #{inspect(extra)}, " <>
             "keys missing #{inspect(missing)}; their last operations: " <>
             inspect(Map.new(extra ++ missing, &{&1, history(&1)})) <>
             "; last flushdb/restart/compact: #{inspect(history(:all))}"

    assert {:ok, map_size(model)} == FerricStore.dbsize(o)
    keys = Map.keys(model)
    {:ok, values} = FerricStore.mget(keys, o)

    for {k, got} <- Enum.zip(keys, values) do
      {v, ttl?} = model[k]
      assert got == v, "#{k} after #{inspect(after_op)}: #{inspect(got)} != #{inspect(v)}"
      {:ok, pttl} = FerricStore.pttl(k, o)

      if ttl?,
        do: assert(pttl > 0, "#{k} lost its TTL"),
        else: assert(pttl == -1, "#{k}: #{pttl}")
    end
  end
end

defmodule FerricStore.Store.ModelCompactionTest do
  # An attempt at a minimal repro of the model test's compaction failure (seed 82); this
  # simple pattern passes and stays as a regression test.
  use FerricStore.StoreCase, async: true

  @moduletag :tmp_dir
  @moduletag instance_opts: [max_file_size: 32_768, compaction_min_bytes: 16_384]

  test "keys survive a restart after repeated Shard.compact", %{opts: o, name: name} = ctx do
    values =
      Enum.reduce(1..4, %{}, fn round, values ->
        # Overwrite every key: the older sealed files become dead, then compact them.
        values =
          Enum.reduce(1..40, values, fn i, acc ->
            v = "r#{round}k#{i}" <> :binary.copy("x", 1500)
            :ok = FerricStore.set("k#{i}", v, o)
            Map.put(acc, "k#{i}", v)
          end)

        FerricStore.Store.Shard.compact(name, 0)
        assert {:ok, Map.values(values)} == FerricStore.mget(Map.keys(values), o)
        values
      end)

    files = Path.wildcard(Path.join([ctx.tmp_dir, "shard_0", "*"])) |> Enum.map(&Path.basename/1)
    restart(ctx)
    {:ok, keys} = FerricStore.keys("*", o)
    missing = Map.keys(values) -- keys
    assert missing == [], "missing after restart: #{inspect(missing)}; files: #{inspect(files)}"
    assert {:ok, Map.values(values)} == FerricStore.mget(Map.keys(values), o)
  end
end
