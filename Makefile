# FerricStore: `make run` starts the standalone server, `make test` runs every suite.
# Both install whatever is missing first (scripts/setup.sh, idempotent).
SHELL := /bin/bash
export ERL_LIBS := $(CURDIR)/_vendor/erl
export MIX_HOME := $(CURDIR)/_build/mix_home
export LANG := C.UTF-8
export LC_ALL := C.UTF-8

.PHONY: setup build run test test-rust test-elixir test-example lint bench

setup:
	@scripts/setup.sh

build: setup
	@mix compile

run: setup
	MIX_ENV=prod mix compile
	FERRICSTORE_SERVER=true FERRICSTORE_DATA_DIR=$${FERRICSTORE_DATA_DIR:-./data} scripts/server

lint: setup
	mix format --check-formatted
	MIX_ENV=test mix compile --warnings-as-errors --force
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	@! grep -rnE 'IO\.inspect|dbg\(' lib

test-rust: setup
	cargo test --workspace --release

# The scheduler test (tagged :slow) measures long_schedule events, so it runs alone,
# after the other suites, on a quiet machine.
test-elixir: setup
	MIX_ENV=test mix test --include integration --include crash
	MIX_ENV=test mix test --only slow

test-example: setup
	cd examples/counter_app && MIX_ENV=test mix test

test: setup lint test-rust test-elixir test-example

bench: build
	bench/run_all.sh

# Issue #4: differential tests vs redis-server and real clients; RESP benchmark.
.PHONY: test-differential bench-resp
test-differential: setup
	MIX_ENV=test mix test test/differential test/clients --include integration

bench-resp: build
	bench/resp/run.sh
