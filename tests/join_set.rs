//! `JoinSet` in every mode: outputs in completion order, abort, drop,
//! panics, detach, shutdown, cancel-safety, and a cost linear in the
//! number of tasks.

use std::future::pending;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard::sync::oneshot;
use switchyard::task::JoinSet;
use switchyard::time::{sleep, timeout};
use switchyard::{spawn, yield_now};

/// Counts its drops: a task holding one was cancelled (or finished) once
/// the count moves.
struct DropFlag(Arc<AtomicUsize>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Waits (at most `limit`) until `count` reaches `want`; its last value.
async fn wait_for(count: &AtomicUsize, want: usize, limit: Duration) -> usize {
    let start = Instant::now();
    while count.load(Ordering::SeqCst) < want && start.elapsed() < limit {
        sleep(Duration::from_millis(1)).await;
    }
    count.load(Ordering::SeqCst)
}

/// The same tasks as [`spawn_and_join`], joined through their handles in
/// spawn order; the wall time.
async fn spawn_and_await_handles(n: usize) -> Duration {
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            spawn(async move {
                yield_now().await;
                i
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.unwrap(), i);
    }
    start.elapsed()
}

/// Spawns `n` tasks that return their index into a set, joins them all;
/// the wall time.
async fn spawn_and_join(n: usize) -> Duration {
    let start = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..n {
        set.spawn(async move {
            yield_now().await;
            i
        });
    }
    assert_eq!(set.len(), n);
    let mut seen = vec![false; n];
    while let Some(out) = set.join_next().await {
        let i = out.unwrap();
        assert!(!seen[i], "task {i} joined twice");
        seen[i] = true;
    }
    assert!(seen.iter().all(|&s| s), "every task joined");
    start.elapsed()
}

switchyard::test_all_modes! {
    async fn outputs_come_back_in_completion_order() {
        // Each task waits for its own go; released out of spawn order, one
        // at a time, each must be the next one joined.
        let mut set = JoinSet::new();
        let mut gos = Vec::new();
        for i in 0..5usize {
            let (tx, rx) = oneshot::channel::<()>();
            gos.push(Some(tx));
            set.spawn(async move {
                rx.await.unwrap();
                i
            });
        }
        // Let every task start and park (so the set has polled each handle).
        assert!(timeout(Duration::from_millis(20), set.join_next()).await.is_err());
        for i in [3usize, 0, 4, 1, 2] {
            gos[i].take().unwrap().send(()).unwrap();
            let got = timeout(Duration::from_secs(10), set.join_next()).await.unwrap();
            assert_eq!(got.unwrap().unwrap(), i);
        }
        assert!(set.is_empty());
        assert!(set.join_next().await.is_none());
    }

    async fn sleeps_finish_in_deadline_order() {
        let mut set = JoinSet::new();
        for ms in [300u64, 100, 200] {
            set.spawn(async move {
                sleep(Duration::from_millis(ms)).await;
                ms
            });
        }
        let mut order = Vec::new();
        while let Some(out) = set.join_next().await {
            order.push(out.unwrap());
        }
        assert_eq!(order, [100, 200, 300]);
    }

    async fn abort_all_gives_cancelled() {
        let mut set = JoinSet::new();
        let dropped = Arc::new(AtomicUsize::new(0));
        for _ in 0..10 {
            let flag = DropFlag(dropped.clone());
            set.spawn(async move {
                let _flag = flag;
                pending::<u32>().await
            });
        }
        set.spawn(async { 7 });
        // The quick one finishes first; the others never would.
        assert_eq!(set.join_next().await.unwrap().unwrap(), 7);
        set.abort_all();
        assert_eq!(set.len(), 10, "aborted tasks stay until joined");
        let mut cancelled = 0;
        while let Some(out) = set.join_next().await {
            let e = out.unwrap_err();
            assert!(e.is_cancelled() && !e.is_panic(), "{e:?}");
            cancelled += 1;
        }
        assert_eq!(cancelled, 10);
        assert_eq!(wait_for(&dropped, 10, Duration::from_secs(10)).await, 10);
    }

    async fn dropping_the_set_aborts_its_tasks() {
        let started = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let mut set = JoinSet::new();
        for _ in 0..20 {
            let flag = DropFlag(dropped.clone());
            let started = started.clone();
            set.spawn(async move {
                let _flag = flag;
                started.fetch_add(1, Ordering::SeqCst);
                pending::<()>().await
            });
        }
        assert_eq!(wait_for(&started, 20, Duration::from_secs(10)).await, 20);
        assert_eq!(dropped.load(Ordering::SeqCst), 0, "they wait for ever");
        drop(set);
        assert_eq!(
            wait_for(&dropped, 20, Duration::from_secs(10)).await,
            20,
            "every task's future was dropped"
        );
    }

    async fn a_panic_comes_back_as_an_err() {
        let mut set = JoinSet::new();
        set.spawn(async { 1 });
        set.spawn(async { panic!("task two broke") });
        set.spawn(async { 3 });
        let (mut ok, mut panics) = (Vec::new(), Vec::new());
        while let Some(out) = set.join_next().await {
            match out {
                Ok(v) => ok.push(v),
                Err(e) => panics.push(e.panic_message().map(str::to_string)),
            }
        }
        ok.sort();
        assert_eq!(ok, [1, 3]);
        assert_eq!(panics, [Some("task two broke".to_string())]);
    }

    async fn try_join_next_never_waits() {
        let mut set = JoinSet::new();
        assert!(set.try_join_next().is_none(), "empty");
        let (tx, rx) = oneshot::channel::<()>();
        set.spawn(async move {
            rx.await.unwrap();
            "done"
        });
        for _ in 0..10 {
            yield_now().await;
            assert!(set.try_join_next().is_none(), "the task waits for its go");
        }
        tx.send(()).unwrap();
        let start = Instant::now();
        let out = loop {
            if let Some(out) = set.try_join_next() {
                break out;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "never joined");
            yield_now().await;
        };
        assert_eq!(out.unwrap(), "done");
        assert!(set.is_empty() && set.try_join_next().is_none());
    }

    async fn detach_all_lets_the_tasks_run_on() {
        let mut set = JoinSet::new();
        let (done_tx, mut done_rx) = switchyard::sync::mpsc::unbounded_channel();
        let mut gos = Vec::new();
        for i in 0..5u32 {
            let (tx, rx) = oneshot::channel::<()>();
            gos.push(tx);
            let done = done_tx.clone();
            set.spawn(async move {
                rx.await.unwrap();
                done.try_send(i).unwrap();
            });
        }
        drop(done_tx);
        set.detach_all();
        assert!(set.is_empty());
        assert!(set.join_next().await.is_none());
        for tx in gos {
            tx.send(()).unwrap();
        }
        let mut got = Vec::new();
        while let Some(i) = done_rx.recv().await {
            got.push(i);
        }
        got.sort();
        assert_eq!(got, [0, 1, 2, 3, 4]);
        drop(set);
    }

    async fn shutdown_stops_every_task_and_empties_the_set() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let mut set = JoinSet::new();
        for _ in 0..8 {
            let flag = DropFlag(dropped.clone());
            set.spawn(async move {
                let _flag = flag;
                pending::<()>().await
            });
        }
        set.shutdown().await;
        assert!(set.is_empty());
        assert_eq!(wait_for(&dropped, 8, Duration::from_secs(10)).await, 8);
        // The set is usable after.
        set.spawn(async {});
        assert!(set.join_next().await.unwrap().is_ok());
    }

    async fn a_join_next_dropped_by_a_timeout_loses_nothing() {
        let mut set = JoinSet::new();
        let (tx, rx) = oneshot::channel::<()>();
        set.spawn(async move {
            rx.await.unwrap();
            42
        });
        assert!(timeout(Duration::from_millis(10), set.join_next()).await.is_err());
        tx.send(()).unwrap();
        assert_eq!(set.join_next().await.unwrap().unwrap(), 42);
    }

    async fn a_set_moves_into_a_task_and_is_reused() {
        let owner = spawn(async {
            let mut set = JoinSet::new();
            let mut total = 0;
            for round in 0..3u64 {
                for i in 0..100u64 {
                    set.spawn(async move { round * 100 + i });
                }
                while let Some(out) = set.join_next().await {
                    total += out.unwrap();
                }
            }
            total
        });
        assert_eq!(owner.await.unwrap(), (0..300u64).sum::<u64>());
    }

    async fn thirty_thousand_tasks_cost_what_their_join_handles_cost() {
        // Joined through the set or through their handles one by one (work
        // linear in the number of tasks), 32000 tasks take about the same
        // time. Work quadratic in it (a scan of the set per join: 5 * 10^8
        // steps) would take tens of times longer. Runs of the two
        // alternate, the best of three each, so a machine shared with other
        // tests slows both alike.
        let (mut set_best, mut handles_best) = (Duration::MAX, Duration::MAX);
        for _ in 0..3 {
            set_best = set_best.min(spawn_and_join(32_000).await);
            handles_best = handles_best.min(spawn_and_await_handles(32_000).await);
        }
        let ratio = set_best.as_secs_f64() / handles_best.as_secs_f64();
        assert!(
            ratio < 10.0,
            "32000 tasks: JoinSet {set_best:?}, JoinHandles {handles_best:?} ({ratio:.1}x)"
        );
    }
}
