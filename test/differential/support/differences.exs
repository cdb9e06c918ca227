defmodule FerricStore.Test.Differential.Differences do
  @moduledoc false
  # The intended differences between FerricStore and redis-server, one matcher per entry of
  # test/differential/DIFFERENCES.md (the file is the documentation, this is the code; a
  # test checks that both list the same ids). A matcher gets the step and both replies and
  # says whether this pair is that difference. Anything else that differs is a failure.

  @doc_path Path.expand("../DIFFERENCES.md", __DIR__)

  @doc "Ids documented in DIFFERENCES.md (`### D<n>: ...` headings)."
  def documented_ids do
    Regex.scan(~r/^### (D\d+):/m, File.read!(@doc_path), capture: :all_but_first)
    |> List.flatten()
  end

  @doc "Ids that have a matcher here."
  def ids, do: Map.keys(matchers())

  @doc "Is this pair of replies one of the documented differences?"
  def intended?(step, redis, ferric, history) do
    Enum.any?(matchers(), fn {_id, match?} -> match?.(step, redis, ferric, history) end)
  end

  defp matchers do
    %{
      # DBSIZE counts logically expired keys until they are reclaimed, at different times.
      "D1" => fn step, r, f, history ->
        match?({:cmd, [_]}, step) and name(step) == "dbsize" and is_integer(r) and
          is_integer(f) and Enum.any?(history, &set_in_the_past?/1)
      end,
      # SCAN TYPE none: Redis lists keys a SET gave an expiry time in the past until it
      # reclaims them; FerricStore never lists an expired key.
      "D2" => fn step, r, f, history ->
        with {:scan_all, opts} <- step,
             true <- type_none?(opts),
             {:keys, redis_keys} <- r,
             {:keys, ferric_keys} <- f do
          extra = redis_keys -- ferric_keys
          past = for {:cmd, [_, key | _]} = cmd <- history, set_in_the_past?(cmd), do: key

          ferric_keys -- redis_keys == [] and Enum.all?(extra, &(&1 in past))
        else
          _ -> false
        end
      end
    }
  end

  defp type_none?(opts) do
    opts
    |> Enum.chunk_every(2, 1, :discard)
    |> Enum.any?(fn [opt, value] ->
      String.upcase(opt) == "TYPE" and String.downcase(value) == "none"
    end)
  end

  defp name({:cmd, [name | _]}), do: String.downcase(name)
  defp name(_), do: nil

  defp set_in_the_past?({:cmd, [name | args]}) do
    String.downcase(name) == "set" and
      args
      |> Enum.chunk_every(2, 1, :discard)
      |> Enum.any?(fn [opt, value] -> past?(String.upcase(opt), value) end)
  end

  defp set_in_the_past?(_), do: false

  defp past?("EXAT", value), do: before?(value, System.os_time(:second))
  defp past?("PXAT", value), do: before?(value, System.os_time(:millisecond))

  defp past?(_, _), do: false

  defp before?(value, now) do
    case Integer.parse(value) do
      {n, ""} -> n <= now
      _ -> false
    end
  end
end
