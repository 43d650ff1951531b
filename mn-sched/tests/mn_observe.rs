//! The task dump of blocking-style Gs (`go`): each parked G is
//! listed with the reason its wait recorded (`park::note_wait`) and how
//! long it has waited, and the G calling `dump()` is listed as running on
//! its M.

mod util;

use std::time::Duration;

use mn_sched::chan;
use mn_sched::go;
use rt_base::trace::{TaskState, WaitReason};
use util::run;

#[test]
fn dump_shows_why_blocking_gs_wait() {
    run(2, || {
        let (tx, rx) = chan::rendezvous::<u32>();
        let (full_tx, full_rx) = chan::bounded::<u32>(1);
        full_tx.send(0).unwrap();
        // SAFETY: no thread-local reference or std guard is held across a park.
        let receiver = unsafe { go(move || rx.recv().ok()) };
        // SAFETY: as above.
        let sender = unsafe { go(move || full_tx.send(1).is_ok()) };
        // SAFETY: as above.
        let sleeper = unsafe { go(|| mn_sched::sleep(Duration::from_millis(300))) };
        mn_sched::sleep(Duration::from_millis(50));
        let tasks = mn_sched::tasks();
        let me = mn_sched::current_task_id().expect("on a G");
        let reasons: Vec<_> = tasks.iter().map(|t| (t.id, t.state)).collect();
        let waiting = |r| tasks.iter().any(|t| t.state == TaskState::Waiting(r));
        assert!(waiting(WaitReason::ChanReceive), "{reasons:?}");
        assert!(waiting(WaitReason::ChanSend), "{reasons:?}");
        assert!(waiting(WaitReason::Sleep), "{reasons:?}");
        // How long each has waited (sysmon's coarse clock): all parked
        // about 50 ms ago; generous bounds for a loaded machine.
        for t in tasks.iter().filter(|t| t.id != me) {
            if let TaskState::Waiting(_) = t.state {
                let ms = t.waiting_ms.expect("a waiting task has a waiting time");
                assert!((20..10_000).contains(&ms), "{t:?}");
            }
        }
        let mine = tasks
            .iter()
            .find(|t| t.id == me)
            .expect("the caller is listed");
        assert_eq!(mine.state, TaskState::Running);
        assert!(mine.place.starts_with('M'), "{mine:?}");
        let text = mn_sched::dump();
        assert!(text.contains("mode=mn"), "{text}");
        assert!(text.contains("[chan receive, "), "{text}");
        assert!(text.contains(" ms] on M-1:"), "{text}");
        tx.send(7).unwrap();
        assert_eq!(receiver.join().unwrap(), Some(7));
        drop(full_rx);
        let _ = sender.join();
        sleeper.join().unwrap();
    });
}

#[test]
fn dump_lists_gs_queued_that_never_ran() {
    run(1, || {
        // One P, busy with us: the five Gs wait in its run queue, never run.
        // SAFETY: the Gs hold nothing.
        let hs: Vec<_> = (0..5).map(|_| unsafe { go(|| ()) }).collect();
        let text = mn_sched::dump();
        assert!(text.contains("mode=mn, 6 live, "), "{text}");
        assert_eq!(
            text.matches("[runnable] on P0 run queue:").count(),
            5,
            "{text}"
        );
        hs.into_iter().for_each(|h| h.join().unwrap());
    });
    // 300 Gs spawned on the only P overflow its ring (256) into the global
    // queue: every one is listed, from the queue it waits in.
    run(1, || {
        // SAFETY: the Gs hold nothing.
        let hs: Vec<_> = (0..300).map(|_| unsafe { go(|| ()) }).collect();
        let text = mn_sched::dump();
        let global = text.matches("[runnable] on global queue:").count();
        let ring = text.matches("[runnable] on P0 run queue:").count();
        assert!(
            global >= 1 && ring >= 1 && global + ring == 300,
            "{global} + {ring}\n{text}"
        );
        hs.into_iter().for_each(|h| h.join().unwrap());
    });
}

#[test]
fn dumps_stop_busy_ps_and_read_their_queues_safely() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
    use std::sync::Arc;
    // Two Ps busy with Gs that spawn short Gs and yield: the run queues
    // change all the time. Thirty dumps from a plain thread each stop the
    // Ms at a safe point, read the queues, and let them go on.
    let rt = util::rt(2);
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, rounds) = (stop.clone(), rounds.clone());
            rt.handle().spawn_future(async move {
                while !stop.load(Relaxed) {
                    drop(mn_sched::aio::task::spawn(async {}));
                    mn_sched::aio::task::yield_now().await;
                    rounds.fetch_add(1, Relaxed);
                }
            })
        })
        .collect();
    let wait_for = |n: u64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while rounds.load(Relaxed) < n {
            assert!(std::time::Instant::now() < deadline, "the workers stalled");
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    wait_for(1000);
    let mut complete = 0;
    for _ in 0..30 {
        let text = rt.handle().dump();
        assert!(text.contains("mode=mn"), "{text}");
        if !text.contains("not listed") {
            complete += 1;
        }
    }
    // The Ms went on after each stop.
    wait_for(rounds.load(Relaxed) + 1000);
    stop.store(true, Relaxed);
    for w in workers {
        rt.block_on_future(w).unwrap();
    }
    assert!(complete >= 1, "no dump could stop the Ps");
}
