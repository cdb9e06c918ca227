//! Data files: open/create, batched append, positional reads, chunked scan and resync.
//!
//! Every function takes a `&File` and uses positional I/O (`read_at` / `write_at`), so a
//! file handle can be shared by many readers and one writer without any lock.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::format::{
    check_file_header, decode_record, file_header, record_len, Decoded, EntryRef, RecordHeader,
    DATA_MAGIC, FILE_HEADER_LEN, FLAG_TOMBSTONE, FORMAT_VERSION, MAX_RECORD_LEN, RECORD_HEADER_LEN,
};
use crate::{Error, Result};

/// Default amount of file bytes one bounded step (scan, hint, compaction) processes.
/// About 0.1–0.3 ms of work from the page cache on a modern core.
pub const CHUNK_BYTES: usize = 512 * 1024;

/// Opens `path` for reading and writing, creating it with a header when missing or empty,
/// and validating the header otherwise.
pub fn open(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    init_or_check(&file, DATA_MAGIC)?;
    Ok(file)
}

/// Opens an existing data file read-only and validates its header.
pub fn open_read(path: &Path) -> Result<File> {
    let file = File::open(path)?;
    check_header(&file, DATA_MAGIC)?;
    Ok(file)
}

/// Creates (or empties) `path` and writes a fresh header with `magic`.
pub fn create(path: &Path, magic: [u8; 4]) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    file.write_all_at(&file_header(magic), 0)?;
    Ok(file)
}

pub(crate) fn init_or_check(file: &File, magic: [u8; 4]) -> Result<()> {
    if file.metadata()?.len() == 0 {
        file.write_all_at(&file_header(magic), 0)?;
        Ok(())
    } else {
        check_header(file, magic)
    }
}

pub(crate) fn check_header(file: &File, magic: [u8; 4]) -> Result<()> {
    let mut h = [0u8; FILE_HEADER_LEN as usize];
    match file.read_exact_at(&mut h, 0) {
        Ok(()) if check_file_header(&h, magic) => Ok(()),
        Ok(()) => Err(Error::BadHeader),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(Error::BadHeader),
        Err(e) => Err(e.into()),
    }
}

/// Rewrites the damaged header of the data file at `path` (wrong magic, or shorter than
/// a header) and fsyncs it; the records after it are untouched, and each is still
/// checked by its own CRC when read. A header with our magic and another format version
/// is not damage: `BadHeader` is returned and nothing is written.
pub fn repair_header(path: &Path) -> Result<()> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let mut h = [0u8; FILE_HEADER_LEN as usize];
    let mut n = 0;
    while n < h.len() {
        match file.read_at(&mut h[n..], n as u64)? {
            0 => break,
            k => n += k,
        }
    }
    if n >= 6 && h[..4] == DATA_MAGIC && u16::from_le_bytes([h[4], h[5]]) != FORMAT_VERSION {
        return Err(Error::BadHeader);
    }
    file.write_all_at(&file_header(DATA_MAGIC), 0)?;
    file.sync_data()?;
    Ok(())
}

/// Current length of the file on disk.
pub fn file_len(file: &File) -> Result<u64> {
    Ok(file.metadata()?.len())
}

/// Cuts the file at `offset` (a torn tail found by `scan`).
pub fn truncate(file: &File, offset: u64) -> Result<()> {
    file.set_len(offset)?;
    Ok(())
}

/// Builds one contiguous write of several records.
///
/// Push records, then `write` them with a single `write_at`. Locations are known
/// before the write: record `i` sits at `offset + sum(sizes before i)`.
#[derive(Debug)]
pub struct Batch {
    start: u64,
    buf: Vec<u8>,
}

impl Batch {
    /// An empty batch that will be written at `offset`.
    pub fn new(offset: u64) -> Self {
        Batch {
            start: offset,
            buf: Vec::new(),
        }
    }

    /// An empty batch with room for `bytes` encoded bytes.
    pub fn with_capacity(offset: u64, bytes: usize) -> Self {
        Batch {
            start: offset,
            buf: Vec::with_capacity(bytes),
        }
    }

    /// Encodes one record (tombstone when `value` is `None`); returns its `(offset, size)`.
    pub fn push(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        expire_at: u64,
        seq: u64,
        batch_end: bool,
    ) -> Result<(u64, u64)> {
        let off = self.start + self.buf.len() as u64;
        let size =
            crate::format::encode_record(&mut self.buf, key, value, expire_at, seq, batch_end)?;
        Ok((off, size))
    }

    /// Bytes encoded so far.
    pub fn encoded_len(&self) -> usize {
        self.buf.len()
    }

    /// Offset right after the last pushed record.
    pub fn end_offset(&self) -> u64 {
        self.start + self.buf.len() as u64
    }

