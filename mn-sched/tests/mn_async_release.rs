//! Async tasks give their stack back while they wait (aio/cell.rs): what
//! that must not break. A waiting task holds no stack (`stacks_in_use`),
//! its pinned, self-referencing future survives many restarts on other
//! stacks, a wake during the poll restarts it at once, panics, aborts and
//! shutdown drop the future exactly once, a deep poll after a restart has
//! the whole stack and an overflow there still names the task, and the
//! tasks that must keep their stack (local tasks, a locked thread) do.

mod util;

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use mn_sched::aio::{spawn_local, task};
use mn_sched::JoinError;
use util::{assert_overflow_abort_64k, is_child, recurse, rt, run_child};

/// A gate a plain thread opens again and again: each `wait` parks the task
/// until the next `open` after its first poll. `arrived` counts waits ever
/// begun, so an opener can tell that every task waits for this round.
#[derive(Clone, Default)]
struct Gate(Arc<GateInner>);

#[derive(Default)]
struct GateInner {
    round: AtomicUsize,
    wakers: Mutex<Vec<Waker>>,
    arrived: AtomicUsize,
}

impl Gate {
    /// Wakes everyone waiting now.
    fn open(&self) {
        self.0.round.fetch_add(1, Ordering::AcqRel);
        let ws = std::mem::take(&mut *self.0.wakers.lock().unwrap());
        ws.into_iter().for_each(Waker::wake);
    }

    fn wait(&self) -> GateWait {
        GateWait {
            gate: self.clone(),
            seen: None,
        }
    }

