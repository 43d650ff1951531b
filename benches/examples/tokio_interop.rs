//! tokio's timers and sockets inside switchyard tasks, in both modes.
//!
//! `tokio::time::sleep`, `tokio::net::TcpStream` and every library built on
//! them (reqwest, tonic, sqlx, …) register with *a tokio runtime's driver*,
//! which they look up in a thread-local "current runtime" context. A
//! switchyard task has none: in mn mode tasks run on the engine's own
//! threads (Ms), so the first such call panics with tokio's "there is no
//! reactor running, must be called from the context of a Tokio 1.x
//! runtime"; in single mode the tasks run on the thread that called
//! `block_on`, which has no context either unless you gave it one.
//!
//! The fix, shown here: keep a tokio runtime of your own (multi-thread,
//! `enable_all`: its threads run tokio's timer and I/O driver) and *enter*
//! its context on every thread that runs switchyard tasks:
//!
//! * `Builder::on_thread_start` enters it on every thread the runtime starts
//!   (mn's Ms, the `spawn_blocking` pool), keeping tokio's `EnterGuard` in a
//!   thread-local; `on_thread_stop` drops that guard as the thread ends
//!   (dropped later, by the thread-local's own destructor, it could touch
//!   tokio's thread-locals after they are gone).
//! * The thread that calls `block_on` is the caller's, and the runtime calls
//!   no hook on it: enter the context there too, around `block_on` (a
//!   plain `let _entered = handle.enter();`). In single mode every task
//!   runs on it; in mn mode the future given to `block_on` is polled there.
//!
//! tokio's threads then do the waiting (timers, epoll) and wake switchyard's
//! tasks through their ordinary `Waker`s; switchyard schedules and runs them.
//!
//! Run:
//!
//! ```sh
//! RUNTIME_MODE=single cargo run -p switchyard-benches --example tokio_interop
//! RUNTIME_MODE=mn cargo run -p switchyard-benches --example tokio_interop
//! # without the hook: the same tokio calls panic inside the tasks
//! RUNTIME_MODE=mn cargo run -p switchyard-benches --example tokio_interop -- --without-hook
//! ```
//!
//! `benches/tests/tokio_interop.rs` checks the same in both modes, and that
//! without the hook the calls fail.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::{EnterGuard, Handle};

thread_local! {
    /// This thread's entry into the tokio runtime's context, while it lasts.
    static TOKIO_CONTEXT: RefCell<Option<EnterGuard<'static>>> = const { RefCell::new(None) };
}

/// Enters `tokio`'s context on the calling thread until [`leave_tokio`].
/// The `'static` handle lets the guard live in a thread-local.
fn enter_tokio(tokio: &'static Handle) {
    TOKIO_CONTEXT.with(|c| {
        let mut c = c.borrow_mut();
        // Guards must be dropped in the reverse order of entering: never
        // replace one that is there.
        if c.is_none() {
            *c = Some(tokio.enter());
        }
    });
}

/// Leaves the context [`enter_tokio`] entered on this thread, if any.
fn leave_tokio() {
    let guard = TOKIO_CONTEXT.with(|c| c.borrow_mut().take());
    drop(guard);
}

/// The name of the thread running the caller.
fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_string()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let with_hook = !std::env::args().any(|a| a == "--without-hook");

    // The tokio runtime the program already has: its own threads, its own
    // timer and I/O driver.
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // A handle that lives as long as the program (a handle is a reference
    // count on the runtime's shared state), so the guards can be 'static.
    let tokio: &'static Handle = Box::leak(Box::new(tokio_rt.handle().clone()));

    // The switchyard runtime: mode from RUNTIME_MODE (default single).
    let mut builder = switchyard::Builder::new();
    if with_hook {
        builder = builder
            .on_thread_start(move || enter_tokio(tokio))
            .on_thread_stop(leave_tokio);
    }
    let rt = builder.build()?;
    let mode = rt.mode();
    println!(
        "switchyard in {mode} mode ({} P), tokio context entered on its threads: {}",
        rt.config().procs,
        if with_hook { "yes" } else { "no" }
    );

    let result = {
        // The caller's thread, where the runtime calls no hook (see the
        // top of the file): a guard on the stack, left even on a panic.
        let _entered = with_hook.then(|| tokio.enter());
        rt.block_on(demo())
    };
    // The switchyard runtime first: its threads leave the tokio context
    // (on_thread_stop) before the tokio runtime goes.
    drop(rt);
    drop(tokio_rt);
    result
}

/// A tokio timer and a tokio socket, each used from a switchyard task.
async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    // 1. tokio::time::sleep in spawned switchyard tasks.
    let sleepers: Vec<_> = (0..4u64)
        .map(|i| {
            switchyard::spawn(async move {
                let wanted = Duration::from_millis(20 * (i + 1));
                let t = Instant::now();
                tokio::time::sleep(wanted).await;
                (wanted, t.elapsed(), thread_name())
            })
        })
        .collect();
    for h in sleepers {
        match h.await {
            Ok((wanted, took, thread)) => println!(
                "tokio::time::sleep({wanted:?}) in a switchyard task on thread {thread:?}: \
                 took {took:.1?}"
            ),
            Err(e) => {
                println!(
                    "tokio::time::sleep in a switchyard task panicked: {}",
                    e.panic_message().unwrap_or("(no message)")
                );
                return Err("a tokio call failed: run with the hook".into());
            }
        }
    }

    // 2. A tokio TcpStream, in a switchyard task, talking to a switchyard
    // TcpListener served by another switchyard task (an echo server).
    let listener = switchyard::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = switchyard::spawn(async move {
        let (stream, peer) = listener.accept().await?;
        let mut buf = [0u8; 1024];
        let mut echoed = 0;
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>((echoed, peer));
            }
            stream.write_all(&buf[..n]).await?;
            echoed += n;
        }
    });
    let client = switchyard::spawn(async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let mut replies = Vec::new();
        for word in ["hello", "from", "a tokio TcpStream"] {
            stream.write_all(word.as_bytes()).await?;
            let mut back = vec![0u8; word.len()];
            // A tokio timeout around a tokio read: both drivers at work.
            tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut back))
                .await
                .map_err(std::io::Error::other)??;
            replies.push(String::from_utf8_lossy(&back).into_owned());
        }
        Ok::<_, std::io::Error>((replies, thread_name()))
    });
    let (replies, thread) = match client.await {
        Ok(r) => r?,
        Err(e) => {
            println!(
                "tokio::net::TcpStream in a switchyard task panicked: {}",
                e.panic_message().unwrap_or("(no message)")
            );
            return Err("a tokio call failed: run with the hook".into());
        }
    };
    // The client's stream was dropped at its task's end: the server sees
    // the end of stream and reports.
    let (echoed, peer) = server.await??;
    println!(
        "tokio::net::TcpStream (task on thread {thread:?}) -> switchyard::net::TcpListener \
         at {addr}: sent and read back {replies:?}; the server echoed {echoed} bytes to {peer}"
    );
    Ok(())
}
