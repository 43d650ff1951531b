//! tokio's driver-bound types (`tokio::time::sleep`, `tokio::net`) work in
//! switchyard tasks once a tokio runtime's context is entered on every
//! thread that runs them — `Builder::on_thread_start` / `on_thread_stop` on
//! the runtime's threads, and around `block_on` on the caller's — and fail
//! with tokio's "no reactor" panic without it. The recipe is
//! `benches/examples/tokio_interop.rs`.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use switchyard::{Builder, JoinError, JoinHandle, Mode, Runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::{EnterGuard, Handle};

/// Generous: how long a test waits for something that should come at once.
const PATIENCE: Duration = Duration::from_secs(10);

/// What tokio says when a driver-bound call finds no runtime context.
const NO_REACTOR: &str = "there is no reactor running";

/// Every engine configuration: single, mn with one P and with four.
const MODES: &[(Mode, usize)] = &[(Mode::Single, 1), (Mode::Mn, 1), (Mode::Mn, 4)];

thread_local! {
    /// This thread's entry into the tokio runtime's context, while it lasts.
    static TOKIO_CONTEXT: RefCell<Option<EnterGuard<'static>>> = const { RefCell::new(None) };
}

/// The tokio runtime the tests share: multi-thread, its own threads
/// running the timer and I/O driver (never shut down: it lives as long as
/// the test process).
fn tokio() -> &'static Handle {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
    .handle()
}

fn enter_tokio() {
    TOKIO_CONTEXT.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = Some(tokio().enter());
        }
    });
}

fn leave_tokio() {
    let guard = TOKIO_CONTEXT.with(|c| c.borrow_mut().take());
    drop(guard);
}

/// Hook calls seen on one runtime.
#[derive(Default)]
struct Hooks {
    starts: AtomicUsize,
    stops: AtomicUsize,
}

/// A runtime whose threads enter the tokio context as they start and
/// leave it as they stop, counting both.
fn hooked(mode: Mode, procs: usize, hooks: &Arc<Hooks>) -> Runtime {
    let (a, b) = (hooks.clone(), hooks.clone());
    Builder::new()
        .ignore_env()
        .mode(mode)
        .procs(procs)
        .on_thread_start(move || {
            enter_tokio();
            a.starts.fetch_add(1, Ordering::SeqCst);
        })
        .on_thread_stop(move || {
            leave_tokio();
            b.stops.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap()
}

/// A runtime with no hooks.
fn plain(mode: Mode, procs: usize) -> Runtime {
    Builder::new()
        .ignore_env()
        .mode(mode)
        .procs(procs)
        .build()
        .unwrap()
}

/// `rt.block_on(f)` with the tokio context entered on the calling thread
/// for its duration (the runtime calls no hook on this thread). A guard on
/// the stack, not the thread-local: it is left even if `f` panics.
fn block_on_entered<F: std::future::Future>(rt: &Runtime, f: F) -> F::Output {
    let _entered = tokio().enter();
    rt.block_on(f)
}

/// Runs `check` on a hooked runtime of every mode, then checks that every
/// thread the runtime started entered the context and left it again.
fn on_every_mode<F, Fut>(check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for &(mode, procs) in MODES {
        let hooks = Arc::new(Hooks::default());
        let rt = hooked(mode, procs, &hooks);
        block_on_entered(&rt, check());
        drop(rt);
        // The blocking pool's threads end after the runtime is dropped,
        // on their own: wait for them.
        let starts = hooks.starts.load(Ordering::SeqCst);
        if mode == Mode::Mn {
            assert!(starts >= 1, "{mode}/{procs}: no thread was started");
        }
        let t = Instant::now();
        while hooks.stops.load(Ordering::SeqCst) < starts && t.elapsed() < PATIENCE {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            hooks.stops.load(Ordering::SeqCst),
            starts,
            "{mode}/{procs}: every thread left the context"
        );
    }
}

/// The message of a task's panic.
fn panic_message(e: &JoinError) -> &str {
    assert!(e.is_panic(), "{e:?}");
    e.panic_message().unwrap_or("(not a string)")
}

/// A switchyard task that sleeps on tokio's timer; its output is the time
/// the sleep took and the name of the thread the task ran on.
fn spawn_tokio_sleep(d: Duration) -> JoinHandle<(Duration, String)> {
    switchyard::spawn(async move {
        let t = Instant::now();
        tokio::time::sleep(d).await;
        let thread = std::thread::current().name().unwrap_or("").to_string();
        (t.elapsed(), thread)
    })
}

#[test]
fn tokio_sleep_works_in_switchyard_tasks_with_the_hook() {
    on_every_mode(|| async {
        let mode = switchyard::stats().unwrap().mode;
        // The future given to block_on runs on the caller's thread.
        let caller = std::thread::current().name().unwrap_or("").to_string();
        let t = Instant::now();
        let tasks: Vec<_> = (1..=8u64)
            .map(|i| spawn_tokio_sleep(Duration::from_millis(10 * i)))
            .collect();
        for (i, h) in (1..=8u64).zip(tasks) {
            let (took, thread) = h.await.unwrap();
            assert!(took >= Duration::from_millis(10 * i), "{took:?}");
            assert!(took < PATIENCE, "{took:?}");
            // The task ran on switchyard's threads, not tokio's: the
            // caller's thread (the test's) in single mode; in mn an M, or
            // the caller's thread, which runs tasks while main waits.
            match mode {
                Mode::Single => assert_eq!(thread, caller, "single"),
                Mode::Mn => assert!(
                    thread.starts_with("mn-m") || thread == caller,
                    "mn: ran on {thread:?}"
                ),
            }
        }
        // Concurrent: the eight sleeps overlapped (one after another they
        // would take their sum, 360 ms).
        assert!(
            t.elapsed() < Duration::from_millis(360),
            "{:?}",
            t.elapsed()
        );
        // A tokio timeout around a switchyard future, too.
        let slow = switchyard::time::sleep(Duration::from_secs(5));
        let r = switchyard::spawn(async move {
            tokio::time::timeout(Duration::from_millis(20), slow).await
        });
        assert!(r.await.unwrap().is_err(), "tokio's timeout fired");
    });
}

#[test]
fn tokio_tcp_stream_echoes_through_a_switchyard_listener_with_the_hook() {
    on_every_mode(|| async {
        let listener = switchyard::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let server = switchyard::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let mut echoed = 0;
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    return echoed;
                }
                s.write_all(&buf[..n]).await.unwrap();
                echoed += n;
            }
        });
        let client = switchyard::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut got = Vec::new();
            for i in 0..20u8 {
                let msg = [i; 100];
                s.write_all(&msg).await.unwrap();
                let mut back = [0u8; 100];
                tokio::time::timeout(PATIENCE, s.read_exact(&mut back))
                    .await
                    .expect("the echo within the patience")
                    .unwrap();
                got.extend_from_slice(&back);
            }
            got
        });
        let got = client.await.unwrap();
        let want: Vec<u8> = (0..20u8).flat_map(|i| [i; 100]).collect();
        assert!(got == want, "{} bytes came back", got.len());
        let echoed = switchyard::time::timeout(PATIENCE, server).await;
        assert_eq!(echoed.unwrap().unwrap(), 2000, "the server saw the end");
    });
}

