defmodule FerricStore.BitcaskTest do
  use ExUnit.Case, async: true

  alias FerricStore.Bitcask

  @moduletag :tmp_dir

  defp data_file(dir, name \\ "1.data") do
    path = Path.join(dir, name)
    {:ok, f} = Bitcask.open(path)
    {path, f}
  end

  describe "round trips" do
    test "append_batch, pread_at, pread_many, scan and fold", %{tmp_dir: dir} do
      {_path, f} = data_file(dir)
      hs = Bitcask.header_size()
      assert {:ok, ^hs} = Bitcask.size(f)

      entries = [
        {"a", "1", 0, 1},
        {"b", :tombstone, 0, 2},
        {"c", String.duplicate("x", 1000), 99, 3}
      ]

      assert {:ok, [{^hs, s1}, {o2, s2}, {o3, s3}] = locs} = Bitcask.append_batch(f, hs, entries)
      assert o2 == hs + s1 and o3 == o2 + s2
      assert {:ok, size} = Bitcask.size(f)
      assert size == o3 + s3

      assert Bitcask.value_size(s1, 1) == 1 and Bitcask.value_size(s3, 1) == 1000
      assert {:ok, "1"} = Bitcask.pread_at(f, hs, s1)
      assert {:error, :tombstone} = Bitcask.pread_at(f, o2, s2)
      assert [{:ok, "1"}, {:error, :tombstone}, {:ok, big}] = Bitcask.pread_many(f, locs)
      assert big == String.duplicate("x", 1000)

      assert {:ok, scanned, {:done, ^size}} = Bitcask.scan(f, hs, 100)

      assert [{"a", ^hs, ^s1, 0, 1, fa}, {"b", ^o2, ^s2, 0, 2, fb}, {"c", ^o3, ^s3, 99, 3, fc}] =
               scanned

      refute Bitcask.batch_end?(fa) or Bitcask.tombstone?(fa)
      assert Bitcask.tombstone?(fb) and not Bitcask.batch_end?(fb)
      assert Bitcask.batch_end?(fc) and not Bitcask.tombstone?(fc)

      assert {:ok, [_], {:more, ^o2}} = Bitcask.scan(f, hs, 1)

      assert {:ok, ["c", "b", "a"], {:done, ^size}} =
               Bitcask.fold(f, [], fn {k, _, _, _, _, _}, acc -> [k | acc] end)

      {:ok, r} = Bitcask.open_read(Path.join(dir, "1.data"))
      assert {:ok, "1"} = Bitcask.pread_at(r, hs, s1)
      assert {:error, {:io, :ebadf}} = Bitcask.append_batch(r, size, [{"k", "v", 0, 4}])
      assert :ok = Bitcask.fsync(f)
    end

    test "many pread_many locations and a batch larger than one step", %{tmp_dir: dir} do
      {_path, f} = data_file(dir)
      value = :binary.copy("v", 600)
      entries = for i <- 1..5000, do: {"key#{i}", value, 0, i}
      assert {:ok, locs} = Bitcask.append_batch(f, Bitcask.header_size(), entries)
      assert length(locs) == 5000
      assert Enum.all?(Bitcask.pread_many(f, locs), &(&1 == {:ok, value}))

      {:ok, n, {:done, _}} =
        Bitcask.fold(f, 0, fn {_, _, _, _, _, flags}, acc ->
          acc + if(Bitcask.batch_end?(flags), do: 1, else: 0)
        end)

      assert n == 1
    end

    test "a hint read for one of several loaders splits string records by key", %{tmp_dir: dir} do
      {path, f} = data_file(dir)
      # String records (key byte 0, Store.Record) and records of other kinds.
      strings = for i <- 1..10_000, do: {<<0, "k#{i}">>, "v#{i}", 0, i}
      others = for i <- 1..50, do: {<<6, "h#{i}">>, "", 0, 10_000 + i}
      {:ok, _} = Bitcask.append_batch(f, Bitcask.header_size(), strings ++ others)
      :ok = Bitcask.fsync(f)
      hint = Path.join(dir, "1.hint")
      :ok = Bitcask.hint_build(path, hint)
      {:ok, all} = Bitcask.hint_read(hint)
      {:ok, h} = Bitcask.hint_open(hint)

      read_part = fn part, parts ->
        Stream.unfold({Bitcask.header_size(), nil}, fn
          :done ->
            nil

          {off, _} ->
            case Bitcask.hint_step(h, off, {part, parts}) do
              {:ok, es, {:more, next}, data_end} -> {{es, data_end}, {next, data_end}}
              {:ok, es, :done, data_end} -> {{es, data_end}, :done}
            end
        end)
        |> Enum.to_list()
      end

      for parts <- [1, 2, 3] do
        chunks = for part <- 0..(parts - 1), do: read_part.(part, parts)
        got = Enum.map(chunks, fn cs -> Enum.flat_map(cs, &elem(&1, 0)) end)

        # Every string record reaches exactly the loader part_of/2 names; every other
        # record reaches every loader; order is kept.
        for {entries, part} <- Enum.with_index(got) do
          assert entries ==
                   Enum.filter(all, fn
                     {<<0, key::binary>>, _, _, _, _, _} -> Bitcask.part_of(key, parts) == part
                     _ -> true
                   end)
        end

        # Where the data file continues after each chunk does not depend on the filter.
        [first | _] = chunks
        {_, last_end} = List.last(first)
        {_, off, size, _, _, _} = List.last(all)
        assert last_end == off + size
      end

      assert_raise ArgumentError, fn -> Bitcask.hint_step(h, Bitcask.header_size(), {3, 3}) end
    end

    test "hint files and compaction", %{tmp_dir: dir} do
      {path, f} = data_file(dir)
      entries = for i <- 1..300, do: {"k#{i}", "value-#{i}", i * 10, i}
      {:ok, locs} = Bitcask.append_batch(f, Bitcask.header_size(), entries)
      :ok = Bitcask.fsync(f)

      hint = Path.join(dir, "1.hint")
      assert :ok = Bitcask.hint_build(path, hint)
      refute File.exists?(hint <> ".tmp")
      {:ok, scanned, {:done, _}} = Bitcask.fold(f, [], &[&1 | &2])
      assert {:ok, Enum.reverse(scanned)} == Bitcask.hint_read(hint)

      live =
        locs
        |> Enum.with_index()
        |> Enum.filter(fn {_, i} -> rem(i, 3) == 0 end)
        |> Enum.map(&elem(&1, 0))

      dst = Path.join(dir, "2.data")
      dst_hint = Path.join(dir, "2.hint")
      assert {:ok, moved} = Bitcask.compact(path, live, dst, dst_hint)
      assert Enum.map(moved, fn {old, _new, size} -> {old, size} end) == live
      {:ok, d} = Bitcask.open_read(dst)

      for {{old, new, size}, i} <- Enum.with_index(moved) do
        assert Bitcask.pread_at(f, old, size) == Bitcask.pread_at(d, new, size)
        assert {:ok, "value-#{i * 3 + 1}"} == Bitcask.pread_at(d, new, size)
      end

      {:ok, dst_entries, {:done, _}} = Bitcask.fold(d, [], &[&1 | &2])
      assert {:ok, Enum.reverse(dst_entries)} == Bitcask.hint_read(dst_hint)
      assert length(dst_entries) == 100
    end
  end

  describe "errors" do
    test "bad header, missing file, bad locations", %{tmp_dir: dir} do
      bad = Path.join(dir, "bad.data")
      File.write!(bad, "NOTAFILE-xxxxxxxx")
      assert {:error, :bad_header} = Bitcask.open(bad)
      assert {:error, :bad_header} = Bitcask.open_read(bad)
      assert {:error, {:io, :enoent}} = Bitcask.open_read(Path.join(dir, "missing"))
      assert {:error, {:io, :enoent}} = Bitcask.hint_read(Path.join(dir, "missing.hint"))
      assert {:error, :bad_header} = Bitcask.hint_read(bad)

      {_, f} = data_file(dir)
      {:ok, [{o, s}]} = Bitcask.append_batch(f, Bitcask.header_size(), [{"k", "v", 0, 1}])
      assert {:error, :eof} = Bitcask.pread_at(f, o, s + 10)
      assert {:error, :checksum_mismatch} = Bitcask.pread_at(f, o, s - 1)
      assert {:error, :too_large} = Bitcask.pread_at(f, o, 1_099_511_627_776)
      assert {:error, :eof} = Bitcask.pread_at(f, o, 536_870_912)
      assert_raise ArgumentError, fn -> Bitcask.append_batch(f, o, [{"k", :nope, 0, 1}]) end

      assert {:error, :checksum_mismatch} =
               Bitcask.compact(
                 Path.join(dir, "1.data"),
                 [{o, s - 1}],
                 Path.join(dir, "c.data"),
                 Path.join(dir, "c.hint")
               )
    end

    test "torn tail and corrupt record", %{tmp_dir: dir} do
      {path, f} = data_file(dir)
      hs = Bitcask.header_size()

      {:ok, [{o1, s1}, {o2, s2}, {o3, s3}]} =
        Bitcask.append_batch(f, hs, [{"a", "1", 0, 1}, {"b", "22", 0, 2}, {"c", "333", 0, 3}])

      # Torn: cut the last record in the middle.
      :ok = Bitcask.truncate(f, o3 + div(s3, 2))
      assert {:ok, [_, _], {:torn, ^o3}} = Bitcask.fold(f, [], &[&1 | &2])
      assert {:error, :eof} = Bitcask.hint_build(path, Path.join(dir, "1.hint"))
      :ok = Bitcask.truncate(f, o3)
      assert {:ok, [_, _], {:done, ^o3}} = Bitcask.fold(f, [], &[&1 | &2])

      # Corrupt: flip a byte inside the first record's value.
      {:ok, io} = :file.open(path, [:read, :write, :binary])
      :ok = :file.pwrite(io, o1 + s1 - 1, "X")
      :ok = :file.close(io)
      assert {:error, :checksum_mismatch} = Bitcask.pread_at(f, o1, s1)
      assert {:ok, [], {:corrupt, ^o1}} = Bitcask.scan(f, hs, 10)
      assert {:ok, ^o2} = Bitcask.next_record(f, o1 + 1)
      assert :none = Bitcask.next_record(f, o2 + 1)
      assert {:ok, "22"} = Bitcask.pread_at(f, o2, s2)
      assert {:error, :checksum_mismatch} = Bitcask.hint_build(path, Path.join(dir, "1.hint"))

      hint = Path.join(dir, "2.hint")
      {p2, f2} = data_file(dir, "2.data")
      {:ok, _} = Bitcask.append_batch(f2, hs, [{"a", "1", 0, 1}, {"b", "2", 0, 2}])
      :ok = Bitcask.hint_build(p2, hint)
      bytes = File.read!(hint)

      File.write!(
        hint,
        binary_part(bytes, 0, byte_size(bytes) - 1) <> <<:binary.last(bytes) + 1>>
      )

      assert {:error, :checksum_mismatch} = Bitcask.hint_read(hint)
    end
  end

  describe "scheduler" do
    @describetag :slow
    @describetag timeout: 300_000

    test "fold and compact of a 1 GB file never hold a scheduler", %{tmp_dir: dir} do
      {path, f} = data_file(dir, "big.data")
      value = :binary.copy(<<7>>, 4000)
      batch = for i <- 1..250, do: {"key-#{i}", value, 0, i}

      # 1,024 batches x 250 x ~4 KiB ~= 1.02 GB
      end_off =
        Enum.reduce(1..1024, Bitcask.header_size(), fn _, off ->
          {:ok, locs} = Bitcask.append_batch(f, off, batch)
          {o, s} = List.last(locs)
          o + s
        end)

      assert end_off >= 1_000_000_000

      # On this 2-core machine the OS can preempt a scheduler thread for several ms while
      # the Rust compaction and fsync threads run, and long_schedule measures wall time.
      # A call that really holds its scheduler fails every attempt (its chunks are the
      # same each time), so one quiet attempt out of two is required.
      long =
        case monitored_fold_and_compact(f, path, dir, end_off, 1) do
          [] -> []
          _noise -> monitored_fold_and_compact(f, path, dir, end_off, 2)
        end

      assert long == [], "long_schedule on the worker: #{inspect(long)}"
    end
  end

  # Folds the whole file, compacts a quarter of it and reads the hint file back in a
  # fresh process under {:long_schedule, 5}; returns the events naming Bitcask calls.
  # The process's heap is preallocated for everything the calls allocate (~5 M words),
  # so garbage collection of the caller's own result lists cannot pause it. The VM does
  # not report the monitoring process itself, so a collector receives the messages.
  defp monitored_fold_and_compact(f, path, dir, end_off, attempt) do
    test = self()
    collector = spawn_link(fn -> collect([]) end)
    :erlang.system_monitor(collector, [{:long_schedule, 5}])

    {worker, ref} =
      :erlang.spawn_opt(
        fn ->
          {:ok, {count, live}, {:done, ^end_off}} =
            Bitcask.fold(f, {0, []}, fn {_, off, size, _, _, _}, {n, live} ->
              {n + 1, if(rem(n, 4) == 0, do: [{off, size} | live], else: live)}
            end)

          dst = Path.join(dir, "c#{attempt}")
          {:ok, moved} = Bitcask.compact(path, Enum.reverse(live), dst <> ".data", dst <> ".hint")
          {:ok, hinted} = Bitcask.hint_read(dst <> ".hint")
          send(test, {:done, count, length(moved), length(hinted)})
        end,
        [:monitor, min_heap_size: 32_000_000]
      )

    assert_receive {:done, 256_000, 64_000, 64_000}, 240_000
    assert_receive {:DOWN, ^ref, :process, ^worker, :normal}
    :erlang.system_monitor(:undefined)
    send(collector, {:report, test})

    receive do
      {:long_schedules, msgs} ->
        for {:monitor, ^worker, :long_schedule, info} <- msgs, bitcask_call?(info), do: info
    end
  end

  # On a shared 2-core machine the OS can deschedule any code for a few ms; only the
  # calls under test (FerricStore.Bitcask and its NIFs) are held to the limit.
  defp bitcask_call?(info) do
    Enum.any?([info[:in], info[:out]], fn
      {mod, _, _} -> mod in [FerricStore.Bitcask, FerricStore.Bitcask.NIF]
      _ -> false
    end)
  end

  defp collect(acc) do
    receive do
      {:report, to} -> send(to, {:long_schedules, acc})
      msg -> collect([msg | acc])
    end
  end
end
