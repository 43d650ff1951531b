//! Unix signals as readiness on a pipe (the self-pipe trick), no thread.
//!
//! A signal handler may only do async-signal-safe things, so ours does one:
//! for every listener of the signal, it `write`s one byte to that listener's
//! pipe. The read end is registered with an engine's poller like a socket
//! ([`Signal`], written once over the readiness contract of [`crate::io`]:
//! loop-core's `signal::Signal` is it over the loop's epoll, mn's
//! `aio::signal::Signal` over its netpoller), and a read there completes
//! when bytes arrive (several deliveries between two reads coalesce into
//! one, as with every signal API).
//!
//! Rules that keep the handler sound:
//! 1. Listeners live in a fixed table of atomics (signal number and write fd
//!    packed in one `u64`); the handler only loads them. No locks, no
//!    allocation in the handler; `errno` is saved and restored.
//! 2. While it reads the table and writes, a handler counts itself in
//!    flight for its signal (a per-signal atomic; a lock-free `fetch_add`
//!    is async-signal-safe). A dropped listener clears its slot, waits until
//!    no handler of its signal is in flight, and only then closes its pipe. So a handler
//!    that loaded the slot just before it was cleared has written by then,
//!    into the pipe it meant; no byte ever reaches a later pipe — another
//!    listener's, perhaps of another signal, that got the same fd number —
//!    nor an unrelated file. (Pipes used to be recycled without this wait:
//!    such a late byte then reached the next listener, and a pipe dropped
//!    on another thread stayed in its loop's epoll set.) The wait lasts
//!    while that signal's handlers run, microseconds; a storm of the same
//!    signal whose handlers overlap without pause prolongs it.
//! 3. The handler is installed once per signal and stays (like tokio's): after
//!    the first listener of SIGINT, Ctrl-C no longer kills the process by
//!    default; the program decides. A previously installed custom handler is
//!    still called after ours (once ours no longer counts as in flight).
//! 4. The handler also counts each delivery in a per-signal atomic
//!    ([`SignalPipe::deliveries`]; a lock-free `fetch_add` is
//!    async-signal-safe), after its writes. A watcher that polls on a timer
//!    (mn's sysmon, for SIGQUIT) compares the count instead of calling
//!    `read` on the pipe at every look.
//! 5. A delivery that finds no listener of its signal (the handler stays,
//!    rule 3) is kept for the next listener of that signal, which sees it
//!    at once — counted once, however many arrived. So a SIGINT that
//!    arrives between two `ctrl_c()` calls completes the second one
//!    instead of vanishing. The new listener takes what was kept after it
//!    is in the table and no handler of its signal is in flight: a delivery
//!    at that very moment reaches it through its slot or as kept, never
//!    neither.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use crate::io::{Direction, PollEvented, Registration};

/// Listeners at once, process-wide.
const SLOTS: usize = 128;
/// Highest signal number handled (real-time signals included).
const MAX_SIGNAL: usize = 64;

/// `(signo << 32) | (write_fd + 1)`, or 0 for a free slot.
static LISTENERS: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
/// Whether our handler is installed, per signal.
static INSTALLED: [AtomicBool; MAX_SIGNAL + 1] = [const { AtomicBool::new(false) }; MAX_SIGNAL + 1];
/// The handler that was there before ours, per signal (for chaining).
static PREVIOUS: [OnceLock<libc::sigaction>; MAX_SIGNAL + 1] =
    [const { OnceLock::new() }; MAX_SIGNAL + 1];
/// Deliveries of each signal since our handler was installed (rule 4).
static DELIVERED: [AtomicU64; MAX_SIGNAL + 1] = [const { AtomicU64::new(0) }; MAX_SIGNAL + 1];
/// Per signal: handlers between reading the table and their last write
/// (rule 2).
static IN_FLIGHT: [AtomicUsize; MAX_SIGNAL + 1] = [const { AtomicUsize::new(0) }; MAX_SIGNAL + 1];
/// Per signal: a delivery found no listener and waits for the next (rule 5).
static KEPT: [AtomicBool; MAX_SIGNAL + 1] = [const { AtomicBool::new(false) }; MAX_SIGNAL + 1];
/// Serialises handler installation.
static INSTALL_LOCK: Mutex<()> = Mutex::new(());

