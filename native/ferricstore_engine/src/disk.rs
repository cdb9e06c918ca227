//! Facts about the file system that holds the data files.

use std::path::Path;

use crate::Result;

/// Bytes available to an unprivileged writer on the file system that holds `path`
/// (`statvfs` `f_bavail * f_frsize`). Cheap enough to ask before every Raft entry: the
/// store refuses writes before the disk is so full that its log could not take them.
pub fn available_space(path: &Path) -> Result<u64> {
    Ok(fs4::available_space(path)?)
}
