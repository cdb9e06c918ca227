//! Data-file round trips, torn tails, bit flips, resync, garbage input.

mod common;

use std::os::unix::fs::FileExt;

use common::*;
use ferricstore_engine::data::{self, ScanStatus};
use ferricstore_engine::format::{self, Decoded, FILE_HEADER_LEN, FLAG_BATCH_END, FLAG_TOMBSTONE};
use ferricstore_engine::Error;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn append_scan_read_round_trip(batches in batches_strategy()) {
        let dir = tempfile::tempdir().unwrap();
        let (path, locs) = write_file(dir.path(), "1.data", &batches);
        let f = open(&path);
        let all: Vec<&Rec> = batches.iter().flatten().collect();
        let (entries, st) = data::scan_all(&f).unwrap();
        prop_assert_eq!(st, ScanStatus::Done(data::file_len(&f).unwrap()));
        prop_assert_eq!(entries.len(), all.len());
        let mut i = 0;
        for b in &batches {
            for (j, r) in b.iter().enumerate() {
                let e = &entries[i];
                prop_assert_eq!(&e.key, &r.key);
                prop_assert_eq!((e.offset, e.size), locs[i]);
                prop_assert_eq!(e.expire_at, r.expire_at);
                prop_assert_eq!(e.seq, r.seq);
                prop_assert_eq!(e.flags & FLAG_TOMBSTONE != 0, r.value.is_none());
                prop_assert_eq!(e.flags & FLAG_BATCH_END != 0, j + 1 == b.len());
                match (&r.value, data::read_value(&f, e.offset, e.size)) {
                    (Some(v), Ok(got)) => prop_assert_eq!(&got, v),
                    (None, Err(Error::Tombstone)) => {}
                    (want, got) => prop_assert!(false, "want {:?} got {:?}", want, got),
                }
                i += 1;
            }
        }
    }

    #[test]
    fn bit_flips_never_return_bad_data(batches in batches_strategy(), pick in any::<u64>(), bit in 0u8..8) {
        let dir = tempfile::tempdir().unwrap();
        let (path, locs) = write_file(dir.path(), "1.data", &batches);
        let all: Vec<&Rec> = batches.iter().flatten().collect();
        let len = std::fs::metadata(&path).unwrap().len();
        let at = FILE_HEADER_LEN + pick % (len - FILE_HEADER_LEN);
        let f = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, at).unwrap();
        b[0] ^= 1 << bit;
        f.write_all_at(&b, at).unwrap();

        // Scan: every entry returned is an original record, untouched.
        let (entries, st) = data::scan_all(&f).unwrap();
        let hit = locs.iter().position(|&(o, s)| at >= o && at < o + s).unwrap();
        prop_assert!(matches!(st, ScanStatus::Corrupt(o) | ScanStatus::Torn(o) if o == locs[hit].0));
        prop_assert_eq!(entries.len(), hit);
        // Reads: the flipped record is refused, the others are intact.
        for (i, &(o, s)) in locs.iter().enumerate() {
            let got = data::read_value(&f, o, s);
            if i == hit {
                prop_assert!(matches!(got, Err(Error::ChecksumMismatch)), "{:?}", got);
            } else if let Some(v) = &all[i].value {
                prop_assert_eq!(&got.unwrap(), v);
            }
        }
        // Resync finds the record after the damaged one.
        let next = data::next_record(&f, locs[hit].0 + 1).unwrap();
        if hit + 1 < locs.len() {
            prop_assert!(next.is_some_and(|n| n <= locs[hit + 1].0));
        }
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048), seed in any::<u64>()) {
        // Raw decoder on random bytes.
        let _ = format::decode_record(&bytes);
        let _ = format::decode_hint(&bytes);
        // A file of header + garbage: scan and resync terminate without panicking.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.data");
        let mut content = format::file_header(format::DATA_MAGIC).to_vec();
        content.extend_from_slice(&bytes);
        std::fs::write(&path, &content).unwrap();
        let f = open(&path);
        let (_entries, st) = data::scan_all(&f).unwrap();
        prop_assert!(!matches!(st, ScanStatus::More(_)));
        let _ = data::next_record(&f, seed % (content.len() as u64 + 2)).unwrap();
        let _ = data::read_value(&f, seed % 4096, (seed >> 12) % 100_000);
    }

    #[test]
    fn mutated_records_never_panic(batches in batches_strategy(), edits in prop::collection::vec((any::<u64>(), any::<u8>()), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let (path, _locs) = write_file(dir.path(), "1.data", &batches);
        let mut content = std::fs::read(&path).unwrap();
        let n = content.len() as u64;
        for (at, byte) in edits {
            content[(FILE_HEADER_LEN + at % (n - FILE_HEADER_LEN)) as usize] = byte;
        }
        std::fs::write(&path, &content).unwrap();
        let f = open(&path);
        let _ = data::scan_all(&f).unwrap();
        let _ = data::next_record(&f, FILE_HEADER_LEN).unwrap();
    }
}

