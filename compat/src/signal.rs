//! Unix signals as async streams, the same in every mode.
//!
//! [`ctrl_c`]`().await` completes at the next SIGINT;
//! [`signal`]`(SignalKind::terminate())` gives a stream of SIGTERM
//! deliveries. No thread is started for them. Once a program listens for a
//! signal, that signal's default action (such as SIGINT terminating the
//! process) no longer happens: the program decides.
//!
//! A delivery that finds no listener — a SIGINT between two `ctrl_c()`
//! calls, or after a `Signal` was dropped — is kept for the next listener
//! of that signal, which completes at once; several such deliveries count
//! once. Nothing is lost between two calls, and a listener made long after
//! such a delivery still sees it. A `Signal` kept across deliveries sees
//! each (deliveries between two receives coalesce).
//!
//! SIGQUIT and SIGUSR2 are the runtime's own control signals in both modes,
//! handled from the moment the runtime is built: SIGQUIT prints the task
//! dump, SIGUSR2 writes the trace when `RUNTIME_TRACE` is set and is
//! ignored without it. A program may listen for them too.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::engine;

/// A signal number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(i32);

impl SignalKind {
    /// SIGINT (Ctrl-C).
    pub const fn interrupt() -> Self {
        SignalKind(libc_signal::SIGINT)
    }
    /// SIGTERM (the polite kill).
    pub const fn terminate() -> Self {
        SignalKind(libc_signal::SIGTERM)
    }
    /// SIGHUP.
    pub const fn hangup() -> Self {
        SignalKind(libc_signal::SIGHUP)
    }
    /// SIGQUIT (Ctrl-\).
    pub const fn quit() -> Self {
        SignalKind(libc_signal::SIGQUIT)
    }
    /// SIGUSR1.
    pub const fn user_defined1() -> Self {
        SignalKind(libc_signal::SIGUSR1)
    }
    /// SIGUSR2.
    pub const fn user_defined2() -> Self {
        SignalKind(libc_signal::SIGUSR2)
    }
    /// Any signal by number.
    pub const fn from_raw(signo: i32) -> Self {
        SignalKind(signo)
    }
    /// The signal number.
    pub const fn as_raw(self) -> i32 {
        self.0
    }
}

/// Linux x86_64/aarch64 signal numbers (compat forbids `unsafe`, and needs no
/// libc dependency for these constants).
mod libc_signal {
    pub const SIGHUP: i32 = 1;
    pub const SIGINT: i32 = 2;
    pub const SIGQUIT: i32 = 3;
    pub const SIGUSR1: i32 = 10;
    pub const SIGUSR2: i32 = 12;
    pub const SIGTERM: i32 = 15;
}

/// A stream of deliveries of one signal, from [`signal`].
///
/// ```
/// # extern crate compat as switchyard;
/// use std::time::Duration;
/// use switchyard::signal::{signal, SignalKind};
///
/// switchyard::run(async {
///     let mut hangups = signal(SignalKind::hangup())?;
///     // Reload on every SIGHUP; here, give up waiting after 5 ms.
///     while let Ok(Some(())) = switchyard::time::timeout(Duration::from_millis(5), hangups.recv()).await {
///         println!("reloading");
///     }
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
///
/// A [`FusedStream`](futures_core::stream::FusedStream): it ends (gives
/// `None`) only if the engine's signal pipe breaks, and says so from then on,
/// so `select!`'s `select_next_some()` can take it without `.fuse()`.
pub struct Signal {
    /// rt-base's signal over compat's registration, which picks the
    /// engine of the runtime running here (registration.rs).
    inner: rt_base::signal::Signal<crate::registration::Registration>,
    /// `poll_recv` gave `None`: no delivery will come.
    ended: bool,
}

impl std::fmt::Debug for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

/// Starts listening for `kind` on the current runtime: from now on its
/// default action (such as terminating the process) no longer happens, and
/// each delivery comes out of the returned [`Signal`].
///
/// # Errors
/// For a signal that cannot or must not be caught (SIGKILL, SIGSTOP, the
/// faults SIGSEGV, SIGBUS, SIGILL, SIGFPE), a number out of range, or when
/// 128 listeners already exist in the process.
///
/// # Panics
/// Outside a runtime.
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    engine::expect_mode("signal");
    Ok(Signal {
        inner: rt_base::signal::Signal::new(kind.0)?,
        ended: false,
    })
}

/// Completes at the next Ctrl-C (SIGINT), or at once if a SIGINT came
/// while nothing listened for it (between two calls, say; see the module
/// docs).
///
/// A graceful shutdown waits for it beside the work; here a `timeout`
/// stands in for the user, so the example ends:
///
/// ```
/// # extern crate compat as switchyard;
/// use std::time::Duration;
/// use switchyard::time::timeout;
///
/// switchyard::run(async {
///     let server = switchyard::spawn(std::future::pending::<()>()); // serves for ever
///     match timeout(Duration::from_millis(5), switchyard::signal::ctrl_c()).await {
///         Ok(Ok(())) => println!("Ctrl-C: shutting down"),
///         Ok(Err(e)) => eprintln!("cannot listen for Ctrl-C: {e}"),
///         Err(_) => println!("no Ctrl-C within 5 ms: shutting down anyway"),
///     }
///     server.abort();
/// });
/// ```
pub async fn ctrl_c() -> io::Result<()> {
    let mut s = signal(SignalKind::interrupt())?;
    s.recv().await;
    Ok(())
}

impl Signal {
    /// Waits for the next delivery; deliveries since the last call coalesce.
    pub async fn recv(&mut self) -> Option<()> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for a delivery.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let p = self.inner.poll_recv(cx);
        self.ended = matches!(p, Poll::Ready(None));
        p
    }
}

impl futures_core::Stream for Signal {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.get_mut().poll_recv(cx)
    }
}

/// Terminated once [`Signal::poll_recv`] gave `None`.
///
/// ```
/// # extern crate compat as switchyard;
/// # switchyard::run(async {
/// use futures_core::stream::FusedStream;
///
/// let s = switchyard::signal::signal(switchyard::signal::SignalKind::user_defined1()).unwrap();
/// assert!(!s.is_terminated());
/// # });
/// ```
impl futures_core::stream::FusedStream for Signal {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}
