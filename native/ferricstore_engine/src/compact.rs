//! Compaction: copy chosen live records of a sealed file into a new data file and
//! write that file's hint file alongside.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::data::{self, CHUNK_BYTES};
use crate::format::{
    decode_record, encode_hint, Decoded, EntryRef, DATA_MAGIC, FILE_HEADER_LEN, MAX_RECORD_LEN,
};
use crate::hint;
use crate::{Error, Result};

/// Where one copied record went: `(old_offset, new_offset, size)`.
pub type Moved = (u64, u64, u64);

/// Output offsets after a compaction step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Next write offset in the destination data file.
    pub dst_off: u64,
    /// Next write offset in the destination hint file.
    pub hint_off: u64,
}

/// Copies the records at `locs` (in order) from `src` to `dst` at `cur.dst_off`, CRC-checking
/// each, and appends their hint entries to `hint_file`. Adjacent locations are read with one
/// `pread`; the destination gets one write per step. The caller bounds the step by passing
/// at most about [`CHUNK_BYTES`] worth of locations.
///
/// Any location whose bytes are not exactly one CRC-valid record of that size fails the
/// whole step with `ChecksumMismatch` (or `Eof` past the end of `src`).
pub fn compact_step(
    src: &File,
    dst: &File,
    hint_file: &File,
    locs: &[(u64, u64)],
    cur: Cursor,
    moved: &mut Vec<Moved>,
) -> Result<Cursor> {
    let src_len = data::file_len(src)?;
    let mut out: Vec<u8> = Vec::new();
    let mut hints: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < locs.len() {
        // Group a run of adjacent locations into one read.
        let (start, _) = locs[i];
        let mut j = i;
        let mut end = start;
        while j < locs.len() && locs[j].0 == end && (j == i || end - start < CHUNK_BYTES as u64) {
            let size = locs[j].1;
            if size > MAX_RECORD_LEN {
                return Err(Error::ChecksumMismatch);
            }
            end = end.checked_add(size).ok_or(Error::ChecksumMismatch)?;
            j += 1;
        }
        if end > src_len {
            return Err(Error::Eof);
        }
        let base = out.len();
        out.resize(base + (end - start) as usize, 0);
        src.read_exact_at(&mut out[base..], start)?;
        let mut at = base;
        for &(old, size) in &locs[i..j] {
            let new_off = cur.dst_off + at as u64;
            match decode_record(&out[at..at + size as usize]) {
                Decoded::Record(r) if r.header.record_len() == size => {
                    encode_hint(
                        &mut hints,
                        &EntryRef {
                            key: r.key,
                            offset: new_off,
                            size,
                            expire_at: r.header.expire_at,
                            seq: r.header.seq,
                            flags: r.header.flags,
                        },
                    );
                }
                _ => return Err(Error::ChecksumMismatch),
            }
            moved.push((old, new_off, size));
            at += size as usize;
        }
        i = j;
    }
    dst.write_all_at(&out, cur.dst_off)?;
    hint_file.write_all_at(&hints, cur.hint_off)?;
    Ok(Cursor {
        dst_off: cur.dst_off + out.len() as u64,
        hint_off: cur.hint_off + hints.len() as u64,
    })
}

/// Splits `locs` into bounded steps: each step covers at least one location and at
/// most about `max_bytes` of record bytes. Returns the length of the first step.
pub fn step_len(locs: &[(u64, u64)], max_bytes: usize) -> usize {
    let mut bytes = 0u64;
    let mut n = 0;
    for &(_, size) in locs {
        if n > 0 && bytes + size > max_bytes as u64 {
            break;
        }
        bytes += size;
        n += 1;
        if n >= 16384 {
            break;
        }
    }
    n
}

/// Whole compaction in one call: new data file at `dst_path` (fsynced), its hint file at
/// `dst_hint_path` (tmp + fsync + rename), directory fsynced. Returns where records went.
pub fn compact(
    src_path: &Path,
    locs: &[(u64, u64)],
    dst_path: &Path,
    dst_hint_path: &Path,
) -> Result<Vec<Moved>> {
    let src = data::open_read(src_path)?;
    let dst = data::create(dst_path, DATA_MAGIC)?;
    let tmp = hint::tmp_path(dst_hint_path);
    let hint_file = hint::create(&tmp)?;
    let mut cur = Cursor {
        dst_off: FILE_HEADER_LEN,
        hint_off: FILE_HEADER_LEN,
    };
    let mut moved = Vec::with_capacity(locs.len());
    let mut rest = locs;
    while !rest.is_empty() {
        let n = step_len(rest, CHUNK_BYTES);
        cur = compact_step(&src, &dst, &hint_file, &rest[..n], cur, &mut moved)?;
        rest = &rest[n..];
    }
    dst.sync_all()?;
    hint_file.sync_all()?;
    std::fs::rename(&tmp, dst_hint_path)?;
    hint::sync_parent_dir(dst_hint_path)?;
    Ok(moved)
}
