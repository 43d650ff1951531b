#!/usr/bin/env bash
# Runs mn-sched's tests under AddressSanitizer. mn-sched's build script sees
# -Zsanitizer=address and sets cfg(switchyard_asan), which makes every G
# switch call __sanitizer_start_switch_fiber / __sanitizer_finish_switch_fiber
# (g/run.rs, module `fiber`), so ASan knows which stack is live, and turns
# the handoff yield (a G-to-G switch that bypasses g0) off.
#
# Needs the sanitizer runtime shipped with the x86_64-unknown-linux-gnu
# toolchain; RUSTC_BOOTSTRAP=1 lets the stable compiler take -Z flags.
#
# Notes:
# * handle_segv=0: the tests that overflow a stack on purpose (in a child
#   process) need mn-sched's own SIGSEGV handler, not ASan's.
# * detect_leaks=0: LeakSanitizer cannot see into G stacks parked at exit,
#   and tests that detach a G on purpose leak by design.
# * The tests that count a G stack's resident pages or RSS per task are
#   skipped: ASan moves locals to its fake stacks, pads frames with
#   redzones and adds shadow memory, so the pages a G touches are not the
#   ones a normal build touches.
# * The compile-fail test (tests/compile_fail.rs) is skipped: it checks
#   compiler errors, which ASan does not change, and its nested cargo
#   would build with the sanitizer into a second target directory.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Zsanitizer=address ${RUSTFLAGS:-}"
export RUSTDOCFLAGS="-Zsanitizer=address ${RUSTDOCFLAGS:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/asan}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-handle_segv=0:detect_leaks=0:use_sigaltstack=0}"
exec cargo test -p switchyard-mn --target x86_64-unknown-linux-gnu --lib --tests "$@" -- \
    --skip a_stack_that_went_deep_gives_its_pages_back \
    --skip a_g_parked_on_a_channel_touches_one_stack_page \
    --skip rss_per_parked_async_task \
    --skip unguarded_stacks_need_unsafe
