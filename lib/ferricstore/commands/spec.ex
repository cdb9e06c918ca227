defmodule FerricStore.Commands.Spec do
  @moduledoc false
  # Builds the command specs that each family's `commands/0` returns (the data behind
  # dispatch, arity checks and COMMAND INFO/DOCS).

  @doc "A command whose keys are at argument positions first..last, every `step`."
  @spec cmd(String.t(), integer(), [String.t()], integer(), integer(), integer()) :: map()
  def cmd(name, arity, flags, first \\ 1, last \\ 1, step \\ 1),
    do: %{name: name, arity: arity, flags: flags, first_key: first, last_key: last, step: step}

  @doc "A command without keys, with its ACL categories."
  @spec keyless(String.t(), integer(), [String.t()], [String.t()]) :: map()
  def keyless(name, arity, flags, categories),
    do: Map.put(cmd(name, arity, flags, 0, 0, 0), :acl_categories, categories)
end