    /// Writes everything pushed with one positional write (no fsync).
    pub fn write(&self, file: &File) -> Result<()> {
        if !self.buf.is_empty() {
            file.write_all_at(&self.buf, self.start)?;
        }
        Ok(())
    }
}

/// One record to append.
#[derive(Debug, Clone, Copy)]
pub struct NewRecord<'a> {
    /// Key bytes.
    pub key: &'a [u8],
    /// Value bytes, `None` for a tombstone.
    pub value: Option<&'a [u8]>,
    /// Absolute expiry in Unix ms, 0 = none.
    pub expire_at: u64,
    /// Raft index.
    pub seq: u64,
}

/// Appends `records` contiguously at `offset` with one write; the last gets `BATCH_END`.
/// Returns each record's `(offset, size)`.
pub fn append_batch(
    file: &File,
    offset: u64,
    records: &[NewRecord<'_>],
) -> Result<Vec<(u64, u64)>> {
    let bytes: u64 = records
        .iter()
        .map(|r| record_len(r.key.len(), r.value.map_or(0, <[u8]>::len)))
        .sum();
    let mut batch =
        Batch::with_capacity(offset, usize::try_from(bytes).map_err(|_| Error::TooLarge)?);
    let mut locs = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        locs.push(batch.push(r.key, r.value, r.expire_at, r.seq, i + 1 == records.len())?);
    }
    batch.write(file)?;
    Ok(locs)
}

/// Checks a caller-supplied record location before allocating for it: sizes above
/// 64 KiB are checked against the file length so a wrong size cannot allocate gigabytes.
fn check_location(file: &File, offset: u64, size: u64) -> Result<()> {
    if size < RECORD_HEADER_LEN as u64 {
        return Err(Error::ChecksumMismatch);
    }
    if size > MAX_RECORD_LEN {
        return Err(Error::TooLarge);
    }
    if size > 64 * 1024 && offset.saturating_add(size) > file_len(file)? {
        return Err(Error::Eof);
    }
    Ok(())
}

/// Reads the whole record at `(offset, size)` into `buf` (which must be exactly `size`
/// bytes; see [`record_buffer_len`]) and verifies it. Returns the value's byte range in `buf`.
///
/// Errors: `Eof` (file too short), `ChecksumMismatch` (CRC, or header disagrees with
/// `size`), `Tombstone` (the record is a deletion).
pub fn read_value_into(file: &File, offset: u64, buf: &mut [u8]) -> Result<std::ops::Range<usize>> {
    file.read_exact_at(buf, offset)?;
    match decode_record(buf) {
        Decoded::Record(r) if r.header.record_len() == buf.len() as u64 => {
            if r.header.flags & FLAG_TOMBSTONE != 0 {
                return Err(Error::Tombstone);
            }
            let start = RECORD_HEADER_LEN + r.header.key_len as usize;
            Ok(start..buf.len())
        }
        _ => Err(Error::ChecksumMismatch),
    }
}

/// Validates a location and returns the buffer length `read_value_into` needs.
pub fn record_buffer_len(file: &File, offset: u64, size: u64) -> Result<usize> {
    check_location(file, offset, size)?;
    usize::try_from(size).map_err(|_| Error::TooLarge)
}

/// Reads and verifies the value of the record at `(offset, size)`.
pub fn read_value(file: &File, offset: u64, size: u64) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; record_buffer_len(file, offset, size)?];
    let range = read_value_into(file, offset, &mut buf)?;
    buf.drain(..range.start);
    Ok(buf)
}

/// How a scan step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanStatus {
    /// The budget ran out; continue from this offset.
    More(u64),
    /// Clean end of file at this offset.
    Done(u64),
    /// The file ends inside a record starting here (crash mid-write): cut here.
    Torn(u64),
    /// A complete-looking record starting here fails its CRC or has impossible lengths.
    Corrupt(u64),
}

