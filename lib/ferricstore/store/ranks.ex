defmodule FerricStore.Store.Ranks do
  @moduledoc false
  # The rank index of a shard's sorted sets (native/ferricstore_engine/src/rank.rs): per
  # key, the members in Redis' order (score, then member bytes) with O(log N) ranks, so
  # that ZRANK, ZRANGE by rank, BYSCORE and BYLEX, ZCOUNT and ZLEXCOUNT cost what they
  # cost in Redis (docs/collections.md).
  #
  # One NIF resource per shard, created with the shard's ETS tables and kept in its `meta`
  # table (so it lives and dies with them). It holds the published sorted-set members in
  # score order: the shard's Raft machine updates it right after the members table
  # (Members.publish/4, clear/1, finish_load/1); readers call it from any process. It
  # holds no uncommitted state, so inside a Raft apply it is only right for a key whose
  # members the current batch has not touched (see ZSets).
  #
  # Calls whose work grows with their input are bounded steps looped here: `update/2`
  # applies at most 1000 operations per NIF call, `range/3` returns at most 1000 items
  # (about 1 MB) per call. Big sets are freed on a Rust thread.

  alias FerricStore.Bitcask.NIF

  @typedoc "The rank index of one shard (a NIF resource)."
  @type t :: reference()
  @type score :: float() | :inf | :neg_inf
  @type op :: {:add | :del, key :: binary(), score(), member :: binary()}

  @min_int -9_223_372_036_854_775_808
  @max_int 9_223_372_036_854_775_807

  @doc "A new, empty index."
  @spec new() :: t()
  def new, do: NIF.rank_new()

  @doc "The index of the shard whose tables are `tables` (see Keydir.create/1)."
  @spec of(map()) :: t()
  def of(tables), do: :ets.lookup_element(tables.meta, :ranks, 2)

  ## Writes (the shard's Raft machine only)

  @doc "Applies `ops` in order (`:add` a member's score, `:del` it)."
  @spec update(t(), [op()]) :: :ok
  def update(_ranks, []), do: :ok

  def update(ranks, ops) do
    case NIF.rank_update(ranks, ops) do
      :ok -> :ok
      {:more, rest} -> update(ranks, rest)
    end
  end

  @doc "Forgets every member of `key`."
  @spec drop_key(t(), binary()) :: :ok
  def drop_key(ranks, key), do: NIF.rank_drop_key(ranks, key)

  @doc "Forgets every key."
  @spec clear(t()) :: :ok
  def clear(ranks), do: NIF.rank_clear(ranks)

  ## Reads

  @doc "The 0-based rank of `member` with `score` (`rev`: from the highest), or nil."
  @spec rank(t(), binary(), score(), binary(), boolean()) :: non_neg_integer() | nil
  def rank(ranks, key, score, member, rev), do: NIF.rank_of(ranks, key, score, member, rev)

  @doc """
  The `{member, score}` items of a ZRANGE `spec` (as in ZSets.zrange/3: `by:` `:rank`,
  `:score` or `:lex`, `min:`, `max:`, `rev:`, `limit:`), or nil for a lex range over
  members of different scores (Redis leaves it undefined; the caller walks instead).
  """
  @spec range(t(), binary(), map()) :: [{binary(), score()}] | nil
  def range(ranks, key, spec) do
    rev = spec[:rev] == true

    nif_spec =
      case spec.by do
        :rank ->
          {:rank, int(spec.min), int(spec.max)}

        by ->
          {offset, count} = spec[:limit] || {0, -1}
          {by, spec.min, spec.max, int(max(offset, 0)), int(count)}
      end

    collect(ranks, key, nif_spec, rev, [])
  end

  @doc """
  Up to `count` `{member, score}` items of `key` in score order (`rev`: descending),
  from the lowest (highest) member with `:edge`, from `{:from, score, member}` on (that
  pair included if present) or after `{:after, score, member}`. Also says whether more
  may follow.
  """
  @spec page(t(), binary(), :edge | {:from | :after, score(), binary()}, boolean(), pos_integer()) ::
          {[{binary(), score()}], boolean()}
  def page(ranks, key, from, rev, count) do
    spec =
      case from do
        :edge -> {:rank, 0, count - 1}
        {how, score, member} -> {how, score, member, count}
      end

    case NIF.rank_range(ranks, key, spec, rev) do
      {:ok, items} -> {items, length(items) == count}
      {:more, items, _left} -> {items, true}
    end
  end

  @doc """
  How many members of `key` come before `(score, member)` in score order (whether or not
  that pair is in the set).
  """
  @spec count_below(t(), binary(), score(), binary()) :: non_neg_integer()
  def count_below(ranks, key, score, member),
    do: NIF.rank_count(ranks, key, {:below, score, member})

  @doc "How many members a score or lex range holds (nil: lex over different scores)."
  @spec count(t(), binary(), :score | :lex, term(), term()) :: non_neg_integer() | nil
  def count(ranks, key, by, min, max), do: NIF.rank_count(ranks, key, {by, min, max})

  @doc "Approximate bytes the index holds (members, scores, chunk headers), for INFO."
  @spec memory(t()) :: non_neg_integer()
  def memory(ranks), do: NIF.rank_memory(ranks)

  # Steps continue after the last item returned, not at a rank: a write between two
  # steps can shift ranks, but never makes an item come twice.
  defp collect(ranks, key, spec, rev, acc) do
    case NIF.rank_range(ranks, key, spec, rev) do
      {:ok, items} ->
        if acc == [], do: items, else: Enum.concat(Enum.reverse([items | acc]))

      {:more, items, left} ->
        {member, score} = List.last(items)
        collect(ranks, key, {:after, score, member, left}, rev, [items | acc])

      nil ->
        nil
    end
  end

  # Rank arguments and LIMIT beyond 64 bits mean the same as the 64-bit extremes.
  defp int(i), do: i |> max(@min_int) |> min(@max_int)
end
