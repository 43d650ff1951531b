//! mn's own stderr lines when nobody reads stderr: each child process
//! points fd 2 at a pipe it has filled and never reads, and the runtime
//! must neither hang nor stop (`rt_base::diag`; the overflow handler's
//! bounded wait).

mod util;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mn_sched::{go, Runtime};
use util::{is_child, recurse, CHILD};

/// Makes fd 2 a pipe that is full and that nobody reads (the read end stays
/// open, unread, for the life of the process).
fn fill_stderr() {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors; the pipe is this
    // process's own, so its flags are ours to change; fd 2 is replaced.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
        assert_eq!(libc::dup2(fds[1], 2), 2);
        libc::close(fds[1]);
        libc::fcntl(2, libc::F_SETFL, libc::O_NONBLOCK);
        let chunk = [b'.'; 4096];
        while libc::write(2, chunk.as_ptr().cast(), chunk.len()) > 0 {}
        libc::fcntl(2, libc::F_SETFL, 0);
    }
}

/// Whether SIGQUIT still has its default action (which ends the process).
fn quit_is_default() -> bool {
    // SAFETY: all-zero is a valid sigaction to fill; a null new action only
    // reads the current one.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGQUIT, std::ptr::null(), &mut old);
        old.sa_sigaction == libc::SIG_DFL
    }
}

/// Re-runs this binary as the child for `scenario`, killing it after
/// `limit`; its exit status, or `None` if it had to be killed.
fn child_status(test: &str, scenario: &str, limit: Duration) -> Option<std::process::ExitStatus> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, scenario)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child test process");
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn a_stack_overflow_aborts_with_stderr_full() {
    if is_child("overflow-full-stderr") {
        fill_stderr();
        let rt = Runtime::builder()
            .procs(1)
            .stack_size(64 * 1024)
            .build()
            .unwrap();
        // SAFETY: the G only recurses.
        let _ = unsafe { rt.block_on(|| go(|| recurse(u64::MAX)).join()) };
        unreachable!("the overflow should have aborted the process");
    }
    let st = child_status(
        "a_stack_overflow_aborts_with_stderr_full",
        "overflow-full-stderr",
        Duration::from_secs(20),
    )
    .expect("the overflow aborts within 20 s, stderr full or not");
    assert_eq!(st.signal(), Some(libc::SIGABRT), "{st:?}");
}

#[test]
fn schedtrace_and_sigquit_with_stderr_full_neither_stop_gs_nor_shutdown() {
    if is_child("schedtrace-full-stderr") {
        fill_stderr();
        let rt = Runtime::builder()
            .procs(2)
            .schedtrace(Duration::from_millis(1), true)
            .control_signals(true)
            .build()
            .unwrap();
        // SAFETY: the Gs only sleep, signal and count.
        let n = unsafe {
            rt.block_on(|| {
                // sysmon installs the SIGQUIT handler as it starts.
                let start = Instant::now();
                while quit_is_default() {
                    assert!(start.elapsed() < Duration::from_secs(10));
                    mn_sched::sleep(Duration::from_millis(5));
                }
                // SIGQUIT dumps and schedtrace lines pile up meanwhile.
                for _ in 0..20 {
                    libc::raise(libc::SIGQUIT);
                    mn_sched::sleep(Duration::from_millis(10));
                }
                (0..100)
                    .map(|i| go(move || i))
                    .map(|h| h.join().unwrap())
                    .sum::<u64>()
            })
        }
        .unwrap();
        assert_eq!(n, 4950);
        drop(rt); // joins sysmon: it must not be stuck in a write
        std::process::exit(0);
    }
    let st = child_status(
        "schedtrace_and_sigquit_with_stderr_full_neither_stop_gs_nor_shutdown",
        "schedtrace-full-stderr",
        Duration::from_secs(30),
    )
    .expect("the child finishes within 30 s with stderr full");
    assert!(st.success(), "{st:?}");
}
