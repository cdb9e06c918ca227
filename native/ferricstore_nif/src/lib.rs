//! NIF shim over `ferricstore_engine`, loaded as `Elixir.FerricStore.Bitcask.NIF`.
//!
//! This crate only decodes terms, calls the engine and encodes results; it alone turns
//! engine errors into Erlang terms (`:checksum_mismatch`, `{:io, :enospc}`, ...).
//!
//! Every function runs on a normal scheduler and does a bounded amount of work (about
//! `CHUNK_BYTES` of file data or a few thousand records): calls whose work grows with
//! their input return a continuation that the Elixir wrapper loops on. `fsync` runs on a
//! short-lived Rust thread that messages the caller.
//!
//! The one piece of state is the sorted sets' rank index (`RankRes`, one per shard).

use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use ferricstore_engine::compact::{self, Cursor};
use ferricstore_engine::data::{self, NextRecord, ScanStatus, CHUNK_BYTES};
use ferricstore_engine::format::{EntryRef, DATA_MAGIC, FILE_HEADER_LEN};
use ferricstore_engine::hint::{self, BuildStep, ReadStep};
use ferricstore_engine::rank::{self, LexBound, RankIndex, RankedSet, Score, ScoreBound};
use ferricstore_engine::Error;
use rustler::env::OwnedEnv;
use rustler::types::binary::{Binary, NewBinary, OwnedBinary};
use rustler::types::tuple::make_tuple;
use rustler::{Atom, Encoder, Env, NifResult, ResourceArc, Term};

mod atoms {
    rustler::atoms! {
        ok, error, more, done, torn, corrupt, none, tombstone, io,
        checksum_mismatch, eof, bad_header, too_large, unknown,
        inf, neg_inf, add, del, rank, score, lex, after, from, below, neg, pos, nil,
    }
}

/// An open data or hint file. Positional I/O on `&File` needs no lock.
struct FileRes {
    file: File,
}

#[rustler::resource_impl]
impl rustler::Resource for FileRes {}

/// Most records one scan / read step returns.
const MAX_STEP_RECORDS: usize = 4096;
/// Most encoded bytes one `append_batch` step writes (beyond a single oversized record).
const APPEND_STEP_BYTES: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------------
// Errors and small helpers
// ---------------------------------------------------------------------------------------

/// Charges a NIF call's run time to the calling process (`consume_timeslice`, 100 % is
/// about 1 ms). Each call does a bounded chunk, but the BEAM counts a NIF call as a
/// single reduction: without this, a process looping over chunks (scan, hint read,
/// compaction steps) could keep its scheduler for many milliseconds without being
/// preempted.
struct Charge<'a> {
    env: Env<'a>,
    started: std::time::Instant,
}

impl<'a> Charge<'a> {
    fn new(env: Env<'a>) -> Self {
        Charge {
            env,
            started: std::time::Instant::now(),
        }
    }
}

impl Drop for Charge<'_> {
    fn drop(&mut self) {
        let percent = (self.started.elapsed().as_micros() / 10).clamp(1, 100) as i32;
        let _ = rustler::schedule::consume_timeslice(self.env, percent);
    }
}

fn posix_atom(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(1) => "eperm",
        Some(2) => "enoent",
        Some(4) => "eintr",
        Some(5) => "eio",
        Some(6) => "enxio",
        Some(9) => "ebadf",
        Some(11) => "eagain",
        Some(12) => "enomem",
        Some(13) => "eacces",
        Some(16) => "ebusy",
        Some(17) => "eexist",
        Some(18) => "exdev",
        Some(19) => "enodev",
        Some(20) => "enotdir",
        Some(21) => "eisdir",
        Some(22) => "einval",
        Some(23) => "enfile",
        Some(24) => "emfile",
        Some(26) => "etxtbsy",
        Some(27) => "efbig",
        Some(28) => "enospc",
        Some(29) => "espipe",
        Some(30) => "erofs",
        Some(32) => "epipe",
        Some(36) => "enametoolong",
        Some(40) => "eloop",
        Some(95) => "enotsup",
        Some(116) => "estale",
        Some(122) => "edquot",
        _ => "unknown",
    }
}

