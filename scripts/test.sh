#!/usr/bin/env bash
# The whole test suite (the README's second command, and what CI runs):
# formatting, lints, docs, then every test of every crate. Installs nothing
# the project's own manifests do not declare.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
cargo test --workspace --all-targets
cargo test --workspace --doc
