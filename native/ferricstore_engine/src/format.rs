//! The on-disk format: every constant and layout of data and hint files lives here.
//!
//! # Data file (`NNNNNNNN.data`)
//!
//! ```text
//! file header (8 bytes):
//!   0  magic      4 bytes  "FSBC"
//!   4  version    u16 LE   = 1
//!   6  reserved   u16      = 0
//! records, back to back, starting at offset 8:
//!   0  crc32      u32 LE   CRC-32 (IEEE, crc32fast) of bytes 4..end of the record
//!   4  flags      u8       bit0 TOMBSTONE, bit1 BATCH_END, other bits must be 0
//!   5  key_len    u32 LE   <= MAX_KEY_LEN
//!   9  value_len  u32 LE   <= MAX_VALUE_LEN (0 for a tombstone)
//!  13  expire_at  u64 LE   absolute Unix ms, 0 = no expiry
//!  21  seq        u64 LE   Raft index of the command that wrote the record
//!  29  key        key_len bytes
//!      value      value_len bytes
//! ```
//!
//! A record's *size* is `RECORD_HEADER_LEN + key_len + value_len`; keydir locations
//! (`offset`, `size`) always name a whole record.
//!
//! `BATCH_END` is set on the last record written by one `append_batch` call. Recovery
//! may discard records after the last `BATCH_END` (an incomplete batch from a crash).
//!
//! # Hint file (`NNNNNNNN.hint`)
//!
//! ```text
//! file header (8 bytes): magic "FSHT", version u16 LE = 1, reserved u16 = 0
//! entries, back to back, in data-file order (every record, tombstones included):
//!   0  crc32      u32 LE   CRC-32 of bytes 4..end of the entry
//!   4  flags      u8       the record's flags
//!   5  key_len    u32 LE
//!   9  offset     u64 LE   record offset in the data file
//!  17  size       u64 LE   record size in the data file
//!  25  expire_at  u64 LE
//!  33  seq        u64 LE
//!  41  key        key_len bytes
//! ```
//!
//! All integers are little-endian. Lengths read from disk are never trusted for an
//! allocation: they are checked against the format limits and against the file size first.

/// Magic bytes at the start of a data file.
pub const DATA_MAGIC: [u8; 4] = *b"FSBC";
/// Magic bytes at the start of a hint file.
pub const HINT_MAGIC: [u8; 4] = *b"FSHT";
/// Current format version of both file kinds.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the file header of both file kinds; the first record starts here.
pub const FILE_HEADER_LEN: u64 = 8;

/// Length of a data record's fixed header (crc .. seq).
pub const RECORD_HEADER_LEN: usize = 29;
/// Length of a hint entry's fixed header (crc .. seq).
pub const HINT_HEADER_LEN: usize = 41;

/// Record flag: the record deletes its key; it carries no value.
pub const FLAG_TOMBSTONE: u8 = 0b01;
/// Record flag: last record of one `append_batch` call.
pub const FLAG_BATCH_END: u8 = 0b10;
/// All flag bits this version knows; any other bit set means corruption.
pub const KNOWN_FLAGS: u8 = FLAG_TOMBSTONE | FLAG_BATCH_END;

/// Largest key accepted (512 MiB).
pub const MAX_KEY_LEN: u32 = 512 * 1024 * 1024;
/// Largest value accepted (512 MiB).
pub const MAX_VALUE_LEN: u32 = 512 * 1024 * 1024;
/// Largest possible record.
pub const MAX_RECORD_LEN: u64 =
    RECORD_HEADER_LEN as u64 + MAX_KEY_LEN as u64 + MAX_VALUE_LEN as u64;

/// The 8-byte header of a file with the given magic.
pub fn file_header(magic: [u8; 4]) -> [u8; FILE_HEADER_LEN as usize] {
    let v = FORMAT_VERSION.to_le_bytes();
    [magic[0], magic[1], magic[2], magic[3], v[0], v[1], 0, 0]
}