fn reason<'a>(env: Env<'a>, e: &Error) -> Term<'a> {
    match e {
        Error::Io(io_err) => {
            let posix =
                Atom::from_str(env, posix_atom(io_err)).unwrap_or_else(|_| atoms::unknown());
            (atoms::io(), posix).encode(env)
        }
        Error::ChecksumMismatch => atoms::checksum_mismatch().encode(env),
        Error::Eof => atoms::eof().encode(env),
        Error::BadHeader => atoms::bad_header().encode(env),
        Error::TooLarge => atoms::too_large().encode(env),
        Error::Tombstone => atoms::tombstone().encode(env),
    }
}

fn err<'a>(env: Env<'a>, e: &Error) -> Term<'a> {
    (atoms::error(), reason(env, e)).encode(env)
}

fn path_of(bin: &Binary) -> PathBuf {
    PathBuf::from(std::ffi::OsStr::from_bytes(bin.as_slice()))
}

fn new_binary<'a>(env: Env<'a>, bytes: &[u8]) -> Term<'a> {
    let mut b = NewBinary::new(env, bytes.len());
    b.as_mut_slice().copy_from_slice(bytes);
    Binary::from(b).to_term(env)
}

fn entry_term<'a>(env: Env<'a>, e: &EntryRef<'_>) -> Term<'a> {
    make_tuple(
        env,
        &[
            new_binary(env, e.key),
            e.offset.encode(env),
            e.size.encode(env),
            e.expire_at.encode(env),
            e.seq.encode(env),
            e.flags.encode(env),
        ],
    )
}

fn file_result<'a>(env: Env<'a>, r: ferricstore_engine::Result<File>) -> Term<'a> {
    match r {
        Ok(file) => (atoms::ok(), ResourceArc::new(FileRes { file })).encode(env),
        Err(e) => err(env, &e),
    }
}

// ---------------------------------------------------------------------------------------
// Opening files
// ---------------------------------------------------------------------------------------

#[rustler::nif]
fn open<'a>(env: Env<'a>, path: Binary) -> Term<'a> {
    file_result(env, data::open(&path_of(&path)))
}

#[rustler::nif]
fn open_read<'a>(env: Env<'a>, path: Binary) -> Term<'a> {
    file_result(env, data::open_read(&path_of(&path)))
}

/// Rewrites a damaged data-file header (see `data::repair_header`).
#[rustler::nif(schedule = "DirtyIo")]
fn repair_header<'a>(env: Env<'a>, path: Binary) -> Term<'a> {
    match data::repair_header(&path_of(&path)) {
        Ok(()) => atoms::ok().encode(env),
        Err(e) => err(env, &e),
    }
}

/// Creates or empties a data file (compaction destination).
#[rustler::nif]
fn create<'a>(env: Env<'a>, path: Binary) -> Term<'a> {
    file_result(env, data::create(&path_of(&path), DATA_MAGIC))
}

#[rustler::nif]
fn hint_create<'a>(env: Env<'a>, path: Binary) -> Term<'a> {
    file_result(env, hint::create(&path_of(&path)))
}

#[rustler::nif]
fn hint_open<'a>(env: Env<'a>, path: Binary) -> Term<'a> {
    file_result(env, hint::open_read(&path_of(&path)))
}

#[rustler::nif]
fn size<'a>(env: Env<'a>, file: ResourceArc<FileRes>) -> Term<'a> {
    match data::file_len(&file.file) {
        Ok(n) => (atoms::ok(), n).encode(env),
        Err(e) => err(env, &e),
    }
}

/// Bytes available on the file system holding `path` (a statvfs call: microseconds).
#[rustler::nif]
fn available_space<'a>(env: Env<'a>, path: Binary) -> Term<'a> {
    match ferricstore_engine::disk::available_space(&path_of(&path)) {
        Ok(n) => (atoms::ok(), n).encode(env),
        Err(e) => err(env, &e),
    }
}

#[rustler::nif]
fn header_size() -> u64 {
    FILE_HEADER_LEN
}

#[rustler::nif]
fn truncate<'a>(env: Env<'a>, file: ResourceArc<FileRes>, offset: u64) -> Term<'a> {
    match data::truncate(&file.file, offset) {
        Ok(()) => atoms::ok().encode(env),
        Err(e) => err(env, &e),
    }
}

// ---------------------------------------------------------------------------------------
// Writes and reads
// ---------------------------------------------------------------------------------------

