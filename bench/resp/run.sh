#!/usr/bin/env bash
# RESP server benchmark (issue #4): FerricStore standalone vs redis-server with
# `appendfsync always` and vs redis-server without persistence, with redis-benchmark SET, GET
# and INCR at 1 client, 50 clients, and 50 clients with -P 16. Prints a table and writes it
# into bench/RESULTS.md under "## RESP server vs redis-server (issue #4)".
#
# Then, in FLOOR_ROUNDS rounds, SET at 50 clients again against FerricStore, redis-server
# with `appendfsync always`, and the two floors of bench/resp/floor.exs: a minimal BEAM
# server whose writes go through a bare ra cluster, and the same server without ra (its
# writes group-committed to a file with fdatasync).
#
# Usage: bench/resp/run.sh [--no-write]     (env: N1, N50, NP for the request counts,
#                                            FLOOR_ROUNDS)
# All servers keep their files in one fresh temp dir on the same disk. ~2-4 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export ERL_LIBS=$ROOT/_vendor/erl MIX_HOME=$ROOT/_build/mix_home LANG=C.UTF-8 LC_ALL=C.UTF-8
WRITE=1; [ "${1:-}" = "--no-write" ] && WRITE=0

N1=${N1:-3000}     # requests per test with 1 client
N50=${N50:-30000}  # with 50 clients
NP=${NP:-200000}   # with 50 clients and -P 16
FLOOR_ROUNDS=${FLOOR_ROUNDS:-3}
KEYSPACE=100000
HEADING="## RESP server vs redis-server (issue #4)"

[ -x _vendor/erl/.complete ] || [ -f _vendor/erl/.complete ] || scripts/setup.sh
BENCH=bench/resp
source bench/lib/servers.sh

start_ferricstore
start_redis aof --save "" --appendonly yes --appendfsync always; APORT=$RPORT
start_redis mem --save "" --appendonly no; MPORT=$RPORT
start_floor ra; RAPORT=$FLPORT
start_floor file; FILEPORT=$FLPORT

wait_ping "$FPORT" FerricStore; wait_ping "$APORT" "redis (AOF always)"; wait_ping "$MPORT" "redis (no persistence)"
wait_ping "$RAPORT" "ra floor"; wait_ping "$FILEPORT" "file floor"

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A RPS
targets=(ferric aof mem)
declare -A PORT=([ferric]=$FPORT [aof]=$APORT [mem]=$MPORT)
configs=("c1" "c50" "c50p16")
declare -A CARGS=([c1]="-c 1 -n $N1" [c50]="-c 50 -n $N50" [c50p16]="-c 50 -P 16 -n $NP")