/// The handler: one byte to each listener of `signo`, then the previous handler.
extern "C" fn on_signal(signo: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: __errno_location returns the calling thread's errno slot, valid
    // for the thread's life; saving and restoring it keeps the interrupted
    // code's errno intact.
    let errno = unsafe { *libc::__errno_location() };
    enter(signo);
    let mut found = false;
    for fd in listener_fds(signo) {
        write_byte(fd);
        found = true;
    }
    if let Some(kept) = KEPT.get(signo as usize).filter(|_| !found) {
        kept.store(true, Ordering::SeqCst);
    }
    if let Some(count) = DELIVERED.get(signo as usize) {
        // Rule 4: after the writes, so a watcher that sees the count move
        // finds the bytes in its pipe.
        count.fetch_add(1, Ordering::Release);
    }
    leave(signo);
    if let Some(prev) = PREVIOUS.get(signo as usize).and_then(OnceLock::get) {
        let h = prev.sa_sigaction;
        if h != libc::SIG_DFL && h != libc::SIG_IGN {
            if prev.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: with SA_SIGINFO the kernel-recorded handler has the
                // three-argument signature, and we pass the arguments we got.
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(h) };
                f(signo, info, ctx);
            } else {
                // SAFETY: without SA_SIGINFO the handler takes the signal
                // number only.
                let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(h) };
                f(signo);
            }
        }
    }
    // SAFETY: as above, this thread's errno slot.
    unsafe { *libc::__errno_location() = errno };
}

/// Rule 2: a handler of `signo` starts reading the table. SeqCst, as the
/// loads that follow and [`quiesce`]'s: a listener whose clearing of its
/// slot comes before this in that order is not seen, one whose `quiesce`
/// comes after it waits for [`leave`].
fn enter(signo: libc::c_int) {
    if let Some(n) = IN_FLIGHT.get(signo as usize) {
        n.fetch_add(1, Ordering::SeqCst);
    }
}

