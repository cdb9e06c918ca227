#!/usr/bin/env bash
# Issue #6 benchmark: restart time and memory per key of FerricStore next to Debian's
# redis-server (AOF, appendfsync always) on the same data, then the overwrite test.
# Usage: bench/startup/run.sh [counts...]     (default: 1000000 5000000)
#        OVERWRITE_GB=1 OVERWRITE_PASSES=10 (set OVERWRITE_GB=0 to skip)
set -euo pipefail
cd "$(dirname "$0")/../.."
export ERL_LIBS="$PWD/_vendor/erl" MIX_HOME="$PWD/_build/mix_home" MIX_ENV=prod
OUT=${BENCH_DIR:-$PWD/bench/out/startup}
COUNTS=("${@:-1000000 5000000}")
read -r -a COUNTS <<<"${COUNTS[*]}"
FS_PORT=${FS_PORT:-16390}
REDIS_PORT=${REDIS_PORT:-16391}
RUNS=${RUNS:-3}
mkdir -p "$OUT"
mix compile >/dev/null

# FerricStore restarts the way `make run` starts it: scripts/server on the prod build.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Waiting for the first PONG must not take CPU from the server being measured
# (FerricStore loads its keydir on both cores): a loop of redis-cli and sleep processes
# every 10 ms made FerricStore's keydir load 0.4-1.1 s slower. Bash builtins only: PING
# over /dev/tcp, and a 5 ms timed read on a FIFO nobody writes to as the pause.
mkfifo "$OUT/tick.fifo" 2>/dev/null || true
exec {tick}<>"$OUT/tick.fifo"

ping_once() { # port -> success on +PONG (Redis answers -LOADING while it loads)
  local reply=""
  exec {sock}<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'PING\r\n' >&"$sock"
  read -r -t 1 -u "$sock" reply || true
  exec {sock}>&-
  [[ $reply == +PONG* ]]
}

wait_pong() { # t0 port -> ms from t0 until the first PONG
  local t0=$1 port=$2
  until ping_once "$port" 2>/dev/null; do read -r -t 0.005 -u "$tick" || true; done
  echo $(($(now_ms) - t0))
}

fs_restart() { # dir -> prints "ms figures..."
  local dir=$1 log="$OUT/serve.log"
  local t0; t0=$(now_ms)
  FERRICSTORE_SERVER=true FERRICSTORE_DATA_DIR="$dir" FERRICSTORE_PORT="$FS_PORT" \
    scripts/server >"$log" 2>&1 &
  local pid=$!
  local ms; ms=$(wait_pong "$t0" "$FS_PORT")
  local info; info=$(redis-cli -p "$FS_PORT" info | tr -d '\r')
  field() { awk -F: -v k="$1" '$1==k{print $2}' <<<"$info"; }
  echo "$ms keys=$(redis-cli -p "$FS_PORT" dbsize) used_memory=$(field used_memory)" \
    "keydir_load_ms=$(field ferricstore_recovery_load_ms)" \
    "recovered_records=$(field ferricstore_recovered_records)"
  kill -TERM "$pid" # a clean stop, as the next restart expects
  wait "$pid" || true
}

redis_args() { # dir
  echo --port "$REDIS_PORT" --dir "$1" --appendonly yes --appendfsync always \
    --auto-aof-rewrite-percentage 0 --aof-use-rdb-preamble no --save "" --daemonize no \
    --logfile "$1/redis.log"
}

redis_mem() { redis-cli -p "$REDIS_PORT" info memory | tr -d '\r' | awk -F: '$1=="used_memory"{print $2}'; }

for n in "${COUNTS[@]}"; do
  echo "================ $n keys, 256 B values"
  fsdir="$OUT/fs_$n" && rdir="$OUT/redis_$n"
  rm -rf "$fsdir" "$rdir" && mkdir -p "$rdir"

  echo "== FerricStore load"
  mix run --no-start bench/startup/bench.exs load "$fsdir" "$n"
  echo "data dir: $(du -sh "$fsdir" | cut -f1)"

  echo "== redis-server load (AOF, appendfsync always)"
  # shellcheck disable=SC2046
  redis-server $(redis_args "$rdir") &
  rpid=$!
  wait_pong "$(now_ms)" "$REDIS_PORT" >/dev/null
  empty=$(redis_mem)
  t0=$(now_ms)
  python3 bench/startup/gen_redis.py "$n" | redis-cli -p "$REDIS_PORT" --pipe | tail -1
  echo "loaded in $(($(now_ms) - t0)) ms; used_memory $(redis_mem) (empty: $empty)"
  redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
  wait "$rpid" || true
  echo "AOF dir: $(du -sh "$rdir" | cut -f1)"

  # The two servers take turns, so a slow minute on this shared machine falls on both.
  echo "== restarts, taking turns"
  for r in $(seq "$RUNS"); do
    read -r ms line < <(fs_restart "$fsdir")
    echo "FerricStore restart $r: ${ms} ms process start -> first PONG; $line"
    t0=$(now_ms)
    # shellcheck disable=SC2046
    redis-server $(redis_args "$rdir") &
    rpid=$!
    ms=$(wait_pong "$t0" "$REDIS_PORT")
    used=$(redis_mem)
    keys=$(redis-cli -p "$REDIS_PORT" dbsize)
    echo "redis-server restart $r: ${ms} ms process start -> first PONG; used_memory=$used keys=$keys" \
      "per key=$(((used - empty) / keys)) B"
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    wait "$rpid" || true
  done
  rm -rf "$rdir"
done

if [ "${OVERWRITE_GB:-1}" != "0" ]; then
  echo "================ overwrite ${OVERWRITE_GB:-1} GB of live data ${OVERWRITE_PASSES:-10} times"
  rm -rf "$OUT/overwrite"
  mix run --no-start bench/startup/bench.exs overwrite "$OUT/overwrite" "${OVERWRITE_GB:-1}" \
    "${OVERWRITE_PASSES:-10}"
  echo "on disk at the end: $(du -sh "$OUT/overwrite" | cut -f1)"
  rm -rf "$OUT/overwrite"
fi
