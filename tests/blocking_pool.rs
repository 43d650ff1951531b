//! `spawn_blocking` and `syscall`: the pool's bound, its lazy start and idle
//! exit, panics, and the single mode's inline syscall that blocks the loop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard::testing::{builder, MODES};
use switchyard::{spawn, spawn_blocking, stats, Mode};

#[test]
fn the_pool_is_bounded_lazy_and_shrinks_when_idle() {
    for &(mode, procs) in MODES {
        let rt = builder(mode, procs)
            .blocking_threads(2)
            .idle_thread_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(
                stats().unwrap().blocking_threads,
                0,
                "no thread before the first job"
            );
            let running = Arc::new(AtomicUsize::new(0));
            let peak = Arc::new(AtomicUsize::new(0));
            let jobs: Vec<_> = (0..6)
                .map(|i| {
                    let (running, peak) = (running.clone(), peak.clone());
                    spawn_blocking(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(50));
                        running.fetch_sub(1, Ordering::SeqCst);
                        i * 10
                    })
                })
                .collect();
            let s = stats().unwrap();
            assert!(s.blocking_threads <= 2 && s.blocking_threads >= 1, "{s:?}");
            let mut out = Vec::new();
            for j in jobs {
                out.push(j.await.unwrap());
            }
            assert_eq!(
                out,
                vec![0, 10, 20, 30, 40, 50],
                "results in order of their handles"
            );
            assert_eq!(
                peak.load(Ordering::SeqCst),
                2,
                "never more than the bound at once"
            );
            // Idle threads leave after the timeout.
            let t = Instant::now();
            while stats().unwrap().blocking_threads > 0 {
                assert!(
                    t.elapsed() < Duration::from_secs(10),
                    "idle pool threads did not exit"
                );
                switchyard::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }
}

#[test]
fn a_panicking_job_is_an_err() {
    for &(mode, procs) in MODES {
        switchyard::testing::block_on(mode, procs, async {
            let e = spawn_blocking(|| panic!("bad job")).await.unwrap_err();
            assert!(e.is_panic());
            assert_eq!(e.panic_message(), Some("bad job"));
            assert_eq!(spawn_blocking(|| 5).await.unwrap(), 5);
        });
    }
}

#[test]
fn single_mode_syscall_blocks_the_whole_loop() {
    switchyard::testing::block_on(Mode::Single, 1, async {
        let ticks = Arc::new(AtomicUsize::new(0));
        let t2 = ticks.clone();
        let ticker = spawn(async move {
            for _ in 0..1000 {
                switchyard::time::sleep(Duration::from_millis(1)).await;
                t2.fetch_add(1, Ordering::SeqCst);
            }
        });
        switchyard::time::sleep(Duration::from_millis(5)).await;
        let before = ticks.load(Ordering::SeqCst);
        // A blocking call made "the way the mode would": inline, like JS.
        switchyard::syscall(|| std::thread::sleep(Duration::from_millis(100)));
        assert_eq!(
            ticks.load(Ordering::SeqCst),
            before,
            "nothing ran while the loop was blocked"
        );
        ticker.abort();
    });
}
