//! The side-by-side table, `report.md` and the charts of `compare`.
//!
//! The table has one row per figure of the plan (experiment, figure, single,
//! mn, Go, ratio). A cell holds the child's own number, or why there is
//! none: `not built (exit 2)` for a mode this build lacks, `failed (exit 1)`,
//! `no Go version`, `no go`, `no wrk`. The ratio is mn ÷ single where both
//! have a number, else Go ÷ single; on the OS-thread rows it is threads ÷
//! tasks, both in single mode.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use crate::child::Outcome;
use crate::plan::{Exp, Fig, LoadPlan};
use crate::svg::{self, Bar, Group, Series};
use crate::Col;

/// Every outcome, by (experiment id, column).
pub type Results = BTreeMap<(String, Col), Outcome>;

/// One row of the table, before its cells are filled.
pub struct Row {
    /// The experiment column.
    pub exp: String,
    /// The experiment id the outcomes are stored under.
    pub id: String,
    /// The figure.
    pub fig: Fig,
    /// Threads ÷ tasks: the id whose single-mode value divides.
    pub ratio_to: Option<String>,
}

/// The rows of the plan, in order.
pub fn rows(exps: &[Exp], load: &LoadPlan, with_http: bool) -> Vec<Row> {
    let mut rows = Vec::new();
    for e in exps {
        for f in &e.figs {
            rows.push(Row {
                exp: e.label.to_string(),
                id: e.id.to_string(),
                fig: *f,
                ratio_to: e.ratio_to.map(String::from),
            });
        }
    }
    for (exp, fig) in crate::plan::load_rows(load, with_http) {
        rows.push(Row {
            id: exp.clone(),
            exp,
            fig,
            ratio_to: None,
        });
    }
    rows
}

/// The header of the table.
pub const HEADER: [&str; 6] = ["experiment", "figure", "single", "mn", "Go", "ratio"];

/// The table's cells.
pub fn table(rows: &[Row], results: &Results) -> Vec<[String; 6]> {
    let get = |id: &str, col: Col| results.get(&(id.to_string(), col));
    rows.iter()
        .map(|r| {
            let cell = |col| get(&r.id, col).map_or_else(|| "—".to_string(), |o| o.cell(r.fig.key));
            let num = |id: &str, col| get(id, col).and_then(|o| o.num(r.fig.key));
            let ratio = match &r.ratio_to {
                Some(base) => match (num(&r.id, Col::Single), num(base, Col::Single)) {
                    (Some(t), Some(b)) if b > 0.0 => format!("threads/tasks {}", times(t / b)),
                    _ => "—".into(),
                },
                None => match (
                    num(&r.id, Col::Single),
                    num(&r.id, Col::Mn),
                    num(&r.id, Col::Go),
                ) {
                    (Some(s), Some(m), _) if s > 0.0 => format!("mn/single {}", times(m / s)),
                    (Some(s), None, Some(g)) if s > 0.0 => format!("Go/single {}", times(g / s)),
                    (None, Some(m), Some(g)) if g > 0.0 => format!("mn/Go {}", times(m / g)),
                    _ => "—".into(),
                },
            };
            [
                r.exp.clone(),
                r.fig.title(),
                cell(Col::Single),
                cell(Col::Mn),
                cell(Col::Go),
                ratio,
            ]
        })
        .collect()
}

fn times(x: f64) -> String {
    format!("{}×", crate::common::fmt_num(x))
}

/// The table as aligned Markdown (readable in a terminal, parseable).
pub fn render(cells: &[[String; 6]]) -> String {
    let mut widths = HEADER.map(|h| h.chars().count());
    for row in cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: &[String]| {
        let mut s = String::from("|");
        for (c, w) in row.iter().zip(widths) {
            let pad = w - c.chars().count();
            let _ = write!(s, " {c}{} |", " ".repeat(pad));
        }
        s.push('\n');
        s
    };
    let mut out = line(&HEADER.map(String::from));
    out.push('|');
    for w in widths {
        let _ = write!(out, "{}|", "-".repeat(w + 2));
    }
    out.push('\n');
    for row in cells {
        out.push_str(&line(row));
    }
    out
}

/// The machine, for the report's first lines.
pub fn machine() -> Vec<(String, String)> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".to_string(), |(_, m)| m.trim().to_string());
    let mem = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or("?".to_string(), |kb| {
            format!("{:.1} GiB", kb as f64 / 1048576.0)
        });
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let command = |prog: &str, arg: &str| {
        std::process::Command::new(prog)
            .arg(arg)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "not found".into())
    };
    vec![
        ("date (UTC)".into(), utc_now()),
        ("CPU".into(), format!("{model}, {cpus} CPUs usable")),
        ("memory".into(), mem),
        (
            "kernel".into(),
            format!("Linux {}", read("/proc/sys/kernel/osrelease").trim()),
        ),
        ("rustc".into(), command("rustc", "--version")),
        ("go".into(), command("go", "version")),
    ]
}

