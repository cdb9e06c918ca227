//! FerricStore's Bitcask storage engine.
//!
//! Pure Rust, no global state, no locks: every file operation takes a `std::fs::File` and
//! uses positional I/O. Work proportional to input is exposed as bounded *steps* (`scan_chunk`,
//! `hint::build_step`, `hint::read_step`, `compact::compact_step`, `next_record_step`) so
//! that the NIF layer never holds a BEAM scheduler for long; the one-shot helpers
//! (`hint::build`, `compact::compact`, `data::scan_all`) loop those steps for Rust callers.
//!
//! The byte layout is described in [`format`]. [`rank`] is the one in-memory structure:
//! the sorted sets' order-statistic index (ZRANK and ranges by rank in O(log N)); the NIF
//! crate puts it behind a lock.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod compact;
pub mod data;
pub mod disk;
mod error;
pub mod format;
pub mod hint;
pub mod rank;

pub use error::{Error, Result};
