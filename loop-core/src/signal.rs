//! Unix signals as readiness on a pipe (the self-pipe trick), no thread.
//!
//! A signal handler may only do async-signal-safe things, so ours does one:
//! for every listener of the signal, it `write`s one byte to that listener's
//! pipe. The read end is registered with the loop like a socket, and
//! [`Signal::recv`] completes when bytes arrive (several deliveries between
//! two reads coalesce into one, as with every signal API).
//!
//! The shared part ([`SignalPipe`]) is engine-neutral: mn-sched registers the
//! same read end with its netpoller.
//!
//! Rules that keep the handler sound:
//! 1. Listeners live in a fixed table of atomics (signal number and write fd
//!    packed in one `u64`); the handler only loads them. No locks, no
//!    allocation in the handler; `errno` is saved and restored.
//! 2. Pipes are never closed: a dropped listener's slot is cleared and its
//!    pipe goes back to a free list for the next listener. A handler that
//!    loaded the slot just before it was cleared therefore writes into a pipe
//!    that still exists (one stray byte, drained on reuse) — never into a
//!    recycled fd number belonging to some unrelated file.
//! 3. The handler is installed once per signal and stays (like tokio's): after
//!    the first listener of SIGINT, Ctrl-C no longer kills the process by
//!    default; the program decides. A previously installed custom handler is
//!    still called after ours.
//! 4. The handler also counts each delivery in a per-signal atomic
//!    ([`SignalPipe::deliveries`]; a lock-free `fetch_add` is
//!    async-signal-safe), after its writes. A watcher that polls on a timer
//!    (mn's sysmon, for SIGQUIT) compares the count instead of calling
//!    `read` on the pipe at every look.

use std::future::poll_fn;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};

use mio::unix::SourceFd;
use mio::Interest;

use crate::io::{Direction, Registration};

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
/// Pipes of dropped listeners, kept open for reuse (rule 2): (read, write).
static FREE_PIPES: Mutex<Vec<(RawFd, RawFd)>> = Mutex::new(Vec::new());
/// Serialises handler installation.
static INSTALL_LOCK: Mutex<()> = Mutex::new(());

/// The handler: one byte to each listener of `signo`, then the previous handler.
extern "C" fn on_signal(signo: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: __errno_location returns the calling thread's errno slot, valid
    // for the thread's life; saving and restoring it keeps the interrupted
    // code's errno intact.
    let errno = unsafe { *libc::__errno_location() };
    for slot in &LISTENERS {
        let v = slot.load(Ordering::Acquire);
        if v != 0 && (v >> 32) as libc::c_int == signo {
            let fd = (v & 0xFFFF_FFFF) as RawFd - 1;
            let byte = 1u8;
            // SAFETY: write(2) is async-signal-safe; `fd` is a pipe's write
            // end that is never closed (rule 2); the buffer is one valid byte.
            unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
        }
    }
    if let Some(count) = DELIVERED.get(signo as usize) {
        // Rule 4: after the writes, so a watcher that sees the count move
        // finds the bytes in its pipe.
        count.fetch_add(1, Ordering::Release);
    }
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
        let recycled = FREE_PIPES.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let (read, write) = match recycled {
            Some(p) => p,
            None => new_pipe()?,
        };
        let _ = drain(read);
        let packed = ((signo as u64) << 32) | (write as u64 + 1);
        let slot = LISTENERS.iter().position(|s| {
            s.compare_exchange(0, packed, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        });
        match slot {
            Some(slot) => Ok(SignalPipe {
                signo,
                slot,
                read,
                write,
            }),
            None => {
                FREE_PIPES
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((read, write));
                Err(io::Error::other(
                    "switchyard: too many signal listeners (128) in this process",
                ))
            }
        }
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
    fn drop(&mut self) {
        LISTENERS[self.slot].store(0, Ordering::Release);
        FREE_PIPES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((self.read, self.write));
    }
}

/// A stream of deliveries of one signal, on the loop.
#[derive(Debug)]
pub struct Signal {
    pipe: SignalPipe,
    reg: Registration,
}

impl Signal {
    /// Listens for `signo` on the current loop.
    pub fn new(signo: i32) -> io::Result<Signal> {
        let pipe = SignalPipe::new(signo)?;
        let reg = Registration::new(&mut SourceFd(&pipe.fd()), Interest::READABLE)?;
        Ok(Signal { pipe, reg })
    }

    /// Waits for the next delivery (deliveries since the last call coalesce).
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for a delivery.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        match self.reg.poll_io(cx, Direction::Read, || self.pipe.take()) {
            Poll::Ready(Ok(_)) => Poll::Ready(Some(())),
            Poll::Ready(Err(_)) => Poll::Ready(None),
            Poll::Pending => crate::trace::pending(crate::trace::WaitReason::Signal),
        }
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        self.reg.deregister(&mut SourceFd(&self.pipe.fd()));
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
}