/// Encodes entries from `entries` until about `APPEND_STEP_BYTES`, then writes them with
/// one `pwrite`. Returns `{:ok, locs}` when the list is exhausted (its last record carries
/// BATCH_END), or `{:more, locs, rest, next_offset}` for the wrapper to continue.
#[rustler::nif]
fn append_batch<'a>(
    env: Env<'a>,
    file: ResourceArc<FileRes>,
    offset: u64,
    entries: Term<'a>,
) -> NifResult<Term<'a>> {
    let _charge = Charge::new(env);

    let mut batch = data::Batch::new(offset);
    let mut locs: Vec<Term<'a>> = Vec::new();
    let mut rest = entries;
    while !rest.is_empty_list() {
        let (head, tail) = rest.list_get_cell()?;
        let (key, value, expire_at, seq): (Binary, Term, u64, u64) = head.decode()?;
        let value: Option<Binary> = if value.is_atom() {
            if value.decode::<Atom>()? != atoms::tombstone() {
                return Err(rustler::Error::BadArg);
            }
            None
        } else {
            Some(value.decode()?)
        };
        let last = tail.is_empty_list();
        match batch.push(
            key.as_slice(),
            value.as_ref().map(Binary::as_slice),
            expire_at,
            seq,
            last,
        ) {
            Ok(loc) => locs.push(loc.encode(env)),
            Err(e) => return Ok(err(env, &e)),
        }
        rest = tail;
        if !last && (batch.encoded_len() >= APPEND_STEP_BYTES || locs.len() >= MAX_STEP_RECORDS) {
            break;
        }
    }
    if let Err(e) = batch.write(&file.file) {
        return Ok(err(env, &e));
    }
    if rest.is_empty_list() {
        Ok((atoms::ok(), locs).encode(env))
    } else {
        Ok(make_tuple(
            env,
            &[
                atoms::more().encode(env),
                locs.encode(env),
                rest,
                batch.end_offset().encode(env),
            ],
        ))
    }
}

fn read_one<'a>(env: Env<'a>, file: &File, offset: u64, size: u64) -> Term<'a> {
    let n = match data::record_buffer_len(file, offset, size) {
        Ok(n) => n,
        Err(e) => return err(env, &e),
    };
    let Some(mut owned) = OwnedBinary::new(n) else {
        return err(env, &Error::TooLarge);
    };
    match data::read_value_into(file, offset, owned.as_mut_slice()) {
        Ok(range) => {
            let whole = Binary::from_owned(owned, env);
            match whole.make_subbinary(range.start, range.len()) {
                Ok(value) => (atoms::ok(), value).encode(env),
                Err(_) => err(env, &Error::ChecksumMismatch),
            }
        }
        Err(e) => err(env, &e),
    }
}

#[rustler::nif]
fn pread_at<'a>(env: Env<'a>, file: ResourceArc<FileRes>, offset: u64, size: u64) -> Term<'a> {
    read_one(env, &file.file, offset, size)
}

/// Reads each `{offset, size}`; the wrapper passes bounded slices of the caller's list.
#[rustler::nif]
fn pread_many<'a>(
    env: Env<'a>,
    file: ResourceArc<FileRes>,
    locs: Vec<(u64, u64)>,
) -> Vec<Term<'a>> {
    let _charge = Charge::new(env);

    locs.iter()
        .map(|&(offset, size)| read_one(env, &file.file, offset, size))
        .collect()
}

// ---------------------------------------------------------------------------------------
// fsync on a Rust thread
// ---------------------------------------------------------------------------------------

/// Runs `job` on a new OS thread and sends `{reference, job_result}` to the caller.
/// Used for work that can block in the kernel for unbounded time (fsync, writes that
/// hit dirty-page throttling), which must never run on a scheduler.
fn spawn_reply<'a, F>(env: Env<'a>, reference: Term<'a>, job: F) -> Term<'a>
where
    F: for<'b> FnOnce(Env<'b>) -> Term<'b> + Send + 'static,
{
    let pid = env.pid();
    let mut owned = OwnedEnv::new();
    let saved = owned.save(reference);
    let spawned = std::thread::Builder::new()
        .name("ferricstore-io".into())
        .spawn(move || {
            // The caller may have died meanwhile; nothing to do about a failed send.
            let _ = owned.send_and_clear(&pid, |env| {
                let result = job(env);
                (saved.load(env), result).encode(env)
            });
        });
    match spawned {
        Ok(_) => atoms::ok().encode(env),
        Err(e) => err(env, &Error::from(e)),
    }
}

fn spawn_sync<'a, F>(env: Env<'a>, reference: Term<'a>, job: F) -> Term<'a>
where
    F: FnOnce() -> std::io::Result<()> + Send + 'static,
{
    spawn_reply(env, reference, move |env| match job() {
        Ok(()) => atoms::ok().encode(env),
        Err(e) => err(env, &Error::from(e)),
    })
}

/// Starts `fsync` of the file on a new thread; `{ref, :ok | {:error, reason}}` is sent to
/// the caller when it finishes.
#[rustler::nif]
fn fsync_async<'a>(env: Env<'a>, file: ResourceArc<FileRes>, reference: Term<'a>) -> Term<'a> {
    match file.file.try_clone() {
        Ok(f) => spawn_sync(env, reference, move || f.sync_all()),
        Err(e) => err(env, &Error::from(e)),
    }
}

/// Starts `fsync` of a directory (after a rename or create) on a new thread.
#[rustler::nif]
fn fsync_dir_async<'a>(env: Env<'a>, path: Binary, reference: Term<'a>) -> Term<'a> {
    let p = path_of(&path);
    spawn_sync(env, reference, move || {
        File::open(Path::new(&p))?.sync_all()
    })
}

// ---------------------------------------------------------------------------------------
// Bounded steps: scan, resync, hints, compaction
// ---------------------------------------------------------------------------------------

#[rustler::nif]
fn scan<'a>(env: Env<'a>, file: ResourceArc<FileRes>, from: u64, max_records: usize) -> Term<'a> {
    let _charge = Charge::new(env);

    let mut entries: Vec<Term<'a>> = Vec::new();
    let max = max_records.clamp(1, MAX_STEP_RECORDS);
    let st = data::scan_chunk(&file.file, from, max, CHUNK_BYTES, |e| {
        entries.push(entry_term(env, &e))
    });
    let status = match st {
        Ok(ScanStatus::More(n)) => (atoms::more(), n).encode(env),
        Ok(ScanStatus::Done(n)) => (atoms::done(), n).encode(env),
        Ok(ScanStatus::Torn(n)) => (atoms::torn(), n).encode(env),
        Ok(ScanStatus::Corrupt(n)) => (atoms::corrupt(), n).encode(env),
        Err(e) => return err(env, &e),
    };
    (atoms::ok(), entries, status).encode(env)
}

#[rustler::nif]
fn next_record_step<'a>(env: Env<'a>, file: ResourceArc<FileRes>, from: u64) -> Term<'a> {
    let _charge = Charge::new(env);

    match data::next_record_step(&file.file, from, CHUNK_BYTES) {
        Ok(NextRecord::Found(o)) => (atoms::ok(), o).encode(env),
        Ok(NextRecord::More(o)) => (atoms::more(), o).encode(env),
        Ok(NextRecord::None) => atoms::none().encode(env),
        Err(e) => err(env, &e),
    }
}

#[rustler::nif]
fn hint_build_step<'a>(
    env: Env<'a>,
    data_file: ResourceArc<FileRes>,
    hint_file: ResourceArc<FileRes>,
    data_off: u64,
    hint_off: u64,
) -> Term<'a> {
    let _charge = Charge::new(env);

    match hint::build_step(
        &data_file.file,
        &hint_file.file,
        data_off,
        hint_off,
        CHUNK_BYTES,
    ) {
        Ok(BuildStep::More { data_off, hint_off }) => {
            (atoms::more(), data_off, hint_off).encode(env)
        }
        Ok(BuildStep::Done { .. }) => atoms::done().encode(env),
        Err(e) => err(env, &e),
    }
}

#[rustler::nif]
fn hint_read_step<'a>(env: Env<'a>, hint_file: ResourceArc<FileRes>, off: u64) -> Term<'a> {
    let _charge = Charge::new(env);
    match read_hint_chunk(env, &hint_file, off, |_| true) {
        Ok((entries, status, _data_end)) => (atoms::ok(), entries, status).encode(env),
        Err(e) => err(env, &e),
    }
}

/// One bounded chunk of a hint file from `off`: the entries `keep` accepts, as terms,
/// the `{:more, next}` / `:done` status, and where the data file continues after the
/// chunk's last entry, kept or not (`None` if the chunk had none).
fn read_hint_chunk<'a>(
    env: Env<'a>,
    hint_file: &FileRes,
    off: u64,
    keep: impl Fn(&EntryRef<'_>) -> bool,
) -> ferricstore_engine::Result<(Vec<Term<'a>>, Term<'a>, Option<u64>)> {
    let mut entries: Vec<Term<'a>> = Vec::new();
    let mut data_end: Option<u64> = None;
    let step = hint::read_step(&hint_file.file, off, CHUNK_BYTES, MAX_STEP_RECORDS, |e| {
        data_end = Some(e.offset + e.size);
        if keep(&e) {
            entries.push(entry_term(env, &e))
        }
    })?;
    let status = match step {
        ReadStep::More(n) => (atoms::more(), n).encode(env),
        ReadStep::Done => atoms::done().encode(env),
    };
    Ok((entries, status, data_end))
}

