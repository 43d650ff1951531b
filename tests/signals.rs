//! Signals in every mode: listeners' pipes, deliveries that find no
//! listener, and the control signals (SIGQUIT: the task dump, SIGUSR2: the
//! trace). Signals are process-wide, so this binary (harness = false) runs
//! its checks one after another, and re-runs itself as a child process for
//! what only a whole process shows (a dump on stderr, surviving SIGUSR2).
//!
//! * `dropped_elsewhere`: a `Signal` dropped on another thread leaves
//!   nothing registered behind: the next listener of the same signal works.
//! * `pipes_closed`: dropping a listener closes its pipe (that no signal
//!   handler still writes to it is checked in rt-base's `signal.rs`,
//!   where a handler can be held between its two steps).
//! * `ctrl_c_between_calls`: a SIGINT that arrives between two `ctrl_c()`
//!   calls completes the second at once (once, however many arrived).
//! * `quit_and_usr2_together`: SIGQUIT and SIGUSR2 that arrive while the
//!   program is busy both take effect: the dump and the trace file.
//! * `usr2_without_trace`: SIGUSR2 without `RUNTIME_TRACE` does nothing,
//!   and the program goes on.

mod util;

use std::future::{poll_fn, Future};
use std::io::{BufRead, BufReader, Write};
use std::pin::pin;
use std::process::Command;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use switchyard::signal::{ctrl_c, signal, SignalKind};
use switchyard::testing::{block_on, MODES};
use switchyard::time::{sleep, timeout};
use util::{mode_envs, Proc};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        match args[2].as_str() {
            "blocked" => child_blocked(),
            other => panic!("unknown child {other}"),
        }
        return;
    }
    // `cargo test --test signals -- NAME` runs the checks whose name
    // contains NAME.
    let only = args.get(1).filter(|a| !a.starts_with('-')).cloned();
    let run = |name: &str| only.as_deref().is_none_or(|o| name.contains(o));
    for &(mode, procs) in MODES {
        let label = format!("{mode} ({procs} procs)");
        if run("dropped_elsewhere") {
            println!("dropped_elsewhere: {label}");
            block_on(mode, procs, dropped_elsewhere());
        }
        if run("pipes_closed") {
            println!("pipes_closed: {label}");
            block_on(mode, procs, pipes_closed());
        }
        if run("ctrl_c_between_calls") {
            println!("ctrl_c_between_calls: {label}");
            block_on(mode, procs, ctrl_c_between_calls());
        }
    }
    for env in mode_envs() {
        if run("quit_and_usr2_together") {
            println!("quit_and_usr2_together: {env:?}");
            quit_and_usr2_together(&env);
        }
        if run("usr2_without_trace") {
            println!("usr2_without_trace: {env:?}");
            usr2_without_trace(&env);
        }
    }
    println!("signals: ok");
}

/// A real-time signal nothing else uses.
fn rt_signal(n: i32) -> SignalKind {
    SignalKind::from_raw(libc::SIGRTMIN() + n)
}

/// Delivers `kind` to the calling thread: its handler has run when this
/// returns.
fn raise(kind: SignalKind) {
    // SAFETY: raise(3) only sends a signal; every signal raised here has
    // our handler installed (a listener was made first).
    assert_eq!(unsafe { libc::raise(kind.as_raw()) }, 0);
}

/// Polls `fut` once, with a waker that does nothing.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    fut_poll(fut, &mut Context::from_waker(Waker::noop()))
}

fn fut_poll<F: Future + Unpin>(fut: &mut F, cx: &mut Context<'_>) -> Poll<F::Output> {
    std::pin::Pin::new(fut).poll(cx)
}

// ------------------------------------------------------------------ pipes

async fn dropped_elsewhere() {
    let kind = rt_signal(1);
    for _ in 0..3 {
        let s = signal(kind).expect("a listener");
        std::thread::spawn(move || drop(s)).join().unwrap();
        sleep(Duration::from_millis(5)).await;
        let mut s = signal(kind).expect("a listener after one dropped on another thread");
        raise(kind);
        timeout(Duration::from_secs(5), s.recv())
            .await
            .expect("the new listener gets the delivery");
    }
}

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

