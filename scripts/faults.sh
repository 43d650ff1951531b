#!/usr/bin/env bash
# The fault run for the example servers (echo, http), by hand — never in CI:
# builds the examples in release and runs examples/faults.rs, which starts
# each server in each mode, does something hostile to it (descriptor
# exhaustion, slowloris, clients that never read, resets mid-answer, a full
# stderr pipe, start/load/SIGINT rounds, a fuzzer) and prints a table:
# test, server, mode, pass, figures. Exit status 1 if anything failed.
#
#   scripts/faults.sh                     # default sizes (~25 min: 500 SIGINT rounds per mode)
#   scripts/faults.sh --iterations 20 --load-for 300ms --fuzz-for 5s --slowloris-for 12s
#   scripts/faults.sh --only sigint,fuzz --modes mn
#
# Arguments go to the program; `--help` lists them.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example echo --example http --example faults
exec target/release/examples/faults --bins target/release/examples "$@"