#[test]
fn truncating_last_record_anywhere_is_torn() {
    let dir = tempfile::tempdir().unwrap();
    let batches = vec![
        vec![rec(b"a", Some(b"first value"), 1), rec(b"bb", None, 2)],
        vec![rec(b"ccc", Some(&[7u8; 100]), 3)],
    ];
    let (path, locs) = write_file(dir.path(), "1.data", &batches);
    let content = std::fs::read(&path).unwrap();
    let (last_off, last_size) = locs[2];
    for cut in 1..last_size {
        let p = dir.path().join("t.data");
        std::fs::write(&p, &content[..(last_off + cut) as usize]).unwrap();
        let f = open(&p);
        let (entries, st) = data::scan_all(&f).unwrap();
        assert_eq!(st, ScanStatus::Torn(last_off), "cut {cut}");
        assert_eq!(entries.len(), 2, "cut {cut}");
        assert_eq!(
            data::read_value(&f, locs[0].0, locs[0].1).unwrap(),
            b"first value"
        );
        assert!(matches!(
            data::read_value(&f, last_off, last_size),
            Err(Error::Eof)
        ));
        // Cutting the torn tail leaves a clean file.
        data::truncate(&f, last_off).ok();
        let rw = data::open(&p).unwrap();
        data::truncate(&rw, last_off).unwrap();
        assert_eq!(data::scan_all(&rw).unwrap().1, ScanStatus::Done(last_off));
    }
}

#[test]
fn zero_filled_tail_is_torn() {
    let dir = tempfile::tempdir().unwrap();
    let (path, locs) = write_file(dir.path(), "1.data", &[vec![rec(b"k", Some(b"v"), 1)]]);
    let mut content = std::fs::read(&path).unwrap();
    content.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&path, &content).unwrap();
    let f = open(&path);
    let end = locs[0].0 + locs[0].1;
    assert_eq!(data::scan_all(&f).unwrap().1, ScanStatus::Torn(end));
}

#[test]
fn corrupt_middle_record_then_resync() {
    let dir = tempfile::tempdir().unwrap();
    let batches = vec![vec![
        rec(b"a", Some(b"1"), 1),
        rec(b"b", Some(b"2"), 2),
        rec(b"c", Some(b"3"), 3),
    ]];
    let (path, locs) = write_file(dir.path(), "1.data", &batches);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    f.write_all_at(b"X", locs[1].0 + 30).unwrap();
    let (entries, st) = data::scan_all(&f).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(st, ScanStatus::Corrupt(locs[1].0));
    assert_eq!(data::next_record(&f, locs[1].0).unwrap(), Some(locs[2].0));
    assert_eq!(data::next_record(&f, locs[2].0 + 1).unwrap(), None);
    let mut seen = Vec::new();
    let st = data::scan_chunk(&f, locs[2].0, 10, 1 << 20, |e| seen.push(e.key.to_vec())).unwrap();
    assert_eq!(seen, vec![b"c".to_vec()]);
    assert!(matches!(st, ScanStatus::Done(_)));
}

