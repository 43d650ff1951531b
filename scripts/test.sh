#!/usr/bin/env bash
# The whole test suite (the README's second command). Installs nothing the
# project's own manifests do not declare.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets
