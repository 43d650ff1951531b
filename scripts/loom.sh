#!/usr/bin/env bash
# Model-checks the lock-free and locking protocols with loom (run by hand, not
# by CI: minutes of CPU). Each crate compiles its protocols against loom's
# types under --cfg loom; the tests are named loom_*:
# - rt-base: the state lock (state_lock.rs: compat's channels, mn's
#   readiness waiters);
# - loop-core: the remote wake queue;
# - mn-sched: the run queue (push, pop, steal, runnext with a 4-slot ring),
#   park/wake (Go's order, the NOTIFIED bit, the async tasks' clear-before-poll,
#   a park on the thread inside syscall),
#   the spinning protocol, a local task's queued flag (aio), the
#   netpoller's readiness word (no lost wake, no erased event) and the
#   timers' sleeper handshake (an earlier timer is never slept through), and the
#   syscall ownership word (sched/syscall.rs: a syscall exit and a runtime
#   call from user code against sysmon's retake, the latter's asymmetric
#   fences modelled as fence(SeqCst)).
# Its own target dir keeps the normal build cached. Extra arguments go to
# the test binaries (e.g. a test name).
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/loom}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
cargo test -p switchyard-base --release --lib loom_ -- "$@"
cargo test -p switchyard-loop --release --lib loom_ -- "$@"
cargo test -p switchyard-mn --release --lib loom_ -- "$@"
