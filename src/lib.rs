//! switchyard: one async Rust program, two execution models, chosen when
//! the program starts — a JavaScript-style event loop or a Go-style M:N
//! scheduler.
//!
//! Write the program once, against this crate's API (tasks, timers,
//! sockets, channels; close to tokio's); then run it with
//! `RUNTIME_MODE=single` or `RUNTIME_MODE=mn` and see how the two models
//! differ: threads, memory per task, latency when something blocks,
//! scaling with cores.
//!
//! # The two modes
//!
//! **`single`** (the default) runs every task on one OS thread, the thread
//! that called [`run`], like JavaScript's event loop: tasks are plain
//! futures, timers sit on a timing wheel and sockets on epoll. Nothing runs
//! in parallel, and a call that blocks — a long computation, a blocking
//! read, [`syscall`] — stops every task until it returns, as in Node.
//!
//! **`mn`** runs the same tasks on Go's model: each task gets a stack of its
//! own and runs on one of a few OS threads, as many at once as there are
//! processors (`RUNTIME_MAXPROCS`, default: the CPUs this process may use).
//! Idle threads steal work, a netpoller wakes tasks whose sockets are
//! ready, and a monitor thread hands a thread's work to another thread when
//! it blocks in [`syscall`] or computes for more than 10 ms. (In Go's
//! words, which [`stats`] and the scheduler trace use: tasks are Gs,
//! threads Ms, processors Ps, and the monitor is `sysmon`.)
//! `switchyard::mn` adds Go-style blocking code (`go`, channels with
//! `Select`); read `CAVEATS-mn.md` in the repository before moving code to
//! this mode. (mn comes with the `mn` cargo feature, on by default.)
//!
//! The mode comes from the `RUNTIME_MODE` environment variable
//! (`single` or `mn`), or from [`Builder::mode`]; the program is the same.
//! In both modes a spawned future must be `Send`, as on tokio's
//! multi-threaded runtime ([`spawn_local`] takes the others).
//!
//! # A first program
//!
//! The package is `switchyard-rt`; the library it gives is `switchyard`:
//!
//! ```toml
//! [dependencies]
//! switchyard-rt = "0.1"
//! ```
//!
//! An echo server and a client that talks to it:
//!
//! ```
//! use switchyard::net::{TcpListener, TcpStream};
//!
//! fn main() -> std::io::Result<()> {
//!     switchyard::run(async {
//!         let listener = TcpListener::bind("127.0.0.1:0").await?;
//!         let addr = listener.local_addr()?;
//!
//!         // The server: a task per connection, each echoing what it reads.
//!         switchyard::spawn(async move {
//!             while let Ok((stream, _peer)) = listener.accept().await {
//!                 switchyard::spawn(async move {
//!                     let mut buf = [0u8; 4096];
//!                     while let Ok(n) = stream.read(&mut buf).await {
//!                         if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
//!                             break;
//!                         }
//!                     }
//!                 });
//!             }
//!         });
//!
//!         // A client.
//!         let client = TcpStream::connect(addr).await?;
//!         client.write_all(b"hello").await?;
//!         let mut reply = [0u8; 5];
//!         client.read_exact(&mut reply).await?;
//!         assert_eq!(&reply, b"hello");
//!         Ok(())
//!     }) // tasks still running when the future ends are dropped
//! }
//! ```
//!
//! `cargo run` runs it on the event loop; `RUNTIME_MODE=mn cargo run` runs
//! the same binary on the M:N scheduler.
//!
//! # What is here
//!
//! * Starting: [`run`], [`Builder`] (settings in code instead of the
//!   environment), [`Runtime`].
//! * Tasks: [`spawn`] → [`JoinHandle`], [`JoinSet`], [`task::Builder`]
//!   (a name, a stack size), [`spawn_local`], [`yield_now`].
//! * Blocking code: [`spawn_blocking`] (a thread pool), [`syscall`] and
//!   [`syscall_blocking`] (block where the mode says).
//! * [`time`], [`net`], [`sync`], [`signal`]: timers, TCP and UDP,
//!   channels and locks, Unix signals.
//! * Looking inside: [`stats`], [`dump`], [`debug`].
//! * With the `hyper` cargo feature, `hyper`: hyper 1's runtime traits, so
//!   a hyper server or client runs in either mode.
//!
//! # Platform
//!
//! Linux only. The event loop is built on Linux's epoll, eventfd and
//! timerfd; the M:N engine switches task stacks with x86_64 assembly, so
//! it builds on x86_64 only. It sits behind the `mn` cargo feature, on by
//! default: on other Linux CPUs, build without default features for the
//! event loop alone (`RUNTIME_MODE=mn` is then a configuration error).
//!
//! # Where next
//!
//! In the repository: `README.md` (the two models side by side, the
//! environment variables, the comparison with Go), `docs/from-tokio.md`
//! and `docs/from-go.md` (each name you know and its counterpart here),
//! `docs/knobs.md` (every `RUNTIME_*` variable), `docs/ecosystem.md` (which
//! crates work), `CAVEATS-mn.md` (what code in mn mode must not do) and
//! `ARCHITECTURE.md` (how it works inside).
#![forbid(unsafe_code)]

pub use compat::*;
