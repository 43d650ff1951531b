//! Observability, mn half: seeing inside an mn program, from the outside. Each
//! check starts this binary again as a child (`observe_mn child KIND`) in
//! `RUNTIME_MODE=mn` and reads what it prints or writes:
//!
//! * `schedtrace`: Go's `SCHED` lines (and the `scheddetail` P/M/G lines)
//!   parsed.
//! * `trace`: the Chrome trace JSON parsed: a G that ran on two Ms, a
//!   syscall slice, a retake or handoff, wake arrows that pair up.
//! * `dump`: `switchyard::dump()` and SIGQUIT list tasks parked on a channel
//!   receive and a sleep with their reasons; the program goes on.
//! * `sigusr2`: SIGUSR2 writes the trace file of a running program, with
//!   the runs of Gs on Ms that never went idle (their batches collected).
//!
//! `harness = false` (like `processes.rs`): the children are this binary.

mod util;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use test_support::json;
use util::Proc;

const MN: [(&str, &str); 2] = [("RUNTIME_MODE", "mn"), ("RUNTIME_MAXPROCS", "2")];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        match args[2].as_str() {
            "parked" => child_parked(),
            "work" => child_work(),
            "busy" => child_busy(),
            other => panic!("unknown child {other}"),
        }
        return;
    }
    schedtrace_lines_parse();
    trace_shows_gs_moving();
    dump_lists_parked_tasks();
    sigquit_prints_the_dump();
    sigusr2_writes_the_trace();
    println!("observe_mn: ok");
}

fn child(kind: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child", kind]).envs(MN);
    cmd
}

/// One task parked on a channel receive, one sleeping; with `dump` in
/// argv 3, prints `switchyard::dump()` on stdout and exits.
fn child_parked() {
    let print_dump = std::env::args().nth(3).as_deref() == Some("dump");
    switchyard::run(async move {
        let (tx, mut rx) = switchyard::sync::mpsc::channel::<u32>(1);
        let receiver = switchyard::spawn(async move { rx.recv().await });
        let sleeper = switchyard::spawn(switchyard::time::sleep(Duration::from_secs(60)));
        // Let both reach their waits (and park).
        switchyard::time::sleep(Duration::from_millis(100)).await;
        if print_dump {
            print!("{}", switchyard::dump());
            println!("end of dump");
            std::io::stdout().flush().unwrap();
            let _ = tx.send(1).await;
            let _ = receiver.await;
            sleeper.abort();
            return;
        }
        println!("ready");
        std::io::stdout().flush().unwrap();
        switchyard::time::sleep(Duration::from_secs(60)).await;
        drop(tx);
    })
}

/// Two tasks that yield to each other forever: both Ps stay busy, so no M
/// goes idle (and hands its trace batch over by itself).
fn child_busy() {
    switchyard::run(async {
        for _ in 0..2 {
            drop(switchyard::spawn(async {
                loop {
                    // 1 ms of work per run: fewer runs by the signal than an
                    // M batches (1,024 events) before handing them over.
                    let t = Instant::now();
                    while t.elapsed() < Duration::from_millis(1) {
                        std::hint::spin_loop();
                    }
                    switchyard::yield_now().await;
                }
            }));
        }
        switchyard::time::sleep(Duration::from_millis(200)).await;
        println!("ready");
        std::io::stdout().flush().unwrap();
        switchyard::time::sleep(Duration::from_secs(60)).await;
    })
}

/// Gs that hop between Ms (sleep/wake rounds on 2 Ps), and a G that blocks
/// its M in `syscall` for 30 ms (sysmon retakes its P).
fn child_work() {
    switchyard::run(async {
        let mut hs = Vec::new();
        for _ in 0..8 {
            hs.push(switchyard::spawn(async {
                for _ in 0..40 {
                    switchyard::time::sleep(Duration::from_micros(200)).await;
                    let mut x = 0u64;
                    for i in 0..20_000u64 {
                        x = x.wrapping_add(std::hint::black_box(i));
                    }
                    std::hint::black_box(x);
                }
            }));
        }
        hs.push(switchyard::spawn(async {
            switchyard::syscall(|| std::thread::sleep(Duration::from_millis(30)));
        }));
        for h in hs {
            h.await.unwrap();
        }
        println!("done");
    })
}

// ------------------------------------------------------------------ schedtrace

