//! The comparison demos (the examples that `compare` runs) as their users
//! run them: each example is a child process with small sizes, in every mode
//! the build has (`util::mode_envs`), and its `result:` line is checked for sense — not
//! for speed. Expectations that differ by model are written per mode, so mn
//! joins by being added to `mode_envs`; the mn-only ones (syscall_storm's
//! mn wall < single wall / 3) run once both modes are there.
//!
//! `compare` itself, a package of its own, is checked by
//! `compare/tests/quick.rs`.

mod util;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use util::{example, loops_env, mode_envs, server_envs, Proc};

/// The key=value pairs of a result line.
type Fields = BTreeMap<String, String>;

/// A finished child.
struct Done {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` to its end (killed after `limit`), reading both pipes.
fn run_child(mut cmd: Command, limit: Duration) -> Done {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start the example");
    let drain = |p: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = p {
                let _ = p.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("{cmd:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Done {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Runs example `name` with `args` in the mode `env`; it must exit 0 and end
/// with exactly one `result:` line, which is returned parsed.
fn result(name: &str, args: &[&str], env: &[(&str, &str)]) -> Fields {
    let mut cmd = Command::new(example(name));
    cmd.args(args).envs(env.iter().copied());
    let d = run_child(cmd, Duration::from_secs(60));
    assert!(
        d.status.success(),
        "{name} {args:?} {env:?}: {}\nstdout:\n{}\nstderr:\n{}",
        d.status,
        d.stdout,
        d.stderr
    );
    let results: Vec<&str> = d
        .stdout
        .lines()
        .filter(|l| l.starts_with("result:"))
        .collect();
    assert_eq!(results.len(), 1, "{name}: one result line:\n{}", d.stdout);
    assert_eq!(
        d.stdout.lines().last(),
        Some(results[0]),
        "{name}: the result line comes last"
    );
    let fields: Fields = results[0]["result:".len()..]
        .split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            (k.to_string(), v.to_string())
        })
        .collect();
    assert_eq!(fields["experiment"], name);
    assert_eq!(fields["mode"], mode_of(env), "{name}: mode as asked");
    for key in ["wall_ms", "peak_threads", "peak_rss_kb", "procs"] {
        assert!(num(&fields, key) >= 0.0, "{name}: {key}");
    }
    assert!(
        num(&fields, "peak_threads") >= 1.0,
        "{name}: at least the runtime's thread"
    );
    assert!(num(&fields, "peak_rss_kb") > 0.0, "{name}: peak RSS read");
    fields
}

/// A field as a number.
fn num(f: &Fields, key: &str) -> f64 {
    f.get(key)
        .unwrap_or_else(|| panic!("no {key} in {f:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{key}={} is not a number", f[key]))
}

/// The `RUNTIME_MODE` of a `mode_envs` entry.
fn mode_of<'a>(env: &[(&str, &'a str)]) -> &'a str {
    env.iter()
        .find(|(k, _)| *k == "RUNTIME_MODE")
        .map(|(_, v)| *v)
        .expect("RUNTIME_MODE in every mode_envs entry")
}

#[test]
fn spawn_cost_measures_tasks_and_threads() {
    for env in mode_envs() {
        let f = result("spawn_cost", &["--n", "2000", "--rounds", "2"], &env);
        assert_eq!(f["style"], "tasks");
        assert!(num(&f, "ns_per_task") > 0.0);
        let t = result(
            "spawn_cost",
            &["--threads", "--n", "200", "--rounds", "1"],
            &env,
        );
        assert_eq!(t["style"], "threads");
        assert!(num(&t, "ns_per_task") > 0.0);
    }
}

#[test]
fn million_sleepers_counts_bytes_per_live_task() {
    for env in mode_envs() {
        let f = result(
            "million_sleepers",
            &["--n", "20000", "--sleep", "200ms"],
            &env,
        );
        let alive = num(&f, "peak_alive");
        assert!(alive > 0.0 && alive <= 20000.0, "peak_alive={alive}");
        assert!(num(&f, "wall_ms") >= 200.0, "nobody wakes early");
        let per = num(&f, "bytes_per_task");
        assert!(per > 0.0 && per < 64.0 * 1024.0, "bytes_per_task={per}");
        if mode_of(&env) == "single" {
            assert_eq!(alive, 20000.0, "the loop spawns all before any runs");
            assert_eq!(num(&f, "peak_threads"), 1.0);
        }
        let t = result(
            "million_sleepers",
            &["--threads", "--n", "100", "--sleep", "100ms"],
            &env,
        );
        assert_eq!(t["style"], "threads");
        assert!(num(&t, "peak_threads") > 50.0, "one OS thread per sleeper");
    }
}

#[test]
fn million_sleepers_style_go_says_it_needs_mn() {
    for env in mode_envs().into_iter().filter(|e| mode_of(e) == "single") {
        let mut cmd = Command::new(example("million_sleepers"));
        cmd.args(["--style", "go", "--n", "10"])
            .envs(env.iter().copied());
        let d = run_child(cmd, Duration::from_secs(30));
        assert_eq!(d.status.code(), Some(2), "refused, not faked");
        assert!(d.stderr.contains("RUNTIME_MODE=mn"), "{}", d.stderr);
        assert!(!d.stdout.contains("result:"));
    }
}

#[test]
fn ping_pong_counts_round_trips() {
    for env in mode_envs() {
        let f = result("ping_pong", &["--duration", "100ms"], &env);
        assert!(num(&f, "round_trips") >= 1000.0);
        assert!(num(&f, "ns_per_round_trip") > 0.0);
    }
}

#[test]
fn syscall_storm_serializes_in_single_and_overlaps_in_mn() {
    let mut walls = BTreeMap::new();
    for env in mode_envs() {
        let csv = std::env::temp_dir().join(format!(
            "switchyard-storm-{}-{}.csv",
            std::process::id(),
            mode_of(&env)
        ));
        let csv_arg = csv.display().to_string();
        let f = result(
            "syscall_storm",
            &["--n", "10", "--sleep", "100ms", "--samples", &csv_arg],
            &env,
        );
        let wall = num(&f, "wall_ms");
        let samples = std::fs::read_to_string(&csv).expect("samples written");
        let _ = std::fs::remove_file(&csv);
        assert!(samples.starts_with("t_ms,threads\n"));
        assert!(samples.lines().count() > 5, "sampled during the storm");
        if mode_of(&env) == "single" {
            // The JavaScript model: each call blocks the loop, one by one.
            assert!(
                (950.0..3000.0).contains(&wall),
                "single: wall ≈ N × D = 1000 ms, got {wall}"
            );
            assert_eq!(num(&f, "peak_threads"), 1.0);
        }
        walls.insert(mode_of(&env).to_string(), wall);
    }
    if let (Some(single), Some(mn)) = (walls.get("single"), walls.get("mn")) {
        assert!(mn < &(single / 3.0), "mn {mn} ms vs single {single} ms");
    }
}

#[test]
fn sleepers_threads_single_sleeps_on_one_thread() {
    for env in mode_envs() {
        let f = result(
            "sleepers_threads",
            &["--n", "1000", "--sleep", "400ms", "--read-after", "150ms"],
            &env,
        );
        let threads = num(&f, "threads_asleep");
        assert!(threads >= 1.0);
        if mode_of(&env) == "single" {
            assert_eq!(threads, 1.0, "single: the loop thread, nothing else");
        }
    }
}

#[test]
fn cpu_scaling_reports_work_and_shares() {
    for env in mode_envs() {
        let f = result(
            "cpu_scaling",
            &["--duration", "100ms", "--procs", "1"],
            &env,
        );
        assert!(num(&f, "total_m_p1") > 0.0);
        let share = num(&f, "max_share_p1");
        assert!((0.25..=1.0).contains(&share), "share {share}");
        if mode_of(&env) == "single" {
            assert!(share > 0.9, "no preemption: the first task spins alone");
        }
    }
}

#[test]
fn cpu_scaling_on_two_loops_splits_the_tasks_between_them() {
    let env = loops_env();
    let f = result(
        "cpu_scaling",
        &["--duration", "200ms", "--procs", "1,2"],
        &env,
    );
    // The entries of --procs are loops here; the last one ran 2.
    assert_eq!(f["loops"], "2", "{f:?}");
    assert_eq!(f["loops_list"], "1,2", "{f:?}");
    assert_eq!(f["procs_list"], "1,2", "{f:?}");
    assert!(num(&f, "total_m_p1") > 0.0);
    assert!(num(&f, "total_m_p2") > 0.0);
    assert!(num(&f, "scaling") > 0.0);
    // One loop: no preemption, its first task spins alone.
    assert!(num(&f, "max_share_p1") > 0.9, "{f:?}");
    // Two loops: each spins the first of its two tasks, so two tasks
    // count and neither has it all (0.5 each with a CPU per loop).
    let share = num(&f, "max_share_p2");
    assert!((0.25..0.9).contains(&share), "two loops each spun: {f:?}");
    assert!(num(&f, "peak_threads") >= 2.0, "a thread per loop: {f:?}");
}

#[test]
fn netpoll_vs_blocking_reads_files_and_sockets() {
    for env in mode_envs() {
        let f = result(
            "netpoll_vs_blocking",
            &["--n", "20", "--file-kb", "64", "--wait", "50ms"],
            &env,
        );
        assert!(num(&f, "socket_ms") >= 50.0, "the readers waited");
        if mode_of(&env) == "single" {
            assert_eq!(num(&f, "socket_threads"), 1.0);
            assert_eq!(num(&f, "file_threads"), 1.0);
        }
    }
}

#[test]
fn ffi_storm_with_a_limit_keeps_threads_bounded() {
    for env in mode_envs() {
        let f = result(
            "ffi_storm",
            &["--n", "16", "--sleep", "20ms", "--limit", "8"],
            &env,
        );
        let bound = 8.0 + num(&f, "procs") + 3.0;
        assert_eq!(num(&f, "thread_bound"), bound);
        assert!(num(&f, "peak_threads") <= bound, "{f:?}");
        assert_eq!(f["call"], "usleep");
        if mode_of(&env) == "single" {
            assert!(num(&f, "wall_ms") >= 16.0 * 20.0, "one call at a time");
        }
        let unlimited = result("ffi_storm", &["--n", "4", "--sleep", "1s"], &env);
        assert_eq!(unlimited["call"], "sleep", "whole seconds: libc sleep");
    }
}

#[test]
fn lock_thread_does_not_drift() {
    for env in mode_envs() {
        let f = result("lock_thread", &["--yields", "100", "--others", "4"], &env);
        assert_eq!(num(&f, "drifts"), 0.0);
        if mode_of(&env) == "single" {
            assert_eq!(f["lock"], "not_needed");
            assert_eq!(num(&f, "other_tids"), 1.0);
        }
    }
}

#[test]
fn tight_loop_starves_the_printer_in_single_but_not_in_mn() {
    for env in mode_envs() {
        let spin = result("tight_loop", &["--spin", "300ms", "--quiet"], &env);
        let preempt = result(
            "tight_loop",
            &["--spin", "300ms", "--quiet", "--preempt-every", "1ms"],
            &env,
        );
        let yielding = num(&preempt, "max_gap_ms");
        assert!(yielding < 150.0, "yield points keep the rhythm: {yielding}");
        let gap = num(&spin, "max_gap_ms");
        // The example runs with `--procs 1` unless told otherwise. Single
        // mode has one thread: the spinner starves the printer. In mn,
        // sysmon takes the only P from the spinner's M after 10 ms (the
        // spinner keeps its thread) and another M runs the printer.
        if mode_of(&env) == "single" {
            assert!(gap >= 290.0, "the spinner holds the only thread: {gap}");
        } else {
            assert!(
                gap < 150.0,
                "{}: the spinner's P was retaken, the printer keeps time: {gap}",
                mode_of(&env)
            );
        }
    }
}

/// How late a 10 ms sleep may end at the median before the test calls it
/// wrong. Whole-millisecond rounding (the timers before their alarm) made
/// it over a millisecond in single mode and most of one in mn; with the
/// alarm it is around a tenth of a millisecond, also with spinning
/// processes beside it on two CPUs. The margin
/// is for a loaded CI machine, so it catches the single mode's rounding,
/// not necessarily mn's.
const P50_LATE_BOUND_US: f64 = 700.0;

#[test]
fn timer_lateness_never_wakes_early_and_is_late_by_a_fraction_of_a_ms() {
    for env in mode_envs() {
        // A run that other tests' busy CPUs delayed is done again (up to
        // three runs); an early wake fails at once, in any run.
        let mut p50s = Vec::new();
        for _ in 0..3 {
            let f = result("timer_lateness", &["--n", "50"], &env);
            assert_eq!(num(&f, "early"), 0.0, "no sleep ends early: {f:?}");
            assert_eq!(num(&f, "n"), 50.0);
            assert_eq!(num(&f, "sleep_ms"), 10.0);
            assert_eq!(num(&f, "ticker_ms"), 3.7);
            assert!(num(&f, "ticks") >= 50.0, "the ticker ran beside: {f:?}");
            let p50 = num(&f, "p50_late_us");
            assert!(p50 >= 0.0 && p50 <= num(&f, "p99_late_us"), "{f:?}");
            assert!(num(&f, "p99_late_us") <= num(&f, "max_late_us"), "{f:?}");
            if mode_of(&env) == "single" {
                assert_eq!(num(&f, "peak_threads"), 1.0, "the loop thread only");
            }
            p50s.push(p50);
            if p50 < P50_LATE_BOUND_US {
                break;
            }
        }
        let best = p50s.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(
            best < P50_LATE_BOUND_US,
            "{env:?}: median lateness of a 10 ms sleep, µs, in each run: {p50s:?}"
        );
        let alone = result("timer_lateness", &["--n", "20", "--alone"], &env);
        assert_eq!(num(&alone, "early"), 0.0, "alone, no early wake either");
        assert_eq!(num(&alone, "ticker_ms"), 0.0);
        assert_eq!(num(&alone, "ticks"), 0.0);
    }
}

/// How many slices of a task spinning 50 µs between yields may begin past
/// a 10 ms sleep's deadline, at the median of the sleeps, before the
/// sleeper runs (one P). On a quiet machine: none in single mode (one or
/// two while its wheel ticked 0.1 ms), mn and Go; around ten in mn before
/// its timers were looked at by the clock between slices (they fired by a
/// coarse 1 ms tick: up to 20 slices). The OS cannot add slices by
/// preempting the thread, so this holds on a loaded machine too (a median
/// of at most a couple with spinning processes on two CPUs).
const BUSY_P50_LATE_SLICES_BOUND: f64 = 3.0;

/// The same sleep's median lateness in µs, which the OS does move: the busy
/// thread is always runnable, so on a machine whose CPUs other processes
/// take, a wake waits for its next time slice (quiet: under 0.1 ms; with
/// spinning processes on two CPUs: milliseconds). The bound catches a sleep
/// that ends a whole sleep late; a run above it is done again.
const BUSY_P50_LATE_BOUND_US: f64 = 10_000.0;

#[test]
fn timer_lateness_beside_a_busy_task_lets_few_slices_pass_a_deadline() {
    for env in mode_envs() {
        let args = ["--n", "50", "--busy", "50us", "--procs", "1"];
        let mut p50s = Vec::new();
        for _ in 0..3 {
            let f = result("timer_lateness", &args, &env);
            assert_eq!(num(&f, "early"), 0.0, "no sleep ends early: {f:?}");
            assert_eq!(num(&f, "n"), 50.0);
            assert_eq!(num(&f, "busy_us"), 50.0);
            assert_eq!(num(&f, "procs"), 1.0, "{f:?}");
            // 50 sleeps of 10 ms in 50 µs slices: thousands of yields, also
            // when the OS runs the thread a fraction of the time.
            assert!(num(&f, "busy_yields") >= 100.0, "the busy task ran: {f:?}");
            assert!(num(&f, "ticks") >= 50.0, "the ticker ran beside: {f:?}");
            assert!(
                num(&f, "p50_late_slices") <= BUSY_P50_LATE_SLICES_BOUND,
                "{env:?}: the busy task's slices begun past a deadline: {f:?}"
            );
            let p50 = num(&f, "p50_late_us");
            assert!(p50 >= 0.0 && p50 <= num(&f, "p99_late_us"), "{f:?}");
            p50s.push(p50);
            if p50 < BUSY_P50_LATE_BOUND_US {
                break;
            }
        }
        let best = p50s.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(
            best < BUSY_P50_LATE_BOUND_US,
            "{env:?}: median lateness of a 10 ms sleep beside a busy task, µs, in each run: {p50s:?}"
        );
    }
    // Without --busy the keys say 0.
    let f = result("timer_lateness", &["--n", "5", "--alone"], &mode_envs()[0]);
    for key in [
        "busy_us",
        "busy_yields",
        "p50_late_slices",
        "max_late_slices",
    ] {
        assert_eq!(num(&f, key), 0.0, "{key}: {f:?}");
    }
}

#[test]
fn http_answers_keep_alive_requests_and_counts_them() {
    for env in mode_envs() {
        let mut cmd = Command::new(example("http"));
        cmd.args(["--addr", "127.0.0.1:0"])
            .envs(env.iter().copied());
        let mut p = Proc::spawn(cmd);
        let addr = p.listening_addr();
        // Three requests on one kept-alive connection (two pipelined).
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        c.write_all(get.as_bytes()).unwrap();
        assert_eq!(read_responses(&mut c, 1), 1);
        c.write_all(format!("{get}{get}").as_bytes()).unwrap();
        assert_eq!(read_responses(&mut c, 2), 2);
        // One that asks to close: answered, then EOF.
        let mut d = TcpStream::connect(addr).unwrap();
        d.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        d.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut all = String::new();
        d.read_to_string(&mut all).unwrap();
        assert!(all.starts_with("HTTP/1.1 200 OK") && all.ends_with("Hello, World!"));
        p.signal("TERM");
        p.wait_timeout(Duration::from_secs(10))
            .expect("exits on SIGTERM");
        let out = p.rest_of_stdout();
        let line = out.lines().last().expect("output");
        assert!(line.starts_with("result: experiment=http"), "{out}");
        assert!(line.contains(" requests=4 "), "{line}");
        assert!(line.contains(" connections=2 "), "{line}");
    }
}

#[test]
fn imbalance_puts_the_expensive_connections_on_one_loop() {
    // Small sizes: 2 expensive connections computing 2 ms per request
    // (3 ms between), 4 cheap ones each sending every 10 ms, for 300 ms.
    let args = [
        "--hot",
        "2",
        "--cost",
        "2ms",
        "--hot-think",
        "3ms",
        "--cheap",
        "4",
        "--duration",
        "300ms",
        "--warmup",
        "100ms",
    ];
    for env in server_envs() {
        let f = result("imbalance", &args, &env);
        let loops: usize = f.get("loops").map_or(1, |l| l.parse().unwrap());
        assert_eq!((num(&f, "hot"), num(&f, "cheap")), (2.0, 4.0));
        assert_eq!(num(&f, "errors"), 0.0, "{f:?}");
        // Every cheap request due in the 300 ms was sent and answered:
        // 4 connections × 30.
        let cheap_rps = num(&f, "cheap_rps");
        assert!((cheap_rps - 400.0).abs() < 1.0, "{f:?}");
        assert!(num(&f, "hot_rps") > 0.0, "{f:?}");
        assert!(num(&f, "hot_p50_ms") >= 2.0, "each computes 2 ms: {f:?}");
        let (p50, p99) = (num(&f, "cheap_p50_us"), num(&f, "cheap_p99_us"));
        assert!(p50 <= p99 && p99 <= num(&f, "cheap_max_us"), "{f:?}");
        // The server's count: every expensive request on the hot loop.
        let per_loop: Vec<f64> = f["expensive_per_loop"]
            .split(',')
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(per_loop.len(), loops, "{f:?}");
        let hot_loop = num(&f, "hot_loop") as usize;
        for (l, n) in per_loop.iter().enumerate() {
            assert_eq!(*n > 0.0, l == hot_loop, "loop {l}: {f:?}");
        }
        assert!(num(&f, "placed_after") >= 6.0, "{f:?}");
        match (mode_of(&env), loops) {
            ("single", 2) => {
                assert_eq!(f["mode"], "single");
                // One loop computed them all, on its one thread; the
                // other loop served cheap requests only.
                assert_eq!(num(&f, "spin_threads"), 1.0, "{f:?}");
                assert!(num(&f, "other_loops_cheap_p50_us") >= 0.0, "{f:?}");
            }
            ("single", _) => {
                assert_eq!(num(&f, "spin_threads"), 1.0, "{f:?}");
                assert_eq!(f["other_loops_cheap_p50_us"], "nan", "one loop: {f:?}");
            }
            _ => {
                assert_eq!((hot_loop, loops), (0, 1), "mn has one scheduler");
                assert_eq!(f["other_loops_cheap_p50_us"], "nan", "{f:?}");
                assert!(num(&f, "spin_threads") >= 1.0, "{f:?}");
            }
        }
        if mode_of(&env) == "single" {
            // A loop computes with no preemption: of the ~60 cheap requests
            // on the hot loop (every one with one loop), some arrived while
            // it computed 2 ms and waited for it.
            assert!(num(&f, "hot_loop_cheap_p99_us") >= 500.0, "{f:?}");
        }
    }
}

/// Reads until `n` whole hello responses have arrived; returns how many.
fn read_responses(c: &mut TcpStream, n: usize) -> usize {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let count = |b: &[u8]| b.windows(13).filter(|w| w == b"Hello, World!").count();
    while count(&got) < n {
        let k = c.read(&mut buf).expect("response");
        assert!(k > 0, "server closed a keep-alive connection");
        got.extend_from_slice(&buf[..k]);
    }
    count(&got)
}
