#!/usr/bin/env bash
# Installs what FerricStore needs on a Debian machine, idempotently and quickly when
# everything is already there. Never installs or starts RabbitMQ: its .deb is only
# unpacked, and the compiled ra & co are copied into _vendor/erl (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need_pkgs=()
need() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$1"); }
for p in elixir erlang-nox erlang-dev erlang-proper erlang-redis-client redis-server redis-tools fio hyperfine; do
  need "$p"
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "setup: installing ${need_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# ra and friends, compiled for this OTP, from Debian's rabbitmq-server package.
VENDOR=_vendor/erl
WANT="ra aten gen_batch_server seshat ranch cowboy cowlib prometheus quantile_estimator jsx recon"
if [ ! -f "$VENDOR/.complete" ]; then
  echo "setup: unpacking ra & co from Debian's rabbitmq-server package"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download rabbitmq-server >/dev/null 2>&1) || {
    $SUDO apt-get update -qq; (cd "$tmp" && apt-get download rabbitmq-server >/dev/null)
  }
  dpkg-deb -x "$tmp"/rabbitmq-server_*.deb "$tmp/x"
  plugins=$(find "$tmp/x" -maxdepth 6 -type d -name plugins -path '*rabbitmq_server-*' | head -n1)
  rm -rf "$VENDOR"; mkdir -p "$VENDOR"
  for app in $WANT; do
    src=$(find "$plugins" -maxdepth 1 -type d -name "$app-*" | head -n1)
    [ -n "$src" ] || { echo "setup: $app missing from rabbitmq-server" >&2; exit 1; }
    cp -r "$src" "$VENDOR/"
  done
  rm -rf "$tmp"
  touch "$VENDOR/.complete"
fi

# redis-py for the client tests and benchmarks.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import redis' 2>/dev/null; then
  echo "setup: installing redis-py into .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q 'redis>=5'
fi

command -v cargo >/dev/null || { echo "setup: cargo (Rust) is required" >&2; exit 1; }