fn schedtrace_lines_parse() {
    let mut cmd = child("parked");
    cmd.env("RUNTIME_DEBUG", "schedtrace=50,scheddetail=1");
    let mut p = Proc::spawn(cmd);
    p.wait_line("ready");
    let mut err = BufReader::new(p.take_stderr());
    let start = Instant::now();
    let mut sched = 0;
    let mut detail: HashSet<String> = HashSet::new();
    let mut last_ms = 0;
    while sched < 4 {
        assert!(start.elapsed() < Duration::from_secs(10), "too slow");
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "stderr closed");
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix("SCHED ") {
            sched += 1;
            let (ms, fields) = rest.split_once("ms: ").unwrap();
            let ms: u64 = ms.parse().unwrap();
            assert!(ms > last_ms, "time advances: {line}");
            last_ms = ms;
            let (head, tail) = fields.split_once(" [").expect("per-P list");
            let (list, extra) = tail.split_once(']').expect("per-P list end");
            let kv: HashMap<&str, &str> = head
                .split_whitespace()
                .chain(extra.split_whitespace())
                .filter_map(|f| f.split_once('='))
                .collect();
            assert_eq!(kv["gomaxprocs"], "2", "{line}");
            assert!(kv["threads"].parse::<usize>().unwrap() >= 2, "{line}");
            for k in [
                "idleprocs",
                "spinningthreads",
                "idlethreads",
                "runqueue",
                "syscallthreads",
                "nopthreads",
            ] {
                kv[k]
                    .parse::<usize>()
                    .unwrap_or_else(|_| panic!("{k}: {line}"));
            }
            let per_p: Vec<usize> = list
                .split_whitespace()
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(per_p.len(), 2, "{line}");
        } else if let Some(rest) = line.strip_prefix("  ") {
            let (who, _) = rest.split_once(':').unwrap_or((rest, ""));
            detail.insert(who.to_string());
            if who.starts_with('G') {
                assert!(rest.contains("status="), "{line}");
            }
        }
    }
    assert!(detail.contains("P0") && detail.contains("P1"), "{detail:?}");
    assert!(detail.iter().any(|d| d.starts_with('M')), "{detail:?}");
    // The two parked tasks, with their reasons.
    let g_lines = detail.iter().filter(|d| d.starts_with('G')).count();
    assert!(g_lines >= 2, "{detail:?}");
}

// ------------------------------------------------------------------ trace

