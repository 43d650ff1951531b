#!/usr/bin/env bash
# Packages every published crate as `cargo publish` would, in dependency
# order (switchyard-base, switchyard-loop, switchyard-mn, switchyard-api,
# switchyard-rt), and builds each package from its .crate file against the
# ones packaged before it. Run by hand before a release: it needs the crates.io index. The
# benchmarks package (benches/) is `publish = false` and left out.
#
#   scripts/package.sh            # package and verify all five
#   scripts/package.sh --list     # also list the files each .crate holds
set -euo pipefail
cd "$(dirname "$0")/.."
crates=(switchyard-base switchyard-loop switchyard-mn switchyard-api switchyard-rt)
args=()
for c in "${crates[@]}"; do args+=(-p "$c"); done
# Cargo unpacks those fresh .crate files into its registry cache and reuses
# a copy unpacked earlier under the same name and version, so a second run
# would verify the first run's sources: drop such copies first.
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
for c in "${crates[@]}"; do
  rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$c-$version"
done
# The verification builds reuse compiled copies the same way: a crate from
# the temporary registry counts as immutable, so its build from an earlier
# run (same name, version and registry) is taken as it is, and a crate
# built against it sees the earlier run's API. They build in a target dir
# of their own, where the five crates' artifacts are dropped first; their
# dependencies stay compiled.
export CARGO_TARGET_DIR=target/package-verify
for c in "${crates[@]}"; do
  cargo clean -q -p "$c" 2>/dev/null || true
done
# `cargo package` on several workspace members packages them in dependency
# order and verifies each against the others' fresh .crate files, so no
# crate needs to be on crates.io first.
cargo package "${args[@]}" --allow-dirty
if [ "${1:-}" = "--list" ]; then
  for c in "${crates[@]}"; do
    echo "== $c"
    cargo package -p "$c" --list --allow-dirty
  done
fi
ls -l "$CARGO_TARGET_DIR"/package/*.crate