/// `hint_read_step` for loader `part` of `parts` at start-up (Elixir's Store.Recovery):
/// a string record (first key byte 0, see Store.Record) is returned only to the loader
/// that `hint::part_of` the rest of its key names; every other record to every loader,
/// which splits them itself. Also returns where the data file continues after the last
/// entry of the chunk, returned or not (`nil` if none), for a scan when the hint turns
/// bad part-way.
#[rustler::nif]
fn hint_read_part<'a>(
    env: Env<'a>,
    hint_file: ResourceArc<FileRes>,
    off: u64,
    part: u32,
    parts: u32,
) -> NifResult<Term<'a>> {
    if part >= parts {
        return Err(rustler::Error::BadArg);
    }
    let _charge = Charge::new(env);
    let mine = |e: &EntryRef<'_>| match e.key.split_first() {
        Some((0, key)) if parts > 1 => hint::part_of(key, parts) == part,
        _ => true,
    };
    Ok(match read_hint_chunk(env, &hint_file, off, mine) {
        Ok((entries, status, data_end)) => (atoms::ok(), entries, status, data_end).encode(env),
        Err(e) => err(env, &e),
    })
}

/// Takes a bounded prefix of `locs` (at most `MAX_STEP_RECORDS` records / ~`CHUNK_BYTES`)
/// and copies it on a Rust thread, because writing to the destination can block in the
/// kernel (dirty-page throttling) for far longer than a scheduler may be held. Returns
/// `{:ok, rest}` at once; the thread sends `{reference, {:ok, moved, dst_off, hint_off}}`
/// or `{reference, {:error, reason}}`.
#[rustler::nif]
#[allow(clippy::too_many_arguments)]
fn compact_step<'a>(
    env: Env<'a>,
    src: ResourceArc<FileRes>,
    dst: ResourceArc<FileRes>,
    hint_file: ResourceArc<FileRes>,
    locs: Term<'a>,
    dst_off: u64,
    hint_off: u64,
    reference: Term<'a>,
) -> NifResult<Term<'a>> {
    let _charge = Charge::new(env);

    let mut step: Vec<(u64, u64)> = Vec::new();
    let mut bytes = 0u64;
    let mut rest = locs;
    while !rest.is_empty_list() && step.len() < MAX_STEP_RECORDS {
        let (head, tail) = rest.list_get_cell()?;
        let (off, size): (u64, u64) = head.decode()?;
        if !step.is_empty() && bytes.saturating_add(size) > CHUNK_BYTES as u64 {
            break;
        }
        bytes = bytes.saturating_add(size);
        step.push((off, size));
        rest = tail;
    }
    let started = spawn_reply(env, reference, move |env| {
        let mut moved = Vec::with_capacity(step.len());
        let cur = Cursor { dst_off, hint_off };
        match compact::compact_step(
            &src.file,
            &dst.file,
            &hint_file.file,
            &step,
            cur,
            &mut moved,
        ) {
            Ok(c) => (atoms::ok(), moved, c.dst_off, c.hint_off).encode(env),
            Err(e) => err(env, &e),
        }
    });
    if started.is_atom() {
        Ok((atoms::ok(), rest).encode(env))
    } else {
        Ok(started)
    }
}

// ---------------------------------------------------------------------------------------
// Sorted sets' rank index (engine `rank`), one per shard
// ---------------------------------------------------------------------------------------

/// The rank index of one shard's sorted sets. Readers are any caller processes (ZRANK,
/// ZRANGE...); the only writer is the shard's Raft machine, which applies each committed
/// entry's member changes right after it writes them to ETS.
struct RankRes {
    index: RwLock<RankIndex>,
}

#[rustler::resource_impl]
impl rustler::Resource for RankRes {}

/// Most operations one `rank_update` step applies (each is O(log N) plus moving at most
/// one chunk of 512 entries: a few hundred ns).
const MAX_RANK_OPS: usize = 1000;
/// Most items one `rank_range` step returns, and about the most member bytes it copies.
const MAX_RANGE_ITEMS: usize = 1000;
const MAX_RANGE_BYTES: usize = 1024 * 1024;
/// Sets (or whole indexes) with more members than this are freed on a Rust thread: freeing
/// a million members takes tens of milliseconds.
const FREE_INLINE_MAX: usize = 4096;

