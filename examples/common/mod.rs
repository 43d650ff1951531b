//! What every comparison demo shares: flag parsing, the thread sampler, the
//! `result:` line, and the small blocking calls (nanosleep, gettid).
//!
//! Each demo under `examples/` is one program that runs unchanged in
//! `RUNTIME_MODE=single` or `mn`; it says `mod common;` and uses this module
//! for the parts that are the same everywhere:
//!
//! * [`Flags`] — `--name value`, `--name=value` and `--flag`, hand-parsed from
//!   `std::env::args` (no clap); durations take Go's units (`100ms`, `1s`),
//!   so `compare` passes the same flags to the Go versions in `examples/go/`.
//!   It lives in the test-support crate (`test-support/src/cli.rs`, a
//!   dev-dependency), which `compare` uses too, as do [`fmt_num`] and
//!   [`refuse`].
//! * [`Sampler`] — the example's own std thread that reads `Threads:` from
//!   `/proc/self/status` every 10 ms. It is one of the process's threads, so
//!   every count it reports has it subtracted: what remains is the runtime's
//!   threads plus whatever the experiment itself started. It keeps at most
//!   [`SAMPLES_KEPT`] readings (a server runs for days), thinning them as
//!   time goes on but never losing the peak.
//! * [`Report`] — the last line of every demo, `result: key=value …`, always
//!   with `experiment`, `mode`, `procs`, `wall_ms`, `peak_threads` (from the
//!   sampler, itself excluded) and `peak_rss_kb` (`VmHWM`). `compare` parses
//!   only this line.
//! * [`run_main`] — runs the experiment's driver as the main future, as
//!   its Go twin runs it in `func main` (in mn the main future is a G).
//! * [`say`] and [`error`] (in `output.rs`) — stdout lines that survive a
//!   closed stdout, and rate-limited stderr lines that never block.
//! * [`AcceptBackoff`] — what the servers' accept loops do when `accept`
//!   fails: wait, longer each time, and say so once.
//! * [`hist::Hist`] — percentiles (median, p99, max) of many samples
//!   (`test-support/src/hist.rs`).
#![allow(dead_code)]

use std::fmt::Display;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchyard::{Builder, Mode};

mod output;
pub use output::{error, say};
// The command line and the numbers of the result line, shared with
// `compare`, and percentiles of many samples: from the test-support crate
// (a dev-dependency). Each example uses a part of them.
#[allow(unused_imports)]
pub use test_support::{
    cli::{fmt_num, parse_duration, refuse, Flags},
    hist,
};

/// How often the sampler reads `/proc/self/status`.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(10);

// ------------------------------------------------------------------ flags

/// The mode `RUNTIME_MODE` asks for, read without starting a runtime (a bad
/// value reads as single here; `run` then reports it properly).
pub fn configured_mode() -> Mode {
    Builder::new()
        .config()
        .map(|c| c.mode)
        .unwrap_or(Mode::Single)
}

/// The single-mode loops `RUNTIME_LOOPS` asks for (`auto` resolved), read
/// without starting a runtime: 1 without it, in mn, or for a bad value
/// (`run_each` then reports it properly).
pub fn configured_loops() -> usize {
    Builder::new().config().map_or(1, |c| c.loops)
}

// ---------------------------------------------------------------- sampler

/// One reading of the sampler.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// When it was taken.
    pub at: Instant,
    /// `Threads:` of the process, the sampler's own thread already taken off.
    pub threads: usize,
}

/// The most readings a [`Sampler`] keeps, whatever the run's length (plus
/// the one taken at [`Sampler::finish`]). At 10 ms a reading, a run shorter
/// than 2.5 s keeps every one.
pub const SAMPLES_KEPT: usize = 256;

/// The example's own thread watching `/proc/self/status` every 10 ms.
///
/// It keeps at most [`SAMPLES_KEPT`] readings: when that many are kept,
/// each two neighbours become the one with more threads (the earlier on a
/// tie), and from then on one reading is kept out of each run of twice as
/// many taken (again the one with the most threads). So memory stays
/// bounded on a server that runs for days, the peak is always exact, and
/// [`Samples::peak_between`] sees every reading of a short run.
pub struct Sampler {
    /// Set to stop the thread.
    stop: Arc<AtomicBool>,
    /// The readings so far, shared with the thread.
    kept: Arc<Mutex<Kept>>,
    /// The thread, joined by `finish`.
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The bounded record of a sampler's readings.
struct Kept {
    /// Kept readings, in time order; at most `SAMPLES_KEPT`.
    points: Vec<Sample>,
    /// Readings taken per kept one (a power of two).
    stride: u64,
    /// The reading with the most threads of the run not kept yet.
    pending: Option<Sample>,
    /// Readings in that run so far.
    in_run: u64,
    /// Readings taken in all.
    taken: u64,
}

impl Kept {
    /// An empty record keeping every reading.
    fn new() -> Kept {
        Kept {
            points: Vec::with_capacity(SAMPLES_KEPT),
            stride: 1,
            pending: None,
            in_run: 0,
            taken: 0,
        }
    }

    /// Adds one reading.
    fn add(&mut self, s: Sample) {
        self.taken += 1;
        self.pending = Some(match self.pending {
            Some(p) if p.threads >= s.threads => p,
            _ => s,
        });
        self.in_run += 1;
        if self.in_run < self.stride {
            return;
        }
        if self.points.len() == SAMPLES_KEPT {
            let halved: Vec<Sample> = self
                .points
                .chunks(2)
                .map(|c| *c.iter().rev().max_by_key(|s| s.threads).unwrap())
                .collect();
            self.points = halved;
            self.stride *= 2;
            if self.in_run < self.stride {
                return;
            }
        }
        self.points.extend(self.pending.take());
        self.in_run = 0;
    }
}

impl Sampler {
    /// Starts the sampler thread (before the runtime, so its threads are seen
    /// from the first one on).
    pub fn start() -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let kept = Arc::new(Mutex::new(Kept::new()));
        let thread = {
            let (stop, kept) = (stop.clone(), kept.clone());
            std::thread::Builder::new()
                .name("sampler".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let s = read_sample();
                        kept.lock().unwrap().add(s);
                        std::thread::sleep(SAMPLE_EVERY);
                    }
                })
                .expect("start the sampler thread")
        };
        Sampler {
            stop,
            kept,
            thread: Some(thread),
        }
    }

    /// Stops the thread, takes a last reading, returns the kept ones.
    pub fn finish(mut self) -> Samples {
        let last = read_sample();
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let mut kept = std::mem::replace(&mut *self.kept.lock().unwrap(), Kept::new());
        kept.points.extend(kept.pending.take());
        kept.points.push(last);
        Samples {
            points: kept.points,
            taken: kept.taken + 1,
        }
    }
}

/// One reading, taken on the sampler's behalf: `Threads:` minus the sampler.
fn read_sample() -> Sample {
    Sample {
        at: Instant::now(),
        threads: switchyard::os::thread_count().saturating_sub(1),
    }
}

/// The readings of one run a [`Sampler`] kept.
pub struct Samples {
    /// In time order; at most [`SAMPLES_KEPT`] + 2.
    pub points: Vec<Sample>,
    /// Readings taken in all, kept or not.
    pub taken: u64,
}

impl Samples {
    /// The most threads seen (sampler excluded).
    pub fn peak(&self) -> usize {
        self.points.iter().map(|s| s.threads).max().unwrap_or(0)
    }

    /// The most threads among the kept readings taken between `from` and
    /// `to` (every reading, in a run shorter than [`SAMPLES_KEPT`] readings).
    pub fn peak_between(&self, from: Instant, to: Instant) -> usize {
        self.points
            .iter()
            .filter(|s| s.at >= from && s.at <= to)
            .map(|s| s.threads)
            .max()
            .unwrap_or(0)
    }

    /// Writes `t_ms,threads` lines (time since `origin`; readings before it
    /// are left out) to `path`, for `compare`'s charts.
    pub fn write_csv(&self, path: &Path, origin: Instant) -> std::io::Result<()> {
        let mut out = String::from("t_ms,threads\n");
        for s in self.points.iter().filter(|s| s.at >= origin) {
            let t = s.at.duration_since(origin).as_secs_f64() * 1e3;
            out.push_str(&format!("{t:.1},{}\n", s.threads));
        }
        std::fs::write(path, out)
    }
}

