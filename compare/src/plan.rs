//! What `compare` runs: every experiment with its quick and full sizes, and
//! the figures (result keys) each contributes to the table.
//!
//! One [`Exp`] is one child command, run once per column (single, mn, Go,
//! and cluster where cores matter: [`Exp::cluster`]); each of its [`Fig`]s
//! is one row of the table. The echo and http rows
//! are load tests rather than one command; `load.rs` adds them, and
//! [`load_rows`] names them here so the table's shape is known up front
//! (the test checks it against `compare --list`).

/// Which way a figure is better, for the reader of the ratio.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Smaller is better (time, memory, threads).
    Lower,
    /// Larger is better (throughput).
    Higher,
    /// Neither: a fact, not a score (a count of drifts, a share).
    Neither,
}

/// One row of the table: a result key of one experiment.
#[derive(Clone, Copy)]
pub struct Fig {
    /// The key in the `result:` line.
    pub key: &'static str,
    /// The row's figure column.
    pub label: &'static str,
    /// Which way is better.
    pub better: Better,
}

/// One experiment: a child command run in every column.
pub struct Exp {
    /// Unique id (file names, lookups).
    pub id: &'static str,
    /// The table's experiment column.
    pub label: &'static str,
    /// The example binary, and the Go subcommand of the same name.
    pub example: &'static str,
    /// Its flags.
    pub args: Vec<String>,
    /// Whether the Go program has this experiment.
    pub go: bool,
    /// A flag that makes the child write a CSV for a chart (`--samples`,
    /// `--gaps`), given `DIR/raw/<id>.<column>.csv`.
    pub csv_flag: Option<&'static str>,
    /// Its rows.
    pub figs: Vec<Fig>,
    /// For an OS-thread variant: the experiment whose single-mode figures
    /// its ratio column divides by (threads ÷ tasks).
    pub ratio_to: Option<&'static str>,
    /// Only mn has it (blocking-style Gs): the single column says so.
    pub mn_only: bool,
    /// Whether it also runs in the cluster column (single mode on
    /// [`cluster_loops`] loops): the experiments where cores matter. The
    /// others leave that cell empty.
    pub cluster: bool,
    /// What its figures include, for the report.
    pub note: &'static str,
}

impl Fig {
    /// The figure column: the label, with ↓ (lower is better) or ↑.
    pub fn title(&self) -> String {
        match self.better {
            Better::Lower => format!("{} ↓", self.label),
            Better::Higher => format!("{} ↑", self.label),
            Better::Neither => self.label.to_string(),
        }
    }
}

