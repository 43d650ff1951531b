//! The runtime's own lines on stderr — schedtrace, warnings, the SIGQUIT
//! task dump, trace-file errors, shutdown messages — written so that the
//! thread writing them never blocks.
//!
//! Why: `eprintln!` blocks while the stderr pipe is full, and a pipe whose
//! reader has stopped reading (a supervisor that never drains it, a pager
//! left paused) stays full. Blocked there, single mode's loop thread stops
//! serving, and mn's sysmon stops retaking Ps and is never joined at
//! shutdown, so SIGINT no longer ends the program. Every line the runtime
//! itself writes goes through [`line()`] or [`text()`] instead; what a program
//! prints with `eprintln!` is its own business.
//!
//! How, by what stderr is (an `fstat` at each write, so a `dup2` onto fd 2
//! is followed):
//! * a pipe, FIFO or terminal: written through a descriptor of our own,
//!   opened from `/proc/self/fd/2` with `O_NONBLOCK` and closed after the
//!   call. Reopening makes a new open file description, so the flag is ours
//!   alone; setting `O_NONBLOCK` on fd 2 or on a `dup` of it (which shares
//!   the description) would make the program's own `eprintln!` fail with
//!   `EAGAIN`, and the parent's too where it shares the pipe. Closing it at
//!   once keeps the program's own closing of fd 2 meaning end-of-file for
//!   the reader.
//! * a socket (journald's stderr): `send` with `MSG_DONTWAIT`.
//! * a regular file or block device: a plain `write` (the kernel does not
//!   wait for a reader there).
//! * where `/proc/self/fd` cannot be opened: `poll` for room with a zero
//!   timeout, then at most `PIPE_BUF` bytes, what `POLLOUT` promises on a
//!   pipe. (A writer outside the runtime that fills the pipe between the two
//!   calls could still block this write: the one case left.)
//!
//! A writer thread with a queue would not need `/proc`, but single mode
//! promises one OS thread; here nothing runs between calls. What cannot be
//! written now waits in a queue of at most [`QUEUE_CAP`] bytes (one item of
//! any size is taken when the queue is empty, so a task dump larger than
//! that still goes out whole) and goes out at the next call that finds
//! room. Lines that do not fit are dropped and counted; the next line that
//! fits (or [`flush()`] once the queue has drained) is preceded by
//! `switchyard: N lines of runtime diagnostics dropped (stderr was full)`,
//! so the count stands where the lines were missed.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Bytes the queue holds at most (beyond a single item taken when empty).
pub const QUEUE_CAP: usize = 64 * 1024;

/// stderr as the runtime writes it.
static STDERR: Writer = Writer::new(libc::STDERR_FILENO);

/// Writes `s` and a newline (unless `s` ends with one) on stderr without
/// blocking: now if stderr has room, else later or never (module doc).
pub fn line(s: &str) {
    if s.ends_with('\n') {
        STDERR.text(s);
    } else {
        let mut owned = String::with_capacity(s.len() + 1);
        owned.push_str(s);
        owned.push('\n');
        STDERR.text(&owned);
    }
}

/// Writes `s` as it is on stderr without blocking (a task dump: many lines).
pub fn text(s: &str) {
    STDERR.text(s);
}

/// Writes what waits in the queue (and the dropped-lines count), waiting up
/// to `wait` for stderr to take it; `Duration::ZERO` only tries. Whether
/// everything went out. For the last lines before the process exits.
pub fn flush(wait: Duration) -> bool {
    STDERR.flush(wait)
}

/// A descriptor written without blocking, with its queue of what waits.
pub(crate) struct Writer {
    fd: RawFd,
    state: Mutex<State>,
}

/// The queue: `queue[sent..]` waits to be written.
struct State {
    queue: Vec<u8>,
    sent: usize,
    /// Lines dropped since the last notice.
    dropped: u64,
}

