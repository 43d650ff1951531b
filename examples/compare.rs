//! compare: every seed experiment run both ways — `RUNTIME_MODE=single` and
//! `RUNTIME_MODE=mn` — and in Go, side by side in one table, `report.md`
//! and SVG charts; and, after the seeds', `timer_lateness` (how long after
//! its deadline a 10 ms sleep ends, beside a ticker and a parked socket).
//!
//! ```text
//! cargo run --release --example compare -- [--quick] [--out DIR] [--only a,b] [--no-go] [--no-build]
//! cargo run --release --example compare -- --list      # the table's rows, without running
//! ```
//!
//! How it works:
//! 1. It builds the sibling examples (`cargo build --examples`, the profile
//!    it runs in; `--no-build` skips this) and finds them next to its own
//!    binary, and, when `go` is on the PATH, builds `examples/go/` into
//!    `DIR/go-demos`.
//! 2. Each experiment of `compare/plan.rs` runs as a fresh child process per
//!    column (single, mn, Go), so thread counts and RSS are each run's own;
//!    progress goes to stderr. The child's last line, `result: key=value …`,
//!    is all that is read; a child that ends without one (mn before it is
//!    built: exit 2, "not built yet") shows as that, never as a number.
//! 3. The load tests (`compare/load.rs`): the echo example under a
//!    closed-loop generator at several connection counts, and `http` under
//!    wrk when wrk is installed.
//! 4. It prints the table (experiment, figure, single, mn, Go, ratio) and
//!    writes `DIR/report.md`, the charts (`compare/svg.rs`, hand-written SVG)
//!    and the children's CSVs under `DIR/raw/`.
//!
//! `--quick` uses small sizes: the whole run takes well under a minute on 2
//! cores. DIR defaults to `target/compare`.

mod common;

#[path = "compare/child.rs"]
mod child;
#[path = "compare/load.rs"]
mod load;
#[path = "compare/plan.rs"]
mod plan;
#[path = "compare/report.rs"]
mod report;
#[path = "compare/svg.rs"]
mod svg;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use child::Outcome;
use common::Flags;
use plan::{Exp, LoadPlan};
use report::Results;

const USAGE: &str =
    "usage: compare [--quick] [--out DIR] [--only EXP,EXP] [--no-go] [--no-build] [--list]
  --quick       small sizes: the whole run takes well under a minute
  --out DIR     where report.md, the charts and raw/ go (default target/compare)
  --only LIST   only these experiments (ids as in --list, e.g. syscall_storm,echo)
  --no-go       leave the Go column out even when go is installed
  --no-build    use the example binaries as they are (no cargo build first)
  --list        print the table's rows (experiment, figure) and exit";

/// A column of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Col {
    /// `RUNTIME_MODE=single`.
    Single,
    /// `RUNTIME_MODE=mn`.
    Mn,
    /// The Go program.
    Go,
}

impl Col {
    /// All three, in table order.
    pub const ALL: [Col; 3] = [Col::Single, Col::Mn, Col::Go];

    /// The column's header.
    pub fn name(self) -> &'static str {
        match self {
            Col::Single => "single",
            Col::Mn => "mn",
            Col::Go => "Go",
        }
    }

    /// The column in file names.
    pub fn file(self) -> &'static str {
        match self {
            Col::Single => "single",
            Col::Mn => "mn",
            Col::Go => "go",
        }
    }
}

/// The Go program, once built (or why not).
enum GoDemos {
    /// Its path.
    Built(PathBuf),
    /// The cell text for a run that cannot happen.
    Missing(String),
}

/// Counts the runs for the progress lines.
struct Progress {
    done: usize,
    total: usize,
}

impl Progress {
    /// Prints the start of a progress line.
    fn start(&mut self, what: &str, col: Col) {
        self.done += 1;
        eprint!(
            "[{:>2}/{}] {what:<32} {:<6} ",
            self.done,
            self.total,
            col.name()
        );
    }

    /// Ends it with the outcome.
    fn end(&self, outcome: &Outcome, took: Duration) {
        let what = match outcome {
            Outcome::Ok(f) => {
                let shown = ["wall_ms", "rps", "req_per_s"]
                    .iter()
                    .find_map(|k| Some(format!("{k}={}", f.get(*k)?)));
                format!("ok ({})", shown.unwrap_or_default())
            }
            other => other.cell(""),
        };
        eprintln!("{:>6.2} s  {what}", took.as_secs_f64());
    }
}

