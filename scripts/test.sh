#!/usr/bin/env bash
# The whole test suite (the README's second command, and what CI runs):
# formatting, lints, docs, then every test of every crate. Installs nothing
# the project's own manifests do not declare; needs the rustfmt and clippy
# components (`rustup component add rustfmt clippy`).
#
# * With the `hyper` feature, so `switchyard::hyper`, examples/hyper.rs and
#   tests/hyper.rs are built, linted and run too (the feature only adds code).
# * The benchmarks package (benches/) is linted whole, and its tests run,
#   but its criterion groups and example programs are not linked here:
#   they are run by their own commands (benches/README.md). mn-sched's
#   measuring examples are small and build with the rest.
# * The comparison harness (compare/, its own unpublished package) is
#   tested with the rest: its unit tests, and compare/tests/quick.rs, which
#   runs `compare --quick` once (building the examples itself first).
# * Then without the default `mn` feature: the library alone must build,
#   lint clean and pass the single-mode tests.
# * Line tables only and no incremental cache: the suite links about a
#   hundred test binaries, and full debug info would make the target folder
#   several GiB on a small CI disk.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_INCREMENTAL=0
export CARGO_PROFILE_DEV_DEBUG=line-tables-only
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --features hyper -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --features hyper
cargo test --workspace --exclude switchyard-benches --all-targets --features hyper
cargo test -p switchyard-benches --tests
cargo test --workspace --doc --features hyper

# Single mode alone: no M:N engine in the build. These test files run in
# every mode the build has (or in single mode only); the others exercise mn.
single_only=(--lib --example echo --example http)
for t in without_mn join_set task_abort sync_mutex time_timeout sync_wait_group \
  sync_oneshot sync_mpsc net_errors compat_runtime sync_notify sync_semaphore; do
  single_only+=(--test "$t")
done
cargo clippy -p switchyard-rt -p switchyard-api --no-default-features -- -D warnings
cargo clippy -p switchyard-rt --no-default-features "${single_only[@]}" -- -D warnings
cargo test -p switchyard-rt --no-default-features "${single_only[@]}"
