//! Whether the machine has a CPU to spare: asked before an M wakes a
//! helper for a batch of I/O readiness (ready.rs `wake_to_back`).
//!
//! Go and tokio wake an idle thread as soon as work queues up while a P
//! (worker) idles. That is right when a CPU idles too. When every CPU is
//! already running something (the server and its clients on one machine,
//! or simply more busy threads than CPUs), the helper gets its CPU only by
//! taking it from a running thread — as often as not the very M whose
//! queue it came to share, whose Gs then wait in its ring until the kernel
//! gives that M its CPU back, or the client that is about to send the next
//! request. Under an echo load, 2 Ps beside the load generator on 2 CPUs,
//! the two Ms each ran half the round trips at about half a CPU, with
//! hundreds of involuntary context switches a second each; with the
//! helper held back (and the sleeper waiting aside, netpoll/mod.rs) one M
//! does the work, p99 drops (by about a tenth at 1,000 connections; at 50
//! the runs' occasional millisecond spikes go) and a few percent more
//! round trips are done.
//!
//! The count is the fourth field of `/proc/loadavg`, `running/total`: the
//! threads runnable now, machine-wide, the reader included, against the
//! CPUs this process may use (`available_parallelism`: affinity and cgroup
//! quota). Who asks matters ([`Asker`]): an M that would wake *another*
//! thread needs a CPU beyond the one it runs on (`running < cpus`), while
//! the idle sleeper deciding whether to wait in epoll would run the Gs
//! itself, on the CPU it holds now (`running <= cpus`). The sleeper asks
//! that way only where Gs have lately run long
//! ([`SpareCpu::long_runs_lately`]): counted as needing a CPU of its own,
//! it stayed aside beside one M computing on two CPUs with the other CPU
//! idle, and the readiness it would have polled waited for the
//! computation. Where every G runs briefly (an echo load) the stricter
//! count keeps it aside.
//!
//! The count is a snapshot; it is read at most every [`REFRESH_MS`] (one
//! `pread` of a file kept open, a few µs) and cached in between. Without
//! `/proc` every CPU counts as spare (Go's behaviour). A held-back helper
//! is still woken when the backlog outlives `IO_HELP_BUSY_MS` (ready.rs):
//! on a busy machine a P's Gs wait for a share of a CPU, never
//! indefinitely.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Longest time an answer is reused, in the coarse clock's milliseconds.
const REFRESH_MS: u32 = 4;

/// Who asks whether a CPU is spare, which sets what "spare" means.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Asker {
    /// A running M about to wake a helper thread: the helper needs a CPU
    /// that runs nothing now, besides the asker's own.
    Waker,
    /// The idle sleeper about to wait in epoll: it would run what its poll
    /// readies on the CPU it runs on now, so no other runnable thread may
    /// be waiting for a CPU.
    Itself,
}

/// The cached answer, and how to get a fresh one.
pub(crate) struct SpareCpu {
    /// CPUs this process may run on.
    cpus: usize,
    /// `/proc/loadavg`, kept open (`None`: not readable here).
    file: Option<File>,
    /// Coarse-clock ms of the last reading (`u32::MAX`: none yet).
    read_at: AtomicU32,
    /// Its runnable count (0 before the first reading: every CPU spare).
    running: AtomicUsize,
    /// Batches of I/O readiness whose helper was held back (`Stats`).
    pub(crate) held_back: AtomicU64,
    /// Aside waits ended because a P was stuck behind a computing G
    /// (long_run.rs; `Stats`).
    pub(crate) long_run_helps: AtomicU64,
    /// Coarse ms when a G was last seen running a millisecond or more with
    /// no switch (`u32::MAX`: never): see [`long_runs_lately`].
    ///
    /// [`long_runs_lately`]: Self::long_runs_lately
    long_run_at: AtomicU32,
}

impl SpareCpu {
    /// Opens `/proc/loadavg` and counts the CPUs this process may use.
    pub(crate) fn new() -> Self {
        Self {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            file: File::open("/proc/loadavg").ok(),
            read_at: AtomicU32::new(u32::MAX),
            running: AtomicUsize::new(0),
            held_back: AtomicU64::new(0),
            long_run_helps: AtomicU64::new(0),
            long_run_at: AtomicU32::new(u32::MAX),
        }
    }

    /// Whether a CPU is spare for `asker`, as of a reading at most
    /// [`REFRESH_MS`] old by the coarse clock `now_ms`. One caller at a
    /// time refreshes; the others use the count cached meanwhile.
    pub(crate) fn spare(&self, now_ms: u32, asker: Asker) -> bool {
        let Some(file) = &self.file else {
            return true;
        };
        let at = self.read_at.load(Relaxed);
        let fresh = at != u32::MAX && now_ms.wrapping_sub(at) < REFRESH_MS;
        let running = if fresh
            || self
                .read_at
                .compare_exchange(at, now_ms, Relaxed, Relaxed)
                .is_err()
        {
            self.running.load(Relaxed)
        } else if let Some(running) = read_running(file) {
            self.running.store(running, Relaxed);
            running
        } else {
            // Unreadable now: keep the last count.
            self.running.load(Relaxed)
        };
        judge(running, self.cpus, asker)
    }

