#!/usr/bin/env bash
# Collections benchmark (issue #5): redis-benchmark at 50 clients with hash, sorted-set,
# list and set commands over collections of MEMBERS members (1M by default; the tests'
# members are `__rand_int__` in the same keyspace, so reads hit and writes overwrite),
# against FerricStore (standalone RESP server) and redis-server with `appendonly yes,
# appendfsync always`, in one run. Each collection is first filled (unmeasured, by
# prefill.py through redis-cli --pipe, 100 members per command). Prints a table and
# writes it into bench/RESULTS.md under "## Collections (issue #5)".
#
# Usage: bench/collections/run.sh [--no-write]   (env: N for requests per test, MEMBERS,
# ROUNDS). ~4-6 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export ERL_LIBS=$ROOT/_vendor/erl MIX_HOME=$ROOT/_build/mix_home LANG=C.UTF-8 LC_ALL=C.UTF-8
WRITE=1; [ "${1:-}" = "--no-write" ] && WRITE=0

N=${N:-20000}
ROUNDS=${ROUNDS:-3}
MEMBERS=${MEMBERS:-1000000}
KEYSPACE=$MEMBERS
HEADING="## Collections (issue #5)"

BENCH=bench/collections
source bench/lib/servers.sh

start_ferricstore
start_redis aof --save "" --appendonly yes --appendfsync always; APORT=$RPORT

wait_ping "$FPORT" FerricStore; wait_ping "$APORT" "redis (AOF always)"
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

# name | command (redis-benchmark arguments after the options).
TESTS=(
  "HSET|HSET h:big f:__rand_int__ v:__rand_int__"
  "HGET|HGET h:big f:__rand_int__"
  "ZADD|ZADD z:big __rand_int__ m:__rand_int__"
  "ZRANGE by rank (10 from rank 1000)|ZRANGE z:big 1000 1009"
  "ZRANGE by score (LIMIT 0 10)|ZRANGE z:big __rand_int__ +inf BYSCORE LIMIT 0 10"
  "ZRANK|ZRANK z:big m:__rand_int__"
  "LPUSH|LPUSH l:big e:__rand_int__"
  "RPOP|RPOP l:big"
  "SADD|SADD s:big m:__rand_int__"
  "SISMEMBER|SISMEMBER s:big m:__rand_int__"
)

declare -A PORT=([ferric]=$FPORT [aof]=$APORT)
declare -A RPS SIZES MEM
used_memory() { redis-cli -p "$1" INFO memory | tr -d '\r' | awk -F: '$1=="used_memory"{print $2}'; }
bench() { # port n extra-args... -- command
  local port=$1 n=$2; shift 2
  # shellcheck disable=SC2086
  redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -n "$n" -r "$KEYSPACE" --csv "$@" 2>/dev/null |
    tail -n 1 | cut -d, -f2 | tr -d '"'
}

for tgt in ferric aof; do
  redis-cli -p "${PORT[$tgt]}" FLUSHALL >/dev/null
  empty=$(used_memory "${PORT[$tgt]}")
  python3 "$BENCH/prefill.py" "$MEMBERS" | redis-cli -p "${PORT[$tgt]}" --pipe >&2
  sizes="$(redis-cli -p "${PORT[$tgt]}" HLEN h:big) $(redis-cli -p "${PORT[$tgt]}" ZCARD z:big) $(redis-cli -p "${PORT[$tgt]}" LLEN l:big) $(redis-cli -p "${PORT[$tgt]}" SCARD s:big)"
  echo "bench/collections: $tgt prefilled (hash zset list set sizes: $sizes)" >&2
  SIZES[$tgt]=$sizes
  members=$(echo "$sizes" | awk '{print $1 + $2 + $3 + $4}')
  MEM[$tgt]=$(( ($(used_memory "${PORT[$tgt]}") - empty) / members ))
  echo "bench/collections: $tgt used_memory per member ${MEM[$tgt]} B" >&2
done

# Both servers take turns on each test, ROUNDS times (who goes first alternates), and
# each figure is the median of its rounds: the machine's load drifts over minutes, and
# running one server's tests all before the other's let that drift decide ratios.
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{v[NR] = $1} END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A ALL
for round in $(seq "$ROUNDS"); do
  order="ferric aof"; [ $((round % 2)) = 0 ] && order="aof ferric"
  for t in "${TESTS[@]}"; do
    name=${t%%|*}; cmd=${t#*|}
    for tgt in $order; do
      # shellcheck disable=SC2086
      rps=$(bench "${PORT[$tgt]}" "$N" $cmd)
      ALL[$name.$tgt]="${ALL[$name.$tgt]:-} $rps"
      echo "bench/collections: round $round $tgt $name: $rps" >&2
    done
  done
done
for t in "${TESTS[@]}"; do
  name=${t%%|*}
  for tgt in ferric aof; do RPS[$name.$tgt]=$(echo "${ALL[$name.$tgt]}" | median); done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
fmt() { awk -v a="$1" 'BEGIN { printf "%\047.0f", a }'; }

cmdline="bench/collections/run.sh (N=$N MEMBERS=$MEMBERS ROUNDS=$ROUNDS, -c 50, redis-benchmark $(redis-benchmark --version | awk '{print $2}'), FerricStore MIX_ENV=$MIX_ENV)"
{
  echo "$HEADING"
  echo
  echo "Run: \`$cmdline\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average before the run $LOAD (shared machine: figures vary by up to ~2-3x between runs)."
  echo "Requests per second at 50 clients (redis-benchmark --csv, -r $KEYSPACE), the median of $ROUNDS rounds in which the two servers take turns on each test (all rounds: in the log). Each collection was first filled with $MEMBERS members (bench/collections/prefill.py through redis-cli --pipe; sizes after the prefill, hash zset list set: FerricStore ${SIZES[ferric]}, redis ${SIZES[aof]}; the RPOP test pops from the list's tail). \`redis fsync\` = redis-server --appendonly yes --appendfsync always (reads served by the same server)."
  echo
  echo "| test | command | FerricStore | redis fsync | Ferric / redis |"
  echo "|---|---|---:|---:|---:|"
  for t in "${TESTS[@]}"; do
    name=${t%%|*}; cmd=${t#*|}
    f=${RPS[$name.ferric]:-0}; a=${RPS[$name.aof]:-0}
    echo "| $name | \`$cmd\` | $(fmt "$f") | $(fmt "$a") | $(ratio "$f" "$a") |"
  done
  echo "| memory per member | \`INFO memory\` used_memory after the prefill minus before, / members | ${MEM[ferric]} B | ${MEM[aof]} B | $(ratio "${MEM[ferric]}" "${MEM[aof]}") |"
  echo
  echo "FerricStore's used_memory counts the keydir, the expiry index and the collection members (ETS)"
  echo "and the sorted sets' rank index (Rust, estimated from its element counts): a member is one ETS"
  echo "row, and a sorted-set member is also in the rank index. Values stay on disk for hashes and"
  echo "lists (cold after a restart), as for strings."
} >"$WORK/section.md"

cat "$WORK/section.md"

if [ "$WRITE" = 1 ]; then
  python3 bench/lib/results.py "$WORK/section.md"
  echo "bench/collections: wrote the table into bench/RESULTS.md" >&2
fi
