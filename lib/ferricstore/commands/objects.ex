defmodule FerricStore.Commands.Objects do
  @moduledoc false
  # Commands on whole values of any type (RENAME, RENAMENX, COPY, OBJECT ENCODING,
  # RANDOMKEY): caller side, machine side (`execute/2`) and RESP side, as in Strings.
  #
  # RENAME and COPY of a collection run as one Raft operation on the shard that owns
  # both keys (CROSSSLOT otherwise): the members are read through the batch, written
  # again under the destination key with a new generation, and the source's header is
  # tombstoned. O(N) in the collection size (members are keyed by the key name), where
  # Redis' RENAME is O(1).

  import FerricStore.Commands.Spec
  alias FerricStore.{Bitcask, Error, Store}
  alias FerricStore.Commands.{Args, Collection, Keyspace}
  alias FerricStore.Store.{Batch, Keydir, Record}

  # Redis 7.0 defaults deciding the compact encodings.
  @hash_entries 512
  @zset_entries 128
  @listpack_value 64
  @intset_entries 512
  @embstr_len 44

  ## Caller side

  @doc "RENAME (`nx` false) / RENAMENX: `:ok` / `{:ok, bool}`, or ERR no such key."
  def rename(instance, src, dst, nx \\ false),
    do: Store.write_keys(instance, [src, dst], :objects, {:rename, src, dst, nx})

  @doc "COPY: `{:ok, true}` when copied; `replace` overwrites an existing destination."
  def copy(instance, src, dst, replace \\ false) do
    if src == dst,
      do: {:error, Error.new(:same_object, "ERR source and destination objects are the same")},
      else: Store.write_keys(instance, [src, dst], :objects, {:copy, src, dst, replace})
  end

  @doc """
  OBJECT REFCOUNT as Redis 7.0 reports it: the integers 0..9999 stored as "int" are
  shared objects (refcount INT_MAX); every other value has one reference. nil for a
  missing key.
  """
  def refcount(instance, key) do
    case encoding(instance, key) do
      {:ok, "int"} ->
        case Store.get_string(instance, key) do
          {:ok, value} when is_binary(value) ->
            {:ok, if(String.to_integer(value) in 0..9999, do: 2_147_483_647, else: 1)}

          other ->
            other
        end

      {:ok, nil} ->
        {:ok, nil}

      {:ok, _} ->
        {:ok, 1}

      error ->
        error
    end
  end

  @doc "OBJECT ENCODING: the name Redis 7.0 would report, or nil for a missing key."
  def encoding(instance, key) do
    case Store.lookup(instance, key) do
      nil ->
        {:ok, nil}

      {_, :string, _, _, _, _, _} ->
        case Keydir.raw_mark(Store.tables_for(instance, key).meta, key) do
          :raw ->
            {:ok, "raw"}

          mark ->
            with {:ok, value} <- Store.get_string(instance, key),
                 do: {:ok, string_encoding(value, mark == :no_int)}
        end

      {_, :list, _, _, _, _, _} ->
        {:ok, "quicklist"}

      {_, type, meta, _, _, _, _} ->
        {:ok, collection_encoding(type, meta.n, Store.tables_for(instance, key), key, meta)}
    end
  end

  @doc "RANDOMKEY: a random live key, or nil when there is none."
  def randomkey(instance) do
    shards = Enum.shuffle(Store.shards(instance))
    now = Store.now()

    {:ok,
     Enum.find_value(shards, fn n ->
       keydir = Store.tables(instance, n).keydir
       random_key(keydir, :ets.info(keydir, :size), now, 0)
     end)}
  end

  # A few random slot probes, then a walk from the first key (sparse or mostly expired
  # tables).
  defp random_key(_keydir, 0, _now, _tries), do: nil

  defp random_key(keydir, size, now, tries) when tries < 32 do
    slots = max(size * 2, 256)

    case Keyspace.safe_slot(keydir, :rand.uniform(slots) - 1) do
      rows when is_list(rows) and rows != [] ->
        case for({key, _, _, exp, _, _, _} <- rows, Keyspace.live?(exp, now), do: key) do
          [] -> random_key(keydir, size, now, tries + 1)
          keys -> Enum.random(keys)
        end

      _ ->
        random_key(keydir, size, now, tries + 1)
    end
  end

  defp random_key(keydir, _size, now, _tries) do
    :ets.foldl(
      fn {key, _, _, exp, _, _, _}, acc ->
        if acc == nil and Keyspace.live?(exp, now), do: key, else: acc
      end,
      nil,
      keydir
    )
  end

  @doc false
  # SET stores an integer in canonical form (fits a C long) as "int", short strings as
  # "embstr". A string that APPEND or SETRANGE changed is "raw" until its next write, and
  # an INCRBYFLOAT result is never "int": a `{:raw, key}` mark in the shard's meta table,
  # not kept across restarts (Redis also re-encodes by content when it loads an RDB file).
  def string_encoding(value, no_int? \\ false) do
    cond do
      not no_int? and byte_size(value) <= 20 and canonical_int?(value) -> "int"
      byte_size(value) <= @embstr_len -> "embstr"
      true -> "raw"
    end
  end

  defp canonical_int?(value), do: match?({:ok, _}, Args.int(value))

  defp collection_encoding(:set, n, tables, key, meta) do
    if n <= @intset_entries and not Map.get(meta, :big, false) and
         all_members?(tables, key, fn {m, _} -> byte_size(m) <= 20 and canonical_int?(m) end),
       do: "intset",
       else: "hashtable"
  end

  defp collection_encoding(:hash, n, tables, key, meta) do
    small? =
      n <= @hash_entries and not Map.get(meta, :big, false) and
        all_members?(tables, key, fn {f, v} ->
          byte_size(f) <= @listpack_value and value_size(key, f, v) <= @listpack_value
        end)

    if small?, do: "listpack", else: "hashtable"
  end

  defp collection_encoding(:zset, n, tables, key, meta) do
    if n <= @zset_entries and not Map.get(meta, :big, false) and
         all_members?(tables, key, fn {m, _} -> byte_size(m) <= @listpack_value end),
       do: "listpack",
       else: "skiplist"
  end

  # A cold member's location holds its whole record's size (header, record key, value).
  defp value_size(_key, _field, v) when is_binary(v), do: byte_size(v)

  defp value_size(key, field, {:cold, _fid, _off, size}),
    do: Bitcask.value_size(size, byte_size(Record.member_key(:hash, key, 0, field, nil)))

  defp all_members?(tables, key, pred) do
    FerricStore.Store.Members.walk(tables.members, key, :edge, :asc, {%{}, false}, true, fn
      item, true -> if pred.(item), do: {:cont, true}, else: {:halt, false}
    end)
  end

  ## Machine side

  @doc false
  def execute({:rename, src, dst, nx}, b) do
    case Batch.get(b, src) do
      nil ->
        {{:error, Error.new(:no_such_key)}, b}

      _ when src == dst ->
        {if(nx, do: {:ok, false}, else: :ok), b}

      entry ->
        dst_entry = Batch.get(b, dst)

        if nx and dst_entry != nil do
          {{:ok, false}, b}
        else
          with {:ok, b} <- put_copy(b, entry, dst, dst_entry, src) do
            {type, _, _} = entry
            {if(nx, do: {:ok, true}, else: :ok), Batch.delete(b, src, type)}
          end
        end
    end
  catch
    {:io, b} -> {{:error, Error.new(:io)}, b}
  end

  def execute({:copy, src, dst, replace}, b) do
    case Batch.get(b, src) do
      nil ->
        {{:ok, false}, b}

      entry ->
        dst_entry = Batch.get(b, dst)

        if dst_entry != nil and not replace do
          {{:ok, false}, b}
        else
          with {:ok, b} <- put_copy(b, entry, dst, dst_entry, src), do: {{:ok, true}, b}
        end
    end
  catch
    {:io, b} -> {{:error, Error.new(:io)}, b}
  end

  # Writes the value of `entry` (read at `src`) at `dst`, replacing what is there.
  # A raw string stays raw (Redis moves or duplicates the object as it is).
  defp put_copy(b, {:string, value, exp}, dst, dst_entry, src) do
    mark = Batch.raw_mark(b, src)

    case Batch.value(b, value) do
      {:ok, bytes} ->
        b = clear(b, dst, dst_entry)

        {:ok,
         if(mark,
           do: Batch.put_raw(b, dst, bytes, exp, mark),
           else: Batch.put(b, dst, :string, bytes, exp)
         )}

      {:error, _} ->
        {{:error, Error.new(:io)}, b}
    end
  end

  defp put_copy(b, {type, meta, exp}, dst, dst_entry, src) do
    members = Collection.all(b, src)
    b = b |> clear(dst, dst_entry) |> Batch.drop_members(dst)
    gen = Batch.new_gen(b)

    b =
      Enum.reduce(members, b, fn {m, v}, b ->
        Batch.put_member(b, type, dst, gen, m, member_value(b, type, v))
      end)

    {:ok, Batch.put(b, dst, type, %{meta | gen: gen}, exp)}
  end

  defp clear(b, _dst, nil), do: b
  defp clear(b, dst, {type, _, _}), do: Batch.delete(b, dst, type)

  # Hash values and list elements may be cold (on disk only): read them.
  defp member_value(b, type, v) when type in [:hash, :list] do
    case Batch.value(b, v) do
      {:ok, bytes} -> bytes
      {:error, _} -> throw({:io, b})
    end
  end

  defp member_value(_b, _type, v), do: v

  ## RESP side

  @doc false
  def commands do
    [
      cmd("rename", 3, ["write"], 1, 2),
      cmd("renamenx", 3, ["write", "fast"], 1, 2),
      cmd("copy", -3, ["write", "denyoom"], 1, 2),
      cmd("randomkey", 1, ["readonly"], 0, 0, 0),
      cmd("object", -2, [], 0, 0, 0)
      |> Map.put(:acl_categories, ["@slow"])
      |> Map.put(:subcommands, [
        cmd("object|encoding", 3, ["readonly"], 2, 2),
        cmd("object|refcount", 3, ["readonly"], 2, 2),
        cmd("object|help", 2, ["loading", "stale"], 0, 0, 0)
      ]),
      cmd("memory", -2, [], 0, 0, 0)
      |> Map.merge(%{acl_categories: ["@slow"], group: "server"})
      |> Map.put(:subcommands, [
        cmd("memory|usage", -3, ["readonly"], 2, 2)
        |> Map.merge(%{acl_categories: ["@read", "@slow"], group: "server"}),
        cmd("memory|help", 2, ["loading", "stale"], 0, 0, 0)
        |> Map.merge(%{acl_categories: ["@slow"], group: "server"})
      ])
    ]
  end

  @doc false
  def handle("rename", [src, dst], ctx), do: reply(rename(ctx.instance, src, dst))

  def handle("renamenx", [src, dst], ctx),
    do: Collection.bool(rename(ctx.instance, src, dst, true))

  def handle("copy", [src, dst | opts], ctx) do
    with {:ok, replace} <- copy_opts(opts, false),
         do: Collection.bool(copy(ctx.instance, src, dst, replace))
  end

  def handle("randomkey", [], ctx), do: reply(randomkey(ctx.instance))

  def handle("object", [sub | args], ctx) do
    case {FerricStore.Commands.downcase(sub), args} do
      {"encoding", [key]} -> reply(encoding(ctx.instance, key))
      {"refcount", [key]} -> reply(refcount(ctx.instance, key))
      {"help", []} -> help()
    end
  end

  def handle("memory", [sub | args], ctx) do
    case {FerricStore.Commands.downcase(sub), args} do
      {"usage", [key | opts]} ->
        with {:ok, samples} <- samples_opt(opts, 5), do: memory_usage(ctx.instance, key, samples)

      {"help", []} ->
        Enum.map(
          [
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
            "HELP",
            "    Prints this help."
          ],
          &{:simple, &1}
        )
    end
  end

  # MEMORY USAGE's options, as Redis reads them: SAMPLES <count>, count >= 0 (0: all).
  defp samples_opt([], samples), do: {:ok, samples}

  defp samples_opt([opt, n | rest], _samples) do
    with true <- FerricStore.Commands.downcase(opt) == "samples",
         {:ok, n} <- Args.int!(n) do
      cond do
        n < 0 -> Error.new(:syntax)
        n == 0 -> samples_opt(rest, :all)
        true -> samples_opt(rest, n)
      end
    else
      false -> Error.new(:syntax)
      {:error, error} -> error
    end
  end

  defp samples_opt(_opts, _samples), do: Error.new(:syntax)

  @word :erlang.system_info(:wordsize)
  # Per object in an ETS table (hash bucket or tree node links, the object's header).
  @ets_object 4 * @word
  # An off-heap binary's own header (refc binaries, over 64 bytes).
  @refc_header 3 * @word

  @doc """
  MEMORY USAGE: the bytes `key` takes in memory (nil when it does not exist): its keydir
  row with its key and value (a cold value takes none), its expiry index row, and for a
  collection its member rows (and a sorted set's rank index), estimated from the first
  `samples` members (`:all`: every one) times their number, as Redis samples them.
  """
  def memory_usage(instance, key, samples) do
    tables = Store.tables_for(instance, key)

    case Store.lookup_in(tables, key) do
      nil ->
        nil

      {_, type, meta, exp, _, _, _} = row ->
        bytes = row_bytes(row) + if(exp > 0, do: row_bytes({{exp, key}}), else: 0)

        if type in Record.collections(),
          do: bytes + members_bytes(tables, key, type, meta.n, samples),
          else: bytes
    end
  end

  defp members_bytes(_tables, _key, _type, 0, _samples), do: 0

  defp members_bytes(tables, key, type, n, samples) do
    limit = if samples == :all, do: n, else: min(samples, n)
    spec = [{{{key, :_}, :_, :_, :_, :_, :_}, [], [:"$_"]}]

    case :ets.select(tables.members, spec, limit) do
      {rows, _continuation} ->
        # A sorted set's rank index holds each member and its score once more.
        rank = fn {{_, m}, _, _, _, _, _} ->
          if type == :zset, do: byte_size(m) + 4 * @word, else: 0
        end

        sampled = Enum.reduce(rows, 0, &(row_bytes(&1) + rank.(&1) + &2))
        div(sampled * n, length(rows))

      :"$end_of_table" ->
        0
    end
  end

  defp row_bytes(row), do: :erts_debug.flat_size(row) * @word + offheap(row) + @ets_object

  defp offheap(t) when is_tuple(t),
    do: t |> Tuple.to_list() |> Enum.reduce(0, &(offheap(&1) + &2))

  defp offheap(b) when is_binary(b) and byte_size(b) > 64, do: byte_size(b) + @refc_header
  defp offheap(_term), do: 0

  # Redis reads every option (DB must parse as an integer and name a database: this is
  # a one-database server) before it looks at the keys.
  defp copy_opts([], replace), do: {:ok, replace}

  defp copy_opts([opt | rest], replace) do
    case {FerricStore.Commands.downcase(opt), rest} do
      {"replace", _} ->
        copy_opts(rest, true)

      {"db", [n | rest]} ->
        case Args.db_index(n) do
          :ok -> copy_opts(rest, replace)
          {:error, error} -> error
        end

      _ ->
        Error.new(:syntax)
    end
  end

  defp help do
    Enum.map(
      [
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help."
      ],
      &{:simple, &1}
    )
  end

  defp reply(:ok), do: :ok
  defp reply({:ok, value}), do: value
  defp reply({:error, %Error{} = e}), do: e
end
