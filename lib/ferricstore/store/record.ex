defmodule FerricStore.Store.Record do
  @moduledoc false
  # How keydir entries are named inside data-file records. The engine stores opaque key
  # bytes; the first byte says what the record is, so start-up can rebuild every kind of
  # row from hint files and scans alone.
  #
  #   <<0, key::binary>>   a string value
  #   <<255>>              FLUSHDB marker: everything written before it is gone
  #
  # Collections (docs/collections.md):
  #
  #   <<6..9, klen::32, key, meta::binary>>          header of a hash/list/set/zset;
  #                                                  meta = term_to_binary(meta map), in the
  #                                                  record key so hint files carry it
  #   <<2..5, gen::64, klen::32, key, member>>       one member (hash field, list position
  #                                                  as signed 64-bit, set member, zset
  #                                                  member prefixed by its 8-byte score)
  #
  # `gen` is the generation of the collection the member belongs to (from its header):
  # deleting a collection writes one header tombstone, and start-up drops members of any
  # other generation.

  @string 0
  @flush 255

  @member_tags %{hash: 2, list: 3, set: 4, zset: 5}
  @header_tags %{hash: 6, list: 7, set: 8, zset: 9}

  @collections [:hash, :list, :set, :zset]

  @doc "The collection types."
  def collections, do: @collections

  @spec disk_key(atom(), binary()) :: binary()
  def disk_key(:string, key), do: <<@string, key::binary>>

  @spec flush_key() :: binary()
  def flush_key, do: <<@flush>>

  @doc "Record key of a collection header."
  @spec header_key(atom(), binary(), map()) :: binary()
  def header_key(type, key, meta) do
    <<Map.fetch!(@header_tags, type), byte_size(key)::32, key::binary,
      :erlang.term_to_binary(meta)::binary>>
  end

  @doc "Record key of a collection member (`score` only for zsets)."
  @spec member_key(atom(), binary(), non_neg_integer(), term(), term()) :: binary()
  def member_key(:list, key, gen, pos, _score),
    do: <<3, gen::64, byte_size(key)::32, key::binary, pos::signed-64>>

  def member_key(:zset, key, gen, member, score),
    do:
      <<5, gen::64, byte_size(key)::32, key::binary, encode_score(score)::binary, member::binary>>

  def member_key(type, key, gen, member, _score),
    do:
      <<Map.fetch!(@member_tags, type), gen::64, byte_size(key)::32, key::binary, member::binary>>

  @doc """
  Decodes a record key: `{:string, key}`, `{:header, type, key, meta}`,
  `{:member, type, key, gen, member, score}`, `:flush`, or `:unknown`.
  """
  @spec decode(binary()) :: tuple() | :flush | :unknown
  def decode(<<@string, key::binary>>), do: {:string, key}
  def decode(<<@flush>>), do: :flush

  def decode(<<tag, len::32, key::binary-size(len), meta::binary>>) when tag in 6..9 do
    {:header, type_of(tag - 4), key, :erlang.binary_to_term(meta)}
  end

  def decode(<<3, gen::64, len::32, key::binary-size(len), pos::signed-64>>),
    do: {:member, :list, key, gen, pos, nil}

  def decode(<<5, gen::64, len::32, key::binary-size(len), score::binary-size(8), m::binary>>),
    do: {:member, :zset, key, gen, m, decode_score(score)}

  def decode(<<tag, gen::64, len::32, key::binary-size(len), member::binary>>)
      when tag in [2, 4],
      do: {:member, type_of(tag), key, gen, member, nil}

  def decode(_), do: :unknown

  @doc """
  The user key a record belongs to, without decoding the rest (start-up splits keys
  between loaders by it): the same for a string, a collection header and its members.
  `:all` for a FLUSHDB marker (and a record of an unknown kind).
  """
  @spec user_key(binary()) :: binary() | :all
  def user_key(<<@string, key::binary>>), do: key
  def user_key(<<tag, len::32, key::binary-size(len), _::binary>>) when tag in 6..9, do: key

  def user_key(<<tag, _gen::64, len::32, key::binary-size(len), _::binary>>) when tag in 2..5,
    do: key

  def user_key(_), do: :all

  defp type_of(2), do: :hash
  defp type_of(3), do: :list
  defp type_of(4), do: :set
  defp type_of(5), do: :zset

  # Scores are doubles; the BEAM has no infinities, so they are atoms in memory and the
  # IEEE bit patterns on disk.
  @pos_inf <<0x7FF0000000000000::64>>
  @neg_inf <<0xFFF0000000000000::64>>

  @doc false
  def encode_score(:inf), do: @pos_inf
  def encode_score(:neg_inf), do: @neg_inf
  def encode_score(f) when is_float(f), do: <<f::float-64>>

  @doc false
  def decode_score(@pos_inf), do: :inf
  def decode_score(@neg_inf), do: :neg_inf
  def decode_score(<<f::float-64>>), do: f
end