async fn pipes_closed() {
    let kind = rt_signal(4);
    let warm = signal(kind).unwrap();
    drop(warm);
    let before = open_fds();
    for _ in 0..200 {
        let s = signal(kind).unwrap();
        drop(s);
    }
    let many: Vec<_> = (0..50).map(|_| signal(kind).unwrap()).collect();
    drop(many);
    let after = open_fds();
    assert!(
        after <= before + 2,
        "{before} open fds before 250 listeners came and went, {after} after"
    );
}

async fn ctrl_c_between_calls() {
    // The first call installs the handler (from then on SIGINT no longer
    // ends the process) and completes at the next SIGINT.
    let mut first = pin!(ctrl_c());
    assert!(poll_once(&mut first).is_pending());
    raise(SignalKind::interrupt());
    timeout(Duration::from_secs(5), first)
        .await
        .expect("ctrl_c completes at SIGINT")
        .unwrap();
    // Two more arrive while nobody waits: the next call completes at once,
    // once.
    raise(SignalKind::interrupt());
    raise(SignalKind::interrupt());
    timeout(Duration::from_secs(1), ctrl_c())
        .await
        .expect("a SIGINT between two calls completes the second")
        .unwrap();
    assert!(
        timeout(Duration::from_millis(100), ctrl_c()).await.is_err(),
        "deliveries nobody waited for count once"
    );
    // A listener kept across deliveries sees them as before.
    let mut s = signal(SignalKind::interrupt()).unwrap();
    raise(SignalKind::interrupt());
    timeout(Duration::from_secs(5), s.recv()).await.unwrap();
    let mut second = pin!(s.recv());
    let pending = poll_fn(|cx| Poll::Ready(fut_poll(&mut second, cx).is_pending())).await;
    assert!(pending, "one delivery, one receive");
}

// ------------------------------------------------------------------ control signals

fn child(kind: &str, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child", kind]).envs(env.iter().copied());
    cmd
}

/// Prints "ready", then blocks its thread (in single mode the whole loop)
/// for half a second, so signals sent meanwhile are all pending at the
/// loop's next look at epoll; then waits.
fn child_blocked() {
    switchyard::run(async {
        let _waiter = switchyard::spawn(sleep(Duration::from_secs(60)));
        println!("ready");
        std::io::stdout().flush().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        println!("awake");
        std::io::stdout().flush().unwrap();
        sleep(Duration::from_secs(60)).await;
    })
}

/// Reads the child's stderr on a thread until a line contains `needle`
/// (or the pipe closes), then sends what it read.
fn stderr_until(p: &mut Proc, needle: &'static str) -> std::sync::mpsc::Receiver<String> {
    let err = p.take_stderr();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut read = String::new();
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            read.push_str(&line);
            read.push('\n');
            if line.contains(needle) {
                break;
            }
        }
        let _ = tx.send(read);
    });
    rx
}

fn quit_and_usr2_together(env: &[(&str, &str)]) {
    let path = std::env::temp_dir().join(format!(
        "switchyard-signals-{}-{}.json",
        std::process::id(),
        env.len()
    ));
    let _ = std::fs::remove_file(&path);
    let mut cmd = child("blocked", env);
    cmd.env("RUNTIME_TRACE", &path);
    let mut p = Proc::spawn(cmd);
    p.wait_line("ready");
    let dump = stderr_until(&mut p, "task dump (SIGQUIT)");
    std::thread::sleep(Duration::from_millis(50));
    p.signal("QUIT");
    p.signal("USR2");
    p.wait_line("awake");
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no trace file after SIGUSR2 ({env:?})"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let dump = dump
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("no dump after SIGQUIT ({env:?})"));
    assert!(dump.contains("task dump (SIGQUIT)"), "{env:?}: {dump}");
    assert!(
        p.child.try_wait().unwrap().is_none(),
        "the program goes on ({env:?})"
    );
    drop(p);
    let _ = std::fs::remove_file(&path);
}

fn usr2_without_trace(env: &[(&str, &str)]) {
    let mut p = Proc::spawn(child("blocked", env));
    p.wait_line("ready");
    p.signal("USR2");
    p.wait_line("awake");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        p.child.try_wait().unwrap().is_none(),
        "SIGUSR2 without RUNTIME_TRACE ended the program ({env:?}): {}",
        p.stderr()
    );
    // Still answering: SIGQUIT prints the dump.
    let dump = stderr_until(&mut p, "task dump (SIGQUIT)");
    p.signal("QUIT");
    let dump = dump
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("no dump after SIGQUIT ({env:?})"));
    assert!(dump.contains("task dump (SIGQUIT)"), "{env:?}: {dump}");
}
