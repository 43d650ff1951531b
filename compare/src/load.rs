//! The load tests of `compare`: the echo server under a closed-loop load
//! generator at several connection counts, and the `http` and `hyper`
//! examples under wrk.
//!
//! Each run starts the server as a child (`echo`/`http`/`hyper` in a mode,
//! or the Go program's `echo`/`http`), waits for its `listening on ADDR` line, loads
//! it, and kills it. The generator is the peers' `loadgen` when it has been
//! built (`benches/peers.sh` builds it under `$TMPDIR/switchyard-peers/`, or point
//! `LOADGEN` at one), else a small one built in here: `compare --loadgen
//! ADDR CONNS SECS WARMUP`, one thread (switchyard in single mode), C
//! connections each sending 64 bytes and waiting for their echo, over and
//! over; round trips that start after the warm-up are counted and timed,
//! each from just before its write to just after its read, into one HDR
//! histogram per connection (`test_support::hist`), merged at the end. It
//! prints `result: rps=… p50_us=… p99_us=… p999_us=… max_us=… errors=…`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::child::{self, Fields, Outcome};
use test_support::cli::fmt_num;
use test_support::hist::Hist;

/// The load generator used for the echo rows.
pub enum Generator {
    /// The peers' `loadgen` binary.
    Peers(PathBuf),
    /// `compare --loadgen` (this binary).
    BuiltIn(PathBuf),
}

impl Generator {
    /// The peers' generator if built (or `LOADGEN`), else the built-in one:
    /// `exe`, the path compare was started from, read before it built the
    /// examples. That build relinks compare itself when its features differ
    /// (`--features hyper`), and the running binary's own path then reads
    /// `… (deleted)`; the path it was started from holds the new one.
    pub fn find(target_dir: &Path, exe: &Path) -> Generator {
        let tmp = std::env::var_os("TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/tmp".into());
        let candidates = [
            std::env::var_os("LOADGEN").map(PathBuf::from),
            Some(tmp.join("switchyard-peers/rust/target/release/loadgen")),
            Some(target_dir.join("peers-run/rust/target/release/loadgen")),
        ];
        for c in candidates.into_iter().flatten() {
            if c.is_file() {
                return Generator::Peers(c);
            }
        }
        Generator::BuiltIn(exe.to_path_buf())
    }

    /// For the report.
    pub fn describe(&self) -> String {
        match self {
            Generator::Peers(p) => format!("the peers' loadgen ({})", p.display()),
            Generator::BuiltIn(_) => "compare's built-in generator (`compare --loadgen`: one \
                 thread, switchyard single mode, 64-byte messages)"
                .to_string(),
        }
    }

    /// Loads `addr` with `conns` connections; the outcome has `rps`,
    /// `p50_us`, `p99_us`.
    pub fn run(&self, addr: SocketAddr, conns: usize, secs: f64, warmup: f64) -> Outcome {
        let limit = Duration::from_secs_f64(secs + warmup + 60.0);
        match self {
            Generator::BuiltIn(exe) => {
                let mut cmd = Command::new(exe);
                cmd.arg("--loadgen")
                    .arg(addr.to_string())
                    .arg(conns.to_string())
                    .arg(secs.to_string())
                    .arg(warmup.to_string());
                child::run(cmd, limit).outcome
            }
            Generator::Peers(bin) => {
                let mut cmd = Command::new(bin);
                cmd.arg(addr.to_string())
                    .arg(conns.to_string())
                    .arg(secs.to_string())
                    .args(["0", "server", "64"])
                    .arg(warmup.to_string());
                let ran = child::run(cmd, limit);
                if ran.success {
                    Outcome::Ok(peers_fields(&ran.stdout))
                } else {
                    ran.outcome
                }
            }
        }
    }
}

/// The peers' JSON lines (`"metric":"rps","value":123`) as fields.
fn peers_fields(stdout: &str) -> Fields {
    let mut f = Fields::new();
    for line in stdout.lines() {
        let metric = between(line, "\"metric\":\"", "\"");
        let value = between(line, "\"value\":", "}");
        if let (Some(m), Some(v)) = (metric, value) {
            if let Ok(x) = v.trim().parse::<f64>() {
                f.insert(m.to_string(), fmt_num(x));
            }
        }
    }
    f
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(&s[i..j])
}

/// A server child, killed when dropped.
pub struct Server(Child);

impl Server {
    /// The CPU time the server's process has used so far, all its threads
    /// together (`/proc/PID/stat` utime + stime); `None` without `/proc`.
    pub fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0.id())).ok()?;
        // The command name may hold spaces: fields count from after its ')'.
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut f = rest.split_ascii_whitespace();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
        let utime: u64 = f.nth(11)?.parse().ok()?;
        let stime: u64 = f.next()?.parse().ok()?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let hz = u64::try_from(hz).ok().filter(|&h| h > 0)?;
        Some(Duration::from_secs_f64((utime + stime) as f64 / hz as f64))
    }
}

