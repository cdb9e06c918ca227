defmodule FerricStore.Bitcask.NIF do
  @moduledoc false
  # Stubs replaced by native/ferricstore_nif when the library loads. Call these only
  # through FerricStore.Bitcask (files) and FerricStore.Store.Ranks (the sorted sets' rank
  # index): several of them are bounded steps that the wrapper loops.

  @on_load :load_nif

  @doc false
  def load_nif do
    path = :filename.join(:code.priv_dir(:ferricstore), ~c"ferricstore_nif")
    :erlang.load_nif(path, 0)
  end

  def open(_path), do: :erlang.nif_error(:nif_not_loaded)
  def open_read(_path), do: :erlang.nif_error(:nif_not_loaded)
  def repair_header(_path), do: :erlang.nif_error(:nif_not_loaded)
  def create(_path), do: :erlang.nif_error(:nif_not_loaded)
  def hint_create(_path), do: :erlang.nif_error(:nif_not_loaded)
  def hint_open(_path), do: :erlang.nif_error(:nif_not_loaded)
  def size(_file), do: :erlang.nif_error(:nif_not_loaded)
  def available_space(_path), do: :erlang.nif_error(:nif_not_loaded)
  def header_size, do: :erlang.nif_error(:nif_not_loaded)
  def truncate(_file, _offset), do: :erlang.nif_error(:nif_not_loaded)
  def append_batch(_file, _offset, _entries), do: :erlang.nif_error(:nif_not_loaded)
  def pread_at(_file, _offset, _size), do: :erlang.nif_error(:nif_not_loaded)
  def pread_many(_file, _locs), do: :erlang.nif_error(:nif_not_loaded)
  def fsync_async(_file, _ref), do: :erlang.nif_error(:nif_not_loaded)
  def fsync_dir_async(_path, _ref), do: :erlang.nif_error(:nif_not_loaded)
  def scan(_file, _from, _max), do: :erlang.nif_error(:nif_not_loaded)
  def next_record_step(_file, _from), do: :erlang.nif_error(:nif_not_loaded)
  def hint_build_step(_data, _hint, _data_off, _hint_off), do: :erlang.nif_error(:nif_not_loaded)
  def hint_read_step(_hint, _off), do: :erlang.nif_error(:nif_not_loaded)
  def hint_read_part(_hint, _off, _part, _parts), do: :erlang.nif_error(:nif_not_loaded)

  def compact_step(_src, _dst, _hint, _locs, _dst_off, _hint_off, _ref),
    do: :erlang.nif_error(:nif_not_loaded)

  def rank_new, do: :erlang.nif_error(:nif_not_loaded)
  def rank_update(_ranks, _ops), do: :erlang.nif_error(:nif_not_loaded)
  def rank_drop_key(_ranks, _key), do: :erlang.nif_error(:nif_not_loaded)
  def rank_clear(_ranks), do: :erlang.nif_error(:nif_not_loaded)
  def rank_of(_ranks, _key, _score, _member, _rev), do: :erlang.nif_error(:nif_not_loaded)
  def rank_range(_ranks, _key, _spec, _rev), do: :erlang.nif_error(:nif_not_loaded)
  def rank_count(_ranks, _key, _spec), do: :erlang.nif_error(:nif_not_loaded)
  def rank_memory(_ranks), do: :erlang.nif_error(:nif_not_loaded)
end