/// True when `bytes` is a valid header for `magic` at this format version.
pub fn check_file_header(bytes: &[u8], magic: [u8; 4]) -> bool {
    bytes.len() >= FILE_HEADER_LEN as usize
        && bytes[..4] == magic
        && u16::from_le_bytes([bytes[4], bytes[5]]) == FORMAT_VERSION
}

/// The fixed header of a data record, as decoded (CRC not yet verified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Stored CRC of bytes 4..end.
    pub crc: u32,
    /// Flag bits.
    pub flags: u8,
    /// Key length.
    pub key_len: u32,
    /// Value length.
    pub value_len: u32,
    /// Absolute expiry in Unix ms, 0 = none.
    pub expire_at: u64,
    /// Raft index.
    pub seq: u64,
}

impl RecordHeader {
    /// Decodes the fixed header from the first `RECORD_HEADER_LEN` bytes of `b`.
    /// Returns `None` when `b` is shorter than that.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let h = b.get(..RECORD_HEADER_LEN)?;
        Some(RecordHeader {
            crc: le_u32(h, 0),
            flags: h[4],
            key_len: le_u32(h, 5),
            value_len: le_u32(h, 9),
            expire_at: le_u64(h, 13),
            seq: le_u64(h, 21),
        })
    }

    /// True when flags and lengths are possible for this format version.
    pub fn is_plausible(&self) -> bool {
        self.flags & !KNOWN_FLAGS == 0
            && self.key_len <= MAX_KEY_LEN
            && self.value_len <= MAX_VALUE_LEN
            && (self.flags & FLAG_TOMBSTONE == 0 || self.value_len == 0)
    }

    /// Size of the whole record this header announces.
    pub fn record_len(&self) -> u64 {
        RECORD_HEADER_LEN as u64 + self.key_len as u64 + self.value_len as u64
    }
}

/// Size of the record that `encode_record` produces for these lengths.
pub fn record_len(key_len: usize, value_len: usize) -> u64 {
    RECORD_HEADER_LEN as u64 + key_len as u64 + value_len as u64
}

/// Appends one encoded record to `out`; returns its size.
///
/// `value = None` writes a tombstone. Fails with `TooLarge` past the format limits.
pub fn encode_record(
    out: &mut Vec<u8>,
    key: &[u8],
    value: Option<&[u8]>,
    expire_at: u64,
    seq: u64,
    batch_end: bool,
) -> crate::Result<u64> {
    let v = value.unwrap_or(&[]);
    if key.len() > MAX_KEY_LEN as usize || v.len() > MAX_VALUE_LEN as usize {
        return Err(crate::Error::TooLarge);
    }
    let mut flags = 0u8;
    if value.is_none() {
        flags |= FLAG_TOMBSTONE;
    }
    if batch_end {
        flags |= FLAG_BATCH_END;
    }
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.push(flags);
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    out.extend_from_slice(&expire_at.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(v);
    let crc = crc32fast::hash(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    Ok((out.len() - start) as u64)
}

/// A fully verified record borrowed from a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Decoded header.
    pub header: RecordHeader,
    /// Key bytes.
    pub key: &'a [u8],
    /// Value bytes (empty for a tombstone).
    pub value: &'a [u8],
}

/// Outcome of decoding the bytes at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A complete, CRC-valid record.
    Record(RecordRef<'a>),
    /// The buffer ends before the record does; `needed` is the full record length
    /// when the header could be read and is plausible.
    Incomplete {
        /// Full record length, if known.
        needed: Option<u64>,
    },
    /// Impossible header or CRC mismatch.
    Corrupt,
}

/// Decodes and verifies the record at the start of `b`. Never panics, never allocates.
pub fn decode_record(b: &[u8]) -> Decoded<'_> {
    let Some(h) = RecordHeader::decode(b) else {
        return Decoded::Incomplete { needed: None };
    };
    if !h.is_plausible() {
        return Decoded::Corrupt;
    }
    let len = h.record_len();
    if (b.len() as u64) < len {
        return Decoded::Incomplete { needed: Some(len) };
    }
    let rec = &b[..len as usize];
    if crc32fast::hash(&rec[4..]) != h.crc {
        return Decoded::Corrupt;
    }
    let key_end = RECORD_HEADER_LEN + h.key_len as usize;
    Decoded::Record(RecordRef {
        header: h,
        key: &rec[RECORD_HEADER_LEN..key_end],
        value: &rec[key_end..],
    })
}

