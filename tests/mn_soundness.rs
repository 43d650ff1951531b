//! Trying to break mn's safe API with safe code: a blocking-style call made
//! inside an async task's poll must not move the poll to another thread;
//! `unlock_os_thread` must not unpin a `spawn_local` host; a park inside
//! `syscall` must work, not abort; a detached task's output must be dropped
//! where a `Drop` may park. Each check runs at 2 and 4 Ps beside tasks that
//! keep every P busy, so a G that could move would.
//!
//! Scenarios that aborted or hung the process before run in a child
//! process (this test binary re-run with `SOUNDNESS_CHILD` set), so the
//! parent reports a failure rather than dying with it.

use std::cell::Cell;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard::mn::{self, chan, Select, WaitGroup};
use switchyard::{spawn, spawn_local, Mode};

fn gettid() -> i64 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

thread_local! {
    /// What the poll believes is "this thread's" state.
    static MINE: Cell<i64> = const { Cell::new(0) };
}

/// Runs `f` on a fresh mn runtime with `procs` Ps.
fn mn<F: std::future::Future>(procs: usize, f: F) -> F::Output {
    switchyard::Builder::new()
        .ignore_env()
        .mode(Mode::Mn)
        .procs(procs)
        .build()
        .expect("mn runtime")
        .block_on(f)
}

/// Tasks that compute 200 µs at a time and yield, one per P and one more,
/// until `stop`: every P stays busy, so a woken G is taken by whichever M
/// gets to it first.
fn competitors(procs: usize, stop: &Arc<AtomicBool>) -> Vec<switchyard::JoinHandle<()>> {
    (0..=procs)
        .map(|_| {
            let stop = stop.clone();
            spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    while t.elapsed() < Duration::from_micros(200) {
                        std::hint::spin_loop();
                    }
                    switchyard::yield_now().await;
                }
            })
        })
        .collect()
}

/// Starts a blocking-style G that runs `f` after `ms` milliseconds.
fn later(ms: u64, f: impl FnOnce() + Send + 'static) {
    // SAFETY: the G holds no thread-local reference or std lock guard
    // across its parks.
    drop(unsafe {
        mn::go(move || {
            mn::sleep(Duration::from_millis(ms));
            f();
        })
    });
}

/// One blocking-style call, made synchronously inside a poll, with what
/// releases it arranged by `call` itself (a G that acts a little later).
type Call = fn();

fn call_yield() {
    for _ in 0..5 {
        mn::yield_now();
    }
}

fn call_park() {
    let woken = Arc::new(AtomicBool::new(false));
    let (w, waker) = (woken.clone(), mn::current_waker());
    later(2, move || {
        w.store(true, Ordering::Release);
        waker.wake();
    });
    while !woken.load(Ordering::Acquire) {
        mn::park();
    }
}

fn call_sleep() {
    mn::sleep(Duration::from_millis(2));
}

fn call_chan_recv() {
    let (tx, rx) = chan::rendezvous();
    later(2, move || tx.send(7u32).unwrap());
    assert_eq!(rx.recv().unwrap(), 7);
}

fn call_chan_send() {
    let (tx, rx) = chan::rendezvous();
    later(2, move || assert_eq!(rx.recv().unwrap(), 8u32));
    tx.send(8).unwrap();
}

fn call_select() {
    let (tx, rx) = chan::rendezvous();
    let (_tx2, rx2) = chan::rendezvous::<u32>();
    later(2, move || tx.send(9u32).unwrap());
    let got = Select::new()
        .recv(&rx, |v| v.unwrap())
        .recv(&rx2, |v| v.unwrap())
        .wait();
    assert_eq!(got, 9);
}

fn call_mutex() {
    let m = Arc::new(mn::Mutex::new(0u32));
    let (held_tx, held_rx) = chan::rendezvous();
    let m2 = m.clone();
    // SAFETY: the G holds only an mn::Mutex guard across its parks, which
    // is allowed.
    drop(unsafe {
        mn::go(move || {
            let mut g = m2.lock();
            held_tx.send(()).unwrap();
            mn::sleep(Duration::from_millis(3));
            *g += 1;
        })
    });
    held_rx.recv().unwrap();
    assert_eq!(*m.lock(), 1);
}

fn call_wait_group() {
    let wg = Arc::new(WaitGroup::new());
    wg.add(1);
    let wg2 = wg.clone();
    later(2, move || wg2.done());
    wg.wait();
}

fn call_join() {
    // SAFETY: the G only sleeps.
    let h = unsafe {
        mn::go(|| {
            mn::sleep(Duration::from_millis(2));
            11u32
        })
    };
    assert_eq!(h.join().unwrap(), 11);
}

fn call_net() {
    use std::io::{Read, Write};
    let listener = mn::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    later(2, move || {
        let mut s = mn::net::TcpStream::connect(addr).unwrap();
        mn::sleep(Duration::from_millis(2));
        s.write_all(b"ping").unwrap();
    });
    let (mut s, _) = listener.accept().unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
}

