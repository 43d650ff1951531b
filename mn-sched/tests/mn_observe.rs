//! Issue 7: the task dump of blocking-style Gs (`go`): each parked G is
//! listed with the reason its wait recorded (`park::note_wait`) and how
//! long it has waited, and the G calling `dump()` is listed as running on
//! its M.

mod util;

use std::time::Duration;

use loop_core::trace::{TaskState, WaitReason};
use mn_sched::chan;
use mn_sched::go;
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
fn dump_counts_gs_queued_that_never_parked() {
    run(1, || {
        // One P, busy with us: the five Gs wait in its run queue, never run.
        // SAFETY: the Gs hold nothing.
        let hs: Vec<_> = (0..5).map(|_| unsafe { go(|| ()) }).collect();
        let text = mn_sched::dump();
        assert!(
            text.contains("6 live, 5 in the Ps' run queues, never parked (not listed)"),
            "{text}"
        );
        hs.into_iter().for_each(|h| h.join().unwrap());
    });
    // Gs spawned from a plain thread wait in the global queue: listed.
    // The only P is held by a task that blocks its thread on a barrier;
    // should sysmon take that P meanwhile (10 ms), the queued Gs would run
    // and the round is tried again.
    for _ in 0..5 {
        let rt = util::rt(1);
        let gate = std::sync::Arc::new(std::sync::Barrier::new(2));
        let g2 = gate.clone();
        let blocker = rt.handle().spawn_future(async move {
            g2.wait();
            g2.wait();
        });
        gate.wait(); // the only P is busy with `blocker` now
        let queued: Vec<_> = (0..3).map(|_| rt.handle().spawn_future(async {})).collect();
        let text = rt.handle().dump();
        let retaken = rt.stats().user_retakes > 0;
        gate.wait();
        rt.block_on_future(blocker).unwrap();
        for h in queued {
            rt.block_on_future(h).unwrap();
        }
        if retaken {
            continue;
        }
        assert_eq!(
            text.matches("[runnable] on global queue:").count(),
            3,
            "{text}"
        );
        return;
    }
    panic!("sysmon took the P in every round");
}