impl State {
    fn waiting(&self) -> usize {
        self.queue.len() - self.sent
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.sent > 0 {
            self.queue.drain(..self.sent);
            self.sent = 0;
        }
        self.queue.extend_from_slice(bytes);
    }

    fn clear(&mut self) {
        self.queue = Vec::new();
        self.sent = 0;
    }

    /// Queues the count of the lines dropped since the last notice, if any.
    fn notice(&mut self) {
        if self.dropped > 0 {
            let n = std::mem::take(&mut self.dropped);
            let s = if n == 1 { "" } else { "s" };
            let notice = format!(
                "switchyard: {n} line{s} of runtime diagnostics dropped (stderr was full)\n"
            );
            self.push(notice.as_bytes());
        }
    }
}

/// What one write did.
enum Step {
    /// This many bytes went out.
    Wrote(usize),
    /// No room now.
    Full,
    /// Nothing can be written there (no reader, closed, an I/O error): what
    /// waits is discarded rather than kept forever.
    Gone,
}

/// How stderr is written, chosen per call by what it is (module doc).
enum Sink {
    Plain,
    Socket,
    Own(OwnedFd),
    Polled,
}

impl Writer {
    pub(crate) const fn new(fd: RawFd) -> Self {
        Writer {
            fd,
            state: Mutex::new(State {
                queue: Vec::new(),
                sent: 0,
                dropped: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `s` (or counts its lines as dropped) and writes what it can.
    pub(crate) fn text(&self, s: &str) {
        if s.is_empty() {
            return;
        }
        let mut st = self.lock();
        self.drain(&mut st);
        if st.waiting() == 0 || st.waiting() + s.len() <= QUEUE_CAP {
            st.notice();
            st.push(s.as_bytes());
        } else {
            let lines = s.bytes().filter(|b| *b == b'\n').count().max(1);
            st.dropped += lines as u64;
        }
        self.drain(&mut st);
    }

    /// See [`flush()`].
    pub(crate) fn flush(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            let before = {
                let mut st = self.lock();
                self.drain(&mut st);
                if st.waiting() == 0 {
                    st.notice();
                    self.drain(&mut st);
                }
                if st.waiting() == 0 {
                    return true;
                }
                st.waiting()
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let ms = left.min(Duration::from_millis(10)).as_millis().max(1) as libc::c_int;
            if !wait_for_room(self.fd, ms) || self.lock().waiting() == before {
                // No room yet (or room that our write did not get): pace.
                std::thread::sleep(Duration::from_millis(1).min(left));
            }
        }
    }

    /// Writes what waits until stderr has no more room.
    fn drain(&self, st: &mut State) {
        if st.waiting() == 0 {
            return;
        }
        let Some(sink) = self.sink() else {
            st.clear();
            return;
        };
        while st.waiting() > 0 {
            match self.write_some(&sink, &st.queue[st.sent..]) {
                Step::Wrote(n) => st.sent += n,
                Step::Full => break,
                Step::Gone => {
                    st.clear();
                    break;
                }
            }
        }
        if st.waiting() == 0 {
            st.clear();
        }
    }

    /// How to write `self.fd` now; `None` when nothing can be written there.
    fn sink(&self) -> Option<Sink> {
        // SAFETY: all-zero is a valid `stat` for fstat to fill.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `stat` is valid and writable; a bad fd is an error return.
        if unsafe { libc::fstat(self.fd, &mut stat) } != 0 {
            return None;
        }
        Some(match stat.st_mode & libc::S_IFMT {
            libc::S_IFREG | libc::S_IFBLK => Sink::Plain,
            libc::S_IFSOCK => Sink::Socket,
            _ => {
                let path = CString::new(format!("/proc/self/fd/{}", self.fd)).ok()?;
                // SAFETY: `path` is a valid C string; the flags open a new
                // description of the same pipe or terminal.
                let fd = unsafe {
                    libc::open(
                        path.as_ptr(),
                        libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY,
                    )
                };
                if fd >= 0 {
                    // SAFETY: `open` just returned this descriptor; we own it.
                    Sink::Own(unsafe { OwnedFd::from_raw_fd(fd) })
                } else if io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO) {
                    // A FIFO nobody reads.
                    return None;
                } else {
                    Sink::Polled
                }
            }
        })
    }

    /// One write of (a prefix of) `buf` through `sink`.
    fn write_some(&self, sink: &Sink, buf: &[u8]) -> Step {
        loop {
            let n = match sink {
                // SAFETY: `buf` is valid for `buf.len()` bytes.
                Sink::Plain => unsafe { libc::write(self.fd, buf.as_ptr().cast(), buf.len()) },
                // SAFETY: as above; MSG_DONTWAIT makes this one call
                // non-blocking, MSG_NOSIGNAL turns SIGPIPE into EPIPE.
                Sink::Socket => unsafe {
                    libc::send(
                        self.fd,
                        buf.as_ptr().cast(),
                        buf.len(),
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    )
                },
                // SAFETY: as above, on our own non-blocking descriptor.
                Sink::Own(fd) => unsafe {
                    libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len())
                },
                Sink::Polled => {
                    let mut pfd = libc::pollfd {
                        fd: self.fd,
                        events: libc::POLLOUT,
                        revents: 0,
                    };
                    // SAFETY: one valid pollfd; a zero timeout never waits.
                    let r = unsafe { libc::poll(&mut pfd, 1, 0) };
                    if r == 0 {
                        return Step::Full;
                    }
                    if r > 0 && pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0
                    {
                        return Step::Gone;
                    }
                    if r > 0 {
                        let len = buf.len().min(libc::PIPE_BUF);
                        // SAFETY: `buf` is valid for `len` bytes.
                        unsafe { libc::write(self.fd, buf.as_ptr().cast(), len) }
                    } else {
                        -1
                    }
                }
            };
            if n > 0 {
                return Step::Wrote(n as usize);
            }
            if n == 0 {
                return Step::Full;
            }
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => return Step::Full,
                _ => return Step::Gone,
            }
        }
    }
}

/// Waits up to `ms` for `fd` to take a write; whether it will.
fn wait_for_room(fd: RawFd, ms: libc::c_int) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, ms) > 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::Arc;

    /// A pipe: (read end, write end).
    fn pipe() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: pipe2 just returned them; each is owned once.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    /// Whether a write to `fd` would block now.
    fn full(fd: &OwnedFd) -> bool {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        unsafe { libc::poll(&mut pfd, 1, 0) == 0 }
    }

    /// Everything readable on `fd` now, without waiting.
    fn read_now(fd: &OwnedFd) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let mut pfd = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, zero timeout.
            if unsafe { libc::poll(&mut pfd, 1, 0) } <= 0 || pfd.revents & libc::POLLIN == 0 {
                break;
            }
            // SAFETY: `buf` is writable for its length.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            out.extend_from_slice(&buf[..n as usize]);
        }
        String::from_utf8(out).unwrap()
    }

    /// Runs `f` on a thread; a block inside it fails the test instead of
    /// hanging it.
    fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(secs))
            .expect("a diagnostic write blocked")
    }

    fn flags(fd: RawFd) -> libc::c_int {
        // SAFETY: F_GETFL on a descriptor we hold.
        unsafe { libc::fcntl(fd, libc::F_GETFL) }
    }

    #[test]
    fn a_full_pipe_drops_lines_counts_them_and_never_blocks() {
        let (r, w) = pipe();
        let writer = Arc::new(Writer::new(w.as_raw_fd()));
        const LINES: usize = 3000;
        let wr = writer.clone();
        within(20, move || {
            for i in 0..LINES {
                wr.text(&format!("line {i:05} {}\n", "x".repeat(90)));
            }
        });
        assert!(full(&w), "3000 lines of 100 bytes fill a 64 KiB pipe");
        assert_eq!(
            flags(w.as_raw_fd()) & libc::O_NONBLOCK,
            0,
            "fd 2's flags untouched"
        );
        // The reader catches up; the next line brings the queue and the count.
        let mut got = read_now(&r);
        let wr = writer.clone();
        within(20, move || wr.text("after\n"));
        got.push_str(&read_now(&r));
        let wr = writer.clone();
        assert!(within(20, move || wr.flush(Duration::ZERO)));
        got.push_str(&read_now(&r));

        let mut expect = 0;
        let mut dropped = None;
        for l in got.lines() {
            if let Some(rest) = l.strip_prefix("line ") {
                let i: usize = rest[..5].parse().unwrap();
                assert_eq!(l.len(), 5 + 6 + 90, "a whole line: {l}");
                // Nobody read while they were written: the tail is dropped.
                assert_eq!(i, expect, "in order, none missing before the count");
                assert!(dropped.is_none(), "no line after the count but `after`");
                expect = i + 1;
            } else if let Some(rest) = l.strip_prefix("switchyard: ") {
                let n: usize = rest.split(' ').next().unwrap().parse().unwrap();
                assert!(rest.ends_with("lines of runtime diagnostics dropped (stderr was full)"));
                dropped = Some(n);
            } else {
                assert_eq!(l, "after");
            }
        }
        let arrived = got.lines().filter(|l| l.starts_with("line ")).count();
        let dropped = dropped.expect("the count of dropped lines");
        assert_eq!(arrived + dropped, LINES, "each line arrived or was counted");
        assert!(
            got.ends_with("after\n"),
            "the notice comes before later lines"
        );
    }

    #[test]
    fn a_dump_larger_than_the_pipe_goes_out_whole_as_the_reader_reads() {
        let (r, w) = pipe();
        let writer = Arc::new(Writer::new(w.as_raw_fd()));
        let dump: String = (0..10_000)
            .map(|i| format!("task {i:05} [sleep]\n"))
            .collect();
        assert!(dump.len() > 2 * QUEUE_CAP);
        let wr = writer.clone();
        let d = dump.clone();
        within(20, move || wr.text(&d));
        assert!(full(&w));
        let mut got = read_now(&r);
        let start = Instant::now();
        while got.len() < dump.len() {
            assert!(start.elapsed() < Duration::from_secs(20));
            let wr = writer.clone();
            within(20, move || wr.flush(Duration::from_millis(10)));
            got.push_str(&read_now(&r));
        }
        assert!(got == dump, "the dump arrived whole and in order");
    }

    #[test]
    fn a_full_socket_never_blocks() {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        let rc = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0);
        // SAFETY: socketpair just returned them; each is owned once.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let writer = Arc::new(Writer::new(w.as_raw_fd()));
        let wr = writer.clone();
        within(20, move || {
            for i in 0..20_000 {
                wr.text(&format!("line {i} {}\n", "y".repeat(100)));
            }
        });
        assert!(full(&w), "the socket's buffer is full");
        assert_eq!(flags(w.as_raw_fd()) & libc::O_NONBLOCK, 0);
        let got = read_now(&r);
        assert!(got.starts_with("line 0 "), "{}", &got[..40]);
    }

    #[test]
    fn a_regular_file_gets_every_line() {
        let path = std::env::temp_dir().join(format!("switchyard-diag-{}.txt", std::process::id()));
        let f = std::fs::File::create(&path).unwrap();
        let writer = Writer::new(f.as_raw_fd());
        for i in 0..1000 {
            writer.text(&format!("line {i}\n"));
        }
        assert!(writer.flush(Duration::ZERO));
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(text.lines().count(), 1000);
        assert_eq!(text.lines().last(), Some("line 999"));
    }

    #[test]
    fn a_pipe_nobody_reads_discards_instead_of_queueing() {
        let (r, w) = pipe();
        drop(r);
        let writer = Writer::new(w.as_raw_fd());
        // (Rust programs ignore SIGPIPE; the test harness does too.)
        writer.text("to nobody\n");
        assert_eq!(writer.lock().waiting(), 0);
        assert!(writer.flush(Duration::ZERO));
    }
}
