//! The mn runtime on a machine whose CPUs all run threads (sched/spare.rs):
//! readiness is not handed to a helper M that could only run by taking a
//! CPU from a running thread, until the backlog is 10 ms old. Real sockets
//! on 127.0.0.1; the CPUs are kept busy by plain spinning threads. Its own
//! binary, so the spinners slow no other test; the tests inside take turns.

mod util;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use util::rt;

/// One test at a time: each keeps every CPU busy.
static TURN: Mutex<()> = Mutex::new(());

/// More spinning threads than CPUs, until dropped.
struct Spinners {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Spinners {
    fn start() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..cpus + 1)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        // Let the kernel see them runnable.
        std::thread::sleep(Duration::from_millis(20));
        Self { stop, threads }
    }
}

impl Drop for Spinners {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.threads.drain(..).for_each(|t| t.join().unwrap());
    }
}

/// `util::ready_burst` on a fresh 2-P runtime, with its stats after.
fn burst(n: usize, work: Duration) -> (usize, Duration, mn_sched::Stats) {
    let rt = rt(2);
    let (threads, took) = util::ready_burst(&rt, n, work);
    (threads, took, rt.stats())
}

#[test]
fn a_burst_of_readiness_stays_on_one_m_while_every_cpu_is_busy() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let _busy = Spinners::start();
    // 200 readers of 10 µs each: 2 ms of work, far below the 10 ms after
    // which a helper comes anyway. The poll that finds most of them (64
    // or more at once) holds its helper back and counts it, and the burst
    // stays on one thread. Unless the spinners kept an M off its CPU so
    // long that the backlog reached 10 ms (a helper is then due) or
    // sysmon took a P (its 10 ms are wall time: a reader whose thread the
    // OS held off looks like a long runner): once in a full ASan run, with
    // a P retaken and nothing held back. Such a run is done again, up to
    // three times.
    for attempt in 1..=3 {
        let (threads, took, s) = burst(200, Duration::from_micros(10));
        let disturbed = took >= Duration::from_millis(8) || s.user_retakes != 0 || s.retakes != 0;
        if disturbed && attempt < 3 {
            eprintln!("attempt {attempt}: disturbed ({took:?}, {s:?}); again");
            continue;
        }
        if disturbed {
            return; // three disturbed runs: nothing to judge
        }
        assert!(
            s.io_helpers_held_back >= 1,
            "no batch of readiness was held back with every CPU busy: {s:?}"
        );
        assert_eq!(
            threads, 1,
            "a helper M took readers though no CPU was free ({took:?}): {s:?}"
        );
        return;
    }
}

#[test]
fn a_lasting_backlog_gets_a_helper_even_when_every_cpu_is_busy() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let _busy = Spinners::start();
    // 20 readers of 5 ms: a 100 ms backlog on one M. Past 10 ms another M
    // must come, CPUs busy or not: the Gs then share the CPUs with the
    // spinners instead of waiting behind one another.
    let (threads, _, s) = burst(20, Duration::from_millis(5));
    assert!(
        threads >= 2,
        "the backlog stayed with one M for 100 ms: {s:?}"
    );
}