#[test]
fn repair_header_keeps_the_records_and_refuses_another_version() {
    let dir = tempfile::tempdir().unwrap();
    let rec = |k: &[u8]| Rec {
        key: k.to_vec(),
        value: Some(b"v".to_vec()),
        expire_at: 0,
        seq: 1,
    };
    let recs = vec![vec![rec(b"a"), rec(b"b")]];
    let (path, _locs) = write_file(dir.path(), "1.data", &recs);
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(b"\0\0\0\0\0\0\0\0", 0).unwrap();
    assert!(matches!(data::open_read(&path), Err(Error::BadHeader)));
    data::repair_header(&path).unwrap();
    let (entries, _) = data::scan_all(&data::open_read(&path).unwrap()).unwrap();
    assert_eq!(entries.len(), 2);

    // Our magic with another version: not damage, left as it is.
    f.write_all_at(&[b'F', b'S', b'B', b'C', 9, 0, 0, 0], 0)
        .unwrap();
    assert!(matches!(data::repair_header(&path), Err(Error::BadHeader)));
    assert!(matches!(data::open_read(&path), Err(Error::BadHeader)));

    // Shorter than a header.
    std::fs::write(&path, b"FS").unwrap();
    data::repair_header(&path).unwrap();
    assert_eq!(
        data::file_len(&data::open_read(&path).unwrap()).unwrap(),
        FILE_HEADER_LEN
    );
}

#[test]
fn headers_and_bad_locations() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.data");
    std::fs::write(&p, b"NOTMAGIC-and-more").unwrap();
    assert!(matches!(data::open(&p), Err(Error::BadHeader)));
    assert!(matches!(data::open_read(&p), Err(Error::BadHeader)));
    std::fs::write(&p, b"FSB").unwrap();
    assert!(matches!(data::open(&p), Err(Error::BadHeader)));
    assert!(matches!(
        data::open_read(&dir.path().join("missing")),
        Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound
    ));
    // Empty file gets a header.
    std::fs::write(&p, b"").unwrap();
    let f = data::open(&p).unwrap();
    assert_eq!(data::file_len(&f).unwrap(), FILE_HEADER_LEN);
    let (_, locs) = write_file(dir.path(), "y.data", &[vec![rec(b"k", Some(b"value"), 1)]]);
    let f = open(&dir.path().join("y.data"));
    let (o, s) = locs[0];
    assert!(matches!(
        data::read_value(&f, o, s - 1),
        Err(Error::ChecksumMismatch)
    ));
    assert!(matches!(data::read_value(&f, o, s + 1), Err(Error::Eof)));
    assert!(matches!(
        data::read_value(&f, o + 1, s),
        Err(Error::Eof | Error::ChecksumMismatch)
    ));
    assert!(matches!(
        data::read_value(&f, o, u64::MAX),
        Err(Error::TooLarge)
    ));
    assert!(matches!(data::read_value(&f, o, 1 << 29), Err(Error::Eof)));
    assert!(matches!(
        data::read_value(&f, o, 3),
        Err(Error::ChecksumMismatch)
    ));
    // Key too large is refused before anything is written.
    assert!(matches!(
        format::encode_record(
            &mut Vec::new(),
            &vec![0u8; (format::MAX_KEY_LEN + 1) as usize],
            None,
            0,
            0,
            true
        ),
        Err(Error::TooLarge)
    ));
}

#[test]
fn huge_length_field_is_bounded_by_file_size() {
    // A header announcing a 1 GiB record in a tiny file must not allocate 1 GiB.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("h.data");
    let mut content = format::file_header(format::DATA_MAGIC).to_vec();
    let mut rec = Vec::new();
    format::encode_record(&mut rec, b"k", Some(b"v"), 0, 0, true).unwrap();
    rec[9..13].copy_from_slice(&format::MAX_VALUE_LEN.to_le_bytes());
    content.extend_from_slice(&rec);
    std::fs::write(&p, &content).unwrap();
    let f = open(&p);
    assert_eq!(
        data::scan_all(&f).unwrap().1,
        ScanStatus::Torn(FILE_HEADER_LEN)
    );
    assert!(matches!(
        format::decode_record(&rec),
        Decoded::Incomplete { .. }
    ));
}

fn rec(key: &[u8], value: Option<&[u8]>, seq: u64) -> Rec {
    Rec {
        key: key.to_vec(),
        value: value.map(<[u8]>::to_vec),
        expire_at: 0,
        seq,
    }
}
