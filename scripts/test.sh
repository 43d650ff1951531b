#!/usr/bin/env bash
# The whole test suite (the README's second command, and what CI runs):
# formatting, lints, docs, then every test of every crate. Installs nothing
# the project's own manifests do not declare. With the `hyper` feature, so
# `switchyard::hyper`, examples/hyper.rs and tests/hyper.rs are built,
# linted and run too (one build: the feature only adds code).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --features hyper -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --features hyper
cargo test --workspace --all-targets --features hyper
cargo test --workspace --doc --features hyper