    /// A G was seen running a millisecond or more with no switch (by
    /// sysmon, or by the aside sleeper's look: long_run.rs).
    pub(crate) fn note_long_run(&self, now_ms: u32) {
        if self.long_run_at.load(Relaxed) != now_ms {
            self.long_run_at.store(now_ms, Relaxed);
        }
    }

    /// Whether a long run was seen in the last [`LONG_RUN_MEMORY_MS`]:
    /// only then does the idle side watch the running Ps closely (the
    /// sleeper's post passed on, its looks, its own CPU counted as spare).
    /// A server whose Gs all run briefly — an echo server — keeps the
    /// cheaper ways, whose wake-ups it would only pay for: passing the post
    /// at every readiness burst cost an echo server at 2 Ps about a tenth
    /// more CPU per round trip.
    pub(crate) fn long_runs_lately(&self, now_ms: u32) -> bool {
        let at = self.long_run_at.load(Relaxed);
        at != u32::MAX && now_ms.wrapping_sub(at) < LONG_RUN_MEMORY_MS
    }
}

/// How long a long run seen keeps the idle side watching closely.
const LONG_RUN_MEMORY_MS: u32 = 1000;

/// Whether `running` runnable threads on `cpus` CPUs leave one for `asker`.
fn judge(running: usize, cpus: usize, asker: Asker) -> bool {
    match asker {
        Asker::Waker => running < cpus,
        Asker::Itself => running <= cpus,
    }
}

/// The runnable-thread count of `/proc/loadavg` read through `file`.
fn read_running(file: &File) -> Option<usize> {
    let mut buf = [0u8; 128];
    let n = file.read_at(&mut buf, 0).ok()?;
    parse_running(&buf[..n])
}

/// The `running` of `load1 load5 load15 running/total last_pid`.
fn parse_running(text: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(text).ok()?;
    let field = text.split_ascii_whitespace().nth(3)?;
    field.split_once('/')?.0.parse().ok()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn parses_the_runnable_count() {
        assert_eq!(parse_running(b"0.46 1.14 2.71 3/87 29431\n"), Some(3));
        assert_eq!(parse_running(b"12.00 9.50 7.25 17/1042 5\n"), Some(17));
        assert_eq!(parse_running(b"0.46 1.14 2.71\n"), None);
        assert_eq!(parse_running(b"0.46 1.14 2.71 x/87 1\n"), None);
    }

    /// The asker's own thread is in the count: a waker needs one CPU more.
    #[test]
    fn the_asker_counts_its_own_thread() {
        // One M computing on two CPUs, and the asker.
        assert!(judge(2, 2, Asker::Itself));
        assert!(!judge(2, 2, Asker::Waker));
        // Only the asker runs: both may go on.
        assert!(judge(1, 2, Asker::Waker));
        // A thread waits for a CPU: neither.
        assert!(!judge(3, 2, Asker::Itself));
        assert!(!judge(3, 2, Asker::Waker));
    }

    /// With more spinning threads than CPUs, a fresh reading finds no CPU
    /// to spare; a cached answer is kept until `REFRESH_MS` has passed.
    #[test]
    fn busy_cpus_leave_none_to_spare() {
        let s = SpareCpu::new();
        assert!(s.file.is_some(), "/proc/loadavg is not readable");
        let before = s.spare(1000, Asker::Waker);
        let stop = Arc::new(AtomicBool::new(false));
        let spinners: Vec<_> = (0..s.cpus + 1)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(30));
        // Within the refresh interval: the answer read before.
        assert_eq!(s.spare(1000 + REFRESH_MS - 1, Asker::Waker), before);
        // Fresh: cpus + 1 spinners (and this thread) are runnable, so
        // there is no CPU even for this thread's own work.
        let fresh = s.spare(1000 + REFRESH_MS, Asker::Itself);
        let fresh_waker = s.spare(1000 + REFRESH_MS + 1, Asker::Waker);
        let running = read_running(s.file.as_ref().unwrap()).unwrap();
        stop.store(true, Relaxed);
        spinners.into_iter().for_each(|t| t.join().unwrap());
        assert!(
            !fresh && !fresh_waker,
            "{} CPUs, {running} runnable, yet a CPU counted as spare",
            s.cpus
        );
        assert!(
            running > s.cpus,
            "{running} runnable with {} CPUs busy",
            s.cpus
        );
    }
}