#[test]
fn a_tokio_listener_serves_a_switchyard_stream_with_the_hook() {
    on_every_mode(|| async {
        // Bound in a task too: in mn that is an M, where only the hook
        // gives tokio's context.
        let listener = switchyard::spawn(async {
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()
        })
        .await
        .unwrap();
        let addr = listener.local_addr().unwrap();
        let server = switchyard::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
            buf
        });
        let c = switchyard::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"hello").await.unwrap();
        let mut back = [0u8; 5];
        let mut n = 0;
        while n < 5 {
            let got = switchyard::time::timeout(PATIENCE, c.read(&mut back[n..]))
                .await
                .unwrap()
                .unwrap();
            assert!(got > 0, "end of stream after {n} bytes");
            n += got;
        }
        assert_eq!(&back, b"hello");
        assert_eq!(&server.await.unwrap(), b"hello");
    });
}

#[test]
fn a_blocking_job_sees_the_tokio_context_too() {
    on_every_mode(|| async {
        let flavor =
            switchyard::spawn_blocking(|| Handle::try_current().map(|h| h.runtime_flavor()))
                .await
                .unwrap();
        assert_eq!(
            flavor.expect("the pool's thread entered the context"),
            tokio::runtime::RuntimeFlavor::MultiThread
        );
    });
}

#[test]
fn without_the_hook_mn_tasks_get_tokios_no_reactor_panic() {
    for procs in [1, 4] {
        let rt = plain(Mode::Mn, procs);
        // No thread of the runtime has tokio's context: not the Ms, which
        // the missing hook left without one, nor the caller's thread, which
        // in mn runs tasks too (while main waits) and is not entered here.
        rt.block_on(async {
            let e = spawn_tokio_sleep(Duration::from_millis(1))
                .await
                .unwrap_err();
            assert!(panic_message(&e).contains(NO_REACTOR), "{e:?}");
            let listener = switchyard::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap();
            let addr = listener.local_addr().unwrap();
            let e = switchyard::spawn(async move {
                let _ = tokio::net::TcpStream::connect(addr).await;
            })
            .await
            .unwrap_err();
            assert!(panic_message(&e).contains(NO_REACTOR), "{e:?}");
        });
        // The same calls on the same kind of runtime with the hook: fine.
        let hooks = Arc::new(Hooks::default());
        let rt = hooked(Mode::Mn, procs, &hooks);
        let (took, _) = block_on_entered(&rt, async {
            spawn_tokio_sleep(Duration::from_millis(1)).await
        })
        .expect("with the hook the task works");
        assert!(took >= Duration::from_millis(1));
    }
}

#[test]
fn without_entering_the_caller_single_mode_tasks_get_the_panic() {
    // In single mode the hook alone is not enough: tasks run on the
    // caller's thread, which the runtime did not start.
    let hooks = Arc::new(Hooks::default());
    let rt = hooked(Mode::Single, 1, &hooks);
    let e = rt
        .block_on(async { spawn_tokio_sleep(Duration::from_millis(1)).await })
        .unwrap_err();
    assert!(panic_message(&e).contains(NO_REACTOR), "{e:?}");
    // Entered around block_on: the same task works.
    let (took, thread) = block_on_entered(&rt, async {
        spawn_tokio_sleep(Duration::from_millis(1)).await
    })
    .expect("entered, the task works");
    assert!(took >= Duration::from_millis(1));
    assert_eq!(
        Some(thread.as_str()),
        std::thread::current().name(),
        "single mode: the task ran on the caller's thread"
    );
}