for cfg in "${configs[@]}"; do
  for tgt in "${targets[@]}"; do
    redis-cli -p "${PORT[$tgt]}" FLUSHALL >/dev/null
    # shellcheck disable=SC2086
    out=$(redis-benchmark -h 127.0.0.1 -p "${PORT[$tgt]}" -t set,get,incr ${CARGS[$cfg]} \
      -r $KEYSPACE -d 64 --csv 2>/dev/null)
    while IFS=, read -r test rps _rest; do
      test=${test//\"/}; rps=${rps//\"/}
      [ "$test" = "test" ] || RPS[$test.$cfg.$tgt]=$rps
    done <<<"$out"
    echo "bench/resp: $cfg $tgt: $(echo "$out" | tail -n +2 | cut -d, -f1,2 | tr '\n' ' ')" >&2
  done
done

declare -A FLOOR
floor_targets=(ferric aof ra file)
PORT[ra]=$RAPORT; PORT[file]=$FILEPORT
for round in $(seq 1 "$FLOOR_ROUNDS"); do
  for tgt in "${floor_targets[@]}"; do
    redis-cli -p "${PORT[$tgt]}" FLUSHALL >/dev/null
    FLOOR[$round.$tgt]=$(redis-benchmark -h 127.0.0.1 -p "${PORT[$tgt]}" -t set -c 50 -n "$N50" \
      -r $KEYSPACE -d 64 --csv 2>/dev/null | awk -F, '$1 == "\"SET\"" { gsub(/"/, "", $2); print $2 }')
  done
  echo "bench/resp: floors, round $round: $(for t in "${floor_targets[@]}"; do echo -n "$t ${FLOOR[$round.$t]} "; done)" >&2
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
fmt() { awk -v a="$1" 'BEGIN { printf "%\047.0f", a }'; }

cmdline="bench/resp/run.sh (N1=$N1 N50=$N50 NP=$NP, -r $KEYSPACE -d 64, redis-benchmark $(redis-benchmark --version | awk '{print $2}'), FerricStore MIX_ENV=$MIX_ENV)"
{
  echo "$HEADING"
  echo
  echo "Run: \`$cmdline\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, all servers' files in one temp dir on the same disk, load average before the run $LOAD (the machine is shared: figures vary by up to ~2-3x between runs)."
  echo "Requests per second (redis-benchmark --csv; GET runs after SET over a 100k keyspace, so part of the GETs miss on all three servers). \`fsync\` = redis-server --appendonly yes --appendfsync always; \`mem\` = redis-server --save \"\" --appendonly no."
  echo
  echo "| test | clients | FerricStore | redis fsync | redis mem | Ferric / fsync | Ferric / mem |"
  echo "|---|---|---:|---:|---:|---:|---:|"
  for t in SET GET INCR; do
    for cfg in "${configs[@]}"; do
      f=${RPS[$t.$cfg.ferric]:-0}; a=${RPS[$t.$cfg.aof]:-0}; m=${RPS[$t.$cfg.mem]:-0}
      label=${cfg/c1/1}; label=${label/c50p16/50, -P 16}; label=${label/c50/50}
      echo "| $t | $label | $(fmt "$f") | $(fmt "$a") | $(fmt "$m") | $(ratio "$f" "$a") | $(ratio "$f" "$m") |"
    done
  done
  echo
  fs=$(ratio "${RPS[SET.c50.ferric]:-0}" "${RPS[SET.c50.aof]:-0}")
  gm=$(ratio "${RPS[GET.c50.ferric]:-0}" "${RPS[GET.c50.mem]:-0}")
  met() { awk -v r="${1%x}" -v g="$2" 'BEGIN { print (r >= g) ? "met" : "NOT met" }'; }
  echo "Goals (issue #4): durable SET at 50 clients >= 1.0x redis fsync: **$fs** ($(met "$fs" 1.0));"
  echo "GET at 50 clients >= 0.8x redis mem: **$gm** ($(met "$gm" 0.8))."
  echo
  echo "Floors (SET at 50 clients, the same run, $FLOOR_ROUNDS rounds, each round the four servers in turn): \`ra floor\` = \`bench/resp/floor.exs\` with its writes through a bare ra cluster; \`file floor\` = the same minimal BEAM server without ra, its writes group-committed to one file with fdatasync."
  echo
  echo "| round | FerricStore | redis fsync | ra floor | file floor | Ferric / fsync | ra floor / fsync | file floor / fsync | Ferric / ra floor |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for round in $(seq 1 "$FLOOR_ROUNDS"); do
    f=${FLOOR[$round.ferric]:-0}; a=${FLOOR[$round.aof]:-0}; r=${FLOOR[$round.ra]:-0}; l=${FLOOR[$round.file]:-0}
    echo "| $round | $(fmt "$f") | $(fmt "$a") | $(fmt "$r") | $(fmt "$l") | $(ratio "$f" "$a") | $(ratio "$r" "$a") | $(ratio "$l" "$a") | $(ratio "$f" "$r") |"
  done
} >"$WORK/section.md"

cat "$WORK/section.md"

if [ "$WRITE" = 1 ]; then
  python3 bench/lib/results.py "$WORK/section.md"
  echo "bench/resp: wrote the table into bench/RESULTS.md" >&2
fi
