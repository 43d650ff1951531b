//! The side-by-side table, `report.md`, the README block and the charts of
//! `compare`, all made from [`Results`] (what results.json holds).
//!
//! The table has one row per figure of the plan (experiment, figure, single,
//! cluster, mn, Go, ratio, cluster ratios). A cell holds the median of its runs with their min–max
//! (`results.rs`), or why there is no number: `not built (exit 2)` for a
//! mode this build lacks, `not built (--features hyper)` for a missing hyper
//! example, `failed (exit 1)`, `no Go version`, `no go`, `no wrk`. The ratio is mn ÷ single where both have a number, else Go ÷
//! single, else mn ÷ Go; on the OS-thread rows it is threads ÷ tasks, both
//! in single mode; always between medians. The cluster column (single mode
//! on N loops) is filled only where the plan runs it (`Exp::cluster`, the
//! load rows); its ratios, cluster ÷ single and cluster ÷ mn, have a column
//! of their own.

use std::fmt::Write;
use std::path::Path;

use crate::plan::{Exp, Fig, LoadPlan};
use crate::results::{ratio, Results};
use crate::svg::{self, Bar, Group, Series};
use crate::Col;

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
pub fn rows(exps: &[Exp], load: &LoadPlan, wrk: &[&str]) -> Vec<Row> {
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
    for (exp, fig) in crate::plan::load_rows(load, wrk) {
        rows.push(Row {
            id: exp.clone(),
            exp,
            fig,
            ratio_to: None,
        });
    }
    rows
}

/// The echo connection counts that `results` has rows for, ascending.
pub fn echo_conns(results: &Results) -> Vec<usize> {
    let mut conns: Vec<usize> = results
        .cells
        .keys()
        .filter_map(|(id, _)| id.strip_prefix("echo C=")?.parse().ok())
        .collect();
    conns.sort_unstable();
    conns.dedup();
    conns
}

/// The rows `results` can fill, in the plan's order (ids the plan no
/// longer has are left out): `--only http` keeps the hyper rows an earlier
/// run left, and the other way round.
pub fn rows_for(results: &Results) -> Vec<Row> {
    let has = |id: &str| results.cells.keys().any(|(i, _)| i == id);
    let exps: Vec<Exp> = crate::plan::experiments(false)
        .into_iter()
        .filter(|e| has(e.id))
        .collect();
    let mut load = crate::plan::load_plan(false);
    load.echo_conns = echo_conns(results);
    rows(&exps, &load, &crate::plan::WRK_SERVERS)
        .into_iter()
        .filter(|r| has(&r.id))
        .collect()
}

/// The header of the table.
pub const HEADER: [&str; COLUMNS] = [
    "experiment",
    "figure",
    "single",
    "cluster",
    "mn",
    "Go",
    "ratio",
    "cluster ratios",
];

/// How many columns the table has.
pub const COLUMNS: usize = 8;