/// Runs the "work" child with `RUNTIME_TRACE`; returns the trace.
fn traced_work() -> json::Value {
    let path =
        std::env::temp_dir().join(format!("switchyard-mn-trace-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut cmd = child("work");
    cmd.env("RUNTIME_TRACE", &path);
    let mut p = Proc::spawn(cmd);
    p.wait_line("done");
    let st = p.wait_timeout(Duration::from_secs(20)).expect("exits");
    assert!(st.success());
    let text = std::fs::read_to_string(&path).expect("trace written at exit");
    let _ = std::fs::remove_file(&path);
    json::Value::parse(&text).unwrap()
}

/// Whether some task other than main ran on two Ms in `json`.
fn some_g_moved(json: &json::Value) -> bool {
    let mut lanes_of: HashMap<u64, HashSet<u64>> = HashMap::new();
    for e in json["traceEvents"].as_array().unwrap() {
        if e["ph"] == "X" && e["cat"] == "run" {
            lanes_of
                .entry(e["args"]["task"].as_u64().unwrap())
                .or_default()
                .insert(e["tid"].as_u64().unwrap());
        }
    }
    lanes_of.iter().any(|(t, l)| *t != 0 && l.len() >= 2)
}

fn trace_shows_gs_moving() {
    // A G moves between Ms only if another M takes it (a steal, the global
    // queue): on a machine whose CPUs are busy elsewhere one M may do all
    // the work (1 run in 8 with a spinning process beside it, before and
    // after the spare-CPU rule). Up to three runs, to see a move.
    let mut json = traced_work();
    for _ in 0..2 {
        if some_g_moved(&json) {
            break;
        }
        json = traced_work();
    }
    let events = json["traceEvents"].as_array().unwrap();
    let of = |ph: &str| events.iter().filter(|e| e["ph"] == ph).collect::<Vec<_>>();
    let lanes: HashMap<u64, String> = of("M")
        .into_iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| {
            (
                e["tid"].as_u64().unwrap(),
                e["args"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let m_lanes = lanes.values().filter(|n| n.starts_with('M')).count();
    assert!(m_lanes >= 2, "a lane per M: {lanes:?}");
    // Run slices: named by task and spawn site; some G ran on two Ms.
    let mut lanes_of: HashMap<u64, HashSet<u64>> = HashMap::new();
    for e in of("X").into_iter().filter(|e| e["cat"] == "run") {
        let name = e["name"].as_str().unwrap();
        assert!(
            name.starts_with("main (tests/observe_mn.rs:")
                || (name.starts_with("task ") && name.contains("(tests/observe_mn.rs:")),
            "{name}"
        );
        assert!(e["dur"].as_f64().unwrap() > 0.0, "{e}");
        lanes_of
            .entry(e["args"]["task"].as_u64().unwrap())
            .or_default()
            .insert(e["tid"].as_u64().unwrap());
    }
    assert!(
        lanes_of.iter().any(|(t, l)| *t != 0 && l.len() >= 2),
        "no G ran on two Ms: {lanes_of:?}"
    );
    // The 30 ms syscall.
    let syscalls: Vec<_> = of("X")
        .into_iter()
        .filter(|e| e["cat"] == "syscall")
        .collect();
    assert!(
        syscalls
            .iter()
            .any(|e| e["dur"].as_f64().unwrap() >= 25_000.0),
        "a ~30 ms syscall slice: {syscalls:?}"
    );
    // sysmon took the P of the M stuck in it.
    let instants: Vec<_> = of("i");
    assert!(
        instants.iter().any(|e| {
            let c = e["cat"].as_str().unwrap_or("");
            let n = e["name"].as_str().unwrap_or("");
            c.contains("retake")
                || c.contains("handoff")
                || n.contains("retake")
                || n.contains("handoff")
        }),
        "a retake or handoff instant"
    );
    assert!(instants.iter().any(|e| e["name"] == "park: sleep"));
    // Wake arrows pair up.
    let starts: HashSet<u64> = of("s").iter().map(|e| e["id"].as_u64().unwrap()).collect();
    let ends: HashSet<u64> = of("f").iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(ends.len() >= 100, "wake arrows: {}", ends.len());
    assert!(ends.is_subset(&starts), "an arrow ends that never started");
    assert!(
        starts.difference(&ends).count() <= 4,
        "unmatched arrows: {}",
        starts.difference(&ends).count()
    );
}

// ------------------------------------------------------------------ dump

/// `main_state`: how the dump shows the main future (running when it
/// calls `dump()` itself, sleeping when SIGQUIT comes).
fn check_dump(dump: &str, main_state: &str) {
    assert!(dump.contains("mode=mn"), "{dump}");
    assert!(dump.contains("[chan receive"), "{dump}");
    assert!(dump.contains("[sleep"), "{dump}");
    assert!(dump.contains(&format!(" (main) [{main_state}")), "{dump}");
    assert!(
        dump.matches("spawned at tests/observe_mn.rs:").count() >= 2,
        "{dump}"
    );
}

fn dump_lists_parked_tasks() {
    let mut cmd = child("parked");
    cmd.arg("dump");
    let mut p = Proc::spawn(cmd);
    let st = p.wait_timeout(Duration::from_secs(10)).expect("exits");
    assert!(st.success());
    let out = p.rest_of_stdout();
    assert!(out.contains("end of dump"), "{out}");
    assert!(out.contains("task dump (dump())"), "{out}");
    check_dump(&out, "running");
}

fn sigquit_prints_the_dump() {
    let mut p = Proc::spawn(child("parked"));
    p.wait_line("ready");
    let mut err = BufReader::new(p.take_stderr());
    p.signal("QUIT");
    let mut dump = String::new();
    let start = Instant::now();
    while !(dump.contains("[chan receive")
        && dump.contains(" (main) [")
        && dump.matches("spawned at").count() >= 2)
    {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap() == 0 {
            break;
        }
        dump.push_str(&line);
        assert!(start.elapsed() < Duration::from_secs(10), "{dump}");
    }
    assert!(dump.contains("task dump (SIGQUIT)"), "{dump}");
    check_dump(&dump, "sleep");
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        p.child.try_wait().unwrap().is_none(),
        "the program goes on after the dump"
    );
}

// ------------------------------------------------------------------ sigusr2

fn sigusr2_writes_the_trace() {
    let path = std::env::temp_dir().join(format!("switchyard-mn-usr2-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut cmd = child("parked");
    cmd.env("RUNTIME_TRACE", &path);
    let mut p = Proc::spawn(cmd);
    p.wait_line("ready");
    assert!(!path.exists(), "nothing written before the signal");
    p.signal("USR2");
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no trace after SIGUSR2"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let json = json::Value::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let _ = std::fs::remove_file(&path);
    let events = json["traceEvents"].as_array().unwrap();
    // The main future's runs so far are in it (its lane is not batched).
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "X" && e["name"].as_str().unwrap().starts_with("main (")),
        "{json}"
    );
    assert!(p.child.try_wait().unwrap().is_none(), "the program goes on");
    drop(p);

    // Ms that never went idle: their batches are collected before writing.
    let mut cmd = child("busy");
    cmd.env("RUNTIME_TRACE", &path);
    let mut p = Proc::spawn(cmd);
    p.wait_line("ready");
    p.signal("USR2");
    let start = Instant::now();
    let json = loop {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no trace after SIGUSR2"
        );
        std::thread::sleep(Duration::from_millis(50));
        // (The file may be seen half written: parse until it is whole.)
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Ok(v) = json::Value::parse(&text) {
                break v;
            }
        }
    };
    let _ = std::fs::remove_file(&path);
    let runs = json["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X" && e["name"].as_str().unwrap().starts_with("task "))
        .count();
    assert!(runs >= 50, "{runs} task runs in the trace of two busy Ms");
}
