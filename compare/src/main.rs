//! compare: every seed experiment run both ways — `RUNTIME_MODE=single` and
//! `RUNTIME_MODE=mn` — and in Go, side by side in one table, `report.md`
//! and SVG charts; and, after the seeds', `timer_lateness` (how long after
//! its deadline a 10 ms sleep ends, beside a ticker and a parked socket).
//! Where cores matter (`cpu_scaling`, `imbalance`, the echo, http and hyper
//! servers) a fourth column, cluster, runs the same program in single mode
//! on as many loops as mn has Ps (`RUNTIME_LOOPS=N`: Node's cluster, one
//! event loop per core, no work stealing between them).
//!
//! ```text
//! cargo run --release -p switchyard-compare -- [--quick] [--runs N] [--out DIR] [--only a,b] [--no-go] [--no-build] [--write-readme]
//! cargo run --release -p switchyard-compare -- --list      # the table's rows, without running
//! ```
//!
//! It is a package of its own (`compare/`, not published) beside the
//! library it measures: the programs it runs are the library's examples
//! (`examples/`), which stay plain programs a user can read and run one
//! at a time; the helpers it shares with them (the command line, the
//! histogram, the JSON value) are in the dev-only test-support crate.
//!
//! How it works:
//! 1. It builds the library's examples (`cargo build -p switchyard-rt
//!    --examples --features hyper`, in the profile it runs in; `--no-build`
//!    skips this) and finds them in the same target folder, under
//!    `<profile>/examples/` beside its own binary, and, when `go` is on the
//!    PATH, builds `examples/go/` into `DIR/go-demos`. No figure includes
//!    build time.
//! 2. Each experiment of `plan.rs` runs as a fresh child process per
//!    column (single, cluster where it applies, mn, Go), `--runs N` times (default 3, 1 with
//!    `--quick`), the columns taking turns, so thread counts and RSS are
//!    each run's own and a slow minute of the machine does not fall on one
//!    column only; progress goes to stderr. The child's last line, `result:
//!    key=value …`, is all that is read; a child that ends without one (mn
//!    before it is built: exit 2, "not built yet") shows as that, never as a
//!    number, and is not repeated.
//! 3. The load tests (`load.rs`): the echo example under a
//!    closed-loop generator at several connection counts, and two HTTP
//!    servers under wrk when wrk is installed, each beside Go's net/http:
//!    `http` (hand-written) and `hyper` (hyper 1 on switchyard); a fresh
//!    server for each run.
//! 4. Everything measured goes to `DIR/results.json` (`results.rs`).
//!    With `--only`, the rows it reruns replace theirs in that file and the
//!    others are kept. From the file it prints the table (experiment,
//!    figure, single, cluster, mn, Go, ratio, cluster ratios; each cell the
//!    median of its runs with the min–max) and writes `DIR/report.md` and the charts
//!    (`svg.rs`, hand-written SVG); a run without `--only` also
//!    writes `DIR/readme-table.md`, the README's block, which
//!    `--write-readme` puts into README.md. The children's CSVs are under
//!    `DIR/raw/`.
//!
//! `--quick` uses small sizes and one run per cell: about a minute in all
//! on 2 quiet cores. DIR defaults to `target/compare`.

mod child;
mod load;
mod plan;
mod report;
mod results;
mod svg;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use child::Outcome;
use plan::{Exp, LoadPlan};
use results::{Cell, Results, RunInfo, Sample};
use test_support::cli::{refuse, Flags};

const USAGE: &str = "usage: compare [--quick] [--runs N] [--out DIR] [--only EXP,EXP] [--no-go] [--no-build] [--write-readme] [--list]
  --quick         small sizes and one run per cell: about a minute on 2 quiet cores
  --runs N        runs per cell (default 3; 1 with --quick): the table shows the median
                  and the smallest and largest run
  --out DIR       where report.md, results.json, the charts and raw/ go (default target/compare)
  --only LIST     rerun only these experiments (ids as in --list, and echo, http, hyper;
                  e.g. cpu_scaling,imbalance,echo,http)
                  and update their rows in DIR/results.json; the other rows are kept
  --no-go         leave the Go column out even when go is installed
  --no-build      use the example binaries as they are (no cargo build first)
  --write-readme  put the table into README.md (between its compare-table markers) and
                  the storm chart into docs/; not with --only
  --list          print the table's rows (experiment, figure) and exit";