/// Adds `cpu_us` to a load's outcome: the server's CPU time over the load
/// (`cpu`, its wall time `wall`) per request, from the outcome's rate
/// under `rate_key` (requests or round trips a second). The CPU is read
/// over the whole load, warm-up included, and divided as a rate (cores ÷
/// requests a second), so the warm-up's requests are not left out.
pub fn add_cpu_per_request(outcome: &mut Outcome, rate_key: &str, cpu: Duration, wall: Duration) {
    let Outcome::Ok(fields) = outcome else {
        return;
    };
    let rate = fields.get(rate_key).and_then(|v| v.parse::<f64>().ok());
    let (Some(rate), true) = (rate, wall > Duration::ZERO) else {
        return;
    };
    if rate > 0.0 {
        let cores = cpu.as_secs_f64() / wall.as_secs_f64();
        fields.insert("cpu_us".into(), fmt_num(cores * 1e6 / rate));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` and waits (up to 20 s) for its `listening on ADDR` line. A
/// child that exits first gives its exit status and first stderr line.
pub fn start_server(mut cmd: Command) -> Result<(Server, SocketAddr), Outcome> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut c = cmd.spawn().map_err(|e| Outcome::Failed {
        status: "did not start".into(),
        message: e.to_string(),
    })?;
    let stdout = c.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(a) = line.strip_prefix("listening on ") {
                let _ = tx.send(a.trim().parse::<SocketAddr>().ok());
            }
        }
        let _ = tx.send(None);
    });
    let got = rx.recv_timeout(Duration::from_secs(20)).ok().flatten();
    let mut server = Server(c);
    match got {
        Some(addr) => Ok((server, addr)),
        None => {
            let _ = server.0.kill();
            let st = server.0.wait().ok();
            let mut err = String::new();
            if let Some(mut e) = server.0.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            Err(Outcome::Failed {
                status: st
                    .and_then(|s| s.code())
                    .map_or("no listening line".into(), |c| format!("exit {c}")),
                message: err.lines().next().unwrap_or("").to_string(),
            })
        }
    }
}

/// Runs wrk against `addr`; the outcome has `req_per_s` and `p99_ms`.
pub fn wrk(addr: SocketAddr, conns: usize, secs: f64) -> Outcome {
    let secs = wrk_secs(secs);
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t1",
        &format!("-c{conns}"),
        &format!("-d{secs}s"),
        "--latency",
    ])
    .arg(format!("http://{addr}/"));
    let ran = child::run(cmd, Duration::from_secs(secs + 30));
    if !ran.success {
        return ran.outcome;
    }
    let mut f = Fields::new();
    for line in ran.stdout.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            if let Ok(x) = v.trim().parse::<f64>() {
                f.insert("req_per_s".into(), fmt_num(x));
            }
        }
        if let Some(v) = line.strip_prefix("99%") {
            if let Some(ms) = wrk_ms(v.trim()) {
                f.insert("p99_ms".into(), fmt_num(ms));
            }
        }
    }
    Outcome::Ok(f)
}

/// wrk's `-d`: whole seconds, at least 1.
pub fn wrk_secs(secs: f64) -> u64 {
    secs.round().max(1.0) as u64
}

/// wrk's `3.34ms`, `812.00us`, `1.20s` in milliseconds.
fn wrk_ms(v: &str) -> Option<f64> {
    let (num, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e3)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|x| x * scale)
}

/// Whether `prog` is on the PATH.
pub fn on_path(prog: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
}

/// `compare --loadgen ADDR CONNS SECS WARMUP`: the built-in generator.
pub fn loadgen_main(args: &[String]) {
    let usage = || -> ! {
        eprintln!("usage: compare --loadgen ADDR CONNS SECS WARMUP_SECS");
        std::process::exit(2)
    };
    let addr: SocketAddr = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| usage());
    let conns: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| usage());
    let secs: f64 = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| usage());
    let warmup: f64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(0.0);
    let rt = switchyard::Builder::new()
        .ignore_env()
        .mode(switchyard::Mode::Single);
    let (lat, errors) = rt.run(generate(addr, conns, secs, warmup));
    // No round trip at all reads `nan`, never a 0 µs latency.
    let us = |p: f64| {
        if lat.is_empty() {
            f64::NAN
        } else {
            lat.pct(p) as f64 / 1e3
        }
    };
    let n = fmt_num;
    println!(
        "result: rps={} p50_us={} p99_us={} p999_us={} max_us={} errors={errors} conns={conns}",
        n(lat.len() as f64 / secs),
        n(us(50.0)),
        n(us(99.0)),
        n(us(99.9)),
        n(us(100.0))
    );
}

/// Connects all, then loads; returns the measured round trips' latencies
/// (ns) and the number of connections that failed.
async fn generate(addr: SocketAddr, conns: usize, secs: f64, warmup: f64) -> (Hist, u64) {
    use switchyard::net::TcpStream;
    let mut streams = Vec::with_capacity(conns);
    for _ in 0..conns {
        let mut tries = 0;
        let s = loop {
            match TcpStream::connect(addr).await {
                Ok(s) => break s,
                Err(e) if tries > 500 => panic!("connect {addr}: {e}"),
                Err(_) => tries += 1,
            }
            switchyard::time::sleep(Duration::from_millis(10)).await;
        };
        let _ = s.set_nodelay(true);
        streams.push(s);
    }
    let mstart = Instant::now() + Duration::from_secs_f64(warmup);
    let end = mstart + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            switchyard::spawn(async move {
                let msg: Vec<u8> = (0..64).map(|j| (i + j) as u8).collect();
                let mut buf = vec![0u8; 64];
                let mut lat = Hist::new();
                loop {
                    let t0 = Instant::now();
                    if t0 >= end {
                        return (lat, 0);
                    }
                    if s.write_all(&msg).await.is_err()
                        || s.read_exact(&mut buf).await.is_err()
                        || buf != msg
                    {
                        return (lat, 1);
                    }
                    if t0 >= mstart {
                        lat.record_duration(t0.elapsed());
                    }
                }
            })
        })
        .collect();
    let mut all = Hist::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("load task");
        all.add(&l);
        errors += e;
    }
    (all, errors)
}
