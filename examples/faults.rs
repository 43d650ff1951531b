//! faults: the fault run for the example servers `echo` and `http`, run by
//! hand (`scripts/faults.sh` builds the examples in release and runs this),
//! never by CI: it takes minutes at its quickest and ~25 minutes at its
//! default sizes.
//!
//! ```text
//! scripts/faults.sh                                  # everything, default sizes
//! scripts/faults.sh --iterations 20 --load-for 300ms --fuzz-for 5s --slowloris-for 12s
//! ```
//!
//! Each test starts the server as a child process in each mode (`--modes`,
//! default `single,mn,loops2`: `loopsN` is single mode on N loops,
//! `RUNTIME_LOOPS=N`), does something hostile to it, and checks that it
//! behaves like a server people trust:
//!
//! * `fd` — under `ulimit -n 64`, 200 connections at once: the server does
//!   not spin (its CPU while saturated stays under 25% of a core), and once
//!   the clients leave a new client is served within 10 s. `http` runs
//!   twice: with its default cap (below the limit) and `--max-conns 1000`
//!   (above it, so accept does fail with EMFILE).
//! * `slowloris` — `http` under `ulimit -n 256` against 300 connections that
//!   trickle a head a byte a second and reconnect when closed: a normal
//!   request every 250 ms is still answered, each within 2 s.
//! * `noread` — 50 clients that send and never read, for 5 s: the server's
//!   RSS grows by less than 64 MiB and other clients are served.
//! * `rst` — 200 connections reset (SO_LINGER 0) while the server writes to
//!   them: it lives on and serves the next client.
//! * `stderr` — stderr a full pipe nobody reads (the server's own error
//!   lines, from EMFILE; or the runtime's `RUNTIME_DEBUG=schedtrace=1`):
//!   after SIGINT the server exits within 3 s.
//! * `sigint` — `--iterations` rounds (default 500) per mode, alternating
//!   `http` and `echo`: start, `--load-for` (default 1 s) of `--conns`
//!   (default 1000) connections in closed loop, SIGINT under that load; each
//!   must exit 0 within 3 s.
//! * `fuzz` — for `--fuzz-for` (default 10 s), 32 clients send random and
//!   mutated request heads to `http` (`--head-timeout 2s --idle-timeout
//!   2s`), in random pieces, half-closing or not: every connection gets a
//!   response or a close within 6 s, the server never dies, and a normal
//!   request is served after.
//!
//! The load and fuzz clients run on switchyard itself, in single mode (one
//! thread, thousands of connections); probes are plain blocking std
//! sockets. The table (test, server, mode, pass, figures) is printed at the
//! end; the exit status is 1 if any test failed.

mod common;

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::{say, Flags};
use switchyard::net::TcpStream;
use switchyard::time::timeout;
use switchyard::{Builder, Mode};

