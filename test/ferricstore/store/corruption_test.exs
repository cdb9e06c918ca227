defmodule FerricStore.Store.CorruptionTest do
  # Issue #6: torn and corrupt files. Start-up always succeeds, says what it skipped,
  # and a read never returns bytes that were not written for that key.
  use FerricStore.StoreCase, async: true

  import Bitwise
  import ExUnit.CaptureLog

  @moduletag :tmp_dir
  # Small files: many sealed files with hint files. No checkpoint happens in these
  # tests (far below the thresholds), so ra keeps every entry in its log.
  @moduletag instance_opts: [max_file_size: 16_384]

  setup do
    seed = :erlang.unique_integer([:positive])
    :rand.seed(:exsss, {seed, 7, 7})
    IO.puts("corruption test seed #{seed}: :rand.seed(:exsss, {#{seed}, 7, 7})")
    :ok
  end

  test "truncating the active file at random offsets loses nothing", ctx do
    model =
      Enum.reduce(1..6, %{}, fn round, model ->
        model = write_random(ctx, model, 150, round)
        stop_instance(ctx.name)
        path = ctx.tmp_dir |> data_files() |> List.last()
        size = File.stat!(path).size
        cut = 8 + :rand.uniform(max(size - 8, 1))
        {:ok, f} = :file.open(path, [:read, :write, :raw, :binary])
        {:ok, _} = :file.position(f, min(cut, size))
        :ok = :file.truncate(f)
        :ok = :file.close(f)
        capture_log(fn -> start_instance(ctx.instance_opts) end)

        # Every record cut off belongs to an entry ra still has: it comes back.
        assert_store_equals(ctx, model)
        model
      end)

    assert map_size(model) > 0
  end

  test "garbage appended to the active file is cut and counted", ctx do
    model = write_random(ctx, %{}, 200, 1)
    stop_instance(ctx.name)
    path = ctx.tmp_dir |> data_files() |> List.last()
    File.write!(path, :crypto.strong_rand_bytes(1000), [:append])
    capture_log(fn -> start_instance(ctx.instance_opts) end)

    assert FerricStore.info(name: ctx.name).recovery.truncated_bytes >= 1000
    assert_store_equals(ctx, model)
    # And the store keeps working on the cut file.
    :ok = FerricStore.set("after", "cut", name: ctx.name)
    restart(ctx)
    assert {:ok, "cut"} = FerricStore.get("after", name: ctx.name)
  end

  test "flipped bytes in sealed data files (no hints): reported, never returned", ctx do
    history = write_history(ctx, 400)
    stop_instance(ctx.name)
    sealed = ctx.tmp_dir |> data_files() |> Enum.drop(-1)
    assert length(sealed) >= 3
    Enum.each(hint_files(ctx.tmp_dir), &File.rm!/1)
    flips = for path <- sealed, _ <- 1..3, do: flip_byte(path, 8)

    log = capture_log(fn -> start_instance(ctx.instance_opts) end)

    recovery = FerricStore.info(name: ctx.name).recovery
    assert recovery.skipped > 0, "#{length(flips)} flipped bytes, recovery: #{inspect(recovery)}"
    assert log =~ "recovery"
    assert_only_written_values(ctx, history)
  end

  test "flipped bytes in sealed data files (with hints): reads fail, never wrong", ctx do
    history = write_history(ctx, 400)
    stop_instance(ctx.name)
    sealed = ctx.tmp_dir |> data_files() |> Enum.drop(-1)
    assert length(hint_files(ctx.tmp_dir)) == length(sealed)
    for path <- sealed, _ <- 1..3, do: flip_byte(path, 8)

    capture_log(fn -> start_instance(ctx.instance_opts) end)

    # Start-up trusts hint files (it does not read the data files), so the damage shows
    # at read time: a CRC mismatch is an error, not a value.
    errors = assert_only_written_values(ctx, history)
    IO.puts("sealed files flipped under intact hints: #{errors} reads returned an error")
  end

  test "a compaction that meets a damaged record fails once, cleanly", ctx do
    # The first sealed file holds live records only.
    value = :binary.copy("x", 200)
    for i <- 1..100, do: :ok = FerricStore.set("once#{i}", value, name: ctx.name)
    stop_instance(ctx.name)
    [first | _] = data_files(ctx.tmp_dir)
    size = File.stat!(first).size
    {:ok, f} = :file.open(first, [:read, :write, :raw, :binary])
    :ok = :file.pwrite(f, div(size, 2), "damage")
    :ok = :file.close(f)
    capture_log(fn -> start_instance(ctx.instance_opts) end)

    failed = {:error, {:compaction_failed, [1000]}}
    log = capture_log(fn -> ^failed = FerricStore.Store.Shard.compact(ctx.name, 0) end)
    assert log =~ ~r/compaction of file 1000 .* failed/
    # No partial output is left, and the file is not tried again and again (a forced
    # compaction still says it could not compact it: BGREWRITEAOF's status is err).
    refute File.exists?(String.replace(first, "1000.data", "1001.data"))

    refute capture_log(fn -> ^failed = FerricStore.Store.Shard.compact(ctx.name, 0) end) =~
             "failed"

    assert {:error, %FerricStore.Error{reason: :io}} = FerricStore.compact(name: ctx.name)
    # Every other record still reads back.
    ok = Enum.count(1..100, &(FerricStore.get("once#{&1}", name: ctx.name) == {:ok, value}))
    assert ok >= 98
  end

  test "a sealed file found without its hint file gets a new one after the start", ctx do
    history = write_history(ctx, 300)
    stop_instance(ctx.name)
    hints = hint_files(ctx.tmp_dir)
    assert length(hints) >= 2
    Enum.each(hints, &File.rm!/1)

    start_instance(ctx.instance_opts)
    wait_until(fn -> Enum.all?(hints, &File.exists?/1) end)
    # The rebuilt hints load the same store.
    restart(ctx)
    assert assert_only_written_values(ctx, history) == 0

    assert_newest(ctx, history)
  end

  test "a corrupt or truncated hint file falls back to scanning its data file", ctx do
    history = write_history(ctx, 300)
    stop_instance(ctx.name)
    hints = hint_files(ctx.tmp_dir)
    assert length(hints) >= 3
    [first, second | rest] = hints
    flip_byte(first, 8)
    File.write!(second, binary_part(File.read!(second), 0, div(File.stat!(second).size, 2)))
    Enum.each(rest, &flip_byte(&1, 0))

    log = capture_log(fn -> start_instance(ctx.instance_opts) end)

    assert log =~ "unusable"
    # The data files are intact: every key has its last value.
    assert_store_equals(ctx, Map.new(history, fn {k, [v | _]} -> {k, v} end))
    assert FerricStore.info(name: ctx.name).recovery.skipped == 0
  end

  # A hint file is read in chunks of a few thousand entries while they are inserted: a
  # bad record past the first chunk keeps the entries before it and scans the data file
  # from there, without counting the loaded records twice as dead bytes.
  @tag instance_opts: [max_file_size: 400_000]
  test "a hint file bad past its first chunk: loaded entries kept, the rest scanned", ctx do
    o = [name: ctx.name]

    model = Map.new(1..15_000, &{"key:#{&1}", "v#{&1}"})

    model
    |> Enum.chunk_every(500)
    |> Enum.each(&(:ok = FerricStore.mset(&1, o)))

    stop_instance(ctx.name)
    [hint | _] = hint_files(ctx.tmp_dir)
    fid = hint |> Path.basename(".hint") |> String.to_integer()
    size = File.stat!(hint).size
    # Well past the first chunk (4096 entries of ~30 bytes).
    flip_byte(hint, size - div(size, 5))

    log = capture_log(fn -> start_instance(ctx.instance_opts) end)
    assert log =~ "unusable"
    assert_store_equals(ctx, model)

    meta = FerricStore.Store.tables(ctx.name, 0).meta
    assert :ets.lookup(meta, {:dead, fid}) in [[], [{{:dead, fid}, 0}]]
  end

  test "a damaged header is rewritten: every record of the file is kept", ctx do
    history = write_history(ctx, 400)
    stop_instance(ctx.name)
    [sealed | _] = files = data_files(ctx.tmp_dir)
    active = List.last(files)

    for path <- [sealed, active] do
      {:ok, f} = :file.open(path, [:read, :write, :raw, :binary])
      :ok = :file.pwrite(f, 0, <<0::64>>)
      :ok = :file.close(f)
    end

    log = capture_log(fn -> start_instance(ctx.instance_opts) end)
    assert log =~ "#{sealed} had a damaged header: rewritten"
    assert log =~ "#{active} had a damaged header: rewritten"
    assert FerricStore.info(name: ctx.name).recovery.skipped == 0

    assert_newest(ctx, history)
  end

  test "a data file of another format version fails the start and is left as it is", ctx do
    write_history(ctx, 100)
    stop_instance(ctx.name)
    [first | _] = data_files(ctx.tmp_dir)
    {:ok, f} = :file.open(first, [:read, :write, :raw, :binary])
    :ok = :file.pwrite(f, 0, <<"FSBC", 9::little-16, 0::16>>)
    :ok = :file.close(f)

    capture_log(fn ->
      Process.flag(:trap_exit, true)
      assert {:error, _} = FerricStore.start_link(ctx.instance_opts)
    end)

    assert {:ok, <<"FSBC", 9::little-16, 0::16>>} = File.open(first, [:read], &IO.binread(&1, 8))
  end

  test "an active file that cannot be opened is moved aside; ra replays its entries",
       ctx do
    model = write_random(ctx, %{}, 300, 1)
    stop_instance(ctx.name)
    path = ctx.tmp_dir |> data_files() |> List.last()
    # Something that is not a readable file where the active file was.
    File.rm!(path)
    File.mkdir!(path)

    log = capture_log(fn -> start_instance(ctx.instance_opts) end)
    assert log =~ "#{path} cannot be read"
    assert File.exists?(path <> ".damaged")
    assert_store_equals(ctx, model)
    :ok = FerricStore.set("after", "damage", name: ctx.name)
    capture_log(fn -> restart(ctx) end)
    assert_store_equals(ctx, Map.put(model, "after", "damage"))
  end

  test "a sealed file that cannot be opened is named in an error; the node starts", ctx do
    history = write_history(ctx, 400)
    stop_instance(ctx.name)
    [sealed | _] = data_files(ctx.tmp_dir)
    File.rm!(sealed)
    File.mkdir!(sealed)

    log = capture_log(fn -> start_instance(ctx.instance_opts) end)
    assert log =~ "#{sealed} cannot be read"
    # Its records are missing; every key reads as one of the values written for it.
    assert_only_written_values(ctx, history)
    :ok = FerricStore.set("fresh", "value", name: ctx.name)
    assert {:ok, "value"} = FerricStore.get("fresh", name: ctx.name)
  end

  test "a data file that fails to open for another reason fails the start; nothing moves",
       ctx do
    write_history(ctx, 300)
    stop_instance(ctx.name)
    active = ctx.tmp_dir |> data_files() |> List.last()
    File.rename!(active, active <> ".kept")
    # ELOOP: not damage, not a permission; the start must fail and be tried again later.
    File.ln_s!(Path.basename(active), active)

    capture_log(fn ->
      Process.flag(:trap_exit, true)
      assert {:error, _} = FerricStore.start_link(ctx.instance_opts)
    end)

    assert {:ok, _} = File.read_link(active)
    refute File.exists?(active <> ".damaged")
    File.rm!(active)
    File.rename!(active <> ".kept", active)
    capture_log(fn -> start_instance(ctx.instance_opts) end)
    assert FerricStore.info(name: ctx.name).recovery.skipped == 0
  end

  test "while the oldest file cannot be opened, compactions keep the tombstones", ctx do
    o = [name: ctx.name]
    value = :binary.copy("x", 300)
    for i <- 1..60, do: :ok = FerricStore.set("gone#{i}", value, o)
    for i <- 1..60, do: {:ok, 1} = FerricStore.del("gone#{i}", o)
    for i <- 1..120, do: :ok = FerricStore.set("kept#{i}", value, o)
    stop_instance(ctx.name)

    [oldest | _] = data_files(ctx.tmp_dir)
    File.rename!(oldest, oldest <> ".away")
    File.mkdir!(oldest)
    capture_log(fn -> start_instance(ctx.instance_opts) end)
    :ok = FerricStore.Store.Shard.compact(ctx.name, 0)
    stop_instance(ctx.name)

    # The file is repaired: the keys deleted while it was away stay deleted.
    File.rmdir!(oldest)
    File.rename!(oldest <> ".away", oldest)
    capture_log(fn -> start_instance(ctx.instance_opts) end)
    for i <- 1..60, do: assert({:ok, nil} == FerricStore.get("gone#{i}", o))
    for i <- 1..120, do: assert({:ok, value} == FerricStore.get("kept#{i}", o))
  end

  test "random damage anywhere: start-up succeeds, reads are written values or errors",
       ctx do
    history = write_history(ctx, 500)
    stop_instance(ctx.name)
    files = data_files(ctx.tmp_dir) ++ hint_files(ctx.tmp_dir)

    for _ <- 1..20 do
      path = Enum.random(files)

      case :rand.uniform(3) do
        1 -> flip_byte(path, 0)
        2 -> flip_byte(path, 8)
        3 -> zero_range(path)
      end
    end

    capture_log(fn -> start_instance(ctx.instance_opts) end)
    assert_only_written_values(ctx, history)
    # Writes work after any damage, and survive a restart.
    :ok = FerricStore.set("fresh", "value", name: ctx.name)
    capture_log(fn -> restart(ctx) end)
    assert {:ok, "value"} = FerricStore.get("fresh", name: ctx.name)
  end

  ## Helpers

  defp data_files(dir), do: Path.wildcard(Path.join([dir, "shard_0", "*.data"])) |> Enum.sort()
  defp hint_files(dir), do: Path.wildcard(Path.join([dir, "shard_0", "*.hint"])) |> Enum.sort()

  # Random writes against a Map model: set, overwrite, del, incr.
  defp write_random(ctx, model, n, round) do
    o = [name: ctx.name]

    Enum.reduce(1..n, model, fn i, model ->
      key = "k#{:rand.uniform(60)}"

      case :rand.uniform(10) do
        r when r <= 6 ->
          v = "#{key}/#{round}/#{i}/" <> :binary.copy("v", :rand.uniform(600))
          :ok = FerricStore.set(key, v, o)
          Map.put(model, key, v)

        r when r <= 8 ->
          {:ok, _} = FerricStore.del(key, o)
          Map.delete(model, key)

        _ ->
          ckey = "c#{:rand.uniform(5)}"
          {:ok, n} = FerricStore.incr(ckey, o)
          Map.put(model, ckey, Integer.to_string(n))
      end
    end)
  end

  # Every key gets several versions; returns key => [newest | older values].
  defp write_history(ctx, n) do
    Enum.reduce(1..n, %{}, fn i, acc ->
      key = "h#{:rand.uniform(80)}"
      v = "#{key}@#{i}:" <> :binary.copy("x", :rand.uniform(400))
      :ok = FerricStore.set(key, v, name: ctx.name)
      Map.update(acc, key, [v], &[v | &1])
    end)
  end

  defp assert_store_equals(ctx, model) do
    o = [name: ctx.name]
    {:ok, keys} = FerricStore.keys("*", o)
    assert Enum.sort(keys) == Enum.sort(Map.keys(model))
    {:ok, values} = FerricStore.mget(Map.keys(model), o)
    assert values == Map.values(model)
    assert {:ok, map_size(model)} == FerricStore.dbsize(o)
  end

  # Every key reads as one of its written values, as missing (its records were
  # corrupt), or as an error; never as other bytes. Returns the number of errors.
  defp assert_newest(ctx, history) do
    for {key, [newest | _]} <- history,
        do: assert({:ok, ^newest} = FerricStore.get(key, name: ctx.name))
  end

  defp assert_only_written_values(ctx, history) do
    {:ok, keys} = FerricStore.keys("*", name: ctx.name)
    assert keys -- Map.keys(history) == [], "keys that were never written: #{inspect(keys)}"

    Enum.count(history, fn {key, written} ->
      case FerricStore.get(key, name: ctx.name) do
        {:ok, nil} ->
          false

        {:ok, value} ->
          assert value in written, "#{key} read as #{inspect(value)}, never written"
          false

        {:error, %FerricStore.Error{}} ->
          true
      end
    end)
  end

  defp flip_byte(path, min_offset) do
    size = File.stat!(path).size

    if size > min_offset do
      at = min_offset + :rand.uniform(size - min_offset) - 1
      {:ok, f} = :file.open(path, [:read, :write, :raw, :binary])
      {:ok, <<b>>} = :file.pread(f, at, 1)
      :ok = :file.pwrite(f, at, <<Bitwise.bxor(b, 1 <<< (:rand.uniform(8) - 1))>>)
      :ok = :file.close(f)
      {path, at}
    end
  end

  defp zero_range(path) do
    size = File.stat!(path).size
    at = :rand.uniform(max(size, 1)) - 1
    len = min(:rand.uniform(64), size - at)
    {:ok, f} = :file.open(path, [:read, :write, :raw, :binary])
    :ok = :file.pwrite(f, at, :binary.copy(<<0>>, max(len, 0)))
    :ok = :file.close(f)
  end
end
