# Shared by the bench scripts that run FerricStore next to redis-server (source it after
# setting BENCH, the script's name for messages). Provides WORK (a temp dir removed on
# exit, with every started server), free_port, wait_ping, start_ferricstore (sets
# FPORT) and start_redis NAME ARGS... (prints the port).

for t in redis-server redis-benchmark redis-cli; do
  command -v $t >/dev/null || { echo "$BENCH: $t is required (scripts/setup.sh)" >&2; exit 1; }
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferric_${BENCH//\//_}.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_ping() { # port name
  for _ in $(seq 1 600); do
    [ "$(redis-cli -p "$1" PING 2>/dev/null)" = "PONG" ] && return 0
    sleep 0.1
  done
  echo "$BENCH: $2 on port $1 did not answer PING" >&2; exit 1
}

# FerricStore standalone, MIX_ENV=prod when it compiles, fresh data dir.
start_ferricstore() {
  MIX_ENV=prod
  if ! MIX_ENV=prod mix compile >"$WORK/compile.log" 2>&1; then
    echo "$BENCH: MIX_ENV=prod compile failed, using dev (see $WORK/compile.log)" >&2
    MIX_ENV=dev; mix compile >/dev/null
  fi
  FPORT=$(free_port)
  MIX_ENV=$MIX_ENV FERRICSTORE_SERVER=true FERRICSTORE_PORT=$FPORT \
    FERRICSTORE_DATA_DIR="$WORK/ferric" mix run --no-halt >"$WORK/ferric.log" 2>&1 &
  PIDS+=($!)
}

# A floor server of bench/resp/floor.exs (MODE ra or file), files in $WORK/floor_MODE.
# Sets FLPORT.
start_floor() {
  FLPORT=$(free_port)
  elixir bench/resp/floor.exs "$FLPORT" "$WORK/floor_$1" "$1" >"$WORK/floor_$1.log" 2>&1 &
  PIDS+=($!)
}

# redis-server with its files in $WORK/NAME; extra arguments follow (persistence).
# Sets RPORT.
start_redis() {
  local name=$1; shift
  RPORT=$(free_port)
  mkdir -p "$WORK/$name"
  redis-server --port "$RPORT" --bind 127.0.0.1 --daemonize no --dir "$WORK/$name" \
    --logfile "$WORK/$name.log" "$@" &
  PIDS+=($!)
}
