//! Tasks on the loop: joining, panics, abort, detach, foreign-thread wakes
//! and joins, stale wakers, nested runtimes, shutdown.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use loop_core::{spawn, spawn_local, yield_now, Runtime};

/// A future that parks its waker where a test can reach it, and completes
/// once `flag` is set.
struct Gate {
    flag: Arc<AtomicBool>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl Future for Gate {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.flag.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.flag.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

fn gate() -> (Gate, Arc<AtomicBool>, Arc<Mutex<Option<Waker>>>) {
    let flag = Arc::new(AtomicBool::new(false));
    let waker = Arc::new(Mutex::new(None));
    (
        Gate {
            flag: flag.clone(),
            waker: waker.clone(),
        },
        flag,
        waker,
    )
}

/// Counts drops, to check destructors run.
struct DropCount(Arc<AtomicUsize>);
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn join_returns_output_in_any_order() {
    let rt = Runtime::new().unwrap();
    let sum = rt.block_on(async {
        let handles: Vec<_> = (0..1000u64).map(|i| spawn(async move { i * 2 })).collect();
        let mut sum = 0;
        for h in handles.into_iter().rev() {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, 999 * 1000);
}

#[test]
fn a_panicking_task_is_an_err_and_the_loop_goes_on() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let bad = spawn(async {
            panic!("boom in a task");
        });
        let good = spawn(async { 7 });
        let err = bad.await.unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.panic_message(), Some("boom in a task"));
        assert_eq!(good.await.unwrap(), 7);
        // The loop still spawns and runs after the panic.
        assert_eq!(spawn(async { 8 }).await.unwrap(), 8);
    });
}

#[test]
fn abort_drops_the_future_and_reports_cancelled() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let drops = Arc::new(AtomicUsize::new(0));
        let (g, _flag, _w) = gate();
        let d = DropCount(drops.clone());
        let h = spawn(async move {
            let _d = d;
            g.await;
        });
        yield_now().await; // let it start and park
        assert!(!h.is_finished());
        h.abort();
        assert_eq!(drops.load(Ordering::SeqCst), 1, "future dropped at abort");
        assert!(h.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn a_task_aborting_itself_is_cancelled_after_its_poll() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let slot: Arc<Mutex<Option<loop_core::JoinHandle<()>>>> = Arc::new(Mutex::new(None));
        let s2 = slot.clone();
        let h = spawn(async move {
            // Wait until our own handle is published, then abort ourselves.
            loop {
                if let Some(me) = s2.lock().unwrap().as_ref() {
                    me.abort();
                    break;
                }
                yield_now().await;
            }
            yield_now().await;
            unreachable!("aborted tasks are not polled again");
        });
        let probe = spawn(async { 1 });
        // Hand the task its own handle through a proxy task that joins it.
        let (tx, rx) = mpsc::channel();
        *slot.lock().unwrap() = Some(h);
        let watcher = spawn(async move {
            // Poll until the handle reports completion.
            loop {
                let done = slot.lock().unwrap().as_ref().unwrap().is_finished();
                if done {
                    break;
                }
                yield_now().await;
            }
            let h = slot.lock().unwrap().take().unwrap();
            tx.send(h.await.unwrap_err().is_cancelled()).unwrap();
        });
        watcher.await.unwrap();
        assert!(rx.recv().unwrap());
        assert_eq!(probe.await.unwrap(), 1);
    });
}

#[test]
fn abort_after_completion_keeps_the_output() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let h = spawn(async { 5 });
        while !h.is_finished() {
            yield_now().await;
        }
        h.abort();
        assert_eq!(h.await.unwrap(), 5);
    });
}

#[test]
fn dropping_the_handle_detaches() {
    let rt = Runtime::new().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    rt.block_on(async move {
        drop(spawn(async move {
            yield_now().await;
            r2.store(true, Ordering::SeqCst);
        }));
        for _ in 0..3 {
            yield_now().await;
        }
    });
    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(
        rt.stats().live_tasks,
        0,
        "a detached task's slot is freed when it completes"
    );
}

#[test]
fn yield_now_lets_every_other_ready_task_run() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let log = Arc::new(Mutex::new(Vec::new()));
        let hs: Vec<_> = (0..3)
            .map(|i| {
                let log = log.clone();
                spawn(async move {
                    for round in 0..3 {
                        log.lock().unwrap().push((round, i));
                        yield_now().await;
                    }
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
        let log = log.lock().unwrap().clone();
        let mut sorted = log.clone();
        sorted.sort();
        assert_eq!(
            log, sorted,
            "round robin: every task's round r before anyone's round r+1"
        );
    });
}

#[test]
fn a_wake_from_another_thread_reaches_the_loop() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let (g, flag, waker) = gate();
        let h = spawn(g);
        // Wait until the task parked its waker.
        while waker.lock().unwrap().is_none() {
            yield_now().await;
        }
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            flag.store(true, Ordering::Release);
            waker.lock().unwrap().take().unwrap().wake();
        });
        // The loop blocks in epoll; only the eventfd write can wake it.
        h.await.unwrap();
        t.join().unwrap();
    });
}