/// The table's cells. When the rows come from more than one invocation,
/// each experiment cell says which (`[run 2]`).
pub fn table(rows: &[Row], results: &Results) -> Vec<[String; COLUMNS]> {
    let get = |id: &str, col: Col| results.cells.get(&(id.to_string(), col));
    let mixed = results.runs.len() > 1;
    rows.iter()
        .map(|r| {
            let key = r.fig.key;
            let cell = |col| get(&r.id, col).map_or_else(|| "—".to_string(), |c| c.text(key));
            let med = |id: &str, col| get(id, col).and_then(|c| c.agg(key)).map(|a| a.median);
            let ratio = match &r.ratio_to {
                Some(base) => match (med(&r.id, Col::Single), med(base, Col::Single)) {
                    (Some(t), Some(b)) if b > 0.0 => format!("threads/tasks {}", ratio(t / b)),
                    _ => "—".into(),
                },
                None => match (
                    med(&r.id, Col::Single),
                    med(&r.id, Col::Mn),
                    med(&r.id, Col::Go),
                ) {
                    (Some(s), Some(m), _) if s > 0.0 => format!("mn/single {}", ratio(m / s)),
                    (Some(s), None, Some(g)) if s > 0.0 => format!("Go/single {}", ratio(g / s)),
                    (None, Some(m), Some(g)) if g > 0.0 => format!("mn/Go {}", ratio(m / g)),
                    _ => "—".into(),
                },
            };
            let cluster_ratios = match med(&r.id, Col::Cluster) {
                Some(c) if r.ratio_to.is_none() => {
                    let over = |col: Col| {
                        med(&r.id, col).filter(|&b| b > 0.0).map(|b| {
                            format!("cluster/{} {}", col.name(), crate::results::ratio(c / b))
                        })
                    };
                    let parts: Vec<String> = [Col::Single, Col::Mn]
                        .into_iter()
                        .filter_map(over)
                        .collect();
                    if parts.is_empty() {
                        "—".into()
                    } else {
                        parts.join(", ")
                    }
                }
                _ => "—".into(),
            };
            let run = Col::ALL.iter().find_map(|&c| get(&r.id, c)).map(|c| c.run);
            let exp = match run {
                Some(n) if mixed => format!("{} [run {n}]", r.exp),
                _ => r.exp.clone(),
            };
            [
                exp,
                r.fig.title(),
                cell(Col::Single),
                cell(Col::Cluster),
                cell(Col::Mn),
                cell(Col::Go),
                ratio,
                cluster_ratios,
            ]
        })
        .collect()
}