const USAGE: &str = "usage: faults [--only LIST] [--modes LIST] [--iterations N] [--load-for DUR]
              [--conns N] [--slowloris-for DUR] [--fuzz-for DUR] [--seed N] [--bins DIR]
  --only LIST          only these tests: fd,slowloris,noread,rst,stderr,sigint,fuzz (default all)
  --modes LIST         single, mn, loopsN (single on N loops) (default single,mn,loops2)
  --iterations N       start/load/SIGINT rounds per mode (default 500)
  --load-for DUR       load before each SIGINT (default 1s)
  --conns N            connections of that load (default 1000)
  --slowloris-for DUR  how long the slowloris attack lasts (default 15s)
  --fuzz-for DUR       how long the fuzzer runs per mode (default 10s)
  --seed N             the fuzzer's seed (default: from the clock; printed)
  --bins DIR           where the example binaries are (default: this program's directory)";

/// Every test, in the order they run.
const TESTS: [&str; 7] = [
    "fd",
    "slowloris",
    "noread",
    "rst",
    "stderr",
    "sigint",
    "fuzz",
];

/// A GET that keeps the connection open.
const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: faults\r\n\r\n";
/// A GET that closes it.
const GET_CLOSE: &[u8] = b"GET / HTTP/1.1\r\nHost: faults\r\nConnection: close\r\n\r\n";
/// The end of http's answer.
const HELLO: &[u8] = b"Hello, World!";

/// What the run was asked.
struct Plan {
    /// Where `echo` and `http` are.
    bins: PathBuf,
    /// Tests to run.
    only: Vec<String>,
    /// Modes to run them in.
    modes: Vec<String>,
    /// start/load/SIGINT rounds per mode.
    iterations: usize,
    /// Load before each SIGINT.
    load_for: Duration,
    /// Connections of that load.
    conns: usize,
    /// The slowloris attack's length.
    slowloris_for: Duration,
    /// The fuzzer's time per mode.
    fuzz_for: Duration,
    /// The fuzzer's seed.
    seed: u64,
}

/// One line of the table.
struct Row {
    /// The test (and variant).
    test: String,
    /// The server it ran against.
    server: String,
    /// `RUNTIME_MODE`.
    mode: String,
    /// Whether it passed.
    pass: bool,
    /// What was measured.
    figures: String,
}

fn main() {
    let mut f = Flags::parse("faults", USAGE);
    let only = f
        .text("--only")
        .map(|v| v.split(',').map(str::to_string).collect::<Vec<_>>())
        .unwrap_or_else(|| TESTS.iter().map(|t| t.to_string()).collect());
    if let Some(bad) = only.iter().find(|t| !TESTS.contains(&t.as_str())) {
        f.fail(&format!("--only: unknown test {bad:?}"));
    }
    let modes: Vec<String> = f
        .text("--modes")
        .unwrap_or_else(|| "single,mn,loops2".into())
        .split(',')
        .map(str::to_string)
        .collect();
    if let Some(bad) = modes.iter().find(|m| mode_env(m).is_none()) {
        f.fail(&format!(
            "--modes: {bad:?} is not single, mn or loopsN (single mode on N loops)"
        ));
    }
    let here = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let plan = Plan {
        bins: f.text("--bins").map(PathBuf::from).unwrap_or(here),
        only,
        modes,
        iterations: f.value("--iterations", 500),
        load_for: f.duration("--load-for", Duration::from_secs(1)),
        conns: f.value("--conns", 1000),
        slowloris_for: f.duration("--slowloris-for", Duration::from_secs(15)),
        fuzz_for: f.duration("--fuzz-for", Duration::from_secs(10)),
        seed: f.value(
            "--seed",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1),
        ),
    };
    f.finish();
    for name in ["echo", "http"] {
        if !plan.bins.join(name).is_file() {
            common::refuse(
                "faults",
                &format!(
                    "no {name} in {} (build the examples, or pass --bins)",
                    plan.bins.display()
                ),
            );
        }
    }
    // Thousands of client sockets: the runtime's start-up raises the soft
    // descriptor limit to the hard one; a throwaway runtime does it first.
    client(async {});
    eprintln!(
        "faults: modes {:?}, tests {:?}, fuzz seed {}",
        plan.modes, plan.only, plan.seed
    );

    let mut rows = Vec::new();
    let mut record = |r: Row| {
        eprintln!(
            "[{}] {} {} {}: {}",
            if r.pass { "pass" } else { "FAIL" },
            r.test,
            r.server,
            r.mode,
            r.figures
        );
        rows.push(r);
    };
    let wants = |t: &str| plan.only.iter().any(|o| o == t);
    for mode in &plan.modes {
        let mode = mode.as_str();
        if wants("fd") {
            record(fd_exhaustion(&plan, "echo", &[], mode));
            record(fd_exhaustion(&plan, "http", &[], mode));
            record(fd_exhaustion(&plan, "http", &["--max-conns", "1000"], mode));
        }
        if wants("slowloris") {
            record(slowloris(&plan, mode));
        }
        if wants("noread") {
            record(never_read(&plan, "echo", mode));
            record(never_read(&plan, "http", mode));
        }
        if wants("rst") {
            record(reset_mid_answer(&plan, "echo", mode));
            record(reset_mid_answer(&plan, "http", mode));
        }
        if wants("stderr") {
            record(full_stderr(&plan, "http", StderrLoad::OwnLines, mode));
            record(full_stderr(&plan, "echo", StderrLoad::Schedtrace, mode));
            record(full_stderr(&plan, "http", StderrLoad::Schedtrace, mode));
        }
        if wants("sigint") {
            record(sigint_rounds(&plan, mode));
        }
        if wants("fuzz") {
            record(fuzz(&plan, mode));
        }
    }
    print_table(&rows);
    if rows.iter().any(|r| !r.pass) {
        std::process::exit(1);
    }
}

/// Prints the table of every row (Markdown).
fn print_table(rows: &[Row]) {
    let head = ["test", "server", "mode", "pass", "figures"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.test.clone(),
                r.server.clone(),
                r.mode.clone(),
                if r.pass { "pass".into() } else { "FAIL".into() },
                r.figures.clone(),
            ]
        })
        .collect();
    let width = |i: usize| {
        cells
            .iter()
            .map(|c| c[i].chars().count())
            .chain([head[i].len()])
            .max()
            .unwrap_or(0)
    };
    let w: Vec<usize> = (0..5).map(width).collect();
    let line = |c: &[String]| {
        let mut s = String::from("|");
        for (i, cell) in c.iter().enumerate() {
            s.push_str(&format!(" {cell:<w$} |", w = w[i]));
        }
        s
    };
    say(line(&head.map(String::from)));
    say(line(&w.iter().map(|n| "-".repeat(*n)).collect::<Vec<_>>()));
    for c in &cells {
        say(line(c));
    }
}

// ------------------------------------------------------------ the servers

/// Where a server's stderr goes.
enum Stderr {
    /// Read by a thread, kept for the report.
    Drained,
    /// A pipe already full, that nobody reads.
    Full,
}

/// A server child: killed and reaped when dropped.
struct Server {
    /// The process.
    child: Child,
    /// Its address.
    addr: SocketAddr,
    /// Its stderr, read to the end by a thread (when drained).
    stderr: Option<std::thread::JoinHandle<String>>,
    /// The read end of a full stderr pipe, kept open (and unread).
    _full: Option<(std::fs::File, std::thread::JoinHandle<()>)>,
}