/// Everything `main` hands around.
struct Run {
    /// Output folder.
    out: PathBuf,
    /// Where the example binaries are.
    bins: PathBuf,
    /// The Go program.
    go: GoDemos,
    /// Per-child time limit.
    limit: Duration,
    /// Every outcome.
    results: Results,
    /// Each child's command line and outcome, for report.md.
    log: Vec<(String, String)>,
    /// Progress lines.
    progress: Progress,
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).is_some_and(|a| a == "--loadgen") {
        load::loadgen_main(&argv[2..]);
        return;
    }
    let mut f = Flags::parse("compare", USAGE);
    let quick = f.flag("--quick");
    let no_go = f.flag("--no-go");
    let no_build = f.flag("--no-build");
    let list = f.flag("--list");
    let out = f.text("--out").map(PathBuf::from);
    let only: Option<Vec<String>> = f
        .text("--only")
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    f.finish();

    let mut exps = plan::experiments(quick);
    let mut load_plan = plan::load_plan(quick);
    if let Some(only) = &only {
        exps.retain(|e| only.iter().any(|o| o == e.id));
        if !only.iter().any(|o| o == "echo") {
            load_plan.echo_conns.clear();
        }
    }
    let with_http = only.as_ref().is_none_or(|o| o.iter().any(|x| x == "http"));
    let rows = report::rows(&exps, &load_plan, with_http);
    if list {
        for r in &rows {
            println!("{}\t{}", r.exp, r.fig.title());
        }
        return;
    }

    let exe = std::env::current_exe().expect("current_exe");
    let bins = exe.parent().expect("examples dir").to_path_buf();
    let target = bins
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf();
    let out = out.unwrap_or_else(|| target.join("compare"));
    clear_previous(&out);
    std::fs::create_dir_all(out.join("raw"))
        .unwrap_or_else(|e| common::refuse("compare", &format!("creating {}: {e}", out.display())));
    if !no_build {
        build_examples(&bins);
    }
    let go = if no_go {
        GoDemos::Missing("left out (--no-go)".into())
    } else {
        build_go(&out)
    };
    let total = exps.len() * 3 + load_plan.echo_conns.len() * 3 + if with_http { 3 } else { 0 };
    let mut run = Run {
        out,
        bins,
        go,
        limit: Duration::from_secs(if quick { 60 } else { 600 }),
        results: Results::new(),
        log: Vec::new(),
        progress: Progress { done: 0, total },
    };
    let t0 = Instant::now();
    for e in &exps {
        for col in Col::ALL {
            run_experiment(&mut run, e, col);
        }
    }
    let generator = load::Generator::find(&target);
    run_load(&mut run, &load_plan, &generator, with_http);
    eprintln!("all runs done in {:.1} s", t0.elapsed().as_secs_f64());

    let cells = report::table(&rows, &run.results);
    let table = report::render(&cells);
    println!("{table}");
    let charts = report::charts(&run.out, &run.results, &load_plan);
    let md = report_md(&run, &table, &charts, quick, &generator);
    let path = run.out.join("report.md");
    match std::fs::write(&path, md) {
        Ok(()) => eprintln!("wrote {} and {} charts", path.display(), charts.len()),
        Err(e) => common::refuse("compare", &format!("writing {}: {e}", path.display())),
    }
}