/// Rule 2: the handler of `signo` has made its last write.
fn leave(signo: libc::c_int) {
    if let Some(n) = IN_FLIGHT.get(signo as usize) {
        n.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits until no handler of `signo` is in flight (rule 2). Never called
/// from a handler, so it cannot wait for itself.
fn quiesce(signo: libc::c_int) {
    while IN_FLIGHT[signo as usize].load(Ordering::SeqCst) != 0 {
        std::thread::yield_now();
    }
}

/// The write ends of the pipes of `signo`'s listeners, as the table holds
/// them now (async-signal-safe: atomic loads only).
fn listener_fds(signo: libc::c_int) -> impl Iterator<Item = RawFd> {
    LISTENERS.iter().filter_map(move |slot| {
        let v = slot.load(Ordering::SeqCst);
        (v != 0 && (v >> 32) as libc::c_int == signo).then_some((v & 0xFFFF_FFFF) as RawFd - 1)
    })
}

/// One byte into a listener's pipe (async-signal-safe: one `write`). A full
/// pipe refuses it: its reader has deliveries pending anyway.
fn write_byte(fd: RawFd) {
    let byte = 1u8;
    // SAFETY: write(2) is async-signal-safe; `fd` is the write end of a
    // listener's pipe, open until that listener's drop has waited for every
    // handler in flight (rule 2); the buffer is one valid byte.
    unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
}

fn install(signo: libc::c_int) -> io::Result<()> {
    if INSTALLED[signo as usize].load(Ordering::Acquire) {
        return Ok(());
    }
    let _guard = INSTALL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if INSTALLED[signo as usize].load(Ordering::Acquire) {
        return Ok(());
    }
    // SAFETY: sigaction is plain old data; all-zero is a valid initial value.
    let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
    new.sa_sigaction = on_signal as *const () as libc::sighandler_t;
    new.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
    // SAFETY: sa_mask is a valid sigset_t inside `new`.
    unsafe { libc::sigemptyset(&mut new.sa_mask) };
    // SAFETY: as above, zero is valid for the out-parameter.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: `new` is a fully initialised action whose handler is
    // async-signal-safe; `old` receives the previous action.
    if unsafe { libc::sigaction(signo, &new, &mut old) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let _ = PREVIOUS[signo as usize].set(old);
    INSTALLED[signo as usize].store(true, Ordering::Release);
    Ok(())
}

fn new_pipe() -> io::Result<(RawFd, RawFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((fds[0], fds[1]))
}

/// Closes both ends of a pipe that no handler can write to any more.
fn close_pipe(read: RawFd, write: RawFd) {
    for fd in [read, write] {
        // SAFETY: `fd` is an end of a pipe this module opened and owns; it is
        // out of the listener table and no handler that read it there is in
        // flight (rule 2), so nothing uses the number after this close.
        unsafe { libc::close(fd) };
    }
}

/// Reads everything pending on a non-blocking fd; true if anything was.
fn drain(fd: RawFd) -> io::Result<bool> {
    let mut any = false;
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: `buf` is a valid writable buffer of the given length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        match n {
            n if n > 0 => any = true,
            0 => return Ok(any),
            _ => {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::WouldBlock => {
                        if any {
                            Ok(true)
                        } else {
                            Err(e)
                        }
                    }
                    io::ErrorKind::Interrupted => continue,
                    _ => Err(e),
                };
            }
        }
    }
}

/// One listener's pipe, hooked to one signal.
#[derive(Debug)]
pub struct SignalPipe {
    signo: i32,
    slot: usize,
    read: RawFd,
    write: RawFd,
}

impl SignalPipe {
    /// Starts listening for signal `signo`.
    ///
    /// Fails for signals that cannot or must not be caught (SIGKILL, SIGSTOP,
    /// and the synchronous faults SIGSEGV, SIGBUS, SIGILL, SIGFPE), for
    /// numbers out of range, and when 128 listeners already exist.
    pub fn new(signo: i32) -> io::Result<SignalPipe> {
        let forbidden = [
            libc::SIGKILL,
            libc::SIGSTOP,
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGILL,
            libc::SIGFPE,
        ];
        if signo <= 0 || signo as usize > MAX_SIGNAL || forbidden.contains(&signo) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("switchyard: signal {signo} cannot be listened for"),
            ));
        }
        install(signo)?;
        let (read, write) = new_pipe()?;
        let packed = ((signo as u64) << 32) | (write as u64 + 1);
        let slot = LISTENERS.iter().position(|s| {
            s.compare_exchange(0, packed, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
        });
        let Some(slot) = slot else {
            close_pipe(read, write);
            return Err(io::Error::other(
                "switchyard: too many signal listeners (128) in this process",
            ));
        };
        // Rule 5: once no handler that missed the new slot is in flight,
        // take a delivery that found no listener.
        quiesce(signo);
        if KEPT[signo as usize].swap(false, Ordering::SeqCst) {
            write_byte(write);
        }
        Ok(SignalPipe {
            signo,
            slot,
            read,
            write,
        })
    }

    /// The read end, to register with an engine's poller (edge-triggered,
    /// readable).
    pub fn fd(&self) -> RawFd {
        self.read
    }

    /// Consumes pending deliveries: `Ok(true)` if the signal arrived since the
    /// last call, `Err(WouldBlock)` if not.
    pub fn take(&self) -> io::Result<bool> {
        drain(self.read)
    }

    /// How many times this pipe's signal has been delivered to the process
    /// since the handler was installed (any listener's; read without a
    /// system call). A watcher that looks on a timer keeps the last count
    /// it saw and calls [`take`](Self::take) only when the count has moved:
    /// the bytes of those deliveries are in the pipe by then (rule 4).
    pub fn deliveries(&self) -> u64 {
        DELIVERED[self.signo as usize].load(Ordering::Acquire)
    }
}

impl Drop for SignalPipe {
    /// Rule 2: out of the table, then, once no handler that may have read
    /// the slot is in flight, the pipe is closed (which also takes its read
    /// end out of every epoll set it is in).
    fn drop(&mut self) {
        LISTENERS[self.slot].store(0, Ordering::SeqCst);
        quiesce(self.signo);
        close_pipe(self.read, self.write);
    }
}

/// The read end is the source a poller watches.
impl mio::event::Source for SignalPipe {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.read).register(registry, token, interest)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.read).reregister(registry, token, interest)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.read).deregister(registry)
    }
}

/// A stream of deliveries of one signal: a [`SignalPipe`] registered with
/// the poller `R` (loop-core's and mn-sched's `Signal` are this type over
/// their registrations). Deliveries between two receives coalesce.
///
/// Dropped, the pipe leaves the poller first (on a loop's thread; from
/// another thread only the loop's slot is freed, through its remote
/// queue), then closes, which takes it out of every epoll set anyway.
pub struct Signal<R: Registration> {
    io: PollEvented<SignalPipe, R>,
}