/// Where README.md's generated block starts and ends.
const README_BEGIN: &str = "<!-- compare-table:begin -->";
/// Its end.
const README_END: &str = "<!-- compare-table:end -->";

/// The repository's root (the folder above this package's): README.md,
/// Cargo.lock, `examples/go/` and `docs/` are read and written there, and
/// the examples are built from its manifest.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("compare/ lies inside the repository")
}

/// A column of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Col {
    /// `RUNTIME_MODE=single`: one loop.
    Single,
    /// `RUNTIME_MODE=single RUNTIME_LOOPS=N`: N loops sharing the port, N
    /// the Ps of the mn column (`plan::cluster_loops`). Only the
    /// experiments where cores matter have it.
    Cluster,
    /// `RUNTIME_MODE=mn`.
    Mn,
    /// The Go program.
    Go,
}

impl Col {
    /// All four, in table order.
    pub const ALL: [Col; 4] = [Col::Single, Col::Cluster, Col::Mn, Col::Go];

    /// The column's header.
    pub fn name(self) -> &'static str {
        match self {
            Col::Single => "single",
            Col::Cluster => "cluster",
            Col::Mn => "mn",
            Col::Go => "Go",
        }
    }

    /// The column in file names (and results.json).
    pub fn file(self) -> &'static str {
        match self {
            Col::Single => "single",
            Col::Cluster => "cluster",
            Col::Mn => "mn",
            Col::Go => "go",
        }
    }

    /// Sets the `RUNTIME_*` variables of a switchyard run in this column
    /// on `cmd` (`loops`: the cluster's). Single and mn run without
    /// `RUNTIME_LOOPS`, so one in compare's own environment changes
    /// neither.
    pub fn set_env(self, cmd: &mut Command, loops: usize) {
        match self {
            Col::Single | Col::Mn => {
                cmd.env("RUNTIME_MODE", self.file())
                    .env_remove("RUNTIME_LOOPS");
            }
            Col::Cluster => {
                cmd.env("RUNTIME_MODE", "single")
                    .env("RUNTIME_LOOPS", loops.to_string());
            }
            Col::Go => {}
        }
    }

    /// The column whose [`Col::file`] is `s`.
    pub fn from_file(s: &str) -> Option<Col> {
        Col::ALL.into_iter().find(|c| c.file() == s)
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
    fn start(&mut self, what: &str, col: Col, k: usize, runs: usize) {
        self.done += 1;
        let rep = if runs > 1 {
            format!("{k}/{runs}")
        } else {
            String::new()
        };
        eprint!(
            "[{:>3}/{}] {what:<32} {:<7} {rep:<5} ",
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
    /// The cluster column's loops.
    loops: usize,
    /// Runs per cell.
    runs: usize,
    /// This invocation's cells.
    cells: BTreeMap<(String, Col), Cell>,
    /// Progress lines.
    progress: Progress,
}

impl Run {
    /// Whether the cell already ended without a number (a failure or a
    /// skip is not repeated).
    fn gave_up(&self, id: &str, col: Col) -> bool {
        self.cells.get(&(id.to_string(), col)).is_some_and(|c| {
            c.samples
                .iter()
                .any(|s| !matches!(s.outcome, Outcome::Ok(_)))
        })
    }

    /// Records one run of a cell.
    fn record(&mut self, id: &str, col: Col, sample: Sample) {
        self.cells
            .entry((id.to_string(), col))
            .or_insert_with(|| Cell {
                run: 0,
                samples: Vec::new(),
            })
            .samples
            .push(sample);
    }
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
    let write_readme = f.flag("--write-readme");
    let runs: usize = f.value("--runs", if quick { 1 } else { 3 });
    if runs == 0 {
        f.fail("--runs 0: expected 1 or more");
    }
    let out = f.text("--out").map(PathBuf::from);
    let only: Option<Vec<String>> = f
        .text("--only")
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    let mut exps = plan::experiments(quick);
    let mut load_plan = plan::load_plan(quick);
    if let Some(only) = &only {
        let known: Vec<&str> = exps
            .iter()
            .map(|e| e.id)
            .chain(["echo"])
            .chain(plan::WRK_SERVERS)
            .collect();
        if let Some(bad) = only.iter().find(|o| !known.contains(&o.as_str())) {
            f.fail(&format!(
                "--only {bad:?}: not an experiment; the ids are {}",
                known.join(", ")
            ));
        }
        if write_readme {
            f.fail("--write-readme needs a full table: leave out --only");
        }
    }
    f.finish();

    if let Some(only) = &only {
        exps.retain(|e| only.iter().any(|o| o == e.id));
        if !only.iter().any(|o| o == "echo") {
            load_plan.echo_conns.clear();
        }
    }
    let wrk: Vec<&str> = plan::WRK_SERVERS
        .into_iter()
        .filter(|s| only.as_ref().is_none_or(|o| o.iter().any(|x| x == s)))
        .collect();
    if list {
        for r in &report::rows(&exps, &load_plan, &wrk) {
            println!("{}\t{}", r.exp, r.fig.title());
        }
        return;
    }

    // target/<profile>/compare: the examples are in target/<profile>/examples.
    let exe = std::env::current_exe().expect("current_exe");
    let bins = exe.parent().expect("profile dir").join("examples");
    let target = bins
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf();
    let out = out.unwrap_or_else(|| target.join("compare"));
    let previous = match &only {
        Some(_) => load_previous(&out),
        None => Results::default(),
    };
    let mut facts = report::machine();
    let args: Vec<String> = std::env::args().skip(1).collect();
    facts.push((
        "command".into(),
        format!(
            "cargo run --release -p switchyard-compare -- {}",
            args.join(" ")
        ),
    ));
    let profile = if bins.parent().is_some_and(|p| p.ends_with("release")) {
        "release"
    } else {
        "debug (figures of an unoptimised build)"
    };
    facts.push(("profile".into(), profile.into()));

    let rerun: Vec<String> = exps
        .iter()
        .map(|e| e.id.to_string())
        .chain(load_plan.echo_conns.iter().map(|c| format!("echo C={c}")))
        .collect();
    clear_previous(&out, only.as_ref().map(|_| rerun.as_slice()));
    std::fs::create_dir_all(out.join("raw"))
        .unwrap_or_else(|e| refuse("compare", &format!("creating {}: {e}", out.display())));
    if !no_build {
        build_examples(&bins);
    }
    let go = if no_go {
        GoDemos::Missing("left out (--no-go)".into())
    } else {
        build_go(&out)
    };
    let loops = plan::cluster_loops();
    facts.push((
        "cluster".into(),
        format!("single mode on {loops} loops (`RUNTIME_LOOPS={loops}`: the Ps of the mn column)"),
    ));
    let cols = Col::ALL.len();
    let cells_per_run = exps
        .iter()
        .map(|e| if e.cluster { cols } else { cols - 1 })
        .sum::<usize>()
        + (load_plan.echo_conns.len() + wrk.len()) * cols;
    let mut run = Run {
        out,
        bins,
        go,
        limit: Duration::from_secs(if quick { 60 } else { 600 }),
        loops,
        runs,
        cells: BTreeMap::new(),
        progress: Progress {
            done: 0,
            total: cells_per_run * runs,
        },
    };
    let t0 = Instant::now();
    for e in &exps {
        for k in 1..=runs {
            for col in Col::ALL {
                if col != Col::Cluster || e.cluster {
                    run_experiment(&mut run, e, col, k);
                }
            }
        }
    }
    let generator = load::Generator::find(&target, &exe);
    facts.push((
        "echo load".into(),
        format!(
            "{}; {} s measured after {} s of warm-up",
            generator.describe(),
            load_plan.secs,
            load_plan.warmup
        ),
    ));
    facts.push((
        "http load".into(),
        if load::on_path("wrk") {
            format!(
                "`wrk -t1 -c{} -d{}s --latency` (one wrk thread, {} keep-alive connections, \
                 closed loop), the same for the http and the hyper rows",
                load_plan.http_conns,
                load::wrk_secs(load_plan.secs),
                load_plan.http_conns
            )
        } else {
            "not run: wrk is not installed".into()
        },
    ));
    run_load(&mut run, &load_plan, &generator, &wrk);
    let took = t0.elapsed().as_secs_f64();
    eprintln!("all runs done in {took:.1} s");
    facts.push(("load average at the end".into(), report::load_average()));
    facts.push((
        "time for all runs".into(),
        format!("{took:.0} s (builds not counted)"),
    ));

    let info = RunInfo {
        run: 0,
        sizes: if quick { "quick" } else { "full" }.into(),
        runs_per_cell: runs,
        facts,
    };
    let results = previous.merge(info, std::mem::take(&mut run.cells));
    write(
        &run.out.join("results.json"),
        &results.to_json().to_string_pretty(),
    );
    let rows = report::rows_for(&results);
    let table = report::render(&report::table(&rows, &results));
    println!("{table}");
    for entry in std::fs::read_dir(&run.out).into_iter().flatten().flatten() {
        if entry.path().extension().is_some_and(|e| e == "svg") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let charts = report::charts(&run.out, &results);
    let path = run.out.join("report.md");
    write(&path, &report::markdown(&results, &table, &charts));
    eprintln!("wrote {} and {} charts", path.display(), charts.len());
    // The README's block is one full run's table: an --only run leaves the
    // last full run's file as it was.
    if only.is_some() {
        eprintln!("readme-table.md is left as the last full run wrote it");
    } else if let Some(block) = report::readme_block(&results, &table) {
        write(&run.out.join("readme-table.md"), &block);
        if write_readme {
            update_readme(&block, &run.out);
        }
    }
}

/// Writes `text` to `path`, or says why not and exits 2.
fn write(path: &Path, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        refuse("compare", &format!("writing {}: {e}", path.display()));
    }
}

/// The results an earlier run left in `out`, for `--only` to update. None
/// there: an empty set (the report then holds only the rows run now); a
/// file that cannot be read is an error, never silently replaced.
fn load_previous(out: &Path) -> Results {
    let path = out.join("results.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "no {} yet: the report will hold only the rows run now",
                path.display()
            );
            return Results::default();
        }
        Err(e) => refuse("compare", &format!("reading {}: {e}", path.display())),
    };
    test_support::json::Value::parse(&text)
        .and_then(|v| Results::from_json(&v))
        .unwrap_or_else(|e| {
            refuse(
                "compare",
                &format!(
                    "{}: {e}; remove it, or run without --only to start a new one",
                    path.display()
                ),
            )
        })
}