/// The table as aligned Markdown (readable in a terminal, parseable).
pub fn render(cells: &[[String; COLUMNS]]) -> String {
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

/// The machine and the build, for the report's first lines: date, commit,
/// CPU model and the CPUs this process may use, memory, kernel, load
/// average, rustc, go and the hyper of the `hyper` rows.
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
    let command = |prog: &str, args: &[&str]| {
        std::process::Command::new(prog)
            .args(args)
            .current_dir(crate::repo_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let commit = match command("git", &["rev-parse", "--short=12", "HEAD"]) {
        None => "unknown (no git)".to_string(),
        Some(c) => {
            let dirty = command("git", &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{c} with uncommitted changes")
            } else {
                c
            }
        }
    };
    let unknown = || "not found".to_string();
    vec![
        ("date (UTC)".into(), utc_now()),
        ("commit".into(), commit),
        ("CPU".into(), format!("{model}, {cpus} CPUs usable")),
        ("memory".into(), mem),
        (
            "kernel".into(),
            format!("Linux {}", read("/proc/sys/kernel/osrelease").trim()),
        ),
        ("load average at the start".into(), load_average()),
        (
            "rustc".into(),
            command("rustc", &["--version"]).unwrap_or_else(unknown),
        ),
        (
            "go".into(),
            command("go", &["version"]).unwrap_or_else(unknown),
        ),
        ("hyper".into(), hyper_version()),
    ]
}

/// The hyper that examples/hyper.rs is built with: its version in the
/// workspace's Cargo.lock.
fn hyper_version() -> String {
    let lock = crate::repo_root().join("Cargo.lock");
    let text = std::fs::read_to_string(lock).unwrap_or_default();
    let version = text
        .split("[[package]]")
        .find(|p| p.lines().any(|l| l.trim() == "name = \"hyper\""))
        .and_then(|p| p.lines().find_map(|l| l.trim().strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_string());
    match version {
        Some(v) => format!("{v} (Cargo.lock)"),
        None => "not in Cargo.lock".into(),
    }
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
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

/// The key of the report's list of what every figure includes.
const NOTES: &str = "\
* Every row but the echo, http and hyper ones is the program's own measurement, \
read from the `result:` line it prints last: its clock runs inside the \
experiment's driver task once the runtime is up, so process start-up, \
runtime start-up and exit are not in it. Build time is in no figure: \
compare builds everything before the first run. The whole-process wall \
time of each child (start to exit) is listed under Commands, not in the \
table.
* **single** is one thread (the loop). **cluster** is single mode on N \
loops (`RUNTIME_LOOPS=N`), N the Ps of the mn column, each loop on its own \
thread. **mn** runs with `RUNTIME_MAXPROCS` \
unset, so one P per CPU this process may use, unless the row's flags set \
`--procs`; **Go** with its default GOMAXPROCS (the CPUs), unless `--procs`. \
The loops and Ps each child reported are in the last three columns below.
* OS threads are the process's `Threads:` in `/proc/self/status`, read every \
10 ms by the example's own sampler thread, which is not counted (Go: a \
sampler goroutine).";

/// The report's section on the cluster column: what it runs (`how`, the
/// run's `cluster` fact) and the trade it makes.
pub fn cluster_section(how: &str) -> String {
    let how = if how == "?" {
        "single mode on N loops (`RUNTIME_LOOPS=N`)"
    } else {
        how
    };
    format!(
        "## The cluster column: single × N loops\n\n\
         **cluster** is {how}: Node's cluster, or a thread-per-core server, in one process. \
         Each loop is one OS thread with its own tasks, timers and epoll; every loop binds \
         the listening port with `SO_REUSEPORT`, and the kernel gives each new connection \
         to one loop by a hash of its addresses. Nothing moves between loops after that: a \
         connection's task lives and dies on the loop that accepted it. Per loop, all that \
         single mode promises still holds (no task runs on two threads, no atomics on the \
         task path, a blocking call stops one loop and not the others), and the cores are \
         used as long as the work comes evenly: `cpu_scaling` splits independent CPU work \
         over the loops, and the echo, http and hyper servers take many alike connections.\n\n\
         The trade: **no work stealing, so an imbalance stays on its loop**. When a few \
         connections are expensive and the hash puts them on one loop, that loop's other \
         connections wait behind them while another loop idles. mn can run the waiting \
         tasks on an idle P, as Go does, but does so only when it sees a CPU to spare \
         (`mn-sched/src/sched/spare.rs`: the threads runnable machine-wide, its own \
         included, against the CPUs); on a small or busy machine it holds its idle threads \
         back, and the cheap requests wait for the computing P as on the hot loop. The \
         `imbalance` row measures it: two connections whose requests compute 4 ms each \
         share one loop beside cheap connections spread over all the loops; the cheap \
         requests' latency is given over all of them and for those on the hot loop (in \
         single and mn the only loop: there, all of them).\n\n\
         The load rows' client (compare's echo generator, wrk) runs on the same machine. \
         With N loops on N CPUs it needs a CPU of theirs: the OS then time-slices the loops, \
         and a loop descheduled for a slice holds every request of its connections that \
         long (no other loop can serve them), which shows in the p99. On a machine with \
         few cores the cluster's gain over single is bounded by what the client leaves, and \
         its figures, like every server's here, are the pair's, not the server's alone."
    )
}

/// The text of report.md.
pub fn markdown(results: &Results, table: &str, charts: &[(String, String)]) -> String {
    let mut md = String::new();
    let Some(latest) = results.latest() else {
        return "# switchyard: no results\n".into();
    };
    let _ = writeln!(
        md,
        "# switchyard: the seed experiments, single vs cluster vs mn vs Go\n"
    );
    let runs = latest.runs_per_cell;
    let cells = if runs > 1 {
        format!(
            "the **median of {runs} runs** of a fresh child process, with the smallest and \
             largest run in brackets: `140 (136–258)`"
        )
    } else {
        "**one run** of a fresh child process: how much it varies from run to run is not \
         known (run without --quick, or with --runs N, for that)"
            .to_string()
    };
    let _ = writeln!(
        md,
        "Written by `{}` ({} sizes). Each cell is {cells}; figures to three significant \
         figures, ratios to two, computed from the medians.\n",
        latest.fact("command"),
        latest.sizes,
    );
    let _ = writeln!(md, "| machine and build | |\n|---|---|");
    for (k, v) in &latest.facts {
        let _ = writeln!(md, "| {k} | {} |", v.replace('|', "\\|"));
    }
    if results.runs.len() > 1 {
        let _ = writeln!(
            md,
            "\n**The rows come from {} invocations of compare** (`--only` reruns some rows \
             and keeps the others); the experiment column says which (`[run N]`), and \
             [where the rows come from](#where-the-rows-come-from) lists them. The facts \
             above are the newest one's.",
            results.runs.len()
        );
    }
    let _ = writeln!(md, "\n## The table\n\n{table}");
    let _ = writeln!(
        md,
        "* **single** runs each example with `RUNTIME_MODE=single` (the JavaScript model), \
         **cluster** with `RUNTIME_MODE=single RUNTIME_LOOPS=N` (N event loops, one per \
         core: Node's cluster; only the rows where cores matter, `—` elsewhere), \
         **mn** with `RUNTIME_MODE=mn` (the Go model), **Go** runs the same experiment \
         written in Go (`examples/go/`).\n\
         * A cell is `median (smallest–largest)` over its runs; the range is left out when \
         it rounds to one number. `[2/3 ok]`: only 2 of 3 runs gave a number (the others \
         are under \"Runs that gave no number\"); a run that fails is not repeated.\n\
         * A cell without a number says why: `not built (exit 2)` is a mode this build of \
         switchyard does not have (the child says so and exits 2); `not built (--features \
         hyper)`: the hyper example was not there (compare ran with `--no-build` after a \
         build without the feature); `no Go version` is an experiment Go cannot express \
         without cgo.\n\
         * ↓ lower is better, ↑ higher is better; no arrow: a fact, not a score.\n\
         * **ratio**: mn ÷ single where both have a number, else Go ÷ single; on the \
         `--threads` rows, OS threads ÷ tasks, both in single mode; always between medians. \
         **cluster ratios**: cluster ÷ single and cluster ÷ mn, where the cluster ran."
    );
    let _ = writeln!(md, "\n{}", cluster_section(latest.fact("cluster")));
    let _ = writeln!(md, "\n## What each figure includes\n\n{NOTES}");
    let echo = latest.fact("echo load");
    let http = latest.fact("http load");
    let hyper = latest.fact("hyper");
    let _ = writeln!(
        md,
        "* **echo** rows: the `echo` example (Go: `examples/go` `echo`) under {echo}. \
         round trips/s = round trips begun after the warm-up and completed, ÷ the measured \
         seconds; the p99 is the 99th percentile of the round-trip times the client saw \
         (an HDR histogram). The generator and the server share the machine's CPUs, so on \
         a small machine these are the pair's figures, not the server's alone. Server \
         CPU per round trip (per request in the http and hyper rows) = the server \
         process's CPU time over the load (every thread; `/proc/PID/stat`, at the clock \
         tick's resolution), warm-up included, ÷ its wall time (cores), ÷ the rate: the \
         cost of a request to the server, which is where the cluster's loops must not \
         cost more than one loop.\n\
         * **http** rows: {http}: wrk's requests/s and its p99 latency. The single, cluster \
         and mn servers are `examples/http.rs`, a hand-written HTTP/1.1 parser answering one \
         canned `200 OK`; Go's is the standard `net/http` server with a HandlerFunc \
         (`examples/go/servers.go`). The Go row pays for a full HTTP stack that the \
         switchyard rows do not: it compares runtime + minimal server with runtime + \
         net/http, not the runtimes alone.\n\
         * **hyper** rows: the same wrk load and figures. The single, cluster and mn servers \
         are \
         `examples/hyper.rs`: hyper 1's http1 server (`hyper::server::conn::http1`, version \
         {hyper}) on switchyard through `switchyard::hyper` (built with `--features \
         hyper`), answering the same `GET /` hello with hyper's own parsing, headers and \
         keep-alive; Go's is the same net/http server as in the http rows. A full HTTP/1.1 \
         stack on each side: like with like, where the http rows are not.\n"
    );
    let _ = writeln!(
        md,
        "| experiment | what its figures include | loops (cluster) | Ps (mn) | GOMAXPROCS (Go) |\n|---|---|---|---|---|"
    );
    let field = |id: &str, col: Col, key: &str| {
        results
            .cells
            .get(&(id.to_string(), col))
            .and_then(|c| {
                c.samples.iter().find_map(|s| match &s.outcome {
                    crate::child::Outcome::Ok(f) => f.get(key).cloned(),
                    _ => None,
                })
            })
            .unwrap_or_else(|| "—".into())
    };
    let procs = |id: &str, col: Col| field(id, col, "procs");
    for e in crate::plan::experiments(false) {
        if Col::ALL
            .iter()
            .any(|&c| results.cells.contains_key(&(e.id.to_string(), c)))
        {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                e.label,
                e.note,
                field(e.id, Col::Cluster, "loops"),
                procs(e.id, Col::Mn),
                procs(e.id, Col::Go)
            );
        }
    }
    for (label, id) in [
        ("echo", "echo C="),
        ("http", "http ("),
        ("hyper", "hyper ("),
    ] {
        if results.cells.keys().any(|(i, _)| i.starts_with(id)) {
            let _ = writeln!(
                md,
                "| {label} | see above; the server prints no result line | `RUNTIME_LOOPS` as \
                 above | default: one per CPU | default: the CPUs |"
            );
        }
    }
    let _ = writeln!(md, "\n## Charts\n");
    let _ = writeln!(
        md,
        "A bar is a cell's median, with a whisker from its smallest to its largest run; \
         a line chart draws the run whose figure was the median.\n"
    );
    for (file, caption) in charts {
        let _ = writeln!(md, "### {caption}\n\n![{caption}]({file})\n");
    }
    let mut failures: Vec<(String, usize)> = Vec::new();
    for c in results.cells.values() {
        for s in &c.samples {
            if let crate::child::Outcome::Failed { status, message } = &s.outcome {
                let line = format!("`{status}`: {message}");
                match failures.iter_mut().find(|f| f.0 == line) {
                    Some(f) => f.1 += 1,
                    None => failures.push((line, 1)),
                }
            }
        }
    }
    if !failures.is_empty() {
        let _ = writeln!(md, "## Runs that gave no number\n");
        for (line, n) in failures {
            let _ = writeln!(md, "* {n} run(s): {line}");
        }
        md.push('\n');
    }
    if results.runs.len() > 1 {
        let _ = writeln!(md, "## Where the rows come from\n");
        for r in &results.runs {
            let ids: Vec<&str> = results
                .cells
                .iter()
                .filter(|(_, c)| c.run == r.run)
                .map(|((id, _), _)| id.as_str())
                .fold(Vec::new(), |mut v, id| {
                    if !v.contains(&id) {
                        v.push(id);
                    }
                    v
                });
            let _ = writeln!(
                md,
                "* run {}: {} UTC, commit {}, {} sizes, {} run(s) per cell, `{}`, load average \
                 {}; {}: {}",
                r.run,
                r.fact("date (UTC)"),
                r.fact("commit"),
                r.sizes,
                r.runs_per_cell,
                r.fact("command"),
                r.fact("load average at the start"),
                r.fact("CPU"),
                ids.join(", ")
            );
        }
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "## Commands\n\nEach child's command line and how it ended; the time is the whole \
         process's, start to exit.\n\n```text"
    );
    for ((id, col), c) in &results.cells {
        for (i, s) in c.samples.iter().enumerate() {
            let _ = writeln!(
                md,
                "{id}, {}, run {} of {}: {}\n    → {}",
                col.name(),
                i + 1,
                c.samples.len(),
                s.command,
                summary(&s.outcome, s.took_s)
            );
        }
    }
    let _ = writeln!(md, "```");
    md
}

/// One line saying how a run ended.
pub fn summary(o: &crate::child::Outcome, took_s: f64) -> String {
    use crate::child::Outcome;
    match o {
        Outcome::Ok(_) => format!("ok, {took_s:.2} s"),
        Outcome::Failed { status, message } => format!("{status} after {took_s:.2} s: {message}"),
        Outcome::Skipped(why) => format!("not run: {why}"),
    }
}

/// The README's block: where the table came from, then the table. `None`
/// when the rows come from more than one invocation: the README's table is
/// one run's.
pub fn readme_block(results: &Results, table: &str) -> Option<String> {
    let [r] = results.runs.as_slice() else {
        return None;
    };
    let runs = if r.runs_per_cell == 1 {
        "one run per cell".to_string()
    } else {
        format!(
            "each cell the median of {} runs with the smallest and largest in brackets",
            r.runs_per_cell
        )
    };
    Some(format!(
        "From one `compare` run ({} sizes; {runs}; figures to three significant figures, \
         ratios to two, between medians) on {} UTC at commit {}; {}, {}, {}, load average {} \
         at the start; {}, {}. mn ran with one P per CPU unless the row sets `--procs`, the \
         cluster (single mode on N loops, only where cores matter) with as many loops as mn \
         has Ps; what each figure includes is in `target/compare/report.md`.\n\n{table}",
        r.sizes,
        r.fact("date (UTC)"),
        r.fact("commit"),
        r.fact("CPU"),
        r.fact("memory"),
        r.fact("kernel"),
        r.fact("load average at the start"),
        r.fact("rustc"),
        r.fact("go"),
    ))
}

/// Writes the charts into `dir`; returns (file, caption) for each.
pub fn charts(dir: &Path, results: &Results) -> Vec<(String, String)> {
    let mut made = Vec::new();
    // A chart with no data at all (its experiment was never run) is not
    // written.
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
    // The charts of rows where cores matter have the cluster column too.
    let with_cluster = [
        (Col::Single, svg::SINGLE),
        (Col::Cluster, svg::CLUSTER),
        (Col::Mn, svg::MN),
        (Col::Go, svg::GO),
    ];
    let bar = |id: &str, col: Col, key: &str, name: &str, color| {
        let cell = results.cells.get(&(id.to_string(), col));
        let agg = cell.and_then(|c| c.agg(key));
        Bar {
            name: name.to_string(),
            color,
            value: match (cell, agg) {
                (_, Some(a)) => Ok(a.median),
                (Some(c), None) => Err(c.text(key)),
                (None, None) => Err("not run".into()),
            },
            range: agg.map(|a| (a.min, a.max)),
        }
    };
    // The CSV of the run whose `key` was the median.
    let median_csv = |id: &str, col: Col, key: &str| {
        let k = results
            .cells
            .get(&(id.to_string(), col))
            .and_then(|c| c.median_run(key));
        match k {
            Some(k) => read_csv(&dir.join(raw_csv(id, col, k + 1))),
            None => Vec::new(),
        }
    };

    let storm: Vec<Series> = cols
        .iter()
        .map(|&(col, color)| Series {
            name: col.name().to_string(),
            color,
            points: median_csv("syscall_storm", col, "wall_ms"),
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

    let conns = echo_conns(results);
    for (key, file, title, unit) in [
        (
            "rps",
            "echo_throughput.svg",
            "echo: round trips per second",
            "round trips/s",
        ),
        ("p99_us", "echo_p99.svg", "echo: p99 latency", "µs"),
    ] {
        let groups: Vec<Group> = conns
            .iter()
            .map(|c| {
                let id = format!("echo C={c}");
                Group {
                    label: format!("{c} connections"),
                    bars: with_cluster
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

    // The imbalance row: only the columns that ran it (Go has no version).
    let ran = |id: &str| {
        with_cluster
            .into_iter()
            .filter(|&(col, _)| {
                results.cells.get(&(id.to_string(), col)).is_some_and(|c| {
                    !c.samples
                        .iter()
                        .all(|s| matches!(s.outcome, crate::child::Outcome::Skipped(_)))
                })
            })
            .collect::<Vec<_>>()
    };
    let imbalance_cols = ran("imbalance");
    let groups: Vec<Group> = [
        ("cheap_p50_us", "cheap p50"),
        ("cheap_p99_us", "cheap p99"),
        ("hot_loop_cheap_p50_us", "cheap p50, hot loop"),
        ("hot_loop_cheap_p99_us", "cheap p99, hot loop"),
    ]
    .iter()
    .map(|&(key, label)| Group {
        label: label.into(),
        bars: imbalance_cols
            .iter()
            .map(|&(col, color)| bar("imbalance", col, key, col.name(), color))
            .collect(),
    })
    .collect();
    put(
        "imbalance_latency.svg",
        "imbalance: the cheap requests' latency beside two expensive connections on one loop",
        bars(&groups),
        svg::bar_chart(
            "imbalance: cheap requests beside expensive ones",
            "2 connections computing 4 ms per request share one loop; 16 cheap ones spread over the loops",
            "µs",
            &groups,
        ),
    );

    let mut gaps: Vec<Series> = cols
        .iter()
        .map(|&(col, color)| Series {
            name: col.name().to_string(),
            color,
            points: steps(median_csv("tight_loop", col, "max_gap_ms")),
        })
        .collect();
    gaps.push(Series {
        name: "single, yield every 1 ms".into(),
        color: svg::EXTRA,
        points: steps(median_csv("tight_loop_preempt", Col::Single, "max_gap_ms")),
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

/// Where run `k` (from 1) of `id` in `col` writes its CSV, under the
/// output folder.
pub fn raw_csv(id: &str, col: Col, k: usize) -> String {
    format!("raw/{id}.{}.{k}.csv", col.file())
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::child::Outcome;
    use crate::results::{Cell, RunInfo, Sample};

    /// A cell whose runs gave `key` these values.
    fn cell(key: &str, values: &[&str]) -> Cell {
        Cell {
            run: 0,
            samples: values
                .iter()
                .map(|v| Sample {
                    outcome: Outcome::Ok([(key.to_string(), v.to_string())].into()),
                    took_s: 1.0,
                    command: "cmd".into(),
                })
                .collect(),
        }
    }

    fn results(cells: Vec<((&str, Col), Cell)>) -> Results {
        let cells: BTreeMap<(String, Col), Cell> = cells
            .into_iter()
            .map(|((id, col), c)| ((id.to_string(), col), c))
            .collect();
        let info = RunInfo {
            run: 0,
            sizes: "quick".into(),
            runs_per_cell: 1,
            facts: vec![(
                "cluster".into(),
                "single mode on 2 loops (`RUNTIME_LOOPS=2`: the Ps of the mn column)".into(),
            )],
        };
        Results::default().merge(info, cells)
    }

    #[test]
    fn the_cluster_column_and_its_ratios() {
        let r = results(vec![
            (("cpu_scaling", Col::Single), cell("scaling", &["1.0"])),
            (("cpu_scaling", Col::Cluster), cell("scaling", &["1.9"])),
            (("cpu_scaling", Col::Mn), cell("scaling", &["0.95"])),
            (("cpu_scaling", Col::Go), cell("scaling", &["1.6"])),
            (
                ("ping_pong", Col::Single),
                cell("ns_per_round_trip", &["100"]),
            ),
            (("ping_pong", Col::Mn), cell("ns_per_round_trip", &["150"])),
        ]);
        let rows = rows_for(&r);
        // Only the figures these cells have: cpu_scaling's other figure
        // and ping_pong's one are rows too, filled or not.
        let t = table(&rows, &r);
        let scaling = t.iter().find(|c| c[1].starts_with("total work")).unwrap();
        assert_eq!(
            scaling,
            &[
                "cpu_scaling",
                "total work, most Ps ÷ 1 P ↑",
                "1",
                "1.90",
                "0.950",
                "1.60",
                "mn/single 0.95×",
                "cluster/single 1.9×, cluster/mn 2.0×",
            ]
            .map(String::from)
        );
        // A row the cluster does not run: an empty cell and no ratio.
        let pp = t.iter().find(|c| c[0] == "ping_pong").unwrap();
        assert_eq!((pp[3].as_str(), pp[7].as_str()), ("—", "—"));
        assert_eq!(pp[6], "mn/single 1.5×");
        // The rendered table has the header's eight columns on every line.
        let text = render(&t);
        assert!(text.lines().next().unwrap().contains("| cluster "));
        for line in text.lines() {
            assert_eq!(line.matches('|').count(), COLUMNS + 1, "{line}");
        }
    }

    #[test]
    fn a_cluster_ratio_needs_a_base_above_zero() {
        let r = results(vec![
            (("imbalance", Col::Single), cell("cheap_p50_us", &["0"])),
            (("imbalance", Col::Cluster), cell("cheap_p50_us", &["100"])),
            (("imbalance", Col::Mn), cell("cheap_p50_us", &["400"])),
        ]);
        let t = table(&rows_for(&r), &r);
        let row = t
            .iter()
            .find(|c| c[1].starts_with("cheap requests' p50"))
            .unwrap();
        assert_eq!(row[7], "cluster/mn 0.25×");
        // The imbalance row's other figures have no cells: "—".
        let rps = t.iter().find(|c| c[1].starts_with("expensive")).unwrap();
        assert_eq!(&rps[2..], &["—", "—", "—", "—", "—", "—"].map(String::from));
    }

    #[test]
    fn the_report_explains_the_cluster_and_draws_the_imbalance() {
        let r = results(vec![
            (("imbalance", Col::Single), cell("cheap_p99_us", &["4000"])),
            (("imbalance", Col::Cluster), cell("cheap_p99_us", &["3000"])),
            (("imbalance", Col::Mn), cell("cheap_p99_us", &["1000"])),
            (
                ("imbalance", Col::Go),
                Cell {
                    run: 0,
                    samples: vec![Sample {
                        outcome: Outcome::Skipped("no Go version".into()),
                        took_s: 0.0,
                        command: String::new(),
                    }],
                },
            ),
        ]);
        let table = render(&table(&rows_for(&r), &r));
        let md = markdown(&r, &table, &[]);
        assert!(md.contains("## The cluster column: single × N loops"));
        assert!(md.contains("**cluster** is single mode on 2 loops (`RUNTIME_LOOPS=2`"));
        assert!(md.contains("no work stealing, so an imbalance stays on its loop"));
        assert!(md.contains("| loops (cluster) | Ps (mn) |"));
        let dir = std::env::temp_dir().join(format!("compare-report-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let charts = charts(&dir, &r);
        let svg = std::fs::read_to_string(dir.join("imbalance_latency.svg"));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(charts.iter().any(|(f, _)| f == "imbalance_latency.svg"));
        let svg = svg.expect("the imbalance chart");
        // Single, cluster and mn have bars; Go, which has no version, none.
        for name in ["single", "cluster", "mn"] {
            assert!(svg.contains(&format!("<title>{name}: ")), "{name}");
        }
        assert!(!svg.contains(">Go<"), "no Go bar or legend entry");
    }
}