impl Server {
    /// Starts example `name` with `args` in `mode`, under `fds` descriptors
    /// if given, with `env` besides; waits for `listening on ADDR`.
    fn start(
        plan: &Plan,
        name: &str,
        args: &[&str],
        mode: &str,
        fds: Option<u32>,
        env: &[(&str, &str)],
        stderr: Stderr,
    ) -> Result<Server, String> {
        let bin = plan.bins.join(name);
        let mut cmd = match fds {
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        let listen: &[&str] = match name {
            "http" => &["--addr", "127.0.0.1:0"],
            _ => &["127.0.0.1:0"],
        };
        cmd.args(listen)
            .args(args)
            .envs(mode_env(mode).expect("checked at start"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let mut full = None;
        match stderr {
            Stderr::Drained => {
                cmd.stderr(Stdio::piped());
            }
            Stderr::Full => {
                let (reader, writer) = pipe().map_err(|e| format!("pipe: {e}"))?;
                // A thread writes until the pipe is full and stays blocked
                // there (until the reader goes): nobody ever reads it.
                let mut filler = writer.try_clone().map_err(|e| format!("pipe: {e}"))?;
                let t = std::thread::spawn(move || {
                    let _ = filler.write_all(&vec![b'.'; 1 << 20]);
                });
                std::thread::sleep(Duration::from_millis(100));
                cmd.stderr(writer);
                full = Some((reader, t));
            }
        }
        let mut child = cmd.spawn().map_err(|e| format!("start {name}: {e}"))?;
        let stderr = child.stderr.take().map(|mut e| {
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = e.read_to_string(&mut s);
                s
            })
        });
        let out = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(out).lines();
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                if let Some(a) = line.strip_prefix("listening on ") {
                    let _ = tx.send(a.trim().to_string());
                    break;
                }
            }
            // Keep draining stdout until the server exits.
            for _ in lines {}
        });
        let mut server = Server {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            stderr,
            _full: full,
        };
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => {
                server.addr = a.parse().map_err(|e| format!("address {a:?}: {e}"))?;
                Ok(server)
            }
            Err(_) => Err(format!("{name} did not print its address")),
        }
    }

    /// Its pid.
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it still runs.
    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGINT and waits up to `limit` for the exit; the status and how
    /// long it took, or `None` (then it is killed).
    fn interrupt(&mut self, limit: Duration) -> (Option<ExitStatus>, Duration) {
        let t0 = Instant::now();
        signal(self.pid(), libc::SIGINT);
        while t0.elapsed() < limit {
            if let Ok(Some(st)) = self.child.try_wait() {
                return (Some(st), t0.elapsed());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        (None, t0.elapsed())
    }

    /// Kills it (if still running) and returns its stderr.
    fn finish(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pipe: its read end and its write end.
fn pipe() -> std::io::Result<(std::fs::File, std::fs::File)> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a writable array of two ints, as pipe2 requires.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both are open descriptors that nothing
    // else owns; each is wrapped once.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((r.into(), w.into()))
}

/// Sends `sig` to `pid`.
fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours;
    // `pid` is a child we have not reaped, so the id is still its own.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// The CPU time `pid` has used so far (user + system).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces): state is field 3,
    // utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0);
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_secs_f64(ticks as f64 / hz as f64)
}

/// `VmRSS` of `pid` in KiB.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------- clients

/// Runs `f` on a fresh single-mode switchyard runtime on this thread.
fn client<F: Future>(f: F) -> F::Output {
    Builder::new().mode(Mode::Single).run(f)
}

/// One request to `server` on a fresh blocking connection: an echo of
/// `ping`, or a GET that closes; `Ok(time)` if answered right.
fn probe(server: &str, addr: SocketAddr, limit: Duration) -> Result<Duration, String> {
    let t0 = Instant::now();
    let mut c = std::net::TcpStream::connect_timeout(&addr, limit).map_err(|e| e.to_string())?;
    c.set_read_timeout(Some(limit)).map_err(|e| e.to_string())?;
    let (ask, want): (&[u8], &[u8]) = match server {
        "echo" => (b"ping", b"ping"),
        _ => (GET_CLOSE, HELLO),
    };
    c.write_all(ask).map_err(|e| e.to_string())?;
    if server == "echo" {
        let _ = c.shutdown(std::net::Shutdown::Write);
    }
    let mut back = Vec::new();
    c.read_to_end(&mut back).map_err(|e| e.to_string())?;
    if back.ends_with(want) {
        Ok(t0.elapsed())
    } else {
        Err(format!(
            "answer {:?}",
            String::from_utf8_lossy(&back[..back.len().min(80)])
        ))
    }
}

/// Probes until one is answered or `limit` passes; the time it took.
fn probe_until(server: &str, addr: SocketAddr, limit: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if probe(server, addr, Duration::from_secs(2)).is_ok() {
            return Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Milliseconds, for figures.
fn ms(d: Duration) -> String {
    common::fmt_num(d.as_secs_f64() * 1e3)
}

/// The value at quantile `q` of `v` (sorted in place).
fn quantile(v: &mut [Duration], q: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// How an exit status reads in a figure.
fn status_text(st: Option<ExitStatus>) -> String {
    match st {
        None => "no exit".into(),
        Some(s) => match s.code() {
            Some(c) => format!("exit {c}"),
            None => format!("{s}"),
        },
    }
}

/// A row for a server that did not start.
/// The `RUNTIME_*` variables of a `--modes` entry: `single`, `mn`, or
/// `loopsN` (single mode on N loops, `RUNTIME_LOOPS=N`).
fn mode_env(mode: &str) -> Option<Vec<(&'static str, String)>> {
    match mode {
        "single" | "mn" => Some(vec![("RUNTIME_MODE", mode.to_string())]),
        _ => {
            let n: usize = mode.strip_prefix("loops")?.parse().ok()?;
            (n >= 1).then(|| {
                vec![
                    ("RUNTIME_MODE", "single".to_string()),
                    ("RUNTIME_LOOPS", n.to_string()),
                ]
            })
        }
    }
}

fn not_started(test: &str, server: &str, mode: &str, e: String) -> Row {
    Row {
        test: test.into(),
        server: server.into(),
        mode: mode.into(),
        pass: false,
        figures: e,
    }
}

// ------------------------------------------------------------------ tests

/// Out of descriptors: no spin, and recovery once the clients leave.
fn fd_exhaustion(plan: &Plan, server: &str, args: &[&str], mode: &str) -> Row {
    let test = if args.is_empty() {
        "fd exhaustion (ulimit -n 64, 200 conns)".to_string()
    } else {
        format!(
            "fd exhaustion (ulimit -n 64, 200 conns, {})",
            args.join(" ")
        )
    };
    let mut s = match Server::start(plan, server, args, mode, Some(64), &[], Stderr::Drained) {
        Ok(s) => s,
        Err(e) => return not_started(&test, server, mode, e),
    };
    let addr = s.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let ask: &'static [u8] = if server == "echo" { b"x" } else { GET };
    let clients = {
        let (stop, answered) = (stop.clone(), answered.clone());
        std::thread::spawn(move || {
            client(hold_connections(addr, 200, ask, stop, answered));
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let (c0, t0) = (cpu_time(s.pid()), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let cpu = (cpu_time(s.pid()) - c0).as_secs_f64() / t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = clients.join();
    let recovered = probe_until(server, addr, Duration::from_secs(10));
    let (st, _) = s.interrupt(Duration::from_secs(5));
    let err = s.finish();
    let lines = err.lines().count();
    let pass = cpu < 0.25 && recovered.is_some() && st.is_some_and(|s| s.success());
    Row {
        test,
        server: server.into(),
        mode: mode.into(),
        pass,
        figures: format!(
            "{}/200 answered while held; server CPU {:.1}% of a core while saturated; {}; {} stderr lines; {}",
            answered.load(Ordering::Relaxed),
            cpu * 100.0,
            match recovered {
                Some(d) => format!("new client served {} ms after the clients left", ms(d)),
                None => "NO new client served within 10 s".into(),
            },
            lines,
            status_text(st)
        ),
    }
}

/// Opens `n` connections, sends `ask` on each and holds them until `stop`,
/// counting those that got any answer.
async fn hold_connections(
    addr: SocketAddr,
    n: usize,
    ask: &'static [u8],
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
) {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (stop, answered) = (stop.clone(), answered.clone());
            switchyard::spawn(async move {
                let Ok(Ok(c)) = timeout(Duration::from_secs(5), TcpStream::connect(addr)).await
                else {
                    return;
                };
                if c.write_all(ask).await.is_err() {
                    return;
                }
                let mut buf = vec![0u8; 1024];
                let mut got = false;
                while !stop.load(Ordering::Relaxed) {
                    match timeout(Duration::from_millis(100), c.read(&mut buf)).await {
                        Ok(Ok(0)) | Ok(Err(_)) => {
                            // Closed (evicted at the cap): wait for the end.
                            while !stop.load(Ordering::Relaxed) {
                                switchyard::time::sleep(Duration::from_millis(100)).await;
                            }
                        }
                        Ok(Ok(_)) if !got => {
                            got = true;
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

/// Slow heads do not starve normal requests.
fn slowloris(plan: &Plan, mode: &str) -> Row {
    let test = "slowloris (ulimit -n 256, 300 conns, 1 byte/s)";
    let mut s = match Server::start(plan, "http", &[], mode, Some(256), &[], Stderr::Drained) {
        Ok(s) => s,
        Err(e) => return not_started(test, "http", mode, e),
    };
    let addr = s.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let closed = Arc::new(AtomicU64::new(0));
    let attack = {
        let (stop, closed) = (stop.clone(), closed.clone());
        std::thread::spawn(move || client(slow_clients(addr, 300, stop, closed)))
    };
    // Let the attack fill the server first.
    std::thread::sleep(Duration::from_secs(1));
    let t0 = Instant::now();
    let (mut times, mut failed) = (Vec::new(), Vec::new());
    while t0.elapsed() < plan.slowloris_for {
        match probe("http", addr, Duration::from_secs(10)) {
            Ok(d) => times.push(d),
            Err(e) => failed.push(e),
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    stop.store(true, Ordering::Relaxed);
    let _ = attack.join();
    let alive = s.alive();
    let (st, _) = s.interrupt(Duration::from_secs(5));
    let total = times.len() + failed.len();
    let worst = quantile(&mut times, 1.0);
    let median = quantile(&mut times, 0.5);
    let pass = failed.is_empty() && worst < Duration::from_secs(2) && alive;
    Row {
        test: test.into(),
        server: "http".into(),
        mode: mode.into(),
        pass,
        figures: format!(
            "normal requests {}/{total} answered (median {} ms, max {} ms){}; attackers closed by the server {} times; {}",
            times.len(),
            ms(median),
            ms(worst),
            failed
                .first()
                .map(|e| format!(", first failure: {e}"))
                .unwrap_or_default(),
            closed.load(Ordering::Relaxed),
            status_text(st)
        ),
    }
}

/// `n` clients that send a head a byte a second and reconnect when closed.
async fn slow_clients(addr: SocketAddr, n: usize, stop: Arc<AtomicBool>, closed: Arc<AtomicU64>) {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (stop, closed) = (stop.clone(), closed.clone());
            switchyard::spawn(async move {
                let head = b"GET / HTTP/1.1\r\nHost: slow\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
                while !stop.load(Ordering::Relaxed) {
                    let Ok(Ok(c)) = timeout(Duration::from_secs(5), TcpStream::connect(addr)).await
                    else {
                        switchyard::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    };
                    let mut buf = [0u8; 512];
                    for b in head.iter().cycle() {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        if c.write_all(&[*b]).await.is_err() {
                            break;
                        }
                        match timeout(Duration::from_secs(1), c.read(&mut buf)).await {
                            Err(_) => continue,
                            // Answered (408) or closed: start over.
                            Ok(_) => break,
                        }
                    }
                    closed.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

/// Clients that never read: memory stays bounded, others are served.
fn never_read(plan: &Plan, server: &str, mode: &str) -> Row {
    let test = "clients that never read (50, 5 s)";
    let mut s = match Server::start(plan, server, &[], mode, None, &[], Stderr::Drained) {
        Ok(s) => s,
        Err(e) => return not_started(test, server, mode, e),
    };
    let addr = s.addr;
    let pid = s.pid();
    let before = rss_kb(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let chunk: Vec<u8> = if server == "echo" {
        (0..64 * 1024).map(|i| (i * 7) as u8).collect()
    } else {
        GET.repeat(1000)
    };
    let pushers = {
        let (stop, sent) = (stop.clone(), sent.clone());
        std::thread::spawn(move || client(never_reading(addr, 50, chunk, stop, sent)))
    };
    let t0 = Instant::now();
    let (mut times, mut failed, mut peak) = (Vec::new(), 0, 0);
    while t0.elapsed() < Duration::from_secs(5) {
        match probe(server, addr, Duration::from_secs(5)) {
            Ok(d) => times.push(d),
            Err(_) => failed += 1,
        }
        peak = peak.max(rss_kb(pid));
        std::thread::sleep(Duration::from_millis(250));
    }
    stop.store(true, Ordering::Relaxed);
    let _ = pushers.join();
    let alive = s.alive();
    let (st, _) = s.interrupt(Duration::from_secs(5));
    let grown = peak.saturating_sub(before);
    let worst = quantile(&mut times, 1.0);
    let pass = failed == 0 && alive && grown < 64 * 1024;
    Row {
        test: test.into(),
        server: server.into(),
        mode: mode.into(),
        pass,
        figures: format!(
            "they sent {} MiB; server RSS +{} MiB at most; other clients {}/{} served (max {} ms); {}",
            sent.load(Ordering::Relaxed) >> 20,
            common::fmt_num(grown as f64 / 1024.0),
            times.len(),
            times.len() + failed,
            ms(worst),
            status_text(st)
        ),
    }
}

/// `n` clients that write `chunk` over and over and never read.
async fn never_reading(
    addr: SocketAddr,
    n: usize,
    chunk: Vec<u8>,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) {
    let chunk: Arc<[u8]> = chunk.into();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (stop, sent, chunk) = (stop.clone(), sent.clone(), chunk.clone());
            switchyard::spawn(async move {
                let Ok(Ok(c)) = timeout(Duration::from_secs(5), TcpStream::connect(addr)).await
                else {
                    return;
                };
                while !stop.load(Ordering::Relaxed) {
                    match timeout(Duration::from_millis(100), c.write(&chunk)).await {
                        Ok(Ok(k)) => {
                            sent.fetch_add(k as u64, Ordering::Relaxed);
                        }
                        Ok(Err(_)) => {
                            // Closed by the server: wait for the end.
                            while !stop.load(Ordering::Relaxed) {
                                switchyard::time::sleep(Duration::from_millis(100)).await;
                            }
                        }
                        Err(_) => {}
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

/// Connections reset while the server writes to them.
fn reset_mid_answer(plan: &Plan, server: &str, mode: &str) -> Row {
    let test = "RST mid-answer (200 conns, SO_LINGER 0)";
    let mut s = match Server::start(plan, server, &[], mode, None, &[], Stderr::Drained) {
        Ok(s) => s,
        Err(e) => return not_started(test, server, mode, e),
    };
    let addr = s.addr;
    let server_name = server.to_string();
    let mid = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..20)
        .map(|_| {
            let (server, mid) = (server_name.clone(), mid.clone());
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let Ok(mut c) = std::net::TcpStream::connect(addr) else {
                        continue;
                    };
                    let _ = c.set_write_timeout(Some(Duration::from_millis(500)));
                    let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                    let ask = if server == "echo" {
                        vec![b'r'; 256 * 1024]
                    } else {
                        GET.repeat(2000)
                    };
                    let _ = c.write_all(&ask);
                    let mut buf = [0u8; 1024];
                    if matches!(c.read(&mut buf), Ok(n) if n > 0) {
                        mid.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = socket2::SockRef::from(&c).set_linger(Some(Duration::ZERO));
                    drop(c);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let alive = s.alive();
    let next = probe(server, addr, Duration::from_secs(5));
    let (st, _) = s.interrupt(Duration::from_secs(5));
    let pass = alive && next.is_ok() && st.is_some_and(|s| s.success());
    Row {
        test: test.into(),
        server: server.into(),
        mode: mode.into(),
        pass,
        figures: format!(
            "{} of 200 reset after the answer began; server {}; next client {}; {}",
            mid.load(Ordering::Relaxed),
            if alive { "alive" } else { "DEAD" },
            match next {
                Ok(d) => format!("served in {} ms", ms(d)),
                Err(e) => format!("NOT served: {e}"),
            },
            status_text(st)
        ),
    }
}

/// What writes to the full stderr.
#[derive(Clone, Copy)]
enum StderrLoad {
    /// The example's own error lines (accept failing with EMFILE).
    OwnLines,
    /// The runtime's schedtrace, every millisecond.
    Schedtrace,
}

/// A full stderr pipe, then SIGINT: the server exits within 3 s.
fn full_stderr(plan: &Plan, server: &str, load: StderrLoad, mode: &str) -> Row {
    let (test, args, fds, env): (&str, &[&str], _, &[(&str, &str)]) = match load {
        StderrLoad::OwnLines => (
            "full stderr pipe + SIGINT (own error lines: EMFILE)",
            &["--max-conns", "1000"],
            Some(64),
            &[],
        ),
        StderrLoad::Schedtrace => (
            "full stderr pipe + SIGINT (RUNTIME_DEBUG=schedtrace=1)",
            &[],
            None,
            &[("RUNTIME_DEBUG", "schedtrace=1")],
        ),
    };
    let mut s = match Server::start(plan, server, args, mode, fds, env, Stderr::Full) {
        Ok(s) => s,
        Err(e) => return not_started(test, server, mode, e),
    };
    let addr = s.addr;
    if let StderrLoad::OwnLines = load {
        // Past the descriptor limit: accept fails, error lines follow.
        let stop = Arc::new(AtomicBool::new(false));
        let clients = {
            let stop = stop.clone();
            let answered = Arc::new(AtomicU64::new(0));
            std::thread::spawn(move || client(hold_connections(addr, 200, GET, stop, answered)))
        };
        std::thread::sleep(Duration::from_secs(2));
        stop.store(true, Ordering::Relaxed);
        let _ = clients.join();
    } else {
        std::thread::sleep(Duration::from_millis(500));
    }
    let served = probe_until(server, addr, Duration::from_secs(3));
    let (st, took) = s.interrupt(Duration::from_secs(3));
    let pass = st.is_some_and(|s| s.success());
    Row {
        test: test.into(),
        server: server.into(),
        mode: mode.into(),
        pass,
        figures: format!(
            "while stderr was full a client was {}; after SIGINT: {} after {} ms",
            match served {
                Some(d) => format!("served ({} ms)", ms(d)),
                None => "NOT served within 3 s".into(),
            },
            status_text(st),
            ms(took)
        ),
    }
}

/// Start, load, SIGINT under load; over and over.
fn sigint_rounds(plan: &Plan, mode: &str) -> Row {
    let test = format!(
        "start / {} ms of {}-conn load / SIGINT, x{}",
        ms(plan.load_for),
        plan.conns,
        plan.iterations
    );
    let (mut exits, mut late, mut bad, mut failed_start) = (Vec::new(), 0, Vec::new(), 0);
    let mut requests = 0u64;
    for i in 0..plan.iterations {
        let server = if i % 2 == 0 { "http" } else { "echo" };
        let mut s = match Server::start(plan, server, &[], mode, None, &[], Stderr::Drained) {
            Ok(s) => s,
            Err(_) => {
                failed_start += 1;
                continue;
            }
        };
        let addr = s.addr;
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let conns = plan.conns;
        let load = {
            let (stop, done) = (stop.clone(), done.clone());
            let server = server.to_string();
            std::thread::spawn(move || client(closed_loop(addr, &server, conns, stop, done)))
        };
        std::thread::sleep(plan.load_for);
        let (st, took) = s.interrupt(Duration::from_secs(3));
        if st.is_none() {
            late += 1;
            // Give it ten more seconds, for the record, then kill it.
            let extra = Instant::now();
            while extra.elapsed() < Duration::from_secs(10) && s.alive() {
                std::thread::sleep(Duration::from_millis(10));
            }
            eprintln!(
                "faults: round {i} ({server}, {mode}): no exit within 3 s of SIGINT{}",
                if s.alive() {
                    " nor 10 s later; killed"
                } else {
                    ""
                }
            );
        } else {
            exits.push(took);
        }
        if st.is_some_and(|s| !s.success()) {
            bad.push(format!("round {i} {server}: {}", status_text(st)));
        }
        stop.store(true, Ordering::Relaxed);
        let err = s.finish();
        if st.is_some_and(|s| !s.success()) {
            eprintln!(
                "faults: round {i}: stderr: {}",
                err.lines().take(5).collect::<Vec<_>>().join(" / ")
            );
        }
        let _ = load.join();
        requests += done.load(Ordering::Relaxed);
        if (i + 1) % 25 == 0 {
            eprintln!(
                "faults: sigint {mode}: {}/{} rounds, {late} late",
                i + 1,
                plan.iterations
            );
        }
    }
    let n = exits.len();
    let p50 = quantile(&mut exits, 0.5);
    let p99 = quantile(&mut exits, 0.99);
    let max = quantile(&mut exits, 1.0);
    Row {
        test,
        server: "http+echo".into(),
        mode: mode.into(),
        pass: late == 0 && bad.is_empty() && failed_start == 0,
        figures: format!(
            "{n} exits after SIGINT: p50 {} ms, p99 {} ms, max {} ms; {late} not within 3 s; {} non-zero{}; {failed_start} failed starts; {} answers per round on average",
            ms(p50),
            ms(p99),
            ms(max),
            bad.len(),
            bad.first().map(|b| format!(" ({b})")).unwrap_or_default(),
            requests / plan.iterations.max(1) as u64
        ),
    }
}

/// `n` connections in closed loop (a request, its answer, again) until
/// `stop` or the server goes; counts answers.
async fn closed_loop(
    addr: SocketAddr,
    server: &str,
    n: usize,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
) {
    let echo = server == "echo";
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (stop, done) = (stop.clone(), done.clone());
            switchyard::spawn(async move {
                let Ok(Ok(c)) = timeout(Duration::from_secs(5), TcpStream::connect(addr)).await
                else {
                    return;
                };
                let (ask, want): (&[u8], &[u8]) = if echo {
                    (&[b'e'; 64], &[b'e'; 64])
                } else {
                    (GET, HELLO)
                };
                let mut buf = vec![0u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    if c.write_all(ask).await.is_err() {
                        return;
                    }
                    let mut got = 0usize;
                    let mut tail = Vec::new();
                    loop {
                        match timeout(Duration::from_secs(2), c.read(&mut buf)).await {
                            Ok(Ok(k)) if k > 0 => {
                                got += k;
                                tail.extend_from_slice(&buf[..k]);
                                if (echo && got >= want.len()) || (!echo && tail.ends_with(want)) {
                                    break;
                                }
                                if tail.len() > 4096 {
                                    tail.drain(..tail.len() - 64);
                                }
                            }
                            _ => return,
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

/// Random and mutated heads: a response or a close, every time.
fn fuzz(plan: &Plan, mode: &str) -> Row {
    let test = format!("fuzz ({} s, seed {})", plan.fuzz_for.as_secs(), plan.seed);
    let args = ["--head-timeout", "2s", "--idle-timeout", "2s"];
    let mut s = match Server::start(plan, "http", &args, mode, None, &[], Stderr::Drained) {
        Ok(s) => s,
        Err(e) => return not_started(&test, "http", mode, e),
    };
    let addr = s.addr;
    let tally = Arc::new(Mutex::new(Tally::default()));
    {
        let (tally, until, seed) = (tally.clone(), Instant::now() + plan.fuzz_for, plan.seed);
        client(async move {
            let tasks: Vec<_> = (0..32u64)
                .map(|i| {
                    let tally = tally.clone();
                    switchyard::spawn(fuzz_client(addr, seed ^ (i * 0x9E37_79B9), until, tally))
                })
                .collect();
            for t in tasks {
                let _ = t.await;
            }
        });
    }
    let alive = s.alive();
    let after = probe("http", addr, Duration::from_secs(5));
    let (st, _) = s.interrupt(Duration::from_secs(5));
    let err = s.finish();
    let t = tally.lock().unwrap();
    let pass = alive && after.is_ok() && t.hung == 0 && !err.contains("panicked");
    Row {
        test,
        server: "http".into(),
        mode: mode.into(),
        pass,
        figures: format!(
            "{} cases: {} answered 2xx, {} 4xx, {} other, {} closed without an answer, {} hung{}; server {}; normal request after: {}; {}",
            t.cases,
            t.ok,
            t.client_error,
            t.other,
            t.closed,
            t.hung,
            t.first_hang
                .as_ref()
                .map(|h| format!(" (first: {h:?})"))
                .unwrap_or_default(),
            if alive { "alive" } else { "DEAD" },
            if after.is_ok() { "served" } else { "NOT served" },
            status_text(st)
        ),
    }
}

/// What the fuzz clients saw.
#[derive(Default)]
struct Tally {
    /// Cases sent.
    cases: u64,
    /// Answered 2xx first.
    ok: u64,
    /// Answered 4xx first.
    client_error: u64,
    /// Answered something else.
    other: u64,
    /// Closed (or reset) without an answer.
    closed: u64,
    /// Neither within 6 s.
    hung: u64,
    /// The first case that hung (its first bytes).
    first_hang: Option<String>,
}

/// A small xorshift generator (reproducible from `--seed`).
struct Rng(u64);

impl Rng {
    /// The next 64 random bits.
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Well-formed requests the mutations start from.
const SEEDS: [&str; 7] = [
    "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /a?b=c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "GET / HTTP/1.1\nHost: x\n\n",
    "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n",
    "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
];

/// One fuzz case: a seed mutated a few times, or random bytes.
fn make_case(rng: &mut Rng) -> Vec<u8> {
    if rng.below(10) == 0 {
        let n = rng.below(2048);
        return (0..n).map(|_| rng.next() as u8).collect();
    }
    let mut v = SEEDS[rng.below(SEEDS.len())].as_bytes().to_vec();
    let specials: &[&[u8]] = &[
        b"\r",
        b"\n",
        b"\r\n",
        b"\r\n\r\n",
        b" ",
        b":",
        b"\0",
        b"\t",
        b"Content-Length: 3\r\n",
        b"Content-Length: 99999999999999999999999\r\n",
        b"Content-Length: -1\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Connection: close\r\n",
        b"\xff\xfe",
        b"HTTP/1.1",
    ];
    for _ in 0..1 + rng.below(4) {
        if v.is_empty() {
            break;
        }
        let at = rng.below(v.len() + 1).min(v.len());
        match rng.below(7) {
            0 => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let s = specials[rng.below(specials.len())];
                v.splice(at..at, s.iter().copied());
            }
            2 => {
                let end = (at + rng.below(16)).min(v.len());
                v.drain(at..end);
            }
            3 => {
                let end = (at + rng.below(32)).min(v.len());
                let copy = v[at..end].to_vec();
                v.splice(at..at, copy);
            }
            4 => {
                // A long field: near and over the 64 KiB head limit.
                let n = [1000, 65_000, 70_000][rng.below(3)];
                let field = format!("X-Long: {}\r\n", "a".repeat(n));
                let after_line = v.iter().position(|&b| b == b'\n').map_or(0, |p| p + 1);
                v.splice(after_line..after_line, field.bytes());
            }
            5 => {
                v.truncate(at);
            }
            _ => {
                let n = rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(at..at, bytes);
            }
        }
    }
    v
}

/// Whether `buf` holds at least one whole response (head, and a body of
/// its `Content-Length`).
fn whole_response(buf: &[u8]) -> bool {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let body = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    buf.len() >= end + 4 + body
}

/// One fuzz client: cases until `until`.
async fn fuzz_client(addr: SocketAddr, seed: u64, until: Instant, tally: Arc<Mutex<Tally>>) {
    let mut rng = Rng(seed | 1);
    let mut buf = vec![0u8; 4096];
    while Instant::now() < until {
        let case = make_case(&mut rng);
        let half_close = rng.below(2) == 0;
        let Ok(Ok(c)) = timeout(Duration::from_secs(5), TcpStream::connect(addr)).await else {
            switchyard::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        // In random pieces, as a network would cut it.
        let mut rest = &case[..];
        let mut write_failed = false;
        while !rest.is_empty() {
            let n = (1 + rng.below(rest.len().min(4096))).min(rest.len());
            if c.write_all(&rest[..n]).await.is_err() {
                write_failed = true;
                break;
            }
            rest = &rest[n..];
        }
        if half_close && !write_failed {
            let _ = c.shutdown(std::net::Shutdown::Write).await;
        }
        let mut got = Vec::new();
        let outcome = timeout(Duration::from_secs(6), async {
            loop {
                match c.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        got.extend_from_slice(&buf[..n]);
                        if whole_response(&got) {
                            return;
                        }
                    }
                }
            }
        })
        .await;
        let mut t = tally.lock().unwrap();
        t.cases += 1;
        if outcome.is_err() {
            t.hung += 1;
            if t.first_hang.is_none() {
                t.first_hang = Some(
                    String::from_utf8_lossy(&case[..case.len().min(120)]).into_owned()
                        + if half_close { " [half-closed]" } else { "" },
                );
            }
        } else if got.starts_with(b"HTTP/1.1 2") {
            t.ok += 1;
        } else if got.starts_with(b"HTTP/1.1 4") {
            t.client_error += 1;
        } else if got.is_empty() {
            t.closed += 1;
        } else {
            t.other += 1;
        }
    }
}
