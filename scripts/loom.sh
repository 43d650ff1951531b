#!/usr/bin/env bash
# Model-checks the lock-free and locking protocols with loom (run by hand, not
# by CI: minutes of CPU). Each crate compiles its protocols against loom's
# types under --cfg loom; the tests are named loom_*.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
cargo test -p loop-core --release --lib loom_ -- --nocapture