impl<R: Registration> Signal<R> {
    /// Listens for `signo` on the runtime running on this thread. Fails
    /// for signals that cannot be caught ([`SignalPipe::new`]) and outside
    /// a runtime.
    pub fn new(signo: i32) -> io::Result<Self> {
        let io = PollEvented::new(SignalPipe::new(signo)?, Interest::READABLE)?;
        Ok(Signal { io })
    }

    /// Waits for the next delivery (deliveries since the last call
    /// coalesce); `None` once the pipe broke: no more deliveries.
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for a delivery.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        match self.io.poll_io(cx, Direction::Read, SignalPipe::take) {
            Poll::Ready(Ok(_)) => Poll::Ready(Some(())),
            Poll::Ready(Err(_)) => Poll::Ready(None),
            Poll::Pending => crate::trace::pending(crate::trace::WaitReason::Signal),
        }
    }
}

impl<R: Registration> fmt::Debug for Signal<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("signo", &self.io.get_ref().signo)
            .field("fd", &self.io.get_ref().read)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_moves_once_per_delivery_and_take_finds_its_byte() {
        // A real-time signal nothing else in this test binary listens for.
        let signo = libc::SIGRTMIN() + 5;
        let pipe = SignalPipe::new(signo).unwrap();
        let start = pipe.deliveries();
        assert!(pipe.take().is_err(), "nothing delivered yet");
        assert_eq!(pipe.deliveries(), start);

        // SAFETY: raise(3) sends an unblocked signal to this thread and
        // runs its handler (ours, installed above) before it returns.
        assert_eq!(unsafe { libc::raise(signo) }, 0);
        assert_eq!(pipe.deliveries(), start + 1);
        assert!(matches!(pipe.take(), Ok(true)));
        assert!(pipe.take().is_err(), "one delivery, one take");

        for _ in 0..2 {
            // SAFETY: as above.
            assert_eq!(unsafe { libc::raise(signo) }, 0);
        }
        assert_eq!(pipe.deliveries(), start + 3);
        assert!(matches!(pipe.take(), Ok(true)), "two deliveries coalesce");
        assert!(pipe.take().is_err());
        assert_eq!(pipe.deliveries(), start + 3, "take leaves the count");
    }

    #[test]
    fn a_handler_in_flight_never_writes_into_a_later_listeners_pipe() {
        let (x, y) = (libc::SIGRTMIN() + 6, libc::SIGRTMIN() + 7);
        let px = SignalPipe::new(x).unwrap();
        // A handler of `x`, held between reading the table and writing (a
        // real one is there for a few instructions, unless preempted).
        let (loaded_tx, loaded_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let handler = std::thread::spawn(move || {
            enter(x);
            let fds: Vec<RawFd> = listener_fds(x).collect();
            loaded_tx.send(fds.len()).unwrap();
            go_rx.recv().unwrap();
            for fd in fds {
                write_byte(fd);
            }
            leave(x);
        });
        assert_eq!(
            loaded_rx.recv().unwrap(),
            1,
            "the handler found the listener"
        );
        // Meanwhile `x`'s listener is dropped and one of `y` made: the drop
        // waits for the handler, which writes after 100 ms.
        let other = std::thread::spawn(move || {
            drop(px);
            SignalPipe::new(y).unwrap()
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        go_tx.send(()).unwrap();
        handler.join().unwrap();
        let py = other.join().unwrap();
        assert!(
            py.take().is_err(),
            "a handler of one signal wrote into the pipe of a listener of another"
        );
    }

    #[test]
    fn a_delivery_with_no_listener_is_kept_for_the_next_once() {
        let signo = libc::SIGRTMIN() + 8;
        drop(SignalPipe::new(signo).unwrap());
        for _ in 0..3 {
            // SAFETY: raise(3) runs our handler (installed above) on this
            // thread before it returns.
            assert_eq!(unsafe { libc::raise(signo) }, 0);
        }
        let pipe = SignalPipe::new(signo).unwrap();
        assert!(matches!(pipe.take(), Ok(true)), "the kept delivery");
        assert!(pipe.take().is_err(), "kept once");
        drop(pipe);
        let pipe = SignalPipe::new(signo).unwrap();
        assert!(pipe.take().is_err(), "nothing more was kept");
    }
}
