//! Hint files and compaction.

mod common;

use std::os::unix::fs::FileExt;

use common::*;
use ferricstore_engine::compact;
use ferricstore_engine::data::{self, ScanStatus};
use ferricstore_engine::format::{self, FILE_HEADER_LEN};
use ferricstore_engine::{hint, Error};
use proptest::prelude::*;

#[test]
fn part_of_is_crc32_modulo_parts() {
    // zlib.crc32(b"hello") == 907060870, as erlang:crc32(<<"hello">>).
    assert_eq!(hint::part_of(b"hello", 7), 907060870 % 7);
    assert_eq!(hint::part_of(b"hello", 1), 0);
    assert!((0..1000u32).all(|i| hint::part_of(format!("k{i}").as_bytes(), 3) < 3));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn hint_yields_same_entries_as_scan(batches in batches_strategy()) {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write_file(dir.path(), "1.data", &batches);
        let hp = dir.path().join("1.hint");
        hint::build(&path, &hp).unwrap();
        prop_assert!(!hint::tmp_path(&hp).exists());
        let (scanned, st) = data::scan_all(&open(&path)).unwrap();
        prop_assert!(matches!(st, ScanStatus::Done(_)));
        prop_assert_eq!(hint::read_all(&hp).unwrap(), scanned);
    }

    #[test]
    fn compaction_keeps_exactly_the_live_records(batches in batches_strategy(), mask in any::<u64>()) {
        let dir = tempfile::tempdir().unwrap();
        let (path, locs) = write_file(dir.path(), "1.data", &batches);
        let all: Vec<&Rec> = batches.iter().flatten().collect();
        let live: Vec<usize> = (0..locs.len()).filter(|i| mask & (1 << (i % 64)) != 0).collect();
        let live_locs: Vec<(u64, u64)> = live.iter().map(|&i| locs[i]).collect();
        let (dp, hp) = (dir.path().join("2.data"), dir.path().join("2.hint"));
        let moved = compact::compact(&path, &live_locs, &dp, &hp).unwrap();
        prop_assert_eq!(moved.len(), live.len());
        let dst = open(&dp);
        let (entries, st) = data::scan_all(&dst).unwrap();
        prop_assert_eq!(st, ScanStatus::Done(data::file_len(&dst).unwrap()));
        prop_assert_eq!(entries.len(), live.len());
        for ((e, &i), &(old, new, size)) in entries.iter().zip(&live).zip(&moved) {
            let r = all[i];
            prop_assert_eq!((old, size), locs[i]);
            prop_assert_eq!((e.offset, e.size), (new, size));
            prop_assert_eq!(&e.key, &r.key);
            prop_assert_eq!((e.seq, e.expire_at), (r.seq, r.expire_at));
            match &r.value {
                Some(v) => prop_assert_eq!(&data::read_value(&dst, new, size).unwrap(), v),
                None => prop_assert!(matches!(data::read_value(&dst, new, size), Err(Error::Tombstone))),
            }
        }
        prop_assert_eq!(hint::read_all(&hp).unwrap(), entries);
    }

    #[test]
    fn mutated_hints_are_refused_never_panic(batches in batches_strategy(), edits in prop::collection::vec((any::<u64>(), any::<u8>()), 1..4), cut in any::<u64>()) {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write_file(dir.path(), "1.data", &batches);
        let hp = dir.path().join("1.hint");
        hint::build(&path, &hp).unwrap();
        let good = hint::read_all(&hp).unwrap();
        let mut content = std::fs::read(&hp).unwrap();
        let n = content.len() as u64;
        let mut changed = false;
        for (at, byte) in edits {
            let i = (FILE_HEADER_LEN + at % (n - FILE_HEADER_LEN)) as usize;
            changed |= content[i] != byte;
            content[i] = byte;
        }
        std::fs::write(&hp, &content).unwrap();
        match hint::read_all(&hp) {
            Ok(entries) => prop_assert!(!changed && entries == good),
            Err(Error::ChecksumMismatch | Error::Eof) => prop_assert!(changed),
            Err(e) => prop_assert!(false, "unexpected {:?}", e),
        }
        // Truncated hint file: refused.
        let keep = FILE_HEADER_LEN + cut % (n - FILE_HEADER_LEN);
        std::fs::write(&hp, &content[..keep as usize]).unwrap();
        let _ = hint::read_all(&hp);
        // Pure garbage after a valid header.
        let mut junk = format::file_header(format::HINT_MAGIC).to_vec();
        junk.extend(content.iter().rev());
        std::fs::write(&hp, &junk).unwrap();
        let _ = hint::read_all(&hp);
    }
}

