#!/usr/bin/env bash
# Bitcask engine benchmarks next to fio on the same disk, in the same run.
# Usage: bench/bitcask/run.sh [dir]   (default: target/bench-data under the repo)
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-$PWD/target/bench-data}
mkdir -p "$DIR"
export FERRICSTORE_BENCH_DIR=$DIR

echo "== fio sequential buffered write, $DIR =="
for bs in 256 4k; do
  out=$(fio --name=seqw --directory="$DIR" --rw=write --bs=$bs --size=256m --ioengine=psync \
            --direct=0 --end_fsync=0 --numjobs=1 --group_reporting --output-format=terse \
            --terse-version=3 2>/dev/null)
  # terse v3: field 7 = write bandwidth (KiB/s) for read section; write section starts at 47
  bw_kib=$(echo "$out" | awk -F';' '{print $48}')
  echo "fio bs=$bs: $(awk -v k="$bw_kib" 'BEGIN{printf "%.0f MB/s", k*1024/1e6}')"
  rm -f "$DIR"/seqw.*
done

echo "== cargo bench -p ferricstore_engine =="
cargo bench -p ferricstore_engine 2>&1 | grep -E '^(append_batch|pread_at|bulk)/|time:|thrpt:|pread_at 256'
