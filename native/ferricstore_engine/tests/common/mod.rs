// Shared helpers for the engine's integration tests (included with `mod common;`).
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};

use ferricstore_engine::data::{self, NewRecord};
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
    pub expire_at: u64,
    pub seq: u64,
}

pub fn rec_strategy() -> impl Strategy<Value = Rec> {
    (
        prop::collection::vec(any::<u8>(), 0..40),
        prop::option::weighted(0.85, prop::collection::vec(any::<u8>(), 0..300)),
        prop_oneof![Just(0u64), any::<u64>()],
        any::<u64>(),
    )
        .prop_map(|(key, value, expire_at, seq)| Rec {
            key,
            value,
            expire_at,
            seq,
        })
}

pub fn batches_strategy() -> impl Strategy<Value = Vec<Vec<Rec>>> {
    prop::collection::vec(prop::collection::vec(rec_strategy(), 1..8), 1..6)
}

/// Writes the batches into a new data file; returns its path and each record's location.
pub fn write_file(dir: &Path, name: &str, batches: &[Vec<Rec>]) -> (PathBuf, Vec<(u64, u64)>) {
    let path = dir.join(name);
    let f = data::open(&path).unwrap();
    let mut off = data::file_len(&f).unwrap();
    let mut locs = Vec::new();
    for b in batches {
        let recs: Vec<NewRecord<'_>> = b
            .iter()
            .map(|r| NewRecord {
                key: &r.key,
                value: r.value.as_deref(),
                expire_at: r.expire_at,
                seq: r.seq,
            })
            .collect();
        let l = data::append_batch(&f, off, &recs).unwrap();
        off = l.last().map(|&(o, s)| o + s).unwrap_or(off);
        locs.extend(l);
    }
    (path, locs)
}

pub fn open(path: &Path) -> File {
    data::open_read(path).unwrap()
}
