//! Async tasks on Gs: spawn/join, panics, abort, wakers from
//! foreign threads, `block_on_future`, user data, `Handle::spawn_future`,
//! shutdown with parked tasks.

mod util;

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use mn_sched::aio::task;
use mn_sched::{Handle, JoinError, Runtime};
use util::rt;

/// A one-shot event a foreign thread sets; awaiting it parks the task.
#[derive(Clone, Default)]
struct Gate(Arc<GateInner>);

#[derive(Default)]
struct GateInner {
    open: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
    polls: AtomicUsize,
}

impl Gate {
    fn open(&self) {
        self.0.open.store(true, Ordering::Release);
        let wakers = std::mem::take(&mut *self.0.wakers.lock().unwrap());
        wakers.into_iter().for_each(Waker::wake);
    }

    fn wait(&self) -> GateWait {
        GateWait(self.clone())
    }
}

struct GateWait(Gate);

impl Future for GateWait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let g = &self.0 .0;
        g.polls.fetch_add(1, Ordering::Relaxed);
        if g.open.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        g.wakers.lock().unwrap().push(cx.waker().clone());
        if g.open.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// Runs `f` on a plain thread and gives up after 20 s (a hang is a failure,
/// not a stuck suite).
fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("test body hung for 20 s")
}

#[test]
fn hundred_thousand_async_tasks_at_two_procs() {
    let rt = rt(2);
    let n = 100_000u64;
    let sum = rt.block_on_future(async move {
        let hs: Vec<_> = (0..n).map(|i| task::spawn(async move { i })).collect();
        let mut sum = 0;
        for h in hs {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, n * (n - 1) / 2);
    assert_eq!(rt.stats().live_tasks, 0);
}

#[test]
fn tasks_spawn_tasks_from_gs() {
    let rt = rt(2);
    let h = rt.handle().spawn_future(async {
        assert!(mn_sched::inside_runtime());
        let hs: Vec<_> = (0..1000u64)
            .map(|i| {
                task::spawn(async move {
                    task::yield_now().await;
                    i * 2
                })
            })
            .collect();
        let mut s = 0;
        for h in hs {
            s += h.await.unwrap();
        }
        s
    });
    assert_eq!(rt.block_on_future(h).unwrap(), 999 * 1000);
}

#[test]
fn panicking_task_is_err_and_later_tasks_run() {
    let rt = rt(2);
    rt.block_on_future(async {
        let h = task::spawn(async {
            task::yield_now().await;
            panic!("boom in a poll");
        });
        let err = h.await.unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.panic_message(), Some("boom in a poll"));
        let v = task::spawn(async { 7 }).await.unwrap();
        assert_eq!(v, 7);
    });
}

#[test]
fn block_on_future_propagates_panics() {
    let rt = rt(1);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on_future(async { panic!("outer") })
    }));
    assert!(r.is_err());
    // The runtime and the thread's context survive it.
    assert!(!mn_sched::inside_runtime());
    assert_eq!(rt.block_on_future(async { 3 }), 3);
}

/// Drops a flag when dropped (destructor tracking).
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn abort_parked_task() {
    let rt = rt(2);
    let dropped = Arc::new(AtomicBool::new(false));
    let gate = Gate::default();
    let h = {
        let (gate, d) = (gate.clone(), SetOnDrop(dropped.clone()));
        rt.handle().spawn_future(async move {
            let _d = d;
            gate.wait().await;
            1
        })
    };
    // Wait until it is parked on the gate.
    let deadline = Instant::now() + Duration::from_secs(10);
    while gate.0.polls.load(Ordering::Relaxed) == 0 {
        assert!(Instant::now() < deadline, "task never polled");
        std::thread::sleep(Duration::from_millis(1));
    }
    h.abort();
    let r = rt.block_on_future(h);
    assert!(matches!(r, Err(JoinError::Cancelled)), "{r:?}");
    assert!(dropped.load(Ordering::SeqCst), "aborted future not dropped");
}

#[test]
fn abort_running_task() {
    let rt = rt(2);
    let started = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    let h = {
        let (started, d) = (started.clone(), SetOnDrop(dropped.clone()));
        rt.handle().spawn_future(async move {
            let _d = d;
            started.store(true, Ordering::SeqCst);
            loop {
                task::yield_now().await;
            }
        })
    };
    while !started.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    h.abort();
    let r = within(move || {
        let r = rt.block_on_future(h);
        (r, rt)
    });
    assert!(matches!(r.0, Err(JoinError::Cancelled)), "{:?}", r.0);
    assert!(dropped.load(Ordering::SeqCst));
}

