//! `compare` as its users run it: `--list`, then one `--quick` run (which
//! builds the library's examples first, as `cargo run -p
//! switchyard-compare` does) whose table's shape is checked — the header,
//! one row per figure of `--list`, the cluster column filled where cores
//! matter — not its numbers; then `--only ping_pong,hyper` reruns those
//! rows and every other row (the http ones among them) is kept, and a name
//! that is no experiment is refused.
//!
//! The compare binary is this package's own (`CARGO_BIN_EXE_compare`); the
//! examples it runs are the switchyard-rt package's, built into the same
//! target folder. The examples one by one are checked in `tests/demos.rs`.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use test_support::json;

/// The compare binary under test.
fn compare() -> Command {
    Command::new(PathBuf::from(env!("CARGO_BIN_EXE_compare")))
}

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
    let mut child = cmd.spawn().expect("start compare");
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

#[test]
fn compare_quick_prints_one_row_per_figure() {
    let out = std::env::temp_dir().join(format!("switchyard-compare-{}", std::process::id()));
    let list = run_child(
        {
            let mut c = compare();
            c.args(["--list", "--quick"]);
            c
        },
        Duration::from_secs(30),
    );
    assert!(list.status.success());
    let rows: Vec<(String, String)> = list
        .stdout
        .lines()
        .map(|l| {
            let (e, f) = l.split_once('\t').expect("experiment<TAB>figure");
            (e.to_string(), f.to_string())
        })
        .collect();
    for name in [
        "spawn_cost",
        "million_sleepers",
        "ping_pong",
        "syscall_storm",
        "sleepers_threads",
        "cpu_scaling",
        "netpoll_vs_blocking",
        "ffi_storm",
        "lock_thread",
        "tight_loop",
        "timer_lateness",
        "timer_lateness --busy",
        "imbalance",
        "echo C=",
        "http",
        "hyper",
    ] {
        assert!(
            rows.iter().any(|(e, _)| e.starts_with(name)),
            "{name} has a row"
        );
    }

    // The first run builds the examples itself (`cargo build -p
    // switchyard-rt --examples --features hyper`, in this test's profile):
    // the path a user's `cargo run -p switchyard-compare` takes. From a
    // clean target folder that build is most of the time allowed here.
    let mut cmd = compare();
    cmd.args(["--quick", "--out"]).arg(&out);
    let t0 = Instant::now();
    let d = run_child(cmd, Duration::from_secs(900));
    assert!(d.status.success(), "compare: {}\n{}", d.status, d.stderr);
    eprintln!(
        "compare --quick (with the examples' build) took {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert!(
        d.stderr
            .lines()
            .any(|l| l.starts_with("building the examples (cargo build -p switchyard-rt")),
        "compare built the examples first: {}",
        d.stderr
    );
    let table = table_of(&d.stdout);
    assert_eq!(
        table[0],
        [
            "experiment",
            "figure",
            "single",
            "cluster",
            "mn",
            "Go",
            "ratio",
            "cluster ratios"
        ]
    );
    assert_eq!(table.len() - 1, rows.len(), "one row per figure");
    for (cells, (exp, fig)) in table[1..].iter().zip(&rows) {
        assert_eq!(cells.len(), 8, "{cells:?}");
        assert_eq!((&cells[0], &cells[1]), (exp, fig));
        assert!(cells[2..].iter().all(|c| !c.is_empty()), "{cells:?}");
        // The cluster column: filled where cores matter, empty elsewhere.
        let cores = ["cpu_scaling", "imbalance", "echo C=", "http (", "hyper ("];
        if cores.iter().any(|c| exp.starts_with(c)) {
            assert_ne!(cells[3], "—", "{cells:?}");
        } else {
            assert_eq!((cells[3].as_str(), cells[7].as_str()), ("—", "—"));
        }
    }
    assert!(
        d.stderr
            .lines()
            .any(|l| l.starts_with("[  1/") && l.contains("spawn_cost")),
        "progress on stderr"
    );
    let report = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(report.contains("| experiment"));
    for chart in [
        "storm_threads.svg",
        "bytes_per_task.svg",
        "tight_loop_gaps.svg",
        "imbalance_latency.svg",
    ] {
        let svg = std::fs::read_to_string(out.join(chart)).expect(chart);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }
    for part in [
        "## What each figure includes",
        "| commit |",
        "| CPU |",
        "## Commands",
        // The hyper rows: what they are, their line in the table of rows,
        // and the hyper version among the facts.
        "* **hyper** rows:",
        "| hyper | see above",
        "| hyper | 1.",
        "## The cluster column: single × N loops",
    ] {
        assert!(report.contains(part), "report.md has {part:?}");
    }
    let readme = std::fs::read_to_string(out.join("readme-table.md")).expect("readme-table.md");
    assert!(readme.starts_with("From one `compare` run (quick sizes; one run per cell"));
    assert!(readme.contains("| experiment"));

    // `--only` reruns some experiments and keeps every other row: the
    // hyper rows are rerun, the http rows beside them are kept.
    let mut cmd = compare();
    cmd.args([
        "--quick",
        "--no-build",
        "--no-go",
        "--only",
        "ping_pong,hyper",
        "--out",
    ])
    .arg(&out);
    let again = run_child(cmd, Duration::from_secs(60));
    assert!(again.status.success(), "compare --only: {}", again.stderr);
    let merged = table_of(&again.stdout);
    assert_eq!(merged.len(), table.len(), "every row kept");
    let rerun = |exp: &str| exp == "ping_pong" || exp.starts_with("hyper (");
    assert_eq!(
        table[1..]
            .iter()
            .filter(|r| r[0].starts_with("hyper ("))
            .count(),
        3,
        "three hyper rows: requests/s, p99, server CPU per request"
    );
    for (new, old) in merged[1..].iter().zip(&table[1..]) {
        if rerun(&old[0]) {
            assert_eq!(new[0], format!("{} [run 2]", old[0]));
            // Without wrk the load rows are skipped before Go is looked at.
            let go = if old[5] == "no wrk" {
                "no wrk"
            } else {
                "left out (--no-go)"
            };
            assert_eq!(new[5], go, "{new:?}");
        } else {
            assert_eq!(new[0], format!("{} [run 1]", old[0]));
            assert_eq!(new[1..], old[1..], "a row not rerun keeps its cells");
        }
    }
    let report = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(report.contains("## Where the rows come from"));
    let results = json::Value::parse(&std::fs::read_to_string(out.join("results.json")).unwrap())
        .expect("results.json");
    assert_eq!(results["runs"].as_array().map(Vec::len), Some(2));
    let cells = results["cells"].as_array().expect("cells");
    for (server, run) in [("http (", 1), ("hyper (", 2)] {
        assert!(
            cells.iter().any(
                |c| c["id"].as_str().is_some_and(|id| id.starts_with(server)) && c["run"] == run
            ),
            "results.json has {server}…) cells from run {run}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(out.join("readme-table.md")).unwrap(),
        readme,
        "--only leaves the full run's README block as it was"
    );

    // A name that is no experiment is refused, naming the ones there are.
    let mut cmd = compare();
    cmd.args(["--quick", "--no-build", "--only", "ping-pong", "--out"])
        .arg(&out);
    let bad = run_child(cmd, Duration::from_secs(30));
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        bad.stderr.contains("\"ping-pong\": not an experiment") && bad.stderr.contains("ping_pong"),
        "{}",
        bad.stderr
    );
    let _ = std::fs::remove_dir_all(&out);
}

/// The rows of a Markdown table in `stdout` (header first), cells trimmed.
fn table_of(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|-"))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}