fn fig(key: &'static str, label: &'static str, better: Better) -> Fig {
    Fig { key, label, better }
}

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// The sizes: `--quick` (well under a minute in all on 2 cores) or full
/// (the seeds' sizes where a run stays within minutes; the single mode's
/// serial sleeps are what bound the rest).
pub fn experiments(quick: bool) -> Vec<Exp> {
    use Better::*;
    let q = |quick_args: &str, full_args: &str| args(if quick { quick_args } else { full_args });
    let cpus = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let procs: Vec<String> = (1..=cpus).map(|p| p.to_string()).collect();
    let procs = procs.join(",");
    vec![
        Exp {
            id: "spawn_cost",
            label: "spawn_cost",
            example: "spawn_cost",
            args: q("--n 20000 --rounds 3", "--n 100000 --rounds 5"),
            go: true,
            csv_flag: None,
            figs: vec![fig("ns_per_task", "ns per task spawned", Lower)],
            ratio_to: None,
            mn_only: false,
            cluster: false,
            note: "in-program: each round spawns N tasks that each signal a WaitGroup, then waits for the group; one warm-up round is not counted; the figure is the median round ÷ N",
        },
        Exp {
            id: "spawn_cost_threads",
            label: "spawn_cost --threads",
            example: "spawn_cost",
            args: q(
                "--threads --n 2000 --rounds 3",
                "--threads --n 10000 --rounds 3",
            ),
            go: false,
            csv_flag: None,
            figs: vec![fig("ns_per_task", "ns per OS thread spawned", Lower)],
            ratio_to: Some("spawn_cost"),
            mn_only: false,
            cluster: false,
            note: "in-program: the same with N `std::thread`s, each joined (started inside `syscall`); the ratio is this ÷ the task row, both in single mode",
        },
        Exp {
            id: "million_sleepers",
            label: "million_sleepers",
            example: "million_sleepers",
            args: q("--n 100000 --sleep 200ms", "--n 1000000 --sleep 1s"),
            go: true,
            csv_flag: None,
            figs: vec![
                fig("wall_ms", "wall ms", Lower),
                fig("peak_alive", "tasks alive at once", Neither),
                fig("bytes_per_task", "bytes per live task", Lower),
                fig("peak_threads", "OS threads", Lower),
            ],
            ratio_to: None,
            mn_only: false,
            cluster: false,
            note: "in-program: N tasks each sleep D; wall from the first spawn to the last wake-up; tasks alive at once from a live counter; bytes per live task = (peak RSS − RSS before spawning) ÷ tasks alive at once; OS threads: the most the sampler saw",
        },
        Exp {
            id: "million_sleepers_threads",
            label: "million_sleepers --threads",
            example: "million_sleepers",
            args: q(
                "--threads --n 2000 --sleep 200ms",
                "--threads --n 10000 --sleep 1s",
            ),
            go: false,
            csv_flag: None,
            figs: vec![
                fig("wall_ms", "wall ms", Lower),
                fig("bytes_per_task", "bytes per OS thread", Lower),
            ],
            ratio_to: Some("million_sleepers"),
            mn_only: false,
            cluster: false,
            note: "in-program: one `std::thread` per sleeper (fewer of them: `kernel.pid_max`); the ratio is this ÷ the task row, both in single mode",
        },
        Exp {
            id: "million_sleepers_go",
            label: "million_sleepers --style go",
            example: "million_sleepers",
            // Blocking-style Gs (`mn::go` + `mn::sleep`): each keeps its
            // stack while it sleeps, as a goroutine does; mn's async tasks
            // (the row above) give theirs back.
            args: q(
                "--style go --n 100000 --sleep 200ms",
                "--style go --n 1000000 --sleep 1s",
            ),
            go: true,
            csv_flag: None,
            figs: vec![
                fig("wall_ms", "wall ms", Lower),
                fig("bytes_per_task", "bytes per live task", Lower),
            ],
            ratio_to: None,
            mn_only: true,
            cluster: false,
            note: "in-program: blocking-style Gs (`mn::go` + `mn::sleep`), each keeping its stack while it sleeps, as a goroutine does (mn only)",
        },
        Exp {
            id: "ping_pong",
            label: "ping_pong",
            example: "ping_pong",
            args: q("--duration 200ms", "--duration 1s"),
            go: true,
            csv_flag: None,
            figs: vec![fig("ns_per_round_trip", "ns per round trip", Lower)],
            ratio_to: None,
            mn_only: false,
            cluster: false,
            note: "in-program: an integer through two bounded channels and back between two tasks; after 1000 warm-up round trips, the time of the round trips over `--duration` ÷ their count",
        },
        Exp {
            id: "syscall_storm",
            label: "syscall_storm",
            example: "syscall_storm",
            args: q("--n 10 --sleep 50ms", "--n 10 --sleep 1s"),
            go: true,
            csv_flag: Some("--samples"),
            figs: vec![
                fig("wall_ms", "wall ms", Lower),
                fig("wall_over_sleep", "wall ÷ one sleep", Lower),
                fig("peak_threads", "OS threads", Neither),
            ],
            ratio_to: None,
            mn_only: false,
            cluster: false,
            note: "in-program: N tasks each in a blocking `nanosleep(D)` inside `syscall`; wall from the first spawn to the last return; wall ÷ D is about N when the calls run one after another, about 1 when they overlap; OS threads: the most the sampler saw",
        },
        Exp {
            id: "syscall_storm_cap",
            label: "syscall_storm --max-threads 8",
            example: "syscall_storm",
            args: q(
                "--n 10 --sleep 50ms --max-threads 8",
                "--n 10 --sleep 1s --max-threads 8",
            ),
            go: true,
            csv_flag: None,
            figs: vec![
                fig("wall_ms", "wall ms", Lower),
                fig("peak_threads", "OS threads", Neither),
            ],
            ratio_to: None,
            mn_only: false,
            cluster: false,
            note: "the same with at most 8 OS threads (`RUNTIME_MAXTHREADS`; Go: `debug.SetMaxThreads(8)`, which ends the program when passed)",
        },
        Exp {
            id: "sleepers_threads",
            label: "sleepers_threads",
            example: "sleepers_threads",
            args: q(
                "--n 2000 --sleep 300ms --read-after 150ms",
                "--n 10000 --sleep 2s --read-after 1s",
            ),
            go: true,
            csv_flag: None,
            figs: vec![fig("threads_asleep", "OS threads while asleep", Lower)],
            ratio_to: None,
            mn_only: false,
            cluster: false,
            note: "in-program: N tasks each await a sleep; OS threads read once, `--read-after` into the sleep",
        },
        Exp {
            id: "cpu_scaling",
            label: "cpu_scaling",
            example: "cpu_scaling",
            args: [
                q("--duration 200ms", "--duration 1s"),
                vec!["--procs".into(), procs],
            ]
            .concat(),
            go: true,
            csv_flag: None,
            figs: vec![
                fig("scaling", "total work, most Ps ÷ 1 P", Higher),
                fig("max_share_p1", "largest task's share, 1 P", Neither),
            ],
            ratio_to: None,
            mn_only: false,
            cluster: true,
            note: "in-program: 4 tasks count with no await until a shared deadline, on a fresh runtime for each P count from 1 up to the CPUs (at most 8); the total at the most Ps ÷ the total at 1 P, and the largest task's share at 1 P (0.25 = fair); cluster: the same counts with each entry a number of loops, task i on loop i mod N",
        },
        Exp {
            id: "imbalance",
            label: "imbalance",
            example: "imbalance",
            // 2 expensive connections (4 ms of CPU per request, 6 ms
            // between) placed on one loop, 16 cheap ones spread over the
            // loops, one request each every 10 ms (the example's defaults).
            args: q(
                "--duration 1s --warmup 300ms",
                "--duration 3s --warmup 500ms",
            ),
            go: false,
            csv_flag: None,
            figs: vec![
                fig("cheap_p50_us", "cheap requests' p50 µs", Lower),
                fig("cheap_p99_us", "cheap requests' p99 µs", Lower),
                fig(
                    "hot_loop_cheap_p50_us",
                    "cheap p50 on the hot loop µs",
                    Lower,
                ),
                fig("hot_rps", "expensive requests/s", Higher),
            ],
            ratio_to: None,
            mn_only: false,
            cluster: true,
            note: "in-program client on OS threads beside the server: 2 connections whose requests each compute 4 ms with no await (6 ms pause between an answer and the next request), all placed on one loop (the client opens connections until they share one), and 16 cheap connections spread evenly over the loops, one request every 10 ms each; cheap latency from the send (or from when it was due, if the previous answer came late), an HDR histogram of the requests after the warm-up; the hot loop is the expensive connections' (the only one in single and mn)",
        },
        Exp {
            id: "netpoll_vs_blocking",
            label: "netpoll_vs_blocking",
            example: "netpoll_vs_blocking",
            args: q(
                "--n 50 --file-kb 256 --wait 50ms",
                "--n 100 --file-kb 1024 --wait 100ms",
            ),
            go: true,
            csv_flag: None,
            figs: vec![
                fig("socket_threads", "OS threads, sockets", Lower),
                fig("file_threads", "OS threads, file reads", Neither),
                fig("file_ms", "file phase ms", Lower),
            ],
            ratio_to: None,
            mn_only: false,
            cluster: false,
            note: "in-program: N tasks wait on sockets, then N tasks read a file through `syscall`; the most OS threads in each phase and the file phase's wall",
        },
        Exp {
            id: "ffi_storm",
            label: "ffi_storm",
            example: "ffi_storm",
            args: q("--n 20 --sleep 50ms", "--n 100 --sleep 100ms"),
            go: true,
            csv_flag: None,
            figs: vec![
                fig("wall_ms", "wall ms", Lower),
                fig("peak_threads", "OS threads", Neither),
            ],
            ratio_to: None,
            mn_only: false,
            cluster: false,
            note: "in-program: N tasks each in a blocking libc `usleep` through FFI inside `syscall`; wall from the first spawn to the last return; OS threads: the most the sampler saw",
        },
        Exp {
            id: "ffi_storm_limit",
            label: "ffi_storm --limit 8",
            example: "ffi_storm",
            args: q(
                "--n 20 --sleep 50ms --limit 8",
                "--n 100 --sleep 100ms --limit 8",
            ),
            go: true,
            csv_flag: None,
            figs: vec![
                fig("wall_ms", "wall ms", Lower),
                fig("peak_threads", "OS threads", Neither),
            ],
            ratio_to: None,
            mn_only: false,
            cluster: false,
            note: "the same with a Semaphore of 8 permits around the call",
        },
        Exp {
            id: "lock_thread",
            label: "lock_thread",
            example: "lock_thread",
            args: args("--yields 100 --others 8"),
            go: true,
            csv_flag: None,
            figs: vec![
                fig("drifts", "thread changes while pinned", Neither),
                fig("other_tids", "threads the others ran on", Neither),
            ],
            ratio_to: None,
            mn_only: false,
            cluster: false,
            note: "in-program: a task pinned to its thread yields 100 times and counts thread changes; 8 other tasks yield beside it; the distinct threads they ran on",
        },
        Exp {
            id: "tight_loop",
            label: "tight_loop",
            example: "tight_loop",
            args: q("--spin 300ms --quiet", "--spin 1s --quiet"),
            go: true,
            csv_flag: Some("--gaps"),
            figs: vec![
                fig("max_gap_ms", "printer's largest gap ms", Lower),
                fig("p50_gap_ms", "printer's median gap ms", Lower),
            ],
            ratio_to: None,
            mn_only: false,
            cluster: false,
            note: "in-program: a task spins with no await beside a printer that sleeps 10 ms in a loop, on 1 P; the printer's largest and median gap between lines",
        },
        Exp {
            id: "tight_loop_preempt",
            label: "tight_loop --preempt-every 1ms",
            example: "tight_loop",
            args: q(
                "--spin 300ms --quiet --preempt-every 1ms",
                "--spin 1s --quiet --preempt-every 1ms",
            ),
            go: true,
            csv_flag: Some("--gaps"),
            figs: vec![fig("max_gap_ms", "printer's largest gap ms", Lower)],
            ratio_to: None,
            mn_only: false,
            cluster: false,
            note: "the same, the spinner awaiting `yield_now` every 1 ms (preempt points written by hand)",
        },
        Exp {
            id: "timer_lateness",
            label: "timer_lateness",
            example: "timer_lateness",
            // 10 ms sleeps beside a 3.7 ms ticker and a parked socket read
            // (the example's defaults): one sleep after the other, so the
            // run takes n × 10 ms.
            args: q("--n 100", "--n 1000"),
            go: true,
            csv_flag: None,
            figs: vec![
                fig("p50_late_us", "median lateness µs", Lower),
                fig("p99_late_us", "p99 lateness µs", Lower),
            ],
            ratio_to: None,
            mn_only: false,
            cluster: false,
            note: "in-program: n 10 ms sleeps one after another beside a 3.7 ms ticker task and a socket with a parked reader; each sleep's overshoot past its deadline, median and p99 (HDR histogram)",
        },
        Exp {
            id: "timer_lateness_busy",
            label: "timer_lateness --busy 50us --procs 1",
            example: "timer_lateness",
            // The same sleeps beside a task that spins 50 µs between
            // yields, all on one P: the thread never idles, so a timer
            // fires when the scheduler looks at the clock between slices.
            // Go takes --procs as GOMAXPROCS; single mode has one thread.
            args: q(
                "--busy 50us --procs 1 --n 100",
                "--busy 50us --procs 1 --n 1000",
            ),
            go: true,
            csv_flag: None,
            figs: vec![
                fig("p50_late_us", "median lateness µs", Lower),
                fig("p99_late_us", "p99 lateness µs", Lower),
            ],
            ratio_to: None,
            mn_only: false,
            cluster: false,
            note: "the same beside a task that spins 50 µs between yields, on 1 P (Go: GOMAXPROCS 1)",
        },
    ]
}