#[test]
fn stale_and_foreign_wakes_are_harmless() {
    let rt = Runtime::new().unwrap();
    let stale = rt.block_on(async {
        let w = Arc::new(Mutex::new(None));
        let w2 = w.clone();
        spawn(async move {
            poll_fn(|cx| {
                *w2.lock().unwrap() = Some(cx.waker().clone());
                Poll::Ready(())
            })
            .await
        })
        .await
        .unwrap();
        let stale = w.lock().unwrap().take().unwrap();
        // The slot is free now and may be reused: waking must do nothing bad.
        stale.wake_by_ref();
        let h = spawn(async { 3 });
        stale.wake_by_ref();
        assert_eq!(h.await.unwrap(), 3);
        stale
    });
    // Woken on a thread with no runtime, and after its runtime is gone.
    stale.wake_by_ref();
    drop(rt);
    thread::spawn(move || stale.wake()).join().unwrap();
}

#[test]
fn handle_spawns_from_another_thread_and_joins_there() {
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || {
        let h = handle.spawn(async { thread::current().id() });
        // Join from this foreign thread, inside a runtime of its own.
        let other = Runtime::new().unwrap();
        tx.send(()).unwrap();
        other.block_on(h).unwrap()
    });
    rt.block_on(async move {
        // Keep the loop turning until the foreign spawn has run and joined.
        while rx.try_recv().is_err() {
            loop_core::time::sleep(Duration::from_millis(1)).await;
        }
        for _ in 0..50 {
            loop_core::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let ran_on = t.join().unwrap();
    assert_eq!(
        ran_on,
        thread::current().id(),
        "the task ran on the loop thread"
    );
}

#[test]
fn a_local_join_handle_awaited_on_another_thread_gets_the_output() {
    let rt = Runtime::new().unwrap();
    let (tx, rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    rt.block_on(async move {
        let (g, flag, waker) = gate();
        let h = spawn(async move {
            g.await;
            "done"
        });
        let t = thread::spawn(move || {
            let other = Runtime::new().unwrap();
            let out = other.block_on(h).unwrap();
            done_tx.send(out).unwrap();
        });
        tx.send(()).unwrap();
        // Let the foreign join attach, then complete the task.
        for _ in 0..20 {
            loop_core::time::sleep(Duration::from_millis(1)).await;
        }
        flag.store(true, Ordering::Release);
        if let Some(w) = waker.lock().unwrap().take() {
            w.wake();
        }
        while done_rx.try_recv().map(|o| assert_eq!(o, "done")).is_err() {
            loop_core::time::sleep(Duration::from_millis(1)).await;
        }
        t.join().unwrap();
    });
    rx.recv().unwrap();
}

#[test]
fn a_remote_join_sees_cancelled_when_the_runtime_is_dropped() {
    let rt = Runtime::new().unwrap();
    let (g, _flag, _w) = gate();
    let h = rt.handle().spawn(g);
    rt.block_on(yield_now());
    drop(rt);
    let other = Runtime::new().unwrap();
    assert!(other.block_on(h).unwrap_err().is_cancelled());
}

#[test]
fn spawn_local_runs_non_send_futures() {
    let rt = Runtime::new().unwrap();
    let out = rt.block_on(async {
        let rc = std::rc::Rc::new(5);
        let h = spawn_local(async move {
            yield_now().await;
            *rc + 1
        });
        h.await.unwrap()
    });
    assert_eq!(out, 6);
}

#[test]
#[should_panic(expected = "cannot start a runtime from within a runtime")]
fn block_on_inside_a_runtime_panics_clearly() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let inner = Runtime::new().unwrap();
        inner.block_on(async {});
    });
}

#[test]
#[should_panic(expected = "spawn called outside a runtime")]
fn spawn_outside_a_runtime_panics_clearly() {
    drop(spawn(async {}));
}

#[test]
fn dropping_the_runtime_drops_live_tasks() {
    let drops = Arc::new(AtomicUsize::new(0));
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        for _ in 0..100 {
            let d = DropCount(drops.clone());
            spawn(async move {
                let _d = d;
                std::future::pending::<()>().await;
            });
        }
        yield_now().await;
    });
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    assert_eq!(rt.stats().live_tasks, 100);
    drop(rt);
    assert_eq!(drops.load(Ordering::SeqCst), 100);
}

#[test]
fn many_runtimes_run_in_parallel_threads() {
    let threads: Vec<_> = (0..8)
        .map(|i| {
            thread::spawn(move || {
                let rt = Runtime::new().unwrap();
                rt.block_on(async move {
                    let hs: Vec<_> = (0..500)
                        .map(|j| spawn(async move { i * 1000 + j }))
                        .collect();
                    let mut sum = 0;
                    for h in hs {
                        sum += h.await.unwrap();
                        yield_now().await;
                    }
                    sum
                })
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        assert_eq!(t.join().unwrap(), i * 1000 * 500 + 499 * 500 / 2);
    }
}

#[test]
fn stats_count_tasks_and_polls() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let hs: Vec<_> = (0..10).map(|_| spawn(yield_now())).collect();
        let s = loop_core::stats().unwrap();
        assert_eq!(s.live_tasks, 10);
        assert_eq!(s.ready, 10);
        for h in hs {
            h.await.unwrap();
        }
    });
    let s = rt.stats();
    assert_eq!(s.total_tasks, 10);
    assert_eq!(s.live_tasks, 0);
    assert!(
        s.polls >= 20,
        "each task polled twice, plus the main future: {s:?}"
    );
}
