#!/usr/bin/env bash
# Issue #3 benchmark: FerricStore embedded next to fio's fdatasync latency on the same
# disk, in one run. Usage: bench/embedded/run.sh   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
export ERL_LIBS="$PWD/_vendor/erl" MIX_HOME="$PWD/_build/mix_home" MIX_ENV=${MIX_ENV:-prod}
mkdir -p bench/out
mix compile >/dev/null
echo "== fio: 4 KiB sequential writes with fdatasync after each (same disk)"
fio --name=fsync --directory=bench/out --rw=write --bs=4k --size=16m --fdatasync=1 \
    --output-format=json --output=bench/out/fio.json >/dev/null
python3 - <<'PY'
import json
j = json.load(open("bench/out/fio.json"))["jobs"][0]
sync = j["sync"]["lat_ns"]["percentile"]
w = j["write"]["clat_ns"]["percentile"]
print(f"fio fdatasync p50 {int(sync['50.000000'])/1000:.1f} us  (write p50 {int(w['50.000000'])/1000:.1f} us)")
PY
echo "== FerricStore embedded"
mix run --no-start bench/embedded/bench.exs
