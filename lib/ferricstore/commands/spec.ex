defmodule FerricStore.Commands.Spec do
  @moduledoc false
  # Builds the command specs that each family's `commands/0` returns (the data behind
  # dispatch, arity checks and COMMAND INFO/DOCS/GETKEYS).

  @doc "A command whose keys are at argument positions first..last, every `step`."
  @spec cmd(String.t(), integer(), [String.t()], integer(), integer(), integer()) :: map()
  def cmd(name, arity, flags, first \\ 1, last \\ 1, step \\ 1),
    do: %{name: name, arity: arity, flags: flags, first_key: first, last_key: last, step: step}

  @doc """
  A command whose keys follow a numkeys argument at position `numkeys` (ZUNION,
  SINTERCARD, ...), after the fixed keys first..last (a destination, or none with 0).
  Redis flags these `movablekeys` and gives them step 0 when there are no fixed keys.
  """
  @spec movable(String.t(), integer(), [String.t()], pos_integer(), integer(), integer()) ::
          map()
  def movable(name, arity, flags, numkeys, first \\ 0, last \\ 0) do
    step = if first == 0, do: 0, else: 1

    name
    |> cmd(arity, flags ++ ["movablekeys"], first, last, step)
    |> Map.put(:numkeys, numkeys)
  end

  @doc "A command without keys, with its ACL categories."
  @spec keyless(String.t(), integer(), [String.t()], [String.t()]) :: map()
  def keyless(name, arity, flags, categories),
    do: Map.put(cmd(name, arity, flags, 0, 0, 0), :acl_categories, categories)

  # Redis lists a command's categories in the order of its category table.
  @category_order ~w(@keyspace @read @write @set @sortedset @list @hash @string @bitmap
                     @hyperloglog @geo @stream @pubsub @admin @fast @slow @blocking @dangerous
                     @connection @transaction @scripting)

  @doc """
  The ACL categories Redis 7 gives a data command of `group` ("string", "keyspace",
  "hash", ...): its group, @read or @write by its flags, and @fast or @slow, plus
  `extra`, in Redis' order.

      iex> FerricStore.Commands.Spec.categories("string", ["readonly", "fast"])
      ["@read", "@string", "@fast"]
      iex> FerricStore.Commands.Spec.categories("keyspace", ["readonly"], ["@dangerous"])
      ["@keyspace", "@read", "@slow", "@dangerous"]
  """
  @spec categories(String.t(), [String.t()], [String.t()]) :: [String.t()]
  def categories(group, flags, extra \\ []) do
    access =
      cond do
        "write" in flags -> ["@write"]
        "readonly" in flags -> ["@read"]
        true -> []
      end

    speed = if "fast" in flags, do: "@fast", else: "@slow"
    cats = ["@" <> group, speed | access ++ extra]
    Enum.filter(@category_order, &(&1 in cats))
  end

  @doc """
  The key arguments of `args` (the arguments after the command's name) by `spec`:
  `{:ok, keys}`, or `:error` when a numkeys argument is not a count of the keys that
  follow it.
  """
  @spec key_args(map(), [binary()]) :: {:ok, [binary()]} | :error
  def key_args(%{numkeys: _} = spec, args) do
    with {:ok, more} <- numkeys_keys(spec, args), do: {:ok, fixed_keys(spec, args) ++ more}
  end

  def key_args(spec, args), do: {:ok, fixed_keys(spec, args)}

  defp fixed_keys(%{first_key: 0}, _args), do: []

  defp fixed_keys(%{first_key: first, last_key: last, step: step}, args) do
    last = if last < 0, do: length(args) + 1 + last, else: min(last, length(args))
    if last < first, do: [], else: for(i <- first..last//step, do: Enum.at(args, i - 1))
  end

  # Redis reads these counts with C's atoi.
  defp numkeys_keys(%{numkeys: pos}, args) do
    with [count | rest] <- Enum.drop(args, pos - 1),
         n when n > 0 and n <= length(rest) <- FerricStore.Commands.Args.atoi(count) do
      {:ok, Enum.take(rest, n)}
    else
      _ -> :error
    end
  end
end