#[test]
fn abort_before_first_poll_and_after_completion() {
    // On a G of a 1-P runtime: the spawned task waits in runnext until the
    // spawner awaits, so the abort surely comes before its first poll.
    let rt = rt(1);
    let body = rt.handle().spawn_future(async {
        let polled = Arc::new(AtomicBool::new(false));
        let p = polled.clone();
        let h = task::spawn(async move { p.store(true, Ordering::SeqCst) });
        h.abort();
        assert!(matches!(h.await, Err(JoinError::Cancelled)));
        assert!(!polled.load(Ordering::SeqCst));

        let h = task::spawn(async { 5 });
        while !h.is_finished() {
            task::yield_now().await;
        }
        h.abort(); // harmless now
        assert_eq!(h.await.unwrap(), 5);
    });
    rt.block_on_future(body).unwrap();
}

#[test]
fn foreign_waker_twice_and_after_completion_is_harmless() {
    let rt = rt(2);
    let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
    let gate = Gate::default();
    let h = {
        let (slot, gate) = (slot.clone(), gate.clone());
        rt.handle().spawn_future(async move {
            std::future::poll_fn(|cx| {
                *slot.lock().unwrap() = Some(cx.waker().clone());
                Poll::Ready(())
            })
            .await;
            gate.wait().await;
            42
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while gate.0.polls.load(Ordering::Relaxed) == 0 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    }
    let w = slot.lock().unwrap().take().unwrap();
    // Spurious wakes from a foreign thread, twice: the task re-polls and
    // parks again.
    let w2 = w.clone();
    std::thread::spawn(move || {
        w2.wake_by_ref();
        w2.wake();
    })
    .join()
    .unwrap();
    gate.open();
    assert_eq!(rt.block_on_future(h).unwrap(), 42);
    // After completion: harmless.
    std::thread::spawn(move || {
        w.wake_by_ref();
        w.wake();
    })
    .join()
    .unwrap();
    assert_eq!(rt.block_on_future(async { 1 }), 1);
}

#[test]
fn wake_before_park_is_not_lost() {
    let rt = rt(2);
    let n = 3000;
    within(move || {
        for _ in 0..n {
            let gate = Gate::default();
            let h = rt.handle().spawn_future({
                let gate = gate.clone();
                async move { gate.wait().await }
            });
            // Open from a plain thread, racing the task's first poll/park.
            gate.open();
            rt.block_on_future(h).unwrap();
        }
    });
}

#[test]
fn block_on_future_runs_a_non_send_future() {
    let rt = rt(2);
    let local = Rc::new(5);
    let v = rt.block_on_future(async move {
        let l = local.clone();
        let other = task::spawn(async { 10 }).await.unwrap();
        task::yield_now().await;
        *l + other
    });
    assert_eq!(v, 15);
}

#[test]
fn block_on_future_waits_for_a_foreign_wake() {
    let rt = rt(1);
    let gate = Gate::default();
    let g2 = gate.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        g2.open();
    });
    let start = Instant::now();
    rt.block_on_future(gate.wait());
    assert!(start.elapsed() >= Duration::from_millis(25));
    t.join().unwrap();
}

#[test]
fn user_data_and_inside_runtime() {
    assert!(!mn_sched::inside_runtime());
    assert!(mn_sched::user_data().is_none());
    assert!(Handle::current().is_none());
    assert!(Handle::try_current().is_err());
    let rt = Runtime::builder()
        .procs(2)
        .user_data(Arc::new(String::from("ctx")))
        .build()
        .unwrap();
    let on_thread = rt.block_on_future(async {
        let here = mn_sched::user_data().unwrap();
        let on_g = task::spawn(async {
            let d = mn_sched::user_data().unwrap();
            (
                mn_sched::inside_runtime(),
                d.downcast_ref::<String>().cloned(),
            )
        })
        .await
        .unwrap();
        (
            mn_sched::inside_runtime(),
            here.downcast_ref::<String>().cloned(),
            on_g,
        )
    });
    assert_eq!(
        on_thread,
        (true, Some("ctx".into()), (true, Some("ctx".into())))
    );
    assert!(!mn_sched::inside_runtime());
    assert!(rt1_user_data_is_none());
}

fn rt1_user_data_is_none() -> bool {
    rt(1).block_on_future(async { mn_sched::user_data().is_none() && mn_sched::inside_runtime() })
}

#[test]
fn spawn_outside_runtime_is_a_clear_error() {
    let e = task::try_spawn(async {}).unwrap_err();
    assert!(e.to_string().contains("outside an mn runtime"), "{e}");
    let r = std::panic::catch_unwind(|| task::spawn(async {}));
    assert!(r.is_err());
}