fn poisoned() -> rustler::Error {
    rustler::Error::RaiseAtom("rank_index_poisoned")
}

fn read_index(res: &RankRes) -> NifResult<RwLockReadGuard<'_, RankIndex>> {
    res.index.read().map_err(|_| poisoned())
}

fn write_index(res: &RankRes) -> NifResult<RwLockWriteGuard<'_, RankIndex>> {
    res.index.write().map_err(|_| poisoned())
}

/// Drops `value` here, or on a short-lived thread when it holds more than
/// `FREE_INLINE_MAX` members.
fn free<T: Send + 'static>(value: T, members: usize) {
    if members > FREE_INLINE_MAX {
        // If no thread can be started, the closure (and the value) is dropped here.
        let _ = std::thread::Builder::new()
            .name("ferricstore-free".into())
            .spawn(move || drop(value));
    }
}

/// A score from Elixir: a float (an integer is accepted too), `:inf` or `:neg_inf`.
fn decode_score(t: Term) -> NifResult<Score> {
    if let Ok(f) = t.decode::<f64>() {
        return Score::new(f).ok_or(rustler::Error::BadArg);
    }
    if let Ok(i) = t.decode::<i64>() {
        return Score::new(i as f64).ok_or(rustler::Error::BadArg);
    }
    let a: Atom = t.decode()?;
    if a == atoms::inf() {
        Ok(Score::INF)
    } else if a == atoms::neg_inf() {
        Ok(Score::NEG_INF)
    } else {
        Err(rustler::Error::BadArg)
    }
}

fn encode_score(env: Env<'_>, s: Score) -> Term<'_> {
    let f = s.get();
    if f == f64::INFINITY {
        atoms::inf().encode(env)
    } else if f == f64::NEG_INFINITY {
        atoms::neg_inf().encode(env)
    } else {
        f.encode(env)
    }
}

/// `{inclusive?, score}` (Elixir's score bounds in `FerricStore.Commands.ZSets`).
fn decode_score_bound(t: Term) -> NifResult<ScoreBound> {
    let (inclusive, score): (bool, Term) = t.decode()?;
    Ok(ScoreBound {
        score: decode_score(score)?,
        inclusive,
    })
}

/// `:neg` (`-`), `:pos` (`+`) or `{inclusive?, member}`.
fn decode_lex_bound<'a>(t: Term<'a>) -> NifResult<LexBound<'a>> {
    if let Ok(a) = t.decode::<Atom>() {
        return if a == atoms::neg() {
            Ok(LexBound::Min)
        } else if a == atoms::pos() {
            Ok(LexBound::Max)
        } else {
            Err(rustler::Error::BadArg)
        };
    }
    let (inclusive, member): (bool, Binary<'a>) = t.decode()?;
    let m = member.as_slice();
    Ok(if inclusive {
        LexBound::Inclusive(m)
    } else {
        LexBound::Exclusive(m)
    })
}

/// A LIMIT count: negative means all.
fn decode_count(t: Term) -> NifResult<usize> {
    let c: i64 = t.decode()?;
    Ok(usize::try_from(c).unwrap_or(usize::MAX))
}

/// Where a range starts (a position in ascending order), how many items it has, and in
/// which direction it goes.
struct Walk {
    first: usize,
    count: usize,
    rev: bool,
}

impl Walk {
    const EMPTY: Walk = Walk {
        first: 0,
        count: 0,
        rev: false,
    };

    /// `skip` then at most `limit` of the positions `[lo, hi)`, from `hi` down when `rev`.
    fn within(lo: usize, hi: usize, skip: usize, limit: usize, rev: bool) -> Walk {
        let avail = hi.saturating_sub(lo).saturating_sub(skip);
        if avail == 0 || limit == 0 {
            return Walk::EMPTY;
        }
        let first = if rev { hi - 1 - skip } else { lo + skip };
        Walk {
            first,
            count: avail.min(limit),
            rev,
        }
    }
}