#[test]
fn truncated_hint_is_eof_and_bad_magic_is_bad_header() {
    let dir = tempfile::tempdir().unwrap();
    let recs = vec![vec![Rec {
        key: b"k".to_vec(),
        value: Some(b"v".to_vec()),
        expire_at: 9,
        seq: 1,
    }]];
    let (path, _) = write_file(dir.path(), "1.data", &recs);
    let hp = dir.path().join("1.hint");
    hint::build(&path, &hp).unwrap();
    let content = std::fs::read(&hp).unwrap();
    std::fs::write(&hp, &content[..content.len() - 1]).unwrap();
    assert!(matches!(hint::read_all(&hp), Err(Error::Eof)));
    std::fs::write(&hp, b"FSBC\x01\x00\x00\x00").unwrap();
    assert!(matches!(hint::read_all(&hp), Err(Error::BadHeader)));
    // A data file is not a hint file and vice versa.
    assert!(matches!(hint::read_all(&path), Err(Error::BadHeader)));
}

#[test]
fn hint_build_refuses_damaged_data() {
    let dir = tempfile::tempdir().unwrap();
    let recs = vec![vec![
        Rec {
            key: b"a".to_vec(),
            value: Some(vec![1; 50]),
            expire_at: 0,
            seq: 1,
        },
        Rec {
            key: b"b".to_vec(),
            value: Some(vec![2; 50]),
            expire_at: 0,
            seq: 2,
        },
    ]];
    let (path, locs) = write_file(dir.path(), "1.data", &recs);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    f.write_all_at(b"Z", locs[0].0 + 40).unwrap();
    assert!(matches!(
        hint::build(&path, &dir.path().join("h")),
        Err(Error::ChecksumMismatch)
    ));
    f.set_len(locs[1].0 + 10).unwrap();
    f.write_all_at(&[0], locs[0].0 + 40).ok();
    let (_, _) = write_file(dir.path(), "2.data", &recs);
    let f2 = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("2.data"))
        .unwrap();
    f2.set_len(locs[1].0 + 10).unwrap();
    assert!(matches!(
        hint::build(&dir.path().join("2.data"), &dir.path().join("h2")),
        Err(Error::Eof)
    ));
}

#[test]
fn compaction_refuses_bad_locations() {
    let dir = tempfile::tempdir().unwrap();
    let recs = vec![vec![Rec {
        key: b"a".to_vec(),
        value: Some(vec![1; 50]),
        expire_at: 0,
        seq: 1,
    }]];
    let (path, locs) = write_file(dir.path(), "1.data", &recs);
    let (dp, hp) = (dir.path().join("2.data"), dir.path().join("2.hint"));
    let (o, s) = locs[0];
    assert!(matches!(
        compact::compact(&path, &[(o, s - 1)], &dp, &hp),
        Err(Error::ChecksumMismatch)
    ));
    assert!(matches!(
        compact::compact(&path, &[(o, s + 100)], &dp, &hp),
        Err(Error::Eof)
    ));
    assert!(matches!(
        compact::compact(&path, &[(o + 1, s)], &dp, &hp),
        Err(Error::ChecksumMismatch | Error::Eof)
    ));
    assert!(compact::compact(&path, &[], &dp, &hp).unwrap().is_empty());
    assert_eq!(hint::read_all(&hp).unwrap(), vec![]);
}