// ----------------------------------------------------------------- report

/// The mode and Ps of the runtime running the caller, read inside a task.
#[derive(Debug, Clone, Copy)]
pub struct Here {
    /// The execution model.
    pub mode: Mode,
    /// Its processors (1 in single mode).
    pub procs: usize,
    /// Single-mode loops (`RUNTIME_LOOPS`; 1 without).
    pub loops: usize,
}

impl Here {
    /// Reads `switchyard::stats()`.
    ///
    /// # Panics
    /// Outside a runtime.
    pub fn now() -> Here {
        let s = switchyard::stats().expect("inside switchyard::run");
        Here {
            mode: s.mode,
            procs: s.procs,
            loops: s.loops,
        }
    }
}

/// The `result:` line being built.
pub struct Report {
    /// key=value pairs after the always-present ones, in order.
    fields: Vec<(String, String)>,
    /// The always-present head: experiment, mode, procs.
    head: Vec<(String, String)>,
}

impl Report {
    /// A line for `experiment`, run in `here`.
    pub fn new(experiment: &str, here: Here) -> Report {
        let mut head = vec![
            ("experiment".into(), experiment.into()),
            ("mode".into(), here.mode.to_string()),
            ("procs".into(), here.procs.to_string()),
        ];
        if here.loops > 1 {
            head.push(("loops".into(), here.loops.to_string()));
        }
        Report {
            head,
            fields: Vec::new(),
        }
    }

    /// Adds `key=value` (a value must not contain spaces).
    pub fn kv(&mut self, key: &str, value: impl Display) -> &mut Report {
        let v = value.to_string().replace(' ', "_");
        self.fields.push((key.into(), v));
        self
    }

    /// Adds a number, printed with a sensible precision.
    pub fn num(&mut self, key: &str, value: f64) -> &mut Report {
        self.kv(key, fmt_num(value))
    }

    /// Prints the summary's thread line and the `result:` line, which always
    /// ends the output. `wall` is the experiment's own wall time.
    pub fn finish(&self, wall: Duration, samples: &Samples) {
        let peak = samples.peak();
        let rss = switchyard::os::peak_rss_kb();
        say(format_args!(
            "threads: peak {peak} (read from /proc/self/status every 10 ms by this example's \
             own sampler thread, which is not counted); peak RSS {rss} KiB"
        ));
        let mut line = String::from("result:");
        let always = [
            ("wall_ms".to_string(), fmt_num(wall.as_secs_f64() * 1e3)),
            ("peak_threads".to_string(), peak.to_string()),
            ("peak_rss_kb".to_string(), rss.to_string()),
        ];
        for (k, v) in self.head.iter().chain(always.iter()).chain(&self.fields) {
            line.push_str(&format!(" {k}={v}"));
        }
        say(line);
    }
}

// ----------------------------------------------------------------- running

/// Runs `driver` as the main future of a runtime built by `builder` (which
/// reads the `RUNTIME_*` environment), as its Go twin's `func main` runs
/// the experiment (in mn the main future is a G of its own on a P); returns
/// its output. A bad environment or an unbuilt mode prints one line and
/// exits 2 (`Builder::run`'s rule); a panic in the driver exits 1 after
/// its message.
pub fn run_main<F: Future>(builder: Builder, driver: F) -> F::Output {
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| builder.run(driver)));
    ran.unwrap_or_else(|_| {
        eprintln!("the experiment's driver panicked");
        std::process::exit(1)
    })
}

/// [`run_main`] on every loop: with `RUNTIME_LOOPS=N` in single mode,
/// `make(loop_id)` makes each loop's main future (`Builder::run_each`);
/// otherwise this is `run_main(builder, make(0))`. Returns the drivers'
/// outputs in loop order.
#[allow(dead_code)]
pub fn run_each_main<M, F>(builder: Builder, make: M) -> Vec<F::Output>
where
    M: Fn(usize) -> F + Sync,
    F: Future,
    F::Output: Send,
{
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| builder.run_each(make)));
    ran.unwrap_or_else(|_| {
        eprintln!("the experiment's driver panicked");
        std::process::exit(1)
    })
}

