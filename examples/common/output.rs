//! What the examples write, and the rules that keep writing from hurting
//! them: [`say`] for stdout lines (a reader that went away is not a crash),
//! [`error`] for stderr error lines (rate-limited, and written by a thread
//! of their own so a full stderr pipe never stalls a server).
//!
//! `echo`, `http` and `metrics` run for days under whatever their users
//! point at them, often piped into something (`| head`, a log shipper that
//! restarts); losing the reader of stdout must not turn a clean stop into
//! a crash, a burst of failing accepts or resets must not become a burst
//! of log lines, and a log nobody drains must not stop the server.

use std::fmt::{self, Display};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Prints `line` and a newline on stdout, flushed. If the write fails —
/// stdout closed because the reader of a pipe went away, a full disk — the
/// line is dropped: the program goes on and its exit status does not
/// change. `println!` would panic instead ("failed printing to stdout",
/// exit 101).
pub fn say(line: impl Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// The most error lines written per second; the rest are counted and
/// summarised in one line when the second is over.
pub const ERROR_LINES_PER_SECOND: u32 = 10;

/// Lines waiting for the writer thread; past this many (stderr is blocked)
/// new lines are counted, not kept.
const QUEUE: usize = 256;

/// Lines that found the queue full, for the next summary.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The writer thread's queue, made by the first [`error`].
static QUEUE_TX: OnceLock<Option<SyncSender<String>>> = OnceLock::new();

/// Queues one error line for stderr (`format_args!` it) and returns at once:
/// it never waits for stderr. At most [`ERROR_LINES_PER_SECOND`] lines are
/// written in any second; when a second had more, one line follows it:
/// `PROGRAM: … K more error lines in the last second not shown`. The
/// writer thread starts with the first line (so a server that never fails
/// has no extra thread). Lines still queued when the process exits are
/// lost, as the summary of the last second may be.
pub fn error(line: fmt::Arguments<'_>) {
    let tx = QUEUE_TX.get_or_init(|| {
        let (tx, rx) = mpsc::sync_channel::<String>(QUEUE);
        std::thread::Builder::new()
            .name("error-log".into())
            .spawn(move || write_errors(rx))
            .ok()
            .map(|_| tx)
    });
    let Some(tx) = tx else {
        // No thread (out of threads): count the line, write nothing.
        DROPPED.fetch_add(1, Ordering::Relaxed);
        return;
    };
    match tx.try_send(line.to_string()) {
        Ok(()) => {}
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The writer thread: the rate limit and the summaries. Waits without a
/// timeout while nothing is happening.
fn write_errors(rx: mpsc::Receiver<String>) {
    let program = std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "server".into());
    let second = Duration::from_secs(1);
    // The current one-second window: when it began, lines shown and hidden.
    let mut window: Option<(Instant, u32, u64)> = None;
    loop {
        let next = match window {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some((start, _, _)) => {
                let left = (start + second).saturating_duration_since(Instant::now());
                rx.recv_timeout(left)
            }
        };
        match next {
            Ok(line) => {
                let (_, shown, hidden) = window.get_or_insert((Instant::now(), 0, 0));
                if *shown < ERROR_LINES_PER_SECOND {
                    *shown += 1;
                    let _ = writeln!(std::io::stderr(), "{line}");
                } else {
                    *hidden += 1;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if let Some((start, _, hidden)) = window {
            if start.elapsed() >= second {
                let hidden = hidden + DROPPED.swap(0, Ordering::Relaxed);
                if hidden > 0 {
                    let _ = writeln!(
                        std::io::stderr(),
                        "{program}: … {hidden} more error lines in the last second not shown"
                    );
                    // Keep limiting: the burst may go on.
                    window = Some((Instant::now(), 0, 0));
                } else {
                    window = None;
                }
            }
        }
    }
}