/// Now as `YYYY-MM-DD HH:MM`, UTC, from the system clock alone.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Writes the charts into `dir`; returns (file, caption) for each.
pub fn charts(dir: &Path, results: &Results, load: &LoadPlan) -> Vec<(String, String)> {
    let mut made = Vec::new();
    // A chart with no data at all (its experiment was left out by --only)
    // is not written.
    let mut put = |file: &str, caption: &str, has_data: bool, body: String| {
        if has_data && std::fs::write(dir.join(file), body).is_ok() {
            made.push((file.to_string(), caption.to_string()));
        }
    };
    let lines = |s: &[Series]| s.iter().any(|s| !s.points.is_empty());
    let bars = |g: &[Group]| g.iter().flat_map(|g| &g.bars).any(|b| b.value.is_ok());
    let cols = [
        (Col::Single, svg::SINGLE),
        (Col::Mn, svg::MN),
        (Col::Go, svg::GO),
    ];
    let bar = |id: &str, col: Col, key: &str, name: &str, color| Bar {
        name: name.to_string(),
        color,
        value: match results.get(&(id.to_string(), col)) {
            Some(o) => o.num(key).ok_or_else(|| o.cell(key)),
            None => Err("not run".into()),
        },
    };

    let storm: Vec<Series> = cols
        .iter()
        .map(|&(col, color)| Series {
            name: col.name().to_string(),
            color,
            points: read_csv(&dir.join(format!("raw/syscall_storm.{}.csv", col.file()))),
        })
        .collect();
    put(
        "storm_threads.svg",
        "OS threads over time during the syscall storm",
        lines(&storm),
        svg::line_chart(
            "syscall_storm: OS threads over time",
            "10 tasks each in a blocking nanosleep; /proc/self/status every 10 ms (sampler not counted)",
            "ms since the first spawn",
            "OS threads",
            &storm,
        ),
    );

    let mut bytes: Vec<Bar> = cols
        .iter()
        .map(|&(col, color)| bar("million_sleepers", col, "bytes_per_task", col.name(), color))
        .collect();
    bytes.push(bar(
        "million_sleepers_threads",
        Col::Single,
        "bytes_per_task",
        "OS threads",
        svg::THREADS,
    ));
    let bytes = [Group {
        label: "sleeping task".into(),
        bars: bytes,
    }];
    put(
        "bytes_per_task.svg",
        "bytes per live sleeping task",
        bars(&bytes),
        svg::bar_chart(
            "million_sleepers: bytes per live task",
            "(peak RSS − RSS before spawning) ÷ tasks alive at once",
            "bytes",
            &bytes,
        ),
    );

    let groups: Vec<Group> = [
        ("spawn_cost", "ns_per_task", "ns per spawn"),
        ("ping_pong", "ns_per_round_trip", "ns per round trip"),
    ]
    .iter()
    .map(|&(id, key, label)| Group {
        label: label.into(),
        bars: cols
            .iter()
            .map(|&(col, color)| bar(id, col, key, col.name(), color))
            .collect(),
    })
    .collect();
    put(
        "spawn_and_round_trip.svg",
        "ns per spawn and per round trip",
        bars(&groups),
        svg::bar_chart(
            "spawn_cost and ping_pong",
            "a task spawned and signalling a WaitGroup; an integer through two channels and back",
            "ns",
            &groups,
        ),
    );

    for (key, file, title, unit) in [
        (
            "rps",
            "echo_throughput.svg",
            "echo: round trips per second",
            "round trips/s",
        ),
        ("p99_us", "echo_p99.svg", "echo: p99 latency", "µs"),
    ] {
        let groups: Vec<Group> = load
            .echo_conns
            .iter()
            .map(|c| {
                let id = format!("echo C={c}");
                Group {
                    label: format!("{c} connections"),
                    bars: cols
                        .iter()
                        .map(|&(col, color)| bar(&id, col, key, col.name(), color))
                        .collect(),
                }
            })
            .collect();
        put(
            file,
            title,
            bars(&groups),
            svg::bar_chart(
                title,
                "closed loop, 64-byte messages, by connection count",
                unit,
                &groups,
            ),
        );
    }

    let mut gaps: Vec<Series> = cols
        .iter()
        .map(|&(col, color)| Series {
            name: col.name().to_string(),
            color,
            points: steps(read_csv(
                &dir.join(format!("raw/tight_loop.{}.csv", col.file())),
            )),
        })
        .collect();
    gaps.push(Series {
        name: "single, yield every 1 ms".into(),
        color: svg::EXTRA,
        points: steps(read_csv(&dir.join("raw/tight_loop_preempt.single.csv"))),
    });
    put(
        "tight_loop_gaps.svg",
        "the printer's gaps while a task spins",
        lines(&gaps),
        svg::line_chart(
            "tight_loop: the 10 ms printer's gaps",
            "a task spins with no await from t = 0; each step is the wait before one printed line",
            "ms since the spin began",
            "gap since the previous line, ms",
            &gaps,
        ),
    );
    made
}

/// Gaps (t, g) — a line printed at t, g after the one before — as a step
/// line: the height g held over [t − g, t], so a long starvation is one
/// wide step, not a slope.
fn steps(gaps: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    gaps.into_iter()
        .flat_map(|(t, g)| [(t - g, g), (t, g)])
        .collect()
}

/// The (x, y) pairs of a two-column CSV with a header; empty if absent.
fn read_csv(path: &Path) -> Vec<(f64, f64)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let (a, b) = l.split_once(',')?;
            Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
        })
        .collect()
}
