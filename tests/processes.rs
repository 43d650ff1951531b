//! Checks that need a whole process of their own: this binary (harness =
//! false, so no test-harness threads) re-runs itself as the child.
//!
//! * `threads`: `Threads` from /proc while 1,000 connections are served and
//!   10,000 timers are pending (single mode: exactly 1).
//! * `ctrl_c`: `signal::ctrl_c()` completes on SIGINT and the program exits 0.
//! * `rlimit`: the soft RLIMIT_NOFILE is raised to the hard limit at start-up.
//! * `schedtrace`: `RUNTIME_DEBUG=schedtrace=MS` prints parseable lines.
//! * `sigquit`: SIGQUIT prints the task dump on stderr and the program goes on.
//! * `trace`: `RUNTIME_TRACE=FILE` writes a Chrome trace whose slices, wake
//!   arrows and park instants parse and match what the program did.
//! * `trace target`: `RUNTIME_TRACE` never writes through a predictable
//!   `.tmp` name, and a symlink or FIFO at the target is written into, not
//!   replaced.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use test_support::json;
use util::{mode_envs, Proc};

const SLEEPERS: usize = 10_000;
const CONNECTIONS: usize = 1_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        match args[2].as_str() {
            "server" => child_server(),
            "ctrl_c" => child_ctrl_c(),
            "limits" => child_limits(),
            "busy" => child_busy(),
            "pingpong" => child_pingpong(),
            other => panic!("unknown child {other}"),
        }
        return;
    }
    rt_base::sys::raise_nofile_limit().unwrap();
    for env in mode_envs() {
        threads_while_serving(&env);
        ctrl_c_exits_cleanly(&env);
        rlimit_is_raised(&env);
        schedtrace_lines_parse(&env);
        sigquit_prints_the_dump(&env);
        trace_file_parses(&env);
        trace_target_is_respected(&env);
    }
    println!("processes: ok");
}

fn child(kind: &str, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child", kind]).envs(env.iter().copied());
    cmd
}

// ------------------------------------------------------------------ threads

