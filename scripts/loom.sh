#!/usr/bin/env bash
# Model-checks mn-sched's lock-free cores with loom: the run queue (push,
# pop, steal, runnext with a 4-slot ring), park/wake (Go's order, the
# NOTIFIED bit) and the spinning protocol (submit vs. stop spinning).
# Not part of the default test run; its own target dir keeps the normal
# build cached. Extra arguments go to the test binary (e.g. a test name).
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/loom}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
exec cargo test -p mn-sched --release --lib loom_ -- "$@"