/// The loops of the cluster column (`RUNTIME_MODE=single
/// RUNTIME_LOOPS=N`): the Ps mn gets in the mn column (`RUNTIME_MAXPROCS`
/// if set, else one per usable CPU), so the two spread over the same
/// cores; the usable CPUs in a build without mn.
pub fn cluster_loops() -> usize {
    #[cfg(feature = "mn")]
    let mn = switchyard::Builder::new()
        .mode(switchyard::Mode::Mn)
        .loops(1)
        .config()
        .ok()
        .map(|c| c.procs);
    #[cfg(not(feature = "mn"))]
    let mn: Option<usize> = None;
    mn.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

/// The HTTP servers loaded by wrk, each an `--only` id and its example:
/// `http` (hand-written, examples/http.rs) and `hyper` (hyper 1 over
/// `switchyard::hyper`, examples/hyper.rs; built with `--features hyper`).
/// The Go column of both is Go's `net/http`: like with like for hyper, a
/// full HTTP/1.1 stack against the hand-written server's minimum for http.
pub const WRK_SERVERS: [&str; 2] = ["http", "hyper"];

/// The load tests' sizes.
pub struct LoadPlan {
    /// Echo connection counts.
    pub echo_conns: Vec<usize>,
    /// wrk's connection count against `http` and `hyper`.
    pub http_conns: usize,
    /// Measured seconds per load run.
    pub secs: f64,
    /// Warm-up seconds before measuring.
    pub warmup: f64,
}

/// The load tests for `quick` or full.
pub fn load_plan(quick: bool) -> LoadPlan {
    if quick {
        LoadPlan {
            echo_conns: vec![10, 100],
            http_conns: 50,
            secs: 1.0,
            warmup: 0.3,
        }
    } else {
        LoadPlan {
            echo_conns: vec![10, 100, 1000],
            http_conns: 50,
            secs: 5.0,
            warmup: 1.0,
        }
    }
}

/// The experiment name of a wrk row: `http (wrk -c50)`.
pub fn wrk_row(server: &str, plan: &LoadPlan) -> String {
    format!("{server} (wrk -c{})", plan.http_conns)
}

/// The rows the load tests contribute: (experiment, figure); `wrk` names
/// the servers of [`WRK_SERVERS`] that run.
pub fn load_rows(plan: &LoadPlan, wrk: &[&str]) -> Vec<(String, Fig)> {
    let mut rows = Vec::new();
    for c in &plan.echo_conns {
        let exp = format!("echo C={c}");
        rows.push((exp.clone(), fig("rps", "round trips/s", Better::Higher)));
        rows.push((exp.clone(), fig("p99_us", "p99 latency µs", Better::Lower)));
        rows.push((
            exp,
            fig("cpu_us", "server CPU µs per round trip", Better::Lower),
        ));
    }
    for server in wrk {
        let exp = wrk_row(server, plan);
        rows.push((exp.clone(), fig("req_per_s", "requests/s", Better::Higher)));
        rows.push((exp.clone(), fig("p99_ms", "p99 latency ms", Better::Lower)));
        rows.push((
            exp,
            fig("cpu_us", "server CPU µs per request", Better::Lower),
        ));
    }
    rows
}
