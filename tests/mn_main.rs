//! The main future in mn mode: a G of its own on a P of the calling thread
//! (Go's main goroutine on m0; mn-sched's sched/host.rs). What a user sees:
//! main and the tasks it talks to share a thread instead of waking each
//! other across threads; main is a task in the dump; sysmon takes main's P
//! when main computes; a panic in main reaches the caller; what main leaves
//! bound to its thread is cancelled when it returns; a blocking-style task
//! moves off main's thread before it blocks there.
#![cfg(feature = "mn")]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant};

use switchyard::sync::mpsc;
use switchyard::{spawn, Mode};

fn mn(procs: usize) -> switchyard::Runtime {
    switchyard::Builder::new()
        .ignore_env()
        .mode(Mode::Mn)
        .procs(procs)
        .build()
        .expect("mn runtime")
}

fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Runs `f` on a thread of its own and fails the test if it has not
/// returned within `limit` (a hang is a failure here, not a stuck suite).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std_mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("did not finish within {limit:?}"))
}

#[test]
fn main_and_the_task_it_pings_share_a_thread() {
    within(Duration::from_secs(60), || {
        let rt = mn(2);
        rt.block_on(async {
            let main_tid = gettid();
            let (tx1, mut rx1) = mpsc::channel::<u64>(1);
            let (tx2, mut rx2) = mpsc::channel::<(u64, i32)>(1);
            let echo = spawn(async move {
                while let Some(v) = rx1.recv().await {
                    if tx2.send((v + 1, gettid())).await.is_err() {
                        break;
                    }
                }
            });
            let (mut x, mut here) = (0u64, 0u32);
            for _ in 0..10_000 {
                tx1.send(x).await.unwrap();
                let (v, tid) = rx2.recv().await.unwrap();
                x = v;
                here += u32::from(tid == main_tid);
                assert_eq!(gettid(), main_tid, "main never leaves its thread");
            }
            drop(tx1);
            echo.await.unwrap();
            assert_eq!(x, 10_000);
            // A wake between main and the task is a push onto main's P:
            // the task runs on main's thread (another M may steal it now
            // and then, when its P idles).
            assert!(
                here >= 9_000,
                "the echo task ran on main's thread for {here} of 10000 round trips"
            );
        });
    });
}

#[test]
fn main_is_a_task_with_an_id_and_a_dump_entry() {
    within(Duration::from_secs(30), || {
        let rt = mn(2);
        rt.block_on(async {
            let id = switchyard::mn::current_task_id().expect("main runs as a task");
            let dump = switchyard::dump();
            assert!(
                dump.contains(&format!("task {id} (main) [running]")),
                "{dump}"
            );
            assert!(dump.contains("spawned at tests/mn_main.rs:"), "{dump}");
            // The calling thread is one of the runtime's threads now.
            assert!(switchyard::stats().unwrap().threads >= 1);
        });
    });
}

#[test]
fn sysmon_takes_the_p_of_a_main_that_computes() {
    within(Duration::from_secs(60), || {
        // One P: while main computes without a runtime call, the counter
        // task runs only if sysmon takes main's P for another M.
        let rt = mn(1);
        rt.block_on(async {
            let count = Arc::new(AtomicU64::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let counter = spawn({
                let (count, stop) = (count.clone(), stop.clone());
                async move {
                    while !stop.load(Ordering::Relaxed) {
                        count.fetch_add(1, Ordering::Relaxed);
                        switchyard::yield_now().await;
                    }
                }
            });
            switchyard::yield_now().await; // the counter has run once
            let before = count.load(Ordering::Relaxed);
            let t = Instant::now();
            while t.elapsed() < Duration::from_millis(300) {
                std::hint::spin_loop();
            }
            let during = count.load(Ordering::Relaxed) - before;
            stop.store(true, Ordering::Relaxed);
            counter.await.unwrap();
            assert!(
                during > 100,
                "the other task ran {during} times while main computed 300 ms"
            );
        });
    });
}

#[test]
fn a_panic_in_main_reaches_the_caller_and_the_runtime_goes_on() {
    within(Duration::from_secs(30), || {
        let rt = mn(2);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(async {
                let _ = spawn(async { 1 }).await;
                panic!("main fell over");
            })
        }));
        let payload = r.expect_err("the panic propagates");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"main fell over"));
        assert_eq!(rt.block_on(async { spawn(async { 7 }).await.unwrap() }), 7);
    });
}

#[test]
fn main_need_not_be_send_and_hosts_local_tasks() {
    within(Duration::from_secs(30), || {
        let rt = mn(2);
        let dropped = Arc::new(AtomicBool::new(false));
        struct SetOnDrop(Arc<AtomicBool>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let d = dropped.clone();
        let v = rt.block_on(async move {
            let shared = std::rc::Rc::new(std::cell::Cell::new(1));
            let s = shared.clone();
            let done = switchyard::spawn_local(async move { s.set(s.get() + 1) });
            done.await.unwrap();
            // Still pending when main returns: dropped, as at the end of a
            // block_on.
            let guard = SetOnDrop(d);
            let _never = switchyard::spawn_local(async move {
                let _g = guard;
                std::future::pending::<()>().await;
            });
            switchyard::yield_now().await;
            shared.get()
        });
        assert_eq!(v, 2);
        assert!(
            dropped.load(Ordering::SeqCst),
            "the pending local task was dropped"
        );
    });
}

#[test]
fn a_task_left_bound_to_mains_thread_is_cancelled_when_main_returns() {
    within(Duration::from_secs(30), || {
        // One P: the task runs on main's thread, and its blocking-style
        // sleep inside a poll binds it there. Main returning must not wait
        // the minute out.
        let rt = mn(1);
        let t = Instant::now();
        let h = rt.block_on(async {
            let h = spawn(async {
                switchyard::mn::sleep(Duration::from_secs(60));
            });
            switchyard::yield_now().await; // it runs, and parks, here
            Some(h)
        });
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        let r = rt.block_on(h.expect("the task's handle"));
        assert!(r.as_ref().is_err_and(|e| e.is_cancelled()), "{r:?}");
    });
}

#[test]
fn a_blocking_style_task_leaves_mains_thread_before_a_syscall() {
    within(Duration::from_secs(30), || {
        let rt = mn(1);
        rt.block_on(async {
            let main_tid = gettid();
            // SAFETY: the G holds no thread-local reference or std lock
            // guard across a park.
            let h = unsafe { switchyard::mn::go(|| switchyard::syscall(gettid)) };
            let in_syscall = switchyard::spawn_blocking(move || h.join().unwrap())
                .await
                .unwrap();
            assert_ne!(in_syscall, main_tid, "the syscall ran on main's thread");
        });
    });
}

#[test]
fn block_on_inside_the_runtime_is_refused() {
    within(Duration::from_secs(30), || {
        let rt = std::rc::Rc::new(mn(2));
        let rt2 = rt.clone();
        let r = rt.block_on(async move {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt2.block_on(async { 1 })))
        });
        assert!(r.is_err(), "a nested block_on must panic, not deadlock");
    });
}