/// Resolves a range spec against `set`; None when it is a lex range over members of
/// different scores (undefined in Redis: the caller walks instead).
///
/// - `{:rank, start, stop}`: Redis' ZRANGE indexes (negative from the end; with `rev`
///   they count from the highest member);
/// - `{:score, min, max, offset, count}` / `{:lex, min, max, offset, count}`: BYSCORE /
///   BYLEX with LIMIT (count < 0: all), from `max` down with `rev`;
/// - `{:from, score, member, count}`: the same, starting with `(score, member)` itself
///   (it need not be in the set);
/// - `{:after, score, member, count}`: the next `count` members after `(score, member)`
///   in the walk's direction (how the Elixir wrapper continues a range).
fn resolve(set: &RankedSet, spec: Term, rev: bool) -> NifResult<Option<Walk>> {
    let parts = rustler::types::tuple::get_tuple(spec)?;
    let kind: Atom = parts.first().ok_or(rustler::Error::BadArg)?.decode()?;
    let len = set.len();
    let walk = match parts.as_slice() {
        [_, start, stop] if kind == atoms::rank() => {
            match rank::rank_span(len, start.decode()?, stop.decode()?) {
                None => Walk::EMPTY,
                Some((a, b)) => Walk {
                    first: if rev { len - 1 - a } else { a },
                    count: b - a + 1,
                    rev,
                },
            }
        }
        [_, min, max, offset, count] if kind == atoms::score() => {
            let (lo, hi) = set.score_span(decode_score_bound(*min)?, decode_score_bound(*max)?);
            Walk::within(lo, hi, offset.decode()?, decode_count(*count)?, rev)
        }
        [_, min, max, offset, count] if kind == atoms::lex() => {
            match set.lex_span(decode_lex_bound(*min)?, decode_lex_bound(*max)?) {
                None => return Ok(None),
                Some((lo, hi)) => {
                    Walk::within(lo, hi, offset.decode()?, decode_count(*count)?, rev)
                }
            }
        }
        [_, score, member, count] if kind == atoms::after() || kind == atoms::from() => {
            let (score, member) = (decode_score(*score)?, member.decode::<Binary>()?);
            let count = decode_count(*count)?;
            // `:after` leaves `(score, member)` out, `:from` starts with it.
            let from = kind == atoms::from();
            if rev {
                let below = set.count_before(score, member.as_slice(), from);
                Walk::within(0, below, 0, count, true)
            } else {
                let upto = set.count_before(score, member.as_slice(), !from);
                Walk::within(upto, len, 0, count, false)
            }
        }
        _ => return Err(rustler::Error::BadArg),
    };
    Ok(Some(walk))
}

#[rustler::nif]
fn rank_new() -> ResourceArc<RankRes> {
    ResourceArc::new(RankRes {
        index: RwLock::new(RankIndex::new()),
    })
}

/// Applies a bounded prefix of `ops`, in order: `{:add, key, score, member}` and
/// `{:del, key, score, member}`. Returns `:ok`, or `{:more, rest}` for the wrapper to
/// continue (the write lock is not held across steps).
#[rustler::nif]
fn rank_update<'a>(env: Env<'a>, res: ResourceArc<RankRes>, ops: Term<'a>) -> NifResult<Term<'a>> {
    let _charge = Charge::new(env);

    let mut index = write_index(&res)?;
    let mut rest = ops;
    let mut done = 0;
    while !rest.is_empty_list() && done < MAX_RANK_OPS {
        let (head, tail) = rest.list_get_cell()?;
        let (op, key, score, member): (Atom, Binary, Term, Binary) = head.decode()?;
        let score = decode_score(score)?;
        if op == atoms::add() {
            index.insert(key.as_slice(), score, member.as_slice());
        } else if op == atoms::del() {
            index.remove(key.as_slice(), score, member.as_slice());
        } else {
            return Err(rustler::Error::BadArg);
        }
        rest = tail;
        done += 1;
    }
    if rest.is_empty_list() {
        Ok(atoms::ok().encode(env))
    } else {
        Ok((atoms::more(), rest).encode(env))
    }
}

/// Forgets every member of `key` (a deleted, expired or overwritten sorted set).
#[rustler::nif]
fn rank_drop_key(res: ResourceArc<RankRes>, key: Binary) -> NifResult<Atom> {
    let removed = write_index(&res)?.remove_key(key.as_slice());
    if let Some(set) = removed {
        let n = set.len();
        free(set, n);
    }
    Ok(atoms::ok())
}

