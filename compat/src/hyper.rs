//! hyper 1 on switchyard, in every mode: adapters for hyper's `rt` traits
//! (the `hyper` cargo feature).
//!
//! hyper brings its HTTP/1 and HTTP/2 state machines and leaves the runtime
//! to the caller through four traits of `hyper::rt`; this module implements
//! them over switchyard, so a hyper server or client runs on the event loop
//! (`RUNTIME_MODE=single`) or on the M:N scheduler (`RUNTIME_MODE=mn`)
//! unchanged, with no tokio runtime and no glue crate (tokio-util's compat
//! layer, hyper-util's `TokioIo`) in between:
//!
//! | hyper needs | switchyard gives | used for |
//! |---|---|---|
//! | `rt::Read` + `rt::Write` | [`Io`] around a [`TcpStream`](crate::net::TcpStream) (or any futures-io stream) | every connection |
//! | `rt::Timer` (+ `rt::Sleep`) | [`Timer`], over [`time::sleep`](crate::time::sleep) | `header_read_timeout`, HTTP/2 keep-alive pings |
//! | `rt::Executor` | [`Executor`] ([`spawn`](crate::spawn)) or [`LocalExecutor`] ([`spawn_local`](crate::spawn_local)) | HTTP/2: one task per stream |
//!
//! HTTP/1 needs only [`Io`] (and [`Timer`] for timeouts): each connection is
//! one future, spawned by the caller. HTTP/2 spawns a task per stream
//! through the executor. [`Executor`] takes `Send` futures and works in
//! both modes (in mn the tasks spread over the Ps); hyper's HTTP/2 futures
//! are `Send` when the service's are. For a `!Send` service (an `Rc` in
//! its state), [`LocalExecutor`] spawns them with `spawn_local`: in single
//! mode that costs nothing, every task is on the loop thread anyway; in mn
//! they stay on the thread of the task that spawned them (which is pinned
//! to that thread and ends only when they have) and are never stolen, so
//! they do not spread over the Ps.
//!
//! hyper itself depends on tokio with its `sync` feature only (channels,
//! no runtime, no reactor): that is the one tokio crate in a build with
//! this feature.
//!
//! A server and a client on one runtime, one keep-alive connection:
//!
//! ```
//! # extern crate compat as switchyard;
//! use std::convert::Infallible;
//! use std::time::Duration;
//!
//! use switchyard::hyper::{Io, Timer};
//! use switchyard::net::{TcpListener, TcpStream};
//! use http_body_util::{BodyExt, Full};
//! use hyper::body::{Bytes, Incoming};
//! use hyper::{Request, Response};
//!
//! async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     Ok(Response::new(Full::new(Bytes::from_static(b"Hello, World!"))))
//! }
//!
//! # switchyard::run(async {
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! switchyard::spawn(async move {
//!     let (stream, _) = listener.accept().await.expect("accept");
//!     let conn = hyper::server::conn::http1::Builder::new()
//!         .timer(Timer)
//!         .header_read_timeout(Duration::from_secs(10))
//!         .serve_connection(Io::new(stream), hyper::service::service_fn(hello));
//!     let _ = conn.await;
//! });
//!
//! let stream = TcpStream::connect(addr).await?;
//! let (mut sender, conn) = hyper::client::conn::http1::handshake(Io::new(stream))
//!     .await
//!     .expect("handshake");
//! switchyard::spawn(conn);
//! for _ in 0..3 {
//!     let req = Request::get("/").header("host", "x").body(Full::new(Bytes::new()))?;
//!     // HTTP/1: the connection takes the next request once the last one
//!     // is done (in mn its task may still be finishing on another thread).
//!     sender.ready().await.expect("connection ready");
//!     let res = sender.send_request(req).await.expect("response");
//!     assert_eq!(res.status(), 200);
//!     let body = res.into_body().collect().await.expect("body").to_bytes();
//!     assert_eq!(&body[..], b"Hello, World!");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! `RUNTIME_MODE=mn` runs the same code on the M:N scheduler.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use ::hyper::rt::{self, ReadBufCursor};
use futures_io::{AsyncRead, AsyncWrite};

/// The most bytes one read asks the socket for (hyper's buffer may offer
/// more once it has grown; a read of this size is already one system call
/// per 64 KiB).
const MAX_READ: usize = 64 * 1024;

/// A stream as hyper's I/O: [`Io::new`]`(stream)` where hyper wants a
/// connection (`serve_connection`, `handshake`).
///
/// `T` is any futures-io stream that is `Unpin`: switchyard's
/// [`TcpStream`](crate::net::TcpStream) (or `&TcpStream`), or anything else
/// that implements `AsyncRead` + `AsyncWrite` (pin a `!Unpin` stream with
/// `Box::pin` first).
///
/// hyper hands a read a buffer it has not initialised, and switchyard's API
/// has no `unsafe` code to fill such a buffer in place: each read goes into a
/// buffer of this type's own (allocated at the first read, as large as
/// hyper's free space, at most 64 KiB) and is copied into hyper's. The copy
/// costs far less than the system call before it.
///
/// Writes go straight through. [`Io::new`] tells hyper the stream does not
/// take vectored writes, so hyper's HTTP/1 gathers the head and a small body
/// into one buffer and writes it with one `write`;
/// [`Io::with_vectored_writes`] lets it hand several buffers to one
/// `writev` instead (hyper's `writev` builder option overrides either).
pub struct Io<T> {
    inner: T,
    /// Where a read lands before it is copied into hyper's buffer.
    scratch: Vec<u8>,
    /// What `is_write_vectored` answers.
    vectored: bool,
}

impl<T> Io<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        Io {
            inner,
            scratch: Vec::new(),
            vectored: false,
        }
    }

    /// Wraps `inner` and tells hyper it takes vectored writes (switchyard's
    /// `TcpStream` does: one `writev` per call).
    pub fn with_vectored_writes(inner: T) -> Self {
        Io {
            vectored: true,
            ..Io::new(inner)
        }
    }

    /// The stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The stream, to change its settings (bytes read or written around
    /// hyper would break its framing).
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: fmt::Debug> fmt::Debug for Io<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Io")
            .field("inner", &self.inner)
            .field("vectored", &self.vectored)
            .finish_non_exhaustive()
    }
}