/// One hint entry (or one scanned record's location), owning nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRef<'a> {
    /// Key bytes.
    pub key: &'a [u8],
    /// Record offset in the data file.
    pub offset: u64,
    /// Record size in the data file.
    pub size: u64,
    /// Absolute expiry in Unix ms, 0 = none.
    pub expire_at: u64,
    /// Raft index.
    pub seq: u64,
    /// Record flags.
    pub flags: u8,
}

/// An owned [`EntryRef`], convenient in tests and for callers that keep entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Key bytes.
    pub key: Vec<u8>,
    /// Record offset in the data file.
    pub offset: u64,
    /// Record size in the data file.
    pub size: u64,
    /// Absolute expiry in Unix ms, 0 = none.
    pub expire_at: u64,
    /// Raft index.
    pub seq: u64,
    /// Record flags.
    pub flags: u8,
}

impl EntryRef<'_> {
    /// Copies into an owned [`Entry`].
    pub fn to_owned_entry(&self) -> Entry {
        Entry {
            key: self.key.to_vec(),
            offset: self.offset,
            size: self.size,
            expire_at: self.expire_at,
            seq: self.seq,
            flags: self.flags,
        }
    }
}

/// Appends one encoded hint entry to `out`.
pub fn encode_hint(out: &mut Vec<u8>, e: &EntryRef<'_>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.push(e.flags);
    out.extend_from_slice(&(e.key.len() as u32).to_le_bytes());
    out.extend_from_slice(&e.offset.to_le_bytes());
    out.extend_from_slice(&e.size.to_le_bytes());
    out.extend_from_slice(&e.expire_at.to_le_bytes());
    out.extend_from_slice(&e.seq.to_le_bytes());
    out.extend_from_slice(e.key);
    let crc = crc32fast::hash(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Outcome of decoding a hint entry at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodedHint<'a> {
    /// A complete, CRC-valid entry and its encoded length.
    Entry(EntryRef<'a>, usize),
    /// The buffer ends before the entry does (full length if known).
    Incomplete {
        /// Full entry length, if the header could be read.
        needed: Option<u64>,
    },
    /// Impossible header or CRC mismatch.
    Corrupt,
}

/// Decodes and verifies the hint entry at the start of `b`. Never panics, never allocates.
pub fn decode_hint(b: &[u8]) -> DecodedHint<'_> {
    let Some(h) = b.get(..HINT_HEADER_LEN) else {
        return DecodedHint::Incomplete { needed: None };
    };
    let flags = h[4];
    let key_len = le_u32(h, 5);
    let size = le_u64(h, 17);
    if flags & !KNOWN_FLAGS != 0
        || key_len > MAX_KEY_LEN
        || size < RECORD_HEADER_LEN as u64 + key_len as u64
        || size > MAX_RECORD_LEN
    {
        return DecodedHint::Corrupt;
    }
    let len = HINT_HEADER_LEN + key_len as usize;
    if b.len() < len {
        return DecodedHint::Incomplete {
            needed: Some(len as u64),
        };
    }
    if crc32fast::hash(&b[4..len]) != le_u32(h, 0) {
        return DecodedHint::Corrupt;
    }
    DecodedHint::Entry(
        EntryRef {
            key: &b[HINT_HEADER_LEN..len],
            offset: le_u64(h, 9),
            size,
            expire_at: le_u64(h, 25),
            seq: le_u64(h, 33),
            flags,
        },
        len,
    )
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}