// ----------------------------------------------------------------- servers

/// The signals that stop a server, SIGINT and SIGTERM, listened for from
/// its creation on: a server creates it before it says it is listening, so
/// a signal sent once that line is out is never missed (a loop of several
/// hears its own).
#[allow(dead_code)]
pub struct StopSignals {
    interrupt: switchyard::signal::Signal,
    terminate: switchyard::signal::Signal,
}

#[allow(dead_code)]
impl StopSignals {
    /// Starts listening for SIGINT and SIGTERM.
    pub fn listen() -> std::io::Result<StopSignals> {
        use switchyard::signal::{signal, SignalKind};
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for either signal or, with `run_for` (a server's `--for`),
    /// until that long from now; says which: `SIGINT`, `SIGTERM` or
    /// `--for elapsed`.
    pub async fn wait(&mut self, run_for: Option<Duration>) -> &'static str {
        use std::task::Poll;
        let mut deadline = run_for.map(switchyard::time::sleep);
        std::future::poll_fn(|cx| {
            if self.interrupt.poll_recv(cx).is_ready() {
                return Poll::Ready("SIGINT");
            }
            if self.terminate.poll_recv(cx).is_ready() {
                return Poll::Ready("SIGTERM");
            }
            match deadline.as_mut().map(|d| d.poll_elapsed(cx)) {
                Some(Poll::Ready(())) => Poll::Ready("--for elapsed"),
                _ => Poll::Pending,
            }
        })
        .await
    }
}

/// The accept loop's answer to a failed `accept` that is not the peer's
/// doing (those, [`switchyard::net::is_connection_error`], are skipped):
/// wait 5 ms, doubling up to 1 s while the failures go on (at least 100 ms
/// for an error other than running out of descriptors or memory), and
/// write one error line per run of failures. Out of file descriptors, the
/// server so keeps serving the connections it has instead of spinning on
/// `EMFILE`, and takes new ones as soon as a descriptor is free again.
pub struct AcceptBackoff {
    /// The server's name, for the error line.
    name: &'static str,
    /// The next wait.
    next: Duration,
}

impl AcceptBackoff {
    /// The first wait.
    const FIRST: Duration = Duration::from_millis(5);
    /// The longest wait.
    const MOST: Duration = Duration::from_secs(1);

    /// A back-off for server `name`, at its first step.
    pub fn new(name: &'static str) -> AcceptBackoff {
        AcceptBackoff {
            name,
            next: Self::FIRST,
        }
    }

    /// An accept succeeded: the next failure starts a new run.
    pub fn accepted(&mut self) {
        self.next = Self::FIRST;
    }

    /// An accept failed with `e`: reports it (first of a run only, through
    /// the rate-limited [`error`]) and waits.
    pub async fn failed(&mut self, e: &std::io::Error) {
        if self.next == Self::FIRST {
            error(format_args!(
                "{}: accept: {e}; backing off and retrying",
                self.name
            ));
        }
        if !switchyard::net::is_resource_exhausted(e) {
            self.next = self.next.max(Duration::from_millis(100));
        }
        switchyard::time::sleep(self.next).await;
        self.next = (self.next * 2).min(Self::MOST);
    }
}

/// A real blocking call: libc `nanosleep` for `d` (resumed after a signal),
/// not a runtime sleep. Blocks the calling OS thread.
pub fn nanosleep(d: Duration) {
    let mut req = libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    };
    loop {
        let mut rem = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: both pointers are to live, initialised timespecs owned by
        // this frame; nanosleep only reads `req` and writes `rem`.
        let rc = unsafe { libc::nanosleep(&req, &mut rem) };
        if rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
        req = rem;
    }
}

/// The kernel's id of the calling OS thread.
pub fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() }
}

/// Spins on a counter until `deadline`, reading the clock every 1024
/// increments; `black_box` keeps each increment real. No runtime call.
#[inline(never)]
pub fn spin_until(deadline: Instant) -> u64 {
    let mut c: u64 = 0;
    loop {
        c = std::hint::black_box(c + 1);
        if c & 1023 == 0 && Instant::now() >= deadline {
            return c;
        }
    }
}

/// The median of `v` (sorted in place); 0 for an empty slice.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
