//! The engine's single error type.

use std::fmt;
use std::io;

/// Everything that can go wrong in the engine.
///
/// The NIF crate maps each variant to an Erlang term (`:checksum_mismatch`,
/// `{:io, :enospc}`, ...); nothing in this crate knows about atoms.
#[derive(Debug)]
pub enum Error {
    /// An operating-system I/O error (ENOENT, ENOSPC, EBADF, ...).
    Io(io::Error),
    /// A record or hint entry failed its CRC, or its lengths are impossible.
    ChecksumMismatch,
    /// The file ends before the requested bytes / the record / the entry does.
    Eof,
    /// The file header (magic or version) is not ours.
    BadHeader,
    /// A key or value exceeds the format's limits.
    TooLarge,
    /// `read_value` found a deletion marker instead of a value.
    Tombstone,
}

/// The engine's result alias.
pub type Result<T> = std::result::Result<T, Error>;

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Error::Eof
        } else {
            Error::Io(e)
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::ChecksumMismatch => f.write_str("checksum mismatch"),
            Error::Eof => f.write_str("unexpected end of file"),
            Error::BadHeader => f.write_str("bad file header"),
            Error::TooLarge => f.write_str("key or value too large"),
            Error::Tombstone => f.write_str("record is a tombstone"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}
