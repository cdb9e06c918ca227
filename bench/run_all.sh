#!/usr/bin/env bash
# Runs every benchmark in turn: the Bitcask engine (#2), embedded (#3), RESP server
# (#4), collections (#5) and start-up/memory/overwrite (#6). bench/resp and
# bench/collections rewrite their own sections of bench/RESULTS.md; the others print
# their figures, which go into RESULTS.md by hand with the command. Long: ~15-30 minutes on the 2-core box. Run on a
# quiet machine; figures vary 2-3x with other load.
set -euo pipefail
cd "$(dirname "$0")/.."
for b in bitcask embedded resp collections startup; do
  echo "================ bench/$b/run.sh"
  "bench/$b/run.sh"
done