fn child_server() {
    switchyard::run(async {
        for _ in 0..SLEEPERS {
            switchyard::spawn(switchyard::time::sleep(Duration::from_secs(600)));
        }
        let l = switchyard::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap();
        println!("listening on {}", l.local_addr().unwrap());
        std::io::stdout().flush().unwrap();
        loop {
            let (s, _) = l.accept().await.unwrap();
            switchyard::spawn(async move {
                let mut buf = [0u8; 64];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    })
}

fn threads_while_serving(env: &[(&str, &str)]) {
    let mut p = Proc::spawn(child("server", env));
    let addr = p.listening_addr();
    let mut conns: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    for (i, c) in conns.iter_mut().enumerate() {
        c.write_all(&(i as u32).to_le_bytes()).unwrap();
    }
    for (i, c) in conns.iter_mut().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut b = [0u8; 4];
        c.read_exact(&mut b).unwrap();
        assert_eq!(u32::from_le_bytes(b), i as u32);
    }
    let threads = p.threads();
    if env.contains(&("RUNTIME_MODE", "single")) {
        assert_eq!(threads, 1, "single mode: one OS thread ({env:?})");
    } else {
        // mn: the Ms of the Ps, sysmon and the main thread — no thread per
        // connection or sleeper.
        let procs: usize = env
            .iter()
            .find(|(k, _)| *k == "RUNTIME_MAXPROCS")
            .map_or(1, |(_, v)| v.parse().unwrap());
        assert!(
            threads <= procs + 2,
            "mn: {threads} threads > procs + 2 ({env:?})"
        );
    }
    println!("{env:?}: {CONNECTIONS} connections, {SLEEPERS} timers, Threads: {threads}");
}

// ------------------------------------------------------------------ ctrl_c

fn child_ctrl_c() {
    switchyard::run(async {
        // The handler is installed here, before "ready" (in mn a spawned
        // task runs on another thread, maybe after the parent's yield), and
        // awaited in a task.
        let mut sig = switchyard::signal::signal(switchyard::signal::SignalKind::interrupt())
            .expect("SIGINT stream");
        let wait = switchyard::spawn(async move { sig.recv().await });
        switchyard::yield_now().await;
        println!("ready");
        std::io::stdout().flush().unwrap();
        wait.await.unwrap().expect("a delivery");
        println!("got ctrl_c");
    })
}

fn ctrl_c_exits_cleanly(env: &[(&str, &str)]) {
    let mut p = Proc::spawn(child("ctrl_c", env));
    p.wait_line("ready");
    p.signal("INT");
    let st = p
        .wait_timeout(Duration::from_secs(10))
        .expect("exits after SIGINT");
    assert_eq!(st.code(), Some(0), "{}", p.stderr());
    assert!(p.rest_of_stdout().contains("got ctrl_c"));
}

// ------------------------------------------------------------------ rlimit

fn child_limits() {
    switchyard::run(async {
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap();
        println!("limits {line}");
    })
}

fn rlimit_is_raised(env: &[(&str, &str)]) {
    // Lower only the soft limit; the runtime must raise it back to the hard.
    let hard: u64 = {
        let out = Command::new("sh")
            .args(["-c", "ulimit -Hn"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    };
    if hard <= 64 {
        println!("rlimit: hard limit {hard} too low to test, skipped");
        return;
    }
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -Sn 64 && exec {} child limits",
            std::env::current_exe().unwrap().display()
        ))
        .envs(env.iter().copied());
    let mut p = Proc::spawn(cmd);
    let line = p.wait_line("limits");
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(nums.len(), 2, "{line}");
    assert_eq!(
        nums[0], nums[1],
        "soft limit raised to the hard limit: {line}"
    );
    assert_eq!(nums[1], hard);
}

// ------------------------------------------------------------------ schedtrace

fn child_busy() {
    switchyard::run(async {
        for _ in 0..5 {
            switchyard::spawn(switchyard::time::sleep(Duration::from_secs(60)));
        }
        println!("ready");
        std::io::stdout().flush().unwrap();
        switchyard::time::sleep(Duration::from_secs(60)).await;
    })
}

fn schedtrace_lines_parse(env: &[(&str, &str)]) {
    let mut cmd = child("busy", env);
    cmd.env("RUNTIME_DEBUG", "schedtrace=50");
    let mut p = Proc::spawn(cmd);
    p.wait_line("ready");
    let mut err = BufReader::new(p.take_stderr());
    let start = Instant::now();
    let mut last_ms = 0;
    for _ in 0..5 {
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        let line = line.trim_end();
        let rest = line
            .strip_prefix("SCHED ")
            .unwrap_or_else(|| panic!("not a SCHED line: {line}"));
        let (ms, fields) = rest.split_once("ms: ").unwrap();
        let ms: u64 = ms.parse().unwrap();
        assert!(ms > last_ms, "time advances: {line}");
        last_ms = ms;
        let kv: std::collections::HashMap<&str, &str> = fields
            .split_whitespace()
            .filter_map(|f| f.split_once('='))
            .collect();
        if env.contains(&("RUNTIME_MODE", "single")) {
            assert_eq!(kv["mode"], "single", "{line}");
            assert_eq!(kv["threads"], "1", "{line}");
            let tasks: usize = kv["tasks"].parse().unwrap();
            let timers: usize = kv["timers"].parse().unwrap();
            assert!(tasks >= 5 && timers >= 6, "{line}");
            for k in ["ready", "io", "polls", "blocking"] {
                kv[k]
                    .parse::<u64>()
                    .unwrap_or_else(|_| panic!("{k} in {line}"));
            }
        }
    }
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(last_ms >= 200, "five lines 50 ms apart");
}

// ------------------------------------------------------------------ sigquit

fn sigquit_prints_the_dump(env: &[(&str, &str)]) {
    let mut p = Proc::spawn(child("busy", env));
    p.wait_line("ready");
    let mut err = BufReader::new(p.take_stderr());
    // "ready" comes just before the main future's sleep: let it get there
    // (in mn the main future runs on its own thread, beside the Ms).
    std::thread::sleep(Duration::from_millis(100));
    p.signal("QUIT");
    let mut dump = String::new();
    let start = Instant::now();
    while !dump.contains("[sleep") || dump.matches("spawned at").count() < 5 {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap() == 0 {
            break;
        }
        dump.push_str(&line);
        assert!(start.elapsed() < Duration::from_secs(10), "{dump}");
    }
    assert!(dump.contains("task dump (SIGQUIT)"), "{dump}");
    assert!(dump.contains("(main) [sleep"), "{dump}");
    assert!(dump.contains("spawned at tests/processes.rs:"), "{dump}");
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        p.child.try_wait().unwrap().is_none(),
        "the program goes on after the dump"
    );
}

// ------------------------------------------------------------------ trace

fn child_pingpong() {
    switchyard::run(async {
        let (tx1, mut rx1) = switchyard::sync::mpsc::channel::<u32>(1);
        let (tx2, mut rx2) = switchyard::sync::mpsc::channel::<u32>(1);
        let echo = switchyard::spawn(async move {
            while let Some(v) = rx1.recv().await {
                if tx2.send(v + 1).await.is_err() {
                    break;
                }
            }
        });
        let mut x = 0;
        for _ in 0..100 {
            tx1.send(x).await.unwrap();
            x = rx2.recv().await.unwrap();
        }
        drop(tx1);
        echo.await.unwrap();
        switchyard::time::sleep(Duration::from_millis(5)).await;
        println!("done {x}");
    })
}

fn trace_file_parses(env: &[(&str, &str)]) {
    let path = std::env::temp_dir().join(format!("switchyard-trace-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut cmd = child("pingpong", env);
    cmd.env("RUNTIME_TRACE", &path);
    let mut p = Proc::spawn(cmd);
    assert_eq!(p.wait_line("done"), "100");
    let st = p.wait_timeout(Duration::from_secs(10)).expect("exits");
    assert!(st.success());
    let json = json::Value::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let _ = std::fs::remove_file(&path);
    let events = json["traceEvents"].as_array().unwrap();
    let of = |ph: &str| events.iter().filter(|e| e["ph"] == ph).collect::<Vec<_>>();
    let lanes: Vec<_> = of("M")
        .into_iter()
        .filter(|e| e["name"] == "thread_name")
        .collect();
    let slices = of("X");
    if env.contains(&("RUNTIME_MODE", "single")) {
        assert_eq!(lanes.len(), 1, "single mode: one lane");
        assert!(lanes[0]["args"]["name"].as_str().unwrap().contains("loop"));
    }
    // The echo task ran about once per round trip, named by its spawn site.
    let echo_runs = slices
        .iter()
        .filter(|e| {
            let n = e["name"].as_str().unwrap();
            n.starts_with("task ") && n.contains(" (tests/processes.rs:")
        })
        .count();
    if env.contains(&("RUNTIME_MODE", "single")) {
        assert!(
            (100..=110).contains(&echo_runs),
            "echo task slices: {echo_runs}"
        );
    } else {
        // mn: main is a G too (named `main`); the echo G mostly runs once
        // per round trip on main's thread, but may be stolen by another M
        // and then find several messages in one slice.
        assert!(
            (1..=110).contains(&echo_runs),
            "echo task slices: {echo_runs}"
        );
    }
    assert!(slices.iter().any(|e| e["name"]
        .as_str()
        .unwrap()
        .starts_with("main (tests/processes.rs:")));
    for e in &slices {
        assert!(
            e["ts"].as_f64().unwrap() >= 0.0 && e["dur"].as_f64().unwrap() > 0.0,
            "{e}"
        );
    }
    // Every wake arrow that starts also ends, on the same id.
    let starts: std::collections::HashSet<u64> =
        of("s").iter().map(|e| e["id"].as_u64().unwrap()).collect();
    let ends: std::collections::HashSet<u64> =
        of("f").iter().map(|e| e["id"].as_u64().unwrap()).collect();
    // single: one arrow per wake; mn: a G that finds its message already
    // there needs no wake, and up to one unflushed batch per M is lost.
    let single = env.contains(&("RUNTIME_MODE", "single"));
    let (min_arrows, max_unmatched) = if single { (150, 2) } else { (50, 4) };
    assert!(starts.len() >= min_arrows, "wake arrows: {}", starts.len());
    assert!(ends.is_subset(&starts));
    assert!(
        starts.difference(&ends).count() <= max_unmatched,
        "unmatched arrows"
    );
    let parks: Vec<_> = of("i").into_iter().filter(|e| e["cat"] == "park").collect();
    assert!(parks.iter().any(|e| e["name"] == "park: chan receive"));
    if single {
        // The sleeper is the main future: in mn it waits on its own thread,
        // not as a G, so it has no park instant there.
        assert!(parks.iter().any(|e| e["name"] == "park: sleep"));
    }
}

// ------------------------------------------------------------------ trace target

/// Runs the pingpong child tracing to `target`; asserts it exited 0.
fn pingpong_traced_to(env: &[(&str, &str)], target: &std::path::Path) {
    let mut cmd = child("pingpong", env);
    cmd.env("RUNTIME_TRACE", target);
    let mut p = Proc::spawn(cmd);
    assert_eq!(p.wait_line("done"), "100");
    let st = p.wait_timeout(Duration::from_secs(10)).expect("exits");
    assert!(st.success(), "{env:?}: {}", p.stderr());
}

fn is_trace(text: &str) -> bool {
    json::Value::parse(text)
        .is_ok_and(|v| v["traceEvents"].as_array().is_some_and(|a| !a.is_empty()))
}

fn trace_target_is_respected(env: &[(&str, &str)]) {
    use std::os::unix::fs::{symlink, FileTypeExt};
    let d = std::env::temp_dir().join(format!(
        "switchyard-trace-target-{}-{}",
        std::process::id(),
        env.iter().map(|(_, v)| *v).collect::<Vec<_>>().join("-")
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();

    // Names a predictable writer would use, planted beside the target: a
    // file to clobber and a symlink to follow.
    let victim = d.join("victim");
    std::fs::write(&victim, "victim").unwrap();
    std::fs::write(d.join("t.json.tmp"), "keep").unwrap();
    symlink(&victim, d.join("t.tmp")).unwrap();
    pingpong_traced_to(env, &d.join("t.json"));
    assert!(is_trace(
        &std::fs::read_to_string(d.join("t.json")).unwrap()
    ));
    assert_eq!(
        std::fs::read_to_string(d.join("t.json.tmp")).unwrap(),
        "keep"
    );
    assert!(std::fs::symlink_metadata(d.join("t.tmp"))
        .unwrap()
        .is_symlink());
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "victim",
        "{env:?}"
    );
    let mut names: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["t.json", "t.json.tmp", "t.tmp", "victim"],
        "nothing left"
    );

    // A symlink at the target: the file it names gets the trace, the link
    // stays; one to /dev/null stays one.
    std::fs::write(d.join("real.json"), "old").unwrap();
    symlink(d.join("real.json"), d.join("link.json")).unwrap();
    pingpong_traced_to(env, &d.join("link.json"));
    assert!(std::fs::symlink_metadata(d.join("link.json"))
        .unwrap()
        .is_symlink());
    assert!(is_trace(
        &std::fs::read_to_string(d.join("real.json")).unwrap()
    ));
    symlink("/dev/null", d.join("null.json")).unwrap();
    pingpong_traced_to(env, &d.join("null.json"));
    assert!(std::fs::symlink_metadata(d.join("null.json"))
        .unwrap()
        .is_symlink());
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());

    // A FIFO at the target: its reader gets the trace, it stays a FIFO.
    let fifo = d.join("fifo.json");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let reader = fifo_reader(&fifo);
    pingpong_traced_to(env, &fifo);
    let got = reader.join().unwrap();
    assert!(is_trace(&got), "{env:?}: {} bytes from the FIFO", got.len());
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    let _ = std::fs::remove_dir_all(&d);
    println!("{env:?}: RUNTIME_TRACE targets respected");
}

/// Opens `fifo` for reading now (so a writer finds a reader) and reads it
/// on a thread until its writer has come and gone (30 s at most).
fn fifo_reader(fifo: &std::path::Path) -> std::thread::JoinHandle<String> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo)
        .unwrap();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            let mut pfd = libc::pollfd {
                fd: f.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd. (Before any writer came, poll
            // reports nothing; after the last one left, POLLHUP.)
            if unsafe { libc::poll(&mut pfd, 1, 100) } <= 0 {
                continue;
            }
            match (&f).read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("reading the FIFO: {e}"),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    })
}