    /// Waits (from a plain thread) until `total` waits have begun.
    fn until_arrived(&self, total: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.0.arrived.load(Ordering::Acquire) < total {
            assert!(Instant::now() < deadline, "tasks never parked");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

struct GateWait {
    gate: Gate,
    seen: Option<usize>,
}

impl Future for GateWait {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let g = self.gate.0.clone();
        let now = g.round.load(Ordering::Acquire);
        let first = match self.seen {
            Some(r) if r != now => return Poll::Ready(()),
            Some(_) => false,
            None => {
                self.seen = Some(now);
                true
            }
        };
        g.wakers.lock().unwrap().push(cx.waker().clone());
        if first {
            // Counted once the waker is in: an `open` from now on wakes us.
            g.arrived.fetch_add(1, Ordering::AcqRel);
        }
        if g.round.load(Ordering::Acquire) != now {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

/// Counts its drops (the future it lives in must be dropped exactly once).
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// Opens `gate` `rounds` times, each once all `n` tasks wait for it.
fn opener(gate: &Gate, n: usize, rounds: usize) -> std::thread::JoinHandle<()> {
    let gate = gate.clone();
    std::thread::spawn(move || {
        for k in 1..=rounds {
            gate.until_arrived(n * k);
            gate.open();
        }
    })
}

#[test]
fn waiting_tasks_hold_no_stack_and_keep_their_pinned_state() {
    let rt = rt(2);
    let gate = Gate::default();
    let n = 200;
    let rounds = 20;
    let hs: Vec<_> = (0..n)
        .map(|i| {
            let gate = gate.clone();
            rt.handle().spawn_future(async move {
                // State that refers to itself across every await: the
                // future is pinned in its G's cell, never on a stack.
                let data = [i as u64; 64];
                let r = &data;
                let mut sum = 0;
                for k in 0..rounds {
                    gate.wait().await;
                    sum += r[k % 64] + black_box(r.as_ptr() == data.as_ptr()) as u64;
                }
                sum
            })
        })
        .collect();
    gate.until_arrived(n);
    let s = rt.stats();
    assert_eq!(s.live_tasks, n as u64, "{s:?}");
    // At most the tasks still committing their park (one per P) hold one.
    assert!(s.stacks_in_use <= 2, "{s:?}");
    let t = opener(&gate, n, rounds);
    for (i, h) in hs.into_iter().enumerate() {
        let want = rounds as u64 * (i as u64 + 1);
        assert_eq!(rt.block_on_future(h).unwrap(), want);
    }
    t.join().unwrap();
    assert_eq!(rt.stats().stacks_in_use, 0);
}

#[test]
fn a_wake_during_the_poll_restarts_the_task_at_once() {
    let rt = rt(1);
    let polls = rt.block_on_future(rt.handle().spawn_future(async {
        let mut polls = 0u32;
        std::future::poll_fn(|cx| {
            polls += 1;
            if polls == 1000 {
                return Poll::Ready(());
            }
            // Woken before it parks: the park is cancelled and the G starts
            // again from its entry on the same stack.
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await;
        polls
    }));
    assert_eq!(polls.unwrap(), 1000);
    assert_eq!(rt.stats().stacks_in_use, 0);
}

#[test]
fn panic_and_abort_after_a_restart_drop_the_future_once() {
    let rt = rt(2);
    let gate = Gate::default();
    let drops = Arc::new(AtomicUsize::new(0));
    let panicker = {
        let (gate, d) = (gate.clone(), DropCount(drops.clone()));
        rt.handle().spawn_future(async move {
            let _d = d;
            gate.wait().await;
            gate.wait().await;
            panic!("boom after two restarts");
        })
    };
    let aborted = {
        let (gate, d) = (gate.clone(), DropCount(drops.clone()));
        rt.handle().spawn_future(async move {
            let _d = d;
            loop {
                gate.wait().await;
            }
        })
    };
    let t = opener(&gate, 2, 2);
    t.join().unwrap();
    let e = rt.block_on_future(panicker).unwrap_err();
    assert_eq!(e.panic_message(), Some("boom after two restarts"));
    // Two waits each, then the looping task's third.
    gate.until_arrived(5);
    aborted.abort();
    assert!(matches!(
        rt.block_on_future(aborted),
        Err(JoinError::Cancelled)
    ));
    assert_eq!(drops.load(Ordering::Acquire), 2);
}

#[test]
fn shutdown_drops_every_waiting_future_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let gate = Gate::default();
    let n = 1000;
    {
        let rt = rt(2);
        for _ in 0..n {
            let (gate, d) = (gate.clone(), DropCount(drops.clone()));
            drop(rt.handle().spawn_future(async move {
                let _d = d;
                gate.wait().await;
                unreachable!("the gate never opens");
            }));
        }
        gate.until_arrived(n);
        assert!(rt.stats().stacks_in_use <= 2);
    }
    assert_eq!(drops.load(Ordering::Acquire), n);
}

#[test]
fn a_poll_after_a_restart_has_the_whole_stack() {
    let rt = mn_sched::Runtime::builder()
        .procs(2)
        .stack_size(1024 * 1024)
        .build()
        .unwrap();
    let gate = Gate::default();
    let hs: Vec<_> = (0..8)
        .map(|_| {
            let gate = gate.clone();
            rt.handle().spawn_future(async move {
                let mut s = 0;
                for _ in 0..3 {
                    gate.wait().await;
                    // ~400 KiB deep (more in a debug or ASan build): three
                    // such polls fit only if each starts at the top of a
                    // whole stack.
                    s += recurse(400);
                }
                s
            })
        })
        .collect();
    let t = opener(&gate, 8, 3);
    for h in hs {
        let want = 3 * (1..=400u64).map(|d| d % 256).sum::<u64>();
        assert_eq!(rt.block_on_future(h).unwrap(), want);
    }
    t.join().unwrap();
}

#[test]
fn overflow_in_a_restarted_poll_names_the_task() {
    if is_child("async-overflow") {
        let rt = mn_sched::Runtime::builder()
            .procs(1)
            .stack_size(64 * 1024)
            .build()
            .unwrap();
        let gate = Gate::default();
        let h = rt.handle().spawn_future({
            let gate = gate.clone();
            async move {
                gate.wait().await;
                recurse(u64::MAX)
            }
        });
        gate.until_arrived(1);
        gate.open();
        let _ = rt.block_on_future(h);
        unreachable!("the overflow should have aborted the process");
    }
    let out = run_child(
        "overflow_in_a_restarted_poll_names_the_task",
        "async-overflow",
    );
    assert_overflow_abort_64k(&out);
}

#[test]
fn tasks_with_local_tasks_or_a_locked_thread_keep_their_stack() {
    let rt = rt(2);
    let gate = Gate::default();
    let same_thread = Arc::new(AtomicBool::new(true));
    let local_ran = Arc::new(AtomicBool::new(false));
    let host = {
        let (gate, ran) = (gate.clone(), local_ran.clone());
        rt.handle().spawn_future(async move {
            // The local set lives on this task's stack: it must stay. (The
            // host ends only once its local tasks have.)
            drop(spawn_local(async move {
                let rc = std::rc::Rc::new(7);
                task::yield_now().await;
                ran.store(*rc == 7, Ordering::Release);
            }));
            gate.wait().await;
            7
        })
    };
    let locked = {
        let (gate, same) = (gate.clone(), same_thread.clone());
        rt.handle().spawn_future(async move {
            mn_sched::lock_os_thread().unwrap();
            let tid = util::gettid();
            gate.wait().await;
            same.store(util::gettid() == tid, Ordering::Release);
            mn_sched::unlock_os_thread();
        })
    };
    gate.until_arrived(2);
    let s = rt.stats();
    assert!(s.stacks_in_use >= 2, "{s:?}");
    gate.open();
    assert_eq!(rt.block_on_future(host).unwrap(), 7);
    assert!(local_ran.load(Ordering::Acquire));
    rt.block_on_future(locked).unwrap();
    assert!(same_thread.load(Ordering::Acquire), "the locked task moved");
}
