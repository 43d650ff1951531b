//! `JoinHandle::abort` acts on its own task and no other, in every mode.
//!
//! single mode names a task in its wakers by slab key and an 18-bit
//! generation, which comes round again after 2^18 spawns; these tests keep a
//! handle of a finished task while that happens (or while its slot is
//! reused) and abort through it from another thread.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use switchyard::time::sleep;
use switchyard::{spawn, Handle, JoinHandle, Mode};

/// Spawns after which loop-core's slot generation has come round again.
const GENERATIONS: u32 = 1 << 18;

/// Sets its flag when dropped: a task holding one was cancelled (or ended).
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Waits (without blocking the runtime) for a message from a thread.
async fn recv<T>(rx: &mpsc::Receiver<T>) -> T {
    let start = Instant::now();
    loop {
        if let Ok(v) = rx.try_recv() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the other thread never answered"
        );
        sleep(Duration::from_millis(1)).await;
    }
}

/// A task that waits forever and reports when it is dropped.
fn spawn_victim() -> (JoinHandle<()>, Arc<AtomicBool>) {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let h = spawn(async move {
        let _flag = flag;
        std::future::pending::<()>().await
    });
    (h, dropped)
}

/// Lets the runtime run what other threads queued, then checks the victim
/// is alive, and cancels it through its own handle.
async fn assert_alive_then_abort(victim: JoinHandle<()>, dropped: &AtomicBool) {
    sleep(Duration::from_millis(20)).await;
    assert!(
        !dropped.load(Ordering::SeqCst) && !victim.is_finished(),
        "an abort meant for a finished task cancelled another one"
    );
    victim.abort();
    assert!(victim.await.unwrap_err().is_cancelled());
    assert!(dropped.load(Ordering::SeqCst));
}

struct NoopWake;

impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

/// The generation test proper: single mode names tasks by generation; mn
/// (whose handles point at their task) runs the same body in the
/// all-modes tests below without the 2^18 spawns, which take seconds there.
#[test]
fn aborting_a_finished_remote_spawn_after_a_generation_touches_no_other_task() {
    switchyard::testing::block_on(
        Mode::Single,
        1,
        finished_remote_spawn_then_abort(GENERATIONS - 1),
    );
}

/// A task spawned from another thread, which keeps the handle, never awaits
/// it (the task's slot is freed as soon as it completes) and aborts it
/// after `spawns` more tasks ran one at a time, each in the slot the last
/// one freed, and a victim task took it.
async fn finished_remote_spawn_then_abort(spawns: u32) {
    let rt = Handle::current();
    let (to_main, from_thread) = mpsc::channel::<()>();
    let (to_thread, from_main) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let finished = rt.spawn(async { 7u32 });
        while !finished.is_finished() {
            std::thread::sleep(Duration::from_millis(1));
        }
        to_main.send(()).unwrap();
        from_main.recv().unwrap();
        finished.abort();
        to_main.send(()).unwrap();
        finished
    });
    recv(&from_thread).await;
    for _ in 0..spawns {
        spawn(async {}).await.unwrap();
    }
    let (victim, dropped) = spawn_victim();
    to_thread.send(()).unwrap();
    recv(&from_thread).await;
    assert_alive_then_abort(victim, &dropped).await;
    let finished = thread.join().unwrap();
    assert_eq!(
        finished.await.unwrap(),
        7,
        "the finished task kept its output"
    );
}

/// Like [`finished_remote_spawn_then_abort`] for a task spawned here whose
/// handle was polled once on another thread (from then on its output goes
/// there) and is aborted there after it finished.
async fn finished_task_awaited_elsewhere_then_abort(spawns: u32) {
    let (to_main, from_thread) = mpsc::channel::<()>();
    let (to_thread, from_main) = mpsc::channel::<()>();
    let mut finished = spawn(async { 7u32 });
    let thread = std::thread::spawn(move || {
        let waker = Waker::from(Arc::new(NoopWake));
        let mut cx = Context::from_waker(&waker);
        let mut out = match Pin::new(&mut finished).poll(&mut cx) {
            Poll::Ready(out) => Some(out),
            Poll::Pending => None,
        };
        while out.is_none() && !finished.is_finished() {
            std::thread::sleep(Duration::from_millis(1));
        }
        to_main.send(()).unwrap();
        from_main.recv().unwrap();
        finished.abort();
        to_main.send(()).unwrap();
        if out.is_none() {
            if let Poll::Ready(o) = Pin::new(&mut finished).poll(&mut cx) {
                out = Some(o);
            }
        }
        out.map(|o| o.map_err(|e| e.to_string()))
    });
    recv(&from_thread).await;
    for _ in 0..spawns {
        spawn(async {}).await.unwrap();
    }
    let (victim, dropped) = spawn_victim();
    to_thread.send(()).unwrap();
    recv(&from_thread).await;
    assert_alive_then_abort(victim, &dropped).await;
    assert_eq!(
        thread.join().unwrap(),
        Some(Ok(7)),
        "the finished task kept its output"
    );
}

#[test]
fn aborting_a_finished_task_awaited_elsewhere_after_a_generation_touches_no_other_task() {
    switchyard::testing::block_on(
        Mode::Single,
        1,
        finished_task_awaited_elsewhere_then_abort(GENERATIONS - 1),
    );
}

switchyard::test_all_modes! {
    async fn aborting_a_finished_remote_spawn_touches_no_other_task() {
        finished_remote_spawn_then_abort(0).await;
    }

    async fn aborting_a_finished_task_awaited_elsewhere_touches_no_other_task() {
        finished_task_awaited_elsewhere_then_abort(0).await;
    }

    async fn aborting_a_task_awaited_elsewhere_cancels_it() {
        let (mut task, dropped) = spawn_victim();
        let thread = std::thread::spawn(move || {
            let waker = Waker::from(Arc::new(NoopWake));
            let mut cx = Context::from_waker(&waker);
            assert!(Pin::new(&mut task).poll(&mut cx).is_pending());
            task.abort();
            let start = Instant::now();
            loop {
                if let Poll::Ready(out) = Pin::new(&mut task).poll(&mut cx) {
                    return out.map_err(|e| e.is_cancelled());
                }
                if start.elapsed() > Duration::from_secs(5) {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        while !thread.is_finished() {
            sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(thread.join().unwrap(), Err(true), "the abort cancelled the task");
        assert!(dropped.load(Ordering::SeqCst));
    }
}
