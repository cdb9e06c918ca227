defmodule FerricStore.Error do
  @moduledoc """
  The error every FerricStore call returns as `{:error, %FerricStore.Error{}}` and every
  `!` function raises.

  `reason` is an atom for matching (`:wrongtype`, `:not_integer`, `:syntax`, ...);
  `message` is the exact text Redis 7 would send for the same failure (for example
  `"WRONGTYPE Operation against a key holding the wrong kind of value"`), so the
  standalone server writes it as a RESP error unchanged.
  """

  defexception [:reason, :message]

  @type t :: %__MODULE__{reason: atom(), message: String.t()}

  @messages %{
    wrongtype: "WRONGTYPE Operation against a key holding the wrong kind of value",
    not_integer: "ERR value is not an integer or out of range",
    not_float: "ERR value is not a valid float",
    overflow: "ERR increment or decrement would overflow",
    nan_or_infinity: "ERR increment would produce NaN or Infinity",
    syntax: "ERR syntax error",
    no_such_key: "ERR no such key",
    crossslot: "CROSSSLOT Keys in request don't hash to the same slot",
    invalid_expire: "ERR invalid expire time in 'set' command",
    string_too_long: "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
    offset_out_of_range: "ERR offset is out of range",
    oom: "OOM command not allowed when used memory > 'maxmemory'.",
    unavailable: "CLUSTERDOWN The cluster is down",
    timeout: "ERR timeout waiting for the store",
    io: "ERR I/O error on the data files"
  }

  @doc "Builds the error for `reason`, with Redis' wording, or `message` when given."
  @spec new(atom(), String.t() | nil) :: t()
  def new(reason, message \\ nil) when is_atom(reason) do
    %__MODULE__{reason: reason, message: message || Map.get(@messages, reason, "ERR #{reason}")}
  end
end
