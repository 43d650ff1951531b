#!/usr/bin/env bash
# Runs loop-core's tests, and those of rt-base (the signal handler, the
# stderr writer and the other pieces it shares with mn), under
# AddressSanitizer on the stable toolchain (RUSTC_BOOTSTRAP unlocks
# -Zsanitizer; an explicit --target keeps the sanitizer flags off build
# scripts and proc macros). Miri is not available here. Separate target dir
# so the normal build cache is not invalidated.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Zsanitizer=address ${RUSTFLAGS:-}"
export RUSTDOCFLAGS="-Zsanitizer=address"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/asan}"
cargo test -p switchyard-base -p switchyard-loop --target x86_64-unknown-linux-gnu --lib --tests "$@"
