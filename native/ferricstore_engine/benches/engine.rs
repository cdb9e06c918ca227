//! Engine benchmarks: `cargo bench -p ferricstore_engine` (bench/bitcask/run.sh adds fio).
//!
//! Files live in `$FERRICSTORE_BENCH_DIR` (default: `target/bench-data`) so that fio can be
//! pointed at the same disk.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ferricstore_engine::data::{self, NewRecord};
use ferricstore_engine::format::FILE_HEADER_LEN;
use ferricstore_engine::{compact, hint};

fn bench_dir() -> PathBuf {
    let dir = std::env::var_os("FERRICSTORE_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-data")
        });
    std::fs::create_dir_all(&dir).expect("bench dir");
    dir
}

fn keys(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("user:{i:012}").into_bytes())
        .collect()
}

fn append(c: &mut Criterion) {
    let dir = bench_dir();
    let mut g = c.benchmark_group("append_batch");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g.sample_size(20);
    for &vlen in &[256usize, 4096] {
        for &batch in &[1usize, 64, 1024] {
            let path = dir.join(format!("append-{vlen}-{batch}.data"));
            let _ = std::fs::remove_file(&path);
            let f = data::open(&path).expect("open");
            let value = vec![0x5au8; vlen];
            let ks = keys(batch);
            let recs: Vec<NewRecord<'_>> = ks
                .iter()
                .enumerate()
                .map(|(i, k)| NewRecord {
                    key: k,
                    value: Some(&value),
                    expire_at: 0,
                    seq: i as u64,
                })
                .collect();
            let bytes: u64 = recs
                .iter()
                .map(|r| 29 + r.key.len() as u64 + vlen as u64)
                .sum();
            g.throughput(Throughput::Bytes(bytes));
            let mut off = FILE_HEADER_LEN;
            g.bench_with_input(
                BenchmarkId::new(format!("value_{vlen}"), batch),
                &batch,
                |b, _| {
                    b.iter(|| {
                        if off > 512 * 1024 * 1024 {
                            data::truncate(&f, FILE_HEADER_LEN).expect("truncate");
                            off = FILE_HEADER_LEN;
                        }
                        let locs = data::append_batch(&f, off, &recs).expect("append");
                        off += bytes;
                        locs
                    })
                },
            );
            drop(f);
            let _ = std::fs::remove_file(&path);
        }
    }
    g.finish();
}

/// Writes `n` records of `vlen` bytes; returns path and locations.
fn fill(name: &str, n: usize, vlen: usize) -> (PathBuf, Vec<(u64, u64)>) {
    let path = bench_dir().join(name);
    let _ = std::fs::remove_file(&path);
    let f = data::open(&path).expect("open");
    let value = vec![0x33u8; vlen];
    let ks = keys(n);
    let mut locs = Vec::with_capacity(n);
    let mut off = FILE_HEADER_LEN;
    for chunk in ks.chunks(1024) {
        let recs: Vec<NewRecord<'_>> = chunk
            .iter()
            .map(|k| NewRecord {
                key: k,
                value: Some(&value),
                expire_at: 0,
                seq: 1,
            })
            .collect();
        let l = data::append_batch(&f, off, &recs).expect("append");
        off = l.last().map(|&(o, s)| o + s).unwrap_or(off);
        locs.extend(l);
    }
    (path, locs)
}

fn pread(c: &mut Criterion) {
    let (path, locs) = fill("pread.data", 100_000, 256);
    let f = data::open_read(&path).expect("open");
    // Warm the page cache, then measure single calls for a true p50/p99.
    let mut samples: Vec<u64> = Vec::with_capacity(200_000);
    for _ in 0..2 {
        for (i, &(o, s)) in locs.iter().enumerate() {
            let j = (i * 7919) % locs.len();
            let (o2, s2) = locs[j];
            let t = Instant::now();
            let v = data::read_value(&f, o2, s2).expect("read");
            samples.push(t.elapsed().as_nanos() as u64);
            std::hint::black_box((v, o, s));
        }
    }
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize];
    println!(
        "pread_at 256 B (page cache, random order, {} calls): p50 {} ns, p90 {} ns, p99 {} ns",
        samples.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99)
    );
    let mut g = c.benchmark_group("pread_at");
    g.measurement_time(Duration::from_secs(2));
    let mut i = 0usize;
    g.bench_function("value_256", |b| {
        b.iter(|| {
            i = (i + 7919) % locs.len();
            let (o, s) = locs[i];
            data::read_value(&f, o, s).expect("read")
        })
    });
    g.finish();
}

fn scan_hint_compact(c: &mut Criterion) {
    const N: usize = 200_000;
    let (path, locs) = fill("scan.data", N, 256);
    let f = data::open_read(&path).expect("open");
    let hint_path = bench_dir().join("scan.hint");
    hint::build(&path, &hint_path).expect("hint");
    let file_bytes = data::file_len(&f).expect("len");

    let mut g = c.benchmark_group("bulk");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("scan_records_256", |b| {
        b.iter(|| {
            let mut n = 0usize;
            let mut from = FILE_HEADER_LEN;
            while let data::ScanStatus::More(x) =
                data::scan_chunk(&f, from, 4096, data::CHUNK_BYTES, |_| n += 1).expect("scan")
            {
                from = x;
            }
            assert_eq!(n, N);
        })
    });
    g.bench_function("hint_read_records", |b| {
        b.iter(|| {
            let h = hint::open_read(&hint_path).expect("open");
            let mut n = 0usize;
            let mut off = FILE_HEADER_LEN;
            while let hint::ReadStep::More(x) =
                hint::read_step(&h, off, data::CHUNK_BYTES, 4096, |_| n += 1).expect("read")
            {
                off = x;
            }
            assert_eq!(n, N);
        })
    });
    g.throughput(Throughput::Bytes(file_bytes / 2));
    let half: Vec<(u64, u64)> = locs.iter().copied().step_by(2).collect();
    let (dst, dst_hint) = (
        bench_dir().join("compact.data"),
        bench_dir().join("compact.hint"),
    );
    g.bench_function("compact_half_live_MBps", |b| {
        b.iter(|| compact::compact(&path, &half, &dst, &dst_hint).expect("compact"))
    });
    g.finish();
    for p in [
        path,
        hint_path,
        dst,
        dst_hint,
        bench_dir().join("pread.data"),
    ] {
        let _ = std::fs::remove_file(p);
    }
}

criterion_group!(benches, append, pread, scan_hint_compact);
criterion_main!(benches);