/// Removes what an earlier run wrote into `out` that this one replaces:
/// everything (raw/, results.json, the report, the charts) for a full run;
/// only the rerun experiments' CSVs for `--only` (the rest of the report is
/// rewritten from results.json at the end).
fn clear_previous(out: &Path, only: Option<&[String]>) {
    let Some(ids) = only else {
        let _ = std::fs::remove_dir_all(out.join("raw"));
        for f in ["report.md", "results.json", "readme-table.md"] {
            let _ = std::fs::remove_file(out.join(f));
        }
        for entry in std::fs::read_dir(out).into_iter().flatten().flatten() {
            if entry.path().extension().is_some_and(|e| e == "svg") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        return;
    };
    for entry in std::fs::read_dir(out.join("raw"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if ids.iter().any(|id| name.starts_with(&format!("{id}."))) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// `cargo build -p switchyard-rt --examples --features hyper` in the
/// profile this binary was built in, so the programs it runs
/// (examples/hyper.rs among them) are never stale.
fn build_examples(bins: &Path) {
    let release = bins.parent().is_some_and(|p| p.ends_with("release"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = repo_root().join("Cargo.toml");
    eprintln!(
        "building the examples (cargo build -p switchyard-rt --examples --features hyper{})",
        if release { " --release" } else { "" }
    );
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-q", "-p", "switchyard-rt", "--examples"])
        .args(["--features", "hyper"])
        .arg("--manifest-path")
        .arg(&manifest);
    if release {
        cmd.arg("--release");
    }
    match cmd.status() {
        Ok(s) if s.success() => {}
        _ => refuse(
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
    let src = repo_root().join("examples/go");
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

/// Runs experiment `e` in one column for the `k`th time and records it.
fn run_experiment(run: &mut Run, e: &Exp, col: Col, k: usize) {
    if run.gave_up(e.id, col) {
        run.progress.done += 1;
        return;
    }
    run.progress.start(e.label, col, k, run.runs);
    let mut args = e.args.clone();
    if let Some(flag) = e.csv_flag {
        args.push(flag.to_string());
        let csv = run.out.join(report::raw_csv(e.id, col, k));
        args.push(csv.display().to_string());
    }
    let cmd = match col {
        Col::Single if e.mn_only => None,
        Col::Single | Col::Cluster | Col::Mn => {
            let mut c = Command::new(run.bins.join(e.example));
            c.args(&args);
            col.set_env(&mut c, run.loops);
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
        let outcome = Outcome::Skipped(why);
        run.progress.end(&outcome, Duration::ZERO);
        let sample = Sample {
            outcome,
            took_s: 0.0,
            command: String::new(),
        };
        run.record(e.id, col, sample);
        return;
    };
    let command = command_line(&cmd);
    let ran = child::run(cmd, run.limit);
    run.progress.end(&ran.outcome, ran.took);
    let sample = Sample {
        outcome: ran.outcome,
        took_s: ran.took.as_secs_f64(),
        command,
    };
    run.record(e.id, col, sample);
}

/// The echo rows (every connection count, every column, `runs` times) and
/// the rows of the servers under wrk (`http`, `hyper`).
fn run_load(run: &mut Run, plan: &LoadPlan, generator: &load::Generator, wrk: &[&str]) {
    for &conns in &plan.echo_conns {
        let id = format!("echo C={conns}");
        for k in 1..=run.runs {
            for col in Col::ALL {
                if run.gave_up(&id, col) {
                    run.progress.done += 1;
                    continue;
                }
                run.progress.start(&id, col, k, run.runs);
                let t = Instant::now();
                let server = match col {
                    Col::Go => go_command(&run.go, &["echo", "-addr", "127.0.0.1:0"]),
                    _ => {
                        let mut c = Command::new(run.bins.join("echo"));
                        c.arg("127.0.0.1:0");
                        col.set_env(&mut c, run.loops);
                        Ok(c)
                    }
                };
                let command = server.as_ref().map_or(String::new(), |c| {
                    format!(
                        "{} (loaded by the echo generator, C={conns})",
                        command_line(c)
                    )
                });
                let outcome = serve_and_load(server, "rps", |addr| {
                    generator.run(addr, conns, plan.secs, plan.warmup)
                });
                run.progress.end(&outcome, t.elapsed());
                let took_s = t.elapsed().as_secs_f64();
                run.record(
                    &id,
                    col,
                    Sample {
                        outcome,
                        took_s,
                        command,
                    },
                );
            }
        }
    }
    let have_wrk = load::on_path("wrk");
    for &example in wrk {
        let id = plan::wrk_row(example, plan);
        let bin = run.bins.join(example);
        for k in 1..=run.runs {
            for col in Col::ALL {
                if run.gave_up(&id, col) {
                    run.progress.done += 1;
                    continue;
                }
                run.progress.start(&id, col, k, run.runs);
                let t = Instant::now();
                // Go's side of both rows is its net/http server.
                let server = match col {
                    Col::Go => go_command(&run.go, &["http", "-addr", "127.0.0.1:0"]),
                    _ => {
                        let mut c = Command::new(&bin);
                        c.args(["--addr", "127.0.0.1:0"]);
                        col.set_env(&mut c, run.loops);
                        Ok(c)
                    }
                };
                let command = server.as_ref().map_or(String::new(), |c| {
                    format!("{} (loaded by wrk -c{})", command_line(c), plan.http_conns)
                });
                let outcome = if !have_wrk {
                    Outcome::Skipped("no wrk".into())
                } else if col != Col::Go && !bin.is_file() {
                    Outcome::Skipped("not built (--features hyper)".into())
                } else {
                    serve_and_load(server, "req_per_s", |addr| {
                        load::wrk(addr, plan.http_conns, plan.secs)
                    })
                };
                run.progress.end(&outcome, t.elapsed());
                let took_s = t.elapsed().as_secs_f64();
                run.record(
                    &id,
                    col,
                    Sample {
                        outcome,
                        took_s,
                        command,
                    },
                );
            }
        }
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

/// Starts the server, loads it with `load`, stops it; the outcome gets
/// the server's CPU per request (`cpu_us`) from its rate `rate_key`.
fn serve_and_load(
    server: Result<Command, Outcome>,
    rate_key: &str,
    load: impl FnOnce(std::net::SocketAddr) -> Outcome,
) -> Outcome {
    match server.and_then(load::start_server) {
        Ok((server, addr)) => {
            let (cpu0, t0) = (server.cpu_time(), Instant::now());
            let mut outcome = load(addr);
            if let (Some(a), Some(b)) = (cpu0, server.cpu_time()) {
                let cpu = b.saturating_sub(a);
                load::add_cpu_per_request(&mut outcome, rate_key, cpu, t0.elapsed());
            }
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

/// Puts `block` between README.md's compare-table markers and copies the
/// storm chart to `docs/compare-storm-threads.svg`, which the README shows.
fn update_readme(block: &str, out: &Path) {
    let root = repo_root();
    let path = root.join("README.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| refuse("compare", &format!("reading {}: {e}", path.display())));
    let Some(new) = splice(&text, block) else {
        refuse(
            "compare",
            &format!(
                "{} has no {README_BEGIN} … {README_END} block to replace",
                path.display()
            ),
        )
    };
    write(&path, &new);
    let chart = out.join("storm_threads.svg");
    if chart.is_file() {
        let docs = root.join("docs/compare-storm-threads.svg");
        if let Err(e) = std::fs::copy(&chart, &docs) {
            refuse("compare", &format!("copying to {}: {e}", docs.display()));
        }
    }
    eprintln!("updated {} (and the storm chart in docs/)", path.display());
}

/// `text` with what lies between the README markers replaced by `block`.
fn splice(text: &str, block: &str) -> Option<String> {
    let start = text.find(README_BEGIN)? + README_BEGIN.len();
    let end = start + text[start..].find(README_END)?;
    Some(format!(
        "{}\n{}\n{}",
        &text[..start],
        block.trim_end(),
        &text[end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_only_between_the_markers() {
        let text = format!("intro\n{README_BEGIN}\nold table\n{README_END}\nafter\n");
        let got = splice(&text, "new block\n").unwrap();
        assert_eq!(
            got,
            format!("intro\n{README_BEGIN}\nnew block\n{README_END}\nafter\n")
        );
        // Twice gives the same text.
        assert_eq!(splice(&got, "new block").unwrap(), got);
        assert_eq!(splice("no markers", "x"), None);
    }

    #[test]
    fn columns_round_trip_through_their_file_names() {
        for c in Col::ALL {
            assert_eq!(Col::from_file(c.file()), Some(c));
        }
        assert_eq!(Col::from_file("Go"), None);
    }

    #[test]
    fn each_column_sets_its_runtime_variables() {
        let env = |col: Col| {
            let mut c = Command::new("x");
            col.set_env(&mut c, 3);
            c.get_envs()
                .map(|(k, v)| {
                    (
                        k.to_string_lossy().into_owned(),
                        v.map(|v| v.to_string_lossy().into_owned()),
                    )
                })
                .collect::<Vec<_>>()
        };
        let pair = |k: &str, v: Option<&str>| (k.to_string(), v.map(String::from));
        // Single and mn drop a RUNTIME_LOOPS compare itself was given.
        assert_eq!(
            env(Col::Single),
            [
                pair("RUNTIME_LOOPS", None),
                pair("RUNTIME_MODE", Some("single"))
            ]
        );
        assert_eq!(
            env(Col::Mn),
            [
                pair("RUNTIME_LOOPS", None),
                pair("RUNTIME_MODE", Some("mn"))
            ]
        );
        assert_eq!(
            env(Col::Cluster),
            [
                pair("RUNTIME_LOOPS", Some("3")),
                pair("RUNTIME_MODE", Some("single"))
            ]
        );
        assert!(env(Col::Go).is_empty());
        let mut c = Command::new("echo");
        Col::Cluster.set_env(&mut c, 2);
        assert_eq!(command_line(&c), "RUNTIME_LOOPS=2 RUNTIME_MODE=single echo");
    }
}