/// Scans records from `from`, calling `f` for each CRC-valid one, until EOF, a bad
/// record, `max_records` records or about `max_bytes` bytes (a single larger record is
/// still processed whole when it is the first of the step).
pub fn scan_chunk<F>(
    file: &File,
    from: u64,
    max_records: usize,
    max_bytes: usize,
    mut f: F,
) -> Result<ScanStatus>
where
    F: FnMut(EntryRef<'_>),
{
    let len = file_len(file)?;
    if from > len {
        return Err(Error::Eof);
    }
    let mut pos = from;
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_start = from;
    let mut records = 0usize;
    let mut bytes = 0usize;
    loop {
        if pos == len {
            return Ok(ScanStatus::Done(pos));
        }
        if records >= max_records || bytes >= max_bytes {
            return Ok(ScanStatus::More(pos));
        }
        let in_buf = (pos - buf_start) as usize;
        match decode_record(buf.get(in_buf..).unwrap_or(&[])) {
            Decoded::Record(r) => {
                let size = r.header.record_len();
                f(EntryRef {
                    key: r.key,
                    offset: pos,
                    size,
                    expire_at: r.header.expire_at,
                    seq: r.header.seq,
                    flags: r.header.flags,
                });
                pos += size;
                records += 1;
                bytes += size as usize;
            }
            Decoded::Incomplete { needed } => {
                let buf_end = buf_start + buf.len() as u64;
                if buf_end == len && !buf.is_empty() {
                    return Ok(ScanStatus::Torn(pos));
                }
                let needed = needed.unwrap_or(RECORD_HEADER_LEN as u64);
                if records > 0 && needed as usize > max_bytes.saturating_sub(bytes) {
                    return Ok(ScanStatus::More(pos));
                }
                // Refill from `pos`: at least one chunk, at most what the file holds.
                let want = needed.max(max_bytes.saturating_sub(bytes).max(4096) as u64);
                let n = want.min(len - pos) as usize;
                buf.clear();
                buf.resize(n, 0);
                file.read_exact_at(&mut buf, pos)?;
                buf_start = pos;
            }
            Decoded::Corrupt => {
                return Ok(if zero_tail(file, pos, len)? {
                    ScanStatus::Torn(pos)
                } else {
                    ScanStatus::Corrupt(pos)
                });
            }
        }
    }
}

/// True when every byte in `[pos, len)` is zero and there are at most 1 MiB of them:
/// what a file system leaves after a crash that extended the file but lost its data.
fn zero_tail(file: &File, pos: u64, len: u64) -> Result<bool> {
    let n = len - pos;
    if n > 1024 * 1024 {
        return Ok(false);
    }
    let mut b = vec![0u8; n as usize];
    file.read_exact_at(&mut b, pos)?;
    Ok(b.iter().all(|&x| x == 0))
}

/// Outcome of one resync step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextRecord {
    /// A CRC-valid record starts here.
    Found(u64),
    /// Nothing in the searched window; continue from here.
    More(u64),
    /// No valid record at or after the start offset.
    None,
}

/// Searches `[from, from + window)` byte by byte for the start of a CRC-valid record.
pub fn next_record_step(file: &File, from: u64, window: usize) -> Result<NextRecord> {
    let len = file_len(file)?;
    let start = from.max(FILE_HEADER_LEN);
    if start >= len {
        return Ok(NextRecord::None);
    }
    let end = start.saturating_add(window as u64).min(len);
    // Read the window plus room for the last candidate's header.
    let read_end = end.saturating_add(RECORD_HEADER_LEN as u64).min(len);
    let mut buf = vec![0u8; (read_end - start) as usize];
    file.read_exact_at(&mut buf, start)?;
    let mut verified = 0u64;
    for i in 0..(end - start) as usize {
        let Some(h) = RecordHeader::decode(&buf[i..]) else {
            break;
        };
        let at = start + i as u64;
        if !h.is_plausible() || at + h.record_len() > len {
            continue;
        }
        let found = if i as u64 + h.record_len() <= buf.len() as u64 {
            matches!(decode_record(&buf[i..]), Decoded::Record(_))
        } else {
            verified += h.record_len();
            let mut rec = vec![0u8; h.record_len() as usize];
            file.read_exact_at(&mut rec, at)?;
            matches!(decode_record(&rec), Decoded::Record(_))
        };
        if found {
            return Ok(NextRecord::Found(at));
        }
        if verified > window as u64 {
            return Ok(NextRecord::More(at + 1));
        }
    }
    Ok(if end >= len {
        NextRecord::None
    } else {
        NextRecord::More(end)
    })
}

/// Loops [`next_record_step`] to the end of the file.
pub fn next_record(file: &File, from: u64) -> Result<Option<u64>> {
    let mut at = from;
    loop {
        match next_record_step(file, at, CHUNK_BYTES)? {
            NextRecord::Found(o) => return Ok(Some(o)),
            NextRecord::More(o) => at = o,
            NextRecord::None => return Ok(None),
        }
    }
}

/// Scans the whole file from the first record; returns owned entries and the final status.
pub fn scan_all(file: &File) -> Result<(Vec<crate::format::Entry>, ScanStatus)> {
    let mut out = Vec::new();
    let mut from = FILE_HEADER_LEN;
    loop {
        let st = scan_chunk(file, from, usize::MAX, CHUNK_BYTES, |e| {
            out.push(e.to_owned_entry())
        })?;
        match st {
            ScanStatus::More(n) => from = n,
            other => return Ok((out, other)),
        }
    }
}
