//! Helpers shared by the mn-sched integration tests.
#![allow(dead_code)]

use std::process::{Command, Output};

use mn_sched::{JoinError, Runtime};

/// A runtime with `procs` Ps and otherwise default settings.
pub fn rt(procs: usize) -> Runtime {
    Runtime::builder().procs(procs).build().expect("runtime")
}

/// Runs `f` as the main G of a fresh runtime with `procs` Ps.
pub fn run<T: Send + 'static>(procs: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    // SAFETY: test bodies hold no thread-local reference or std lock guard
    // across a park.
    unsafe { rt(procs).block_on(f) }.unwrap_or_else(|e: JoinError| panic!("main G failed: {e}"))
}

/// The calling OS thread's id.
pub fn gettid() -> i64 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

/// Threads of this process (from /proc/self/status).
pub fn threads_now() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// Environment variable that tells a re-executed test binary which child
/// scenario to run.
pub const CHILD: &str = "MN_SCHED_TEST_CHILD";

/// Whether this process is the child for `scenario`.
pub fn is_child(scenario: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|v| v == scenario)
}

/// Re-runs this test binary with only `test` selected, as the child for
/// `scenario`, and returns its output.
pub fn run_child(test: &str, scenario: &str) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, scenario)
        .output()
        .expect("spawn child test process")
}

/// Recurses `depth` times with a 1 KiB frame (`u64::MAX`: until the stack
/// overflows); returns a sum so nothing is optimised away.
pub fn recurse(depth: u64) -> u64 {
    let buf = std::hint::black_box([depth as u8; 1024]);
    if depth == 0 {
        return 0;
    }
    recurse(depth - 1) + u64::from(buf[0])
}

/// A child that overflowed a 64 KiB G stack printed the task and the stack
/// size, and aborted.
pub fn assert_overflow_abort_64k(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("switchyard: stack overflow in task ")
            && stderr.contains("(stack size 64 KiB"),
        "unexpected stderr:\n{stderr}"
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "status {:?}",
        out.status
    );
}