/// Removes what an earlier run wrote into `out` (raw/, the charts,
/// report.md), so nothing stale is read or shown.
fn clear_previous(out: &Path) {
    let _ = std::fs::remove_dir_all(out.join("raw"));
    let _ = std::fs::remove_file(out.join("report.md"));
    for entry in std::fs::read_dir(out).into_iter().flatten().flatten() {
        if entry.path().extension().is_some_and(|e| e == "svg") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// `cargo build --examples` in the profile this binary was built in, so the
/// siblings are never stale.
fn build_examples(bins: &Path) {
    let release = bins.parent().is_some_and(|p| p.ends_with("release"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    eprintln!(
        "building the examples (cargo build --examples{})",
        if release { " --release" } else { "" }
    );
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-q", "--examples", "--manifest-path"])
        .arg(&manifest);
    if release {
        cmd.arg("--release");
    }
    match cmd.status() {
        Ok(s) if s.success() => {}
        _ => common::refuse(
            "compare",
            "building the examples failed (or pass --no-build)",
        ),
    }
}

/// Builds `examples/go` into `out/go-demos` when go is on the PATH.
fn build_go(out: &Path) -> GoDemos {
    if !load::on_path("go") {
        eprintln!("go is not on the PATH: the Go column is left empty");
        return GoDemos::Missing("no go".into());
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/go");
    let bin = out.join("go-demos");
    eprintln!("building the Go versions (go build in {})", src.display());
    let st = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(&src)
        .status();
    match st {
        Ok(s) if s.success() => GoDemos::Built(bin),
        _ => GoDemos::Missing("go build failed".into()),
    }
}

/// Runs one experiment in one column and records it.
fn run_experiment(run: &mut Run, e: &Exp, col: Col) {
    run.progress.start(e.label, col);
    let mut args = e.args.clone();
    if let Some(flag) = e.csv_flag {
        args.push(flag.to_string());
        let csv = run.out.join(format!("raw/{}.{}.csv", e.id, col.file()));
        args.push(csv.display().to_string());
    }
    let cmd = match col {
        Col::Single if e.mn_only => None,
        Col::Single | Col::Mn => {
            let mut c = Command::new(run.bins.join(e.example));
            c.args(&args).env("RUNTIME_MODE", col.file());
            Some(c)
        }
        Col::Go => match (&run.go, e.go) {
            (_, false) => None,
            (GoDemos::Built(bin), true) => {
                let mut c = Command::new(bin);
                c.arg(e.example).args(&args);
                Some(c)
            }
            (GoDemos::Missing(_), true) => None,
        },
    };
    let Some(cmd) = cmd else {
        let why = match (&run.go, e.go) {
            _ if col == Col::Single => "mn only".to_string(),
            (_, false) => "no Go version".to_string(),
            (GoDemos::Missing(why), _) => why.clone(),
            (GoDemos::Built(_), true) => unreachable!("a built Go run has a command"),
        };
        run.progress
            .end(&Outcome::Skipped(why.clone()), Duration::ZERO);
        run.results
            .insert((e.id.to_string(), col), Outcome::Skipped(why));
        return;
    };
    let line = command_line(&cmd);
    let ran = child::run(cmd, run.limit);
    run.progress.end(&ran.outcome, ran.took);
    run.log.push((line, summary(&ran.outcome, ran.took)));
    run.results.insert((e.id.to_string(), col), ran.outcome);
}

/// The echo rows (every connection count, every column) and the http rows.
fn run_load(run: &mut Run, plan: &LoadPlan, generator: &load::Generator, with_http: bool) {
    for &conns in &plan.echo_conns {
        let id = format!("echo C={conns}");
        for col in Col::ALL {
            run.progress.start(&id, col);
            let t = Instant::now();
            let server = match col {
                Col::Go => go_command(&run.go, &["echo", "-addr", "127.0.0.1:0"]),
                _ => {
                    let mut c = Command::new(run.bins.join("echo"));
                    c.arg("127.0.0.1:0").env("RUNTIME_MODE", col.file());
                    Ok(c)
                }
            };
            let outcome = serve_and_load(server, |addr| {
                generator.run(addr, conns, plan.secs, plan.warmup)
            });
            run.progress.end(&outcome, t.elapsed());
            run.log.push((
                format!("{id}, {}", col.name()),
                summary(&outcome, t.elapsed()),
            ));
            run.results.insert((id.clone(), col), outcome);
        }
    }
    if !with_http {
        return;
    }
    let id = format!("http (wrk -c{})", plan.http_conns);
    let have_wrk = load::on_path("wrk");
    for col in Col::ALL {
        run.progress.start(&id, col);
        let t = Instant::now();
        let outcome = if !have_wrk {
            Outcome::Skipped("no wrk".into())
        } else {
            let server = match col {
                Col::Go => go_command(&run.go, &["http", "-addr", "127.0.0.1:0"]),
                _ => {
                    let mut c = Command::new(run.bins.join("http"));
                    c.args(["--addr", "127.0.0.1:0"])
                        .env("RUNTIME_MODE", col.file());
                    Ok(c)
                }
            };
            serve_and_load(server, |addr| load::wrk(addr, plan.http_conns, plan.secs))
        };
        run.progress.end(&outcome, t.elapsed());
        run.log.push((
            format!("{id}, {}", col.name()),
            summary(&outcome, t.elapsed()),
        ));
        run.results.insert((id.clone(), col), outcome);
    }
}

/// The Go program with `args`, or the reason there is none.
fn go_command(go: &GoDemos, args: &[&str]) -> Result<Command, Outcome> {
    match go {
        GoDemos::Built(bin) => {
            let mut c = Command::new(bin);
            c.args(args);
            Ok(c)
        }
        GoDemos::Missing(why) => Err(Outcome::Skipped(why.clone())),
    }
}

/// Starts the server, loads it with `load`, stops it.
fn serve_and_load(
    server: Result<Command, Outcome>,
    load: impl FnOnce(std::net::SocketAddr) -> Outcome,
) -> Outcome {
    match server.and_then(load::start_server) {
        Ok((server, addr)) => {
            let outcome = load(addr);
            drop(server);
            outcome
        }
        Err(why) => why,
    }
}

/// A command as a shell line (environment first).
fn command_line(cmd: &Command) -> String {
    let mut s = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            let _ = write!(s, "{}={} ", k.to_string_lossy(), v.to_string_lossy());
        }
    }
    s.push_str(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        let _ = write!(s, " {}", a.to_string_lossy());
    }
    s
}

/// One line saying how a run ended.
fn summary(o: &Outcome, took: Duration) -> String {
    let t = took.as_secs_f64();
    match o {
        Outcome::Ok(_) => format!("ok, {t:.2} s"),
        Outcome::Failed { status, message } => format!("{status} after {t:.2} s: {message}"),
        Outcome::Skipped(why) => format!("not run: {why}"),
    }
}

/// The text of report.md.
fn report_md(
    run: &Run,
    table: &str,
    charts: &[(String, String)],
    quick: bool,
    generator: &load::Generator,
) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# switchyard: the seed experiments, single vs mn vs Go\n"
    );
    let args: Vec<String> = std::env::args().skip(1).collect();
    let _ = writeln!(
        md,
        "Written by `cargo run --release --example compare -- {}` ({} sizes). Each cell is one \
         run of one child process; figures come from the programs' own measurements.\n",
        args.join(" "),
        if quick { "quick" } else { "full" }
    );
    let _ = writeln!(md, "| machine | |\n|---|---|");
    for (k, v) in report::machine() {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    let _ = writeln!(md, "\n## The table\n\n{table}");
    let _ = writeln!(
        md,
        "* **single** runs each example with `RUNTIME_MODE=single` (the JavaScript model), \
         **mn** with `RUNTIME_MODE=mn` (the Go model), **Go** runs the same experiment \
         written in Go (`examples/go/`).\n\
         * A cell without a number says why: `not built (exit 2)` is a mode this build of \
         switchyard does not have yet (the child says so and exits 2); `no Go version` is an \
         experiment Go cannot express without cgo.\n\
         * ↓ lower is better, ↑ higher is better; no arrow: a fact, not a score.\n\
         * **ratio**: mn ÷ single where both have a number, else Go ÷ single; on the \
         `--threads` rows, OS threads ÷ tasks, both in single mode.\n\
         * OS threads are the process's `Threads:` in `/proc/self/status`, read every 10 ms by \
         the example's own sampler thread, which is not counted (Go: a sampler goroutine).\n\
         * Echo load: {}.",
        generator.describe()
    );
    let _ = writeln!(md, "\n## Charts\n");
    for (file, caption) in charts {
        let _ = writeln!(md, "### {caption}\n\n![{caption}]({file})\n");
    }
    let mut failures: Vec<(String, usize)> = Vec::new();
    for o in run.results.values() {
        if let Outcome::Failed { status, message } = o {
            let line = format!("`{status}`: {message}");
            match failures.iter_mut().find(|f| f.0 == line) {
                Some(f) => f.1 += 1,
                None => failures.push((line, 1)),
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
    let _ = writeln!(md, "## Commands\n\n```text");
    for (cmd, how) in &run.log {
        let _ = writeln!(md, "{cmd}\n    → {how}");
    }
    let _ = writeln!(md, "```");
    md
}