impl<T: AsyncRead + Unpin> rt::Read for Io<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let want = buf.remaining().min(MAX_READ);
        if want == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.scratch.len() < want {
            this.scratch.resize(want, 0);
        }
        let n = ready!(Pin::new(&mut this.inner).poll_read(cx, &mut this.scratch[..want]))?;
        buf.put_slice(&this.scratch[..n]);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> rt::Write for Io<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.vectored
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
}

/// hyper's timer: its sleeps are switchyard's [`Sleep`](crate::time::Sleep)s,
/// so they fire on the running engine's timers (never early). Give it to
/// a builder's `timer(Timer)`; `header_read_timeout` and HTTP/2's
/// keep-alive need it. A sleep binds to the engine at its first poll, so
/// hyper may create one anywhere and poll it inside a runtime.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timer;

impl rt::Timer for Timer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn rt::Sleep>> {
        Box::pin(crate::time::sleep(duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn rt::Sleep>> {
        Box::pin(crate::time::sleep_until(deadline))
    }

    /// Moves one of this timer's sleeps in place (hyper re-arms its
    /// header-read timeout for every request on a connection); a sleep from
    /// another timer is replaced.
    fn reset(&self, sleep: &mut Pin<Box<dyn rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<crate::time::Sleep>() {
            Some(mine) => mine.get_mut().reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

impl rt::Sleep for crate::time::Sleep {}

/// hyper's executor for `Send` futures: [`spawn`](crate::spawn)s each one
/// on the runtime running the caller, in either mode. hyper calls it from
/// inside a connection's task (HTTP/2 streams), so it needs no handle.
///
/// # Panics
/// `execute` panics outside a runtime, as `spawn` does.
#[derive(Clone, Copy, Debug, Default)]
pub struct Executor;

impl<F> rt::Executor<F> for Executor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        // Detached: hyper tracks its streams' futures itself.
        drop(crate::spawn(future));
    }
}

/// hyper's executor for `!Send` futures (a service holding an `Rc`):
/// [`spawn_local`](crate::spawn_local)s each one, so it runs on the calling
/// thread — the loop thread in single mode; in mn the current M, never
/// stolen by another. The connection's own future is `!Send` too then:
/// start it with `spawn_local` as well.
///
/// # Panics
/// `execute` panics outside a runtime, as `spawn_local` does.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalExecutor;

impl<F> rt::Executor<F> for LocalExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, future: F) {
        drop(crate::spawn_local(future));
    }
}

// Compile-time checks: hyper's `Sleep` is `Send + Sync`; `Io` over a
// switchyard stream is `Send`, so a connection future can be spawned.
const _: () = {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    let _ = || {
        send::<crate::time::Sleep>();
        sync::<crate::time::Sleep>();
        send::<Io<crate::net::TcpStream>>();
        sync::<Timer>();
        sync::<Executor>();
    };
};
