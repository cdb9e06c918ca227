//! Hint files: a compact, CRC-protected index of a sealed data file, read at start-up
//! instead of scanning the data. Entries are in data-file order and include tombstones.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::data::{self, ScanStatus, CHUNK_BYTES};
use crate::format::{
    decode_hint, encode_hint, DecodedHint, Entry, EntryRef, FILE_HEADER_LEN, HINT_MAGIC,
};
use crate::{Error, Result};

/// Which of `parts` start-up loaders takes a key: the CRC-32 (IEEE, the same as
/// `erlang:crc32/1`) of its bytes modulo `parts`, so that records filtered here and
/// records the caller splits itself land with the same loader. `parts` must be > 0.
pub fn part_of(key: &[u8], parts: u32) -> u32 {
    crc32fast::hash(key) % parts
}

/// Creates (or empties) a hint file and writes its header.
pub fn create(path: &Path) -> Result<File> {
    data::create(path, HINT_MAGIC)
}

/// Opens a hint file read-only and validates its header.
pub fn open_read(path: &Path) -> Result<File> {
    let file = File::open(path)?;
    data::check_header(&file, HINT_MAGIC)?;
    Ok(file)
}

/// Progress of a bounded hint-building step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildStep {
    /// Continue with these data and hint offsets.
    More {
        /// Next data-file offset to scan.
        data_off: u64,
        /// Next hint-file offset to write.
        hint_off: u64,
    },
    /// The data file was fully indexed; the hint file ends here.
    Done {
        /// Final hint-file length.
        hint_off: u64,
    },
}

/// Indexes about `max_bytes` of `data` starting at `data_off`, appending entries to
/// `hint` at `hint_off` with one write. A torn data file yields `Eof`, a corrupt one
/// `ChecksumMismatch`: hints are only built for sealed, intact files.
pub fn build_step(
    data_file: &File,
    hint: &File,
    data_off: u64,
    hint_off: u64,
    max_bytes: usize,
) -> Result<BuildStep> {
    let mut out = Vec::new();
    let st = data::scan_chunk(data_file, data_off, usize::MAX, max_bytes, |e| {
        encode_hint(&mut out, &e)
    })?;
    hint.write_all_at(&out, hint_off)?;
    let hint_off = hint_off + out.len() as u64;
    match st {
        ScanStatus::More(data_off) => Ok(BuildStep::More { data_off, hint_off }),
        ScanStatus::Done(_) => Ok(BuildStep::Done { hint_off }),
        ScanStatus::Torn(_) => Err(Error::Eof),
        ScanStatus::Corrupt(_) => Err(Error::ChecksumMismatch),
    }
}

/// `path` + ".tmp": where a hint file is written before it is renamed into place.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Fsyncs the directory holding `path`, making a rename or creation durable.
pub fn sync_parent_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Builds the hint file for a sealed data file in one go (tmp file, fsync, rename,
/// directory fsync). The NIF does the same in bounded steps driven from Elixir.
pub fn build(data_path: &Path, hint_path: &Path) -> Result<()> {
    let data_file = data::open_read(data_path)?;
    let tmp = tmp_path(hint_path);
    let hint = create(&tmp)?;
    let (mut d, mut h) = (FILE_HEADER_LEN, FILE_HEADER_LEN);
    while let BuildStep::More { data_off, hint_off } =
        build_step(&data_file, &hint, d, h, CHUNK_BYTES)?
    {
        (d, h) = (data_off, hint_off);
    }
    hint.sync_all()?;
    std::fs::rename(&tmp, hint_path)?;
    sync_parent_dir(hint_path)
}

/// Progress of a bounded hint-reading step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadStep {
    /// Continue from this offset.
    More(u64),
    /// All entries were read.
    Done,
}

/// Decodes about `max_bytes` of entries from `off`, calling `f` for each.
/// A truncated entry yields `Eof`, a bad one `ChecksumMismatch`.
pub fn read_step<F>(
    hint: &File,
    off: u64,
    max_bytes: usize,
    max_entries: usize,
    mut f: F,
) -> Result<ReadStep>
where
    F: FnMut(EntryRef<'_>),
{
    let len = data::file_len(hint)?;
    if off >= len {
        return if off == len {
            Ok(ReadStep::Done)
        } else {
            Err(Error::Eof)
        };
    }
    let mut buf = vec![0u8; (max_bytes.max(4096) as u64).min(len - off) as usize];
    hint.read_exact_at(&mut buf, off)?;
    let mut at = 0usize;
    let mut count = 0usize;
    loop {
        if off + at as u64 == len {
            return Ok(ReadStep::Done);
        }
        match decode_hint(&buf[at..]) {
            DecodedHint::Entry(e, n) => {
                f(e);
                at += n;
                count += 1;
                if count >= max_entries && off + (at as u64) < len {
                    return Ok(ReadStep::More(off + at as u64));
                }
            }
            DecodedHint::Corrupt => return Err(Error::ChecksumMismatch),
            DecodedHint::Incomplete { needed } => {
                let pos = off + at as u64;
                let buf_end = off + buf.len() as u64;
                if buf_end == len {
                    return Err(Error::Eof);
                }
                if at > 0 {
                    return Ok(ReadStep::More(pos));
                }
                // A single entry larger than the chunk: read it whole (bounded by the file).
                let need = needed.unwrap_or(0).min(len - pos) as usize;
                let mut big = vec![0u8; need];
                hint.read_exact_at(&mut big, pos)?;
                return match decode_hint(&big) {
                    DecodedHint::Entry(e, n) => {
                        f(e);
                        Ok(ReadStep::More(pos + n as u64))
                    }
                    DecodedHint::Corrupt => Err(Error::ChecksumMismatch),
                    DecodedHint::Incomplete { .. } => Err(Error::Eof),
                };
            }
        }
    }
}

/// Reads a whole hint file into owned entries.
pub fn read_all(path: &Path) -> Result<Vec<Entry>> {
    let hint = open_read(path)?;
    let mut out = Vec::new();
    let mut off = FILE_HEADER_LEN;
    loop {
        match read_step(&hint, off, CHUNK_BYTES, usize::MAX, |e| {
            out.push(e.to_owned_entry())
        })? {
            ReadStep::More(n) => off = n,
            ReadStep::Done => return Ok(out),
        }
    }
}