#[test]
fn block_on_future_on_own_runtime_panics_clearly() {
    let rt = Arc::new(rt(1));
    let rt2 = rt.clone();
    let r = rt.block_on_future(rt.handle().spawn_future(async move {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt2.block_on_future(async {})
        }))
        .is_err()
    }));
    assert!(r.unwrap(), "block_on_future on its own G did not panic");
}

#[test]
fn spawn_future_from_plain_threads() {
    let rt = rt(2);
    let handle = rt.handle();
    let ts: Vec<_> = (0..4u64)
        .map(|t| {
            let handle = handle.clone();
            std::thread::spawn(move || {
                let hs: Vec<_> = (0..500u64)
                    .map(|i| handle.spawn_future(async move { t * 1000 + i }))
                    .collect();
                hs
            })
        })
        .collect();
    let hs: Vec<_> = ts.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let sum: u64 = rt.block_on_future(async move {
        let mut s = 0;
        for h in hs {
            s += h.await.unwrap();
        }
        s
    });
    let want: u64 = (0..4u64)
        .flat_map(|t| (0..500u64).map(move |i| t * 1000 + i))
        .sum();
    assert_eq!(sum, want);
}

#[test]
fn dropping_the_runtime_drops_parked_tasks() {
    let rt = rt(2);
    let dropped = Arc::new(AtomicUsize::new(0));
    let gate = Gate::default();
    struct Count(Arc<AtomicUsize>);
    impl Drop for Count {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let hs: Vec<_> = (0..100)
        .map(|_| {
            let (c, gate) = (Count(dropped.clone()), gate.clone());
            rt.handle().spawn_future(async move {
                let _c = c;
                gate.wait().await;
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while gate.0.polls.load(Ordering::Relaxed) < 100 {
        assert!(Instant::now() < deadline, "tasks never parked");
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(rt);
    assert_eq!(dropped.load(Ordering::SeqCst), 100);
    for h in hs {
        assert!(h.is_finished());
    }
}

#[test]
fn join_handle_is_send_unpin_debug() {
    fn check<T: Send + Unpin + std::fmt::Debug>(_: &T) {}
    let rt = rt(1);
    let h = rt.handle().spawn_future(async { 1u8 });
    check(&h);
    assert!(format!("{h:?}").contains("JoinHandle"));
    let h2 = rt.handle().spawn_future(async { 2u8 });
    assert_ne!(h.id(), h2.id());
    assert!(format!("{h:?}").contains(&format!("id: {}", h.id())));
    assert_eq!(rt.block_on_future(h).unwrap(), 1);
    assert_eq!(rt.block_on_future(h2).unwrap(), 2);
}

#[test]
fn spawn_local_on_the_block_on_thread() {
    use mn_sched::aio::spawn_local;
    let rt = rt(2);
    let me = util::gettid();
    let shared = Rc::new(std::cell::RefCell::new(Vec::new()));
    let s2 = shared.clone();
    let total = rt.block_on_future(async move {
        let hs: Vec<_> = (0..50u32)
            .map(|i| {
                let s = s2.clone();
                spawn_local(async move {
                    for _ in 0..3 {
                        s.borrow_mut().push(util::gettid());
                        task::yield_now().await;
                    }
                    i
                })
            })
            .collect();
        // A local task woken from a G on another thread.
        let gate = Gate::default();
        let waiter = spawn_local({
            let gate = gate.clone();
            async move { gate.wait().await }
        });
        let g2 = gate.clone();
        task::spawn(async move { g2.open() }).await.unwrap();
        waiter.await.unwrap();
        let mut t = 0;
        for h in hs {
            t += h.await.unwrap();
        }
        t
    });
    assert_eq!(total, 49 * 50 / 2);
    let tids = shared.borrow();
    assert_eq!(tids.len(), 150);
    assert!(
        tids.iter().all(|&t| t == me),
        "a local task left the thread"
    );
}

#[test]
fn spawn_local_from_a_g_stays_on_its_thread() {
    const ROUNDS: usize = 400;
    use mn_sched::aio::spawn_local;
    let rt = rt(2);
    let rounds = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    // Busy yielding Gs on both Ps, so that Ps steal from each other and an
    // unpinned G would change threads.
    let busy: Vec<_> = (0..64)
        .map(|_| {
            let stop = stop.clone();
            rt.handle().spawn_future(async move {
                while !stop.load(Ordering::Relaxed) {
                    task::yield_now().await;
                }
            })
        })
        .collect();
    // A plain thread opens the gates the local tasks wait on: each wake
    // comes from outside, through the global queue, which any M may take.
    let (gtx, grx) = std::sync::mpsc::channel::<Gate>();
    let opener = std::thread::spawn(move || grx.iter().for_each(|g| g.open()));
    let r2 = rounds.clone();
    let h = rt.handle().spawn_future(async move {
        for k in 0..8 {
            let (r, gtx) = (r2.clone(), gtx.clone());
            let local_rc = Rc::new(k); // !Send: the task is local
            drop(spawn_local(async move {
                let mut seen = Vec::new();
                for i in 0..ROUNDS {
                    seen.push(util::gettid());
                    if i % 2 == 0 {
                        task::yield_now().await;
                    } else {
                        let gate = Gate::default();
                        gtx.send(gate.clone()).unwrap();
                        gate.wait().await;
                    }
                }
                r.lock().unwrap().push((*local_rc, seen));
            }));
        }
        util::gettid()
    });
    let host_tid = rt.block_on_future(h).unwrap();
    opener.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    for b in busy {
        rt.block_on_future(b).unwrap();
    }
    // The G finished only after its local tasks did.
    let rounds = rounds.lock().unwrap();
    assert_eq!(rounds.len(), 8);
    for (_, seen) in rounds.iter() {
        assert_eq!(seen.len(), ROUNDS);
        let moved = seen.iter().filter(|&&t| t != host_tid).count();
        assert_eq!(moved, 0, "a local task changed threads {moved} times");
    }
}

#[test]
fn local_join_handle_abort_panic_and_errors() {
    use mn_sched::aio::{spawn_local, try_spawn_local, SpawnLocalError};
    assert!(matches!(
        try_spawn_local(async {}),
        Err(SpawnLocalError::NoHost)
    ));
    let rt = rt(1);
    rt.block_on_future(async {
        let gate = Gate::default();
        let dropped = Arc::new(AtomicBool::new(false));
        let h = {
            let (gate, d) = (gate.clone(), SetOnDrop(dropped.clone()));
            spawn_local(async move {
                let _d = d;
                gate.wait().await;
                1
            })
        };
        task::yield_now().await;
        assert!(!h.is_finished());
        h.abort();
        assert!(matches!(h.await, Err(JoinError::Cancelled)));
        assert!(dropped.load(Ordering::SeqCst));

        let p = spawn_local(async {
            task::yield_now().await;
            panic!("local boom")
        });
        let e: JoinError = p.await.unwrap_err();
        assert_eq!(e.panic_message(), Some("local boom"));

        let a = spawn_local(async { Rc::new(3) });
        let b = spawn_local(async { 4 });
        assert_ne!(a.id(), b.id());
        assert!(format!("{a:?}").contains("LocalJoinHandle"));
        assert_eq!(*a.await.unwrap() + b.await.unwrap(), 7);
    });
    // A blocking-style G has no poll loop to host local tasks.
    // SAFETY: the G holds nothing across parks.
    let r = unsafe { rt.block_on(|| try_spawn_local(async {}).is_err()) };
    assert!(r.unwrap());
}

#[test]
fn stats_count_tasks_parks_stacks_and_steals() {
    let rt = rt(2);
    let before = rt.stats();
    assert_eq!((before.total_tasks, before.stacks_in_use), (0, 0));
    let gate = Gate::default();
    let hs: Vec<_> = (0..500)
        .map(|_| {
            let gate = gate.clone();
            rt.handle().spawn_future(async move { gate.wait().await })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while gate.0.polls.load(Ordering::Relaxed) < 500 {
        assert!(Instant::now() < deadline, "tasks never parked");
        std::thread::sleep(Duration::from_millis(1));
    }
    let s = rt.stats();
    assert_eq!(s.total_tasks, 500);
    assert_eq!(s.live_tasks, 500);
    // Waiting async tasks give their stacks back (aio/cell.rs): at most the
    // two still committing their park hold one.
    assert!(s.stacks_in_use <= 2, "{s:?}");
    assert!(s.parks >= 400, "{s:?}"); // a few may still be committing
    assert!(
        s.ms >= 1 && s.ms == s.threads && s.ms_created >= s.ms,
        "{s:?}"
    );
    gate.open();
    for h in hs {
        rt.block_on_future(h).unwrap();
    }
    // Steals: a G spawning yielding tasks on one P; the other P's M steals.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no steal in 10 s");
        rt.block_on_future(rt.handle().spawn_future(async {
            let hs: Vec<_> = (0..256)
                .map(|_| {
                    task::spawn(async {
                        for _ in 0..10 {
                            task::yield_now().await;
                        }
                    })
                })
                .collect();
            for h in hs {
                h.await.unwrap();
            }
        }))
        .unwrap();
        if rt.stats().steals > 0 {
            break;
        }
    }
    // Every stack came back once its G exited.
    let deadline = Instant::now() + Duration::from_secs(10);
    while rt.stats().stacks_in_use != 0 || rt.stats().live_tasks != 0 {
        assert!(Instant::now() < deadline, "{:?}", rt.stats());
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(rt.stats().total_tasks >= 501 + 256);
}
