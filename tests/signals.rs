//! Signals in every mode: listeners' pipes and deliveries that find no
//! listener. Signals are process-wide, so this binary (harness = false)
//! runs its checks one after another.
//!
//! * `dropped_elsewhere`: a `Signal` dropped on another thread leaves
//!   nothing registered behind: the next listener of the same signal works.
//! * `pipes_closed`: dropping a listener closes its pipe (that no signal
//!   handler still writes to it is checked in loop-core's `signal.rs`,
//!   where a handler can be held between its two steps).
//! * `ctrl_c_between_calls`: a SIGINT that arrives between two `ctrl_c()`
//!   calls completes the second at once (once, however many arrived).

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use switchyard::signal::{ctrl_c, signal, SignalKind};
use switchyard::testing::{block_on, MODES};
use switchyard::time::{sleep, timeout};

fn main() {
    let args: Vec<String> = std::env::args().collect();
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