const CALLS: &[(&str, Call)] = &[
    ("yield_now", call_yield),
    ("park", call_park),
    ("sleep", call_sleep),
    ("chan recv", call_chan_recv),
    ("chan send", call_chan_send),
    ("Select", call_select),
    ("Mutex::lock", call_mutex),
    ("WaitGroup::wait", call_wait_group),
    ("JoinHandle::join", call_join),
    ("net accept/read", call_net),
];

/// Makes every call of [`CALLS`] inside a poll, `rounds` times, holding a
/// thread-local reference across it; returns the calls that came back on
/// another thread.
async fn calls_inside_a_poll(rounds: usize) -> Vec<String> {
    let mut moved = Vec::new();
    for round in 0..rounds {
        for &(name, call) in CALLS {
            // One task per call, so each starts on whichever thread the
            // scheduler picks; the whole call is inside one poll.
            let r = spawn(async move {
                MINE.with(|mine| {
                    let before = gettid();
                    mine.set(before);
                    call();
                    let after = gettid();
                    (before, after, mine.get())
                })
            })
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            let (before, after, seen) = r;
            if before != after || seen != before {
                moved.push(format!(
                    "{name} (round {round}): thread {before} -> {after}, cell {seen}"
                ));
            }
        }
    }
    moved
}

fn no_migration_at(procs: usize) {
    let moved = mn(procs, async move {
        let stop = Arc::new(AtomicBool::new(false));
        let busy = competitors(procs, &stop);
        let moved = calls_inside_a_poll(4).await;
        stop.store(true, Ordering::Relaxed);
        for h in busy {
            h.await.unwrap();
        }
        moved
    });
    assert!(moved.is_empty(), "a poll moved threads: {moved:#?}");
}

#[test]
fn blocking_style_calls_inside_a_poll_stay_on_its_thread_2p() {
    no_migration_at(2);
}

#[test]
fn blocking_style_calls_inside_a_poll_stay_on_its_thread_4p() {
    no_migration_at(4);
}

#[test]
fn a_poll_that_waits_past_the_thread_cap_panics_clearly() {
    // Two Ps and a cap of two threads: none is left to dedicate to a wait
    // inside a poll, so the call panics in the task (an Err on its handle)
    // rather than hanging the runtime.
    let err = switchyard::Builder::new()
        .ignore_env()
        .mode(Mode::Mn)
        .procs(2)
        .max_threads(2)
        .build()
        .unwrap()
        .block_on(async { spawn(async { call_sleep() }).await.unwrap_err() });
    let msg = err.panic_message().unwrap_or_default().to_string();
    assert!(
        msg.contains("inside an async task") && msg.contains("RUNTIME_MAXTHREADS"),
        "{msg}"
    );
}

fn local_host_stays_pinned_at(procs: usize) {
    let tids = mn(procs, async move {
        let stop = Arc::new(AtomicBool::new(false));
        let busy = competitors(procs, &stop);
        let tids = spawn(async {
            let (tx, local) = switchyard::sync::oneshot::channel();
            drop(spawn_local(async move {
                let mut seen = Vec::new();
                for _ in 0..30 {
                    seen.push(gettid());
                    switchyard::time::sleep(Duration::from_millis(1)).await;
                }
                let _ = tx.send(seen);
            }));
            // The user's lock count is zero: these must not undo the pin
            // that spawn_local took.
            for _ in 0..3 {
                mn::unlock_os_thread();
            }
            let mut seen = Vec::new();
            for _ in 0..30 {
                seen.push(gettid());
                switchyard::time::sleep(Duration::from_millis(1)).await;
            }
            seen.extend(local.await.unwrap());
            seen
        })
        .await
        .unwrap();
        stop.store(true, Ordering::Relaxed);
        for h in busy {
            h.await.unwrap();
        }
        tids
    });
    assert!(
        tids.iter().all(|&t| t == tids[0]),
        "the host or its local task ran on several threads: {tids:?}"
    );
}

#[test]
fn unlock_os_thread_does_not_unpin_a_spawn_local_host_2p() {
    local_host_stays_pinned_at(2);
}

#[test]
fn unlock_os_thread_does_not_unpin_a_spawn_local_host_4p() {
    local_host_stays_pinned_at(4);
}

/// The child-process switch: the name of the scenario to run, if this
/// process is a child.
const CHILD: &str = "SOUNDNESS_CHILD";

/// Re-runs `test` of this binary as a child for `scenario`; asserts it
/// passed within `limit` (it is killed past that).
fn child_passes(test: &str, scenario: &str, limit: Duration) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, scenario)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn child test process");
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match status {
        Some(st) => assert!(st.success(), "child {scenario} failed ({st}):\n{text}"),
        None => panic!("child {scenario} hung past {limit:?}:\n{text}"),
    }
}

fn is_child(scenario: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|v| v == scenario)
}