/// Forgets every key (FLUSHDB / FLUSHALL). Also the way out of a poisoned lock.
#[rustler::nif]
fn rank_clear(res: ResourceArc<RankRes>) -> Atom {
    let old = match res.index.write() {
        Ok(mut index) => index.take(),
        Err(poisoned) => {
            let old = poisoned.into_inner().take();
            res.index.clear_poison();
            old
        }
    };
    let n = old.member_count() + old.key_count();
    free(old, n);
    atoms::ok()
}

/// The 0-based rank of `(score, member)` in `key` (from the highest member with `rev`),
/// or nil when it is not there.
#[rustler::nif]
fn rank_of(
    res: ResourceArc<RankRes>,
    key: Binary,
    score: Term,
    member: Binary,
    rev: bool,
) -> NifResult<Option<usize>> {
    let score = decode_score(score)?;
    let index = read_index(&res)?;
    let Some(set) = index.get(key.as_slice()) else {
        return Ok(None);
    };
    Ok(set
        .rank(score, member.as_slice())
        .map(|r| if rev { set.len() - 1 - r } else { r }))
}

/// The `{member, score}` items of a range of `key` (spec as in `resolve`), in the walk's
/// order: `{:ok, items}`, `{:more, items, left}` when the step stopped at its bound
/// (continue with `{:after, last_score, last_member, left}`), or nil for a lex range over
/// different scores.
#[rustler::nif]
fn rank_range<'a>(
    env: Env<'a>,
    res: ResourceArc<RankRes>,
    key: Binary,
    spec: Term<'a>,
    rev: bool,
) -> NifResult<Term<'a>> {
    let _charge = Charge::new(env);

    let index = read_index(&res)?;
    let Some(set) = index.get(key.as_slice()) else {
        return Ok((atoms::ok(), Vec::<Term>::new()).encode(env));
    };
    let Some(walk) = resolve(set, spec, rev)? else {
        return Ok(atoms::nil().encode(env));
    };
    let iter: Box<dyn Iterator<Item = (Score, &[u8])>> = match walk {
        Walk { count: 0, .. } => Box::new(std::iter::empty()),
        Walk {
            first, rev: true, ..
        } => Box::new(set.iter_rev_from(first)),
        Walk { first, .. } => Box::new(set.iter_from(first)),
    };
    let mut items = Vec::with_capacity(walk.count.min(MAX_RANGE_ITEMS));
    let mut bytes = 0;
    for (score, member) in iter.take(walk.count) {
        if items.len() == MAX_RANGE_ITEMS || (bytes >= MAX_RANGE_BYTES && !items.is_empty()) {
            break;
        }
        bytes += member.len();
        items.push(make_tuple(
            env,
            &[new_binary(env, member), encode_score(env, score)],
        ));
    }
    if items.len() < walk.count {
        let left = walk.count - items.len();
        Ok((atoms::more(), items, left).encode(env))
    } else {
        Ok((atoms::ok(), items).encode(env))
    }
}

/// How many members of `key` a `{:score, min, max}` or `{:lex, min, max}` range holds
/// (ZCOUNT, ZLEXCOUNT), or nil for a lex range over different scores; with
/// `{:below, score, member}`, how many members come before that pair.
#[rustler::nif]
fn rank_count(res: ResourceArc<RankRes>, key: Binary, spec: Term) -> NifResult<Option<usize>> {
    let parts = rustler::types::tuple::get_tuple(spec)?;
    let [kind, min, max] = parts.as_slice() else {
        return Err(rustler::Error::BadArg);
    };
    let kind: Atom = kind.decode()?;
    let index = read_index(&res)?;
    let Some(set) = index.get(key.as_slice()) else {
        return Ok(Some(0));
    };
    if kind == atoms::below() {
        let (score, member) = (decode_score(*min)?, max.decode::<Binary>()?);
        Ok(Some(set.count_before(score, member.as_slice(), false)))
    } else if kind == atoms::score() {
        let (lo, hi) = set.score_span(decode_score_bound(*min)?, decode_score_bound(*max)?);
        Ok(Some(hi - lo))
    } else if kind == atoms::lex() {
        Ok(set
            .lex_span(decode_lex_bound(*min)?, decode_lex_bound(*max)?)
            .map(|(lo, hi)| hi - lo))
    } else {
        Err(rustler::Error::BadArg)
    }
}

/// Approximate heap bytes held by the index (INFO memory); O(1).
#[rustler::nif]
fn rank_memory(res: ResourceArc<RankRes>) -> NifResult<usize> {
    Ok(read_index(&res)?.heap_bytes())
}

rustler::init!("Elixir.FerricStore.Bitcask.NIF");