#[test]
fn parks_inside_syscall_work() {
    if !is_child("syscall") {
        child_passes(
            "parks_inside_syscall_work",
            "syscall",
            Duration::from_secs(30),
        );
        return;
    }
    for procs in [1, 2, 4] {
        mn(procs, async {
            spawn(async {
                let (tx, rx) = chan::rendezvous();
                later(3, move || {
                    tx.send(1u32).unwrap();
                    tx.send(2u32).unwrap();
                });
                let tid = gettid();
                assert_eq!(switchyard::syscall(|| rx.recv().unwrap()), 1);
                assert_eq!(switchyard::syscall_blocking(|| rx.recv().unwrap()), 2);
                let t = Instant::now();
                switchyard::syscall(|| mn::sleep(Duration::from_millis(5)));
                assert!(t.elapsed() >= Duration::from_millis(5));
                switchyard::syscall_blocking(|| mn::sleep(Duration::from_millis(1)));
                switchyard::syscall(mn::yield_now);
                switchyard::syscall_blocking(mn::yield_now);
                assert_eq!(gettid(), tid, "a syscall never leaves its thread");
                // The runtime goes on: other tasks ran meanwhile.
                spawn(async { 5 }).await.unwrap()
            })
            .await
            .unwrap();
        });
    }
}

#[test]
fn a_park_inside_syscall_is_cancelled_at_shutdown() {
    if !is_child("syscall-shutdown") {
        child_passes(
            "a_park_inside_syscall_is_cancelled_at_shutdown",
            "syscall-shutdown",
            Duration::from_secs(30),
        );
        return;
    }
    let (tx, rx) = chan::rendezvous::<u32>();
    let entered = Arc::new(AtomicBool::new(false));
    let e = entered.clone();
    let rt = switchyard::Builder::new()
        .ignore_env()
        .mode(Mode::Mn)
        .procs(2)
        .build()
        .unwrap();
    let mut stuck = None;
    rt.block_on(async {
        stuck = Some(spawn(async move {
            e.store(true, Ordering::Release);
            switchyard::syscall(|| rx.recv())
        }));
        // Main spins rather than awaits until the task runs: sysmon then
        // takes main's P for another thread, where the task blocks. Had
        // main waited, the task would run (and block) on main's own
        // thread, holding main until the call returns (CAVEATS-mn.md,
        // "Main's thread").
        while !entered.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
        switchyard::time::sleep(Duration::from_millis(20)).await;
    });
    let t = Instant::now();
    drop(rt);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "shutdown waited {:?}",
        t.elapsed()
    );
    drop((stuck, tx));
}

/// Sends on a rendezvous channel when dropped: a `Drop` that parks.
struct SendOnDrop(chan::Sender<u32>);

impl Drop for SendOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(7);
    }
}

#[test]
fn a_detached_output_that_parks_in_drop_does_not_stall_its_p() {
    if !is_child("detached-drop") {
        child_passes(
            "a_detached_output_that_parks_in_drop_does_not_stall_its_p",
            "detached-drop",
            Duration::from_secs(30),
        );
        return;
    }
    // One P: if the output were dropped on the scheduler's stack, its send
    // would park that thread with the only P, and the receiver never runs.
    for round in 0..10 {
        let got = mn(1, async move {
            let (tx, rx) = chan::rendezvous();
            // SAFETY: the G holds nothing across its park.
            let receiver = unsafe {
                mn::go(move || {
                    // Not waiting yet when the output is dropped: the send
                    // in its drop must park.
                    mn::sleep(Duration::from_millis(5));
                    rx.recv_timeout(Duration::from_secs(5))
                })
            };
            let task = spawn(async move {
                switchyard::yield_now().await;
                SendOnDrop(tx)
            });
            if round % 2 == 0 {
                drop(task); // detached before the output exists
            } else {
                while !task.is_finished() {
                    switchyard::yield_now().await;
                }
                drop(task); // detached after: dropped here, on this task
            }
            switchyard::spawn_blocking(move || receiver.join().unwrap())
                .await
                .unwrap()
        });
        assert_eq!(got, Ok(7), "round {round}");
    }
}

#[test]
fn every_output_is_dropped_exactly_once() {
    // Handles dropped before, during and after completion, and joined,
    // racing the tasks on 4 Ps: each output's drop runs once.
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let n = 20_000;
    let d = drops.clone();
    mn(4, async move {
        let mut joined = Vec::new();
        for i in 0..n {
            let d = d.clone();
            let h = spawn(async move {
                if i % 3 == 0 {
                    switchyard::yield_now().await;
                }
                Counted(d)
            });
            match i % 4 {
                0 => drop(h),
                1 => joined.push(h),
                _ => {
                    if i % 8 == 2 {
                        switchyard::yield_now().await;
                    }
                    drop(h)
                }
            }
        }
        for h in joined {
            drop(h.await.unwrap());
        }
        // Wait for the detached ones to finish.
        let t = Instant::now();
        while d.load(Ordering::Relaxed) < n && t.elapsed() < Duration::from_secs(10) {
            switchyard::time::sleep(Duration::from_millis(1)).await;
        }
    });
    assert_eq!(drops.load(Ordering::Relaxed), n);
}
