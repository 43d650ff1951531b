//! The one place the `RUNTIME_*` environment is read and checked, and the
//! settings a runtime is built with ([`Config`], after precedence).
//!
//! Precedence: a [`Builder`](crate::Builder) setting wins over the
//! environment, the environment over the default. An empty variable counts as
//! unset (as Go treats `GOMAXPROCS=`). A bad value is a [`ConfigError`] naming
//! the variable, the value and what is accepted; `run` prints it as one line
//! and exits with status 2 — never a panic backtrace.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `RUNTIME_MODE` | `single` or `mn` | `single` |
//! | `RUNTIME_MAXPROCS` | number of Ps (mn) | CPUs in the affinity mask, lowered to the cgroup v2 quota |
//! | `RUNTIME_MAXTHREADS` | cap on the runtime's OS threads | 10000 |
//! | `RUNTIME_BLOCKING_THREADS` | size of the `spawn_blocking` pool | 4 |
//! | `RUNTIME_STACK_SIZE` | G stack size (mn), bytes or `K`/`M` suffixed | chosen by benchmark |
//! | `RUNTIME_IDLE_THREAD_TIMEOUT` | an idle M exits after this | `10s` |
//! | `RUNTIME_CGROUP_ROOT` | where cgroup files are read | `/sys/fs/cgroup` |
//! | `RUNTIME_DEBUG` | `schedtrace=MS[,scheddetail=1]` | off |
//! | `RUNTIME_LOOPS` | single-mode loops, each on its own thread (`run_each`); `auto` or `0`: the usable CPUs | 1 |
//! | `RUNTIME_PIN` | `1`: pin each loop's thread to a CPU of the affinity mask | `0` |
//! | `RUNTIME_TRACE` | file for a Chrome trace-event JSON (checked at start: see [`TraceFile`](rt_base::trace::TraceFile)) | off |

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

// Written once in rt-base: the M:N engine's builder starts from them too.
pub use rt_base::defaults::{DEFAULT_IDLE_THREAD_TIMEOUT, DEFAULT_MAX_THREADS};

/// Which execution model runs the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The JavaScript model: one thread, stackless tasks, an event loop.
    Single,
    /// The Go model: stackful tasks on M threads holding P processors.
    Mn,
}

impl Mode {
    /// The name used in `RUNTIME_MODE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Single => "single",
            Mode::Mn => "mn",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `RUNTIME_DEBUG`'s settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Debug {
    /// Print a scheduler line on stderr this often.
    pub schedtrace: Option<Duration>,
    /// Add a line per P, M and task to each schedtrace line (mn).
    pub scheddetail: bool,
}

/// A bad `RUNTIME_*` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable.
    pub var: &'static str,
    /// The value it had.
    pub value: String,
    /// What would have been accepted.
    pub accepted: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?} is not valid: expected {}",
            self.var, self.value, self.accepted
        )
    }
}

impl std::error::Error for ConfigError {}

/// Default size of the `spawn_blocking` pool.
pub const DEFAULT_BLOCKING_THREADS: usize = 4;

/// A runtime's settings, after precedence was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The execution model.
    pub mode: Mode,
    /// Number of Ps (mn); 1 in single mode.
    pub procs: usize,
    /// Cap on the runtime's OS threads.
    pub max_threads: usize,
    /// Size of the `spawn_blocking` pool.
    pub blocking_threads: usize,
    /// Every task's stack size in bytes (mn); `None` means the default,
    /// 256 KiB.
    pub stack_size: Option<usize>,
    /// Idle threads exit after this.
    pub idle_thread_timeout: Duration,
    /// Where cgroup files are read.
    pub cgroup_root: PathBuf,
    /// `RUNTIME_DEBUG`.
    pub debug: Debug,
    /// `RUNTIME_TRACE`.
    pub trace: Option<PathBuf>,
    /// Single-mode loops, each on its own thread (`RUNTIME_LOOPS`,
    /// [`Builder::loops`](crate::Builder::loops)): 1 unless the program
    /// runs with [`run_each`](crate::run_each); always 1 in mn.
    pub loops: usize,
    /// Whether each loop's thread is pinned to a CPU (`RUNTIME_PIN`).
    pub pin: bool,
}

/// The settings the environment can give, each `None` where unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EnvConfig {
    pub(crate) mode: Option<Mode>,
    pub(crate) procs: Option<usize>,
    pub(crate) max_threads: Option<usize>,
    pub(crate) blocking_threads: Option<usize>,
    pub(crate) stack_size: Option<usize>,
    pub(crate) idle_thread_timeout: Option<Duration>,
    pub(crate) cgroup_root: Option<PathBuf>,
    pub(crate) debug: Option<Debug>,
    pub(crate) trace: Option<PathBuf>,
    /// `RUNTIME_LOOPS`; 0 means "the usable CPUs".
    pub(crate) loops: Option<usize>,
    pub(crate) pin: Option<bool>,
}

const MODE: &str = "RUNTIME_MODE";
const MAXPROCS: &str = "RUNTIME_MAXPROCS";
const MAXTHREADS: &str = "RUNTIME_MAXTHREADS";
const BLOCKING: &str = "RUNTIME_BLOCKING_THREADS";
const STACK: &str = "RUNTIME_STACK_SIZE";
const IDLE: &str = "RUNTIME_IDLE_THREAD_TIMEOUT";
const CGROUP: &str = "RUNTIME_CGROUP_ROOT";
const DEBUG: &str = "RUNTIME_DEBUG";
const TRACE: &str = "RUNTIME_TRACE";
pub(crate) const LOOPS: &str = "RUNTIME_LOOPS";
const PIN: &str = "RUNTIME_PIN";
/// What `RUNTIME_LOOPS` accepts.
pub(crate) const LOOPS_ACCEPTED: &str =
    "a whole number of loops from 1 to 1024, or 0 or auto for the usable CPUs";

/// Limits on numeric settings.
pub(crate) const MAX_PROCS: usize = 1024;
pub(crate) const MIN_STACK: usize = 16 * 1024;
pub(crate) const MAX_STACK: usize = 1 << 30;

impl EnvConfig {
    /// Reads the process environment.
    pub(crate) fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|var| std::env::var_os(var).map(|v| v.to_string_lossy().into_owned()))
    }

    /// Reads variables through `get` (tests pass a map).
    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &str| get(var).filter(|v| !v.trim().is_empty());
        Ok(EnvConfig {
            mode: get(MODE).map(|v| parse_mode(&v)).transpose()?,
            procs: get(MAXPROCS)
                .map(|v| {
                    parse_count(
                        MAXPROCS,
                        &v,
                        1,
                        MAX_PROCS,
                        "a whole number of processors from 1 to 1024",
                    )
                })
                .transpose()?,
            max_threads: get(MAXTHREADS)
                .map(|v| {
                    parse_count(
                        MAXTHREADS,
                        &v,
                        1,
                        1 << 20,
                        "a whole number of threads from 1 to 1048576",
                    )
                })
                .transpose()?,
            blocking_threads: get(BLOCKING)
                .map(|v| {
                    parse_count(
                        BLOCKING,
                        &v,
                        1,
                        1 << 16,
                        "a whole number of threads from 1 to 65536",
                    )
                })
                .transpose()?,
            stack_size: get(STACK).map(|v| parse_stack(&v)).transpose()?,
            idle_thread_timeout: get(IDLE).map(|v| parse_duration(IDLE, &v)).transpose()?,
            cgroup_root: get(CGROUP).map(PathBuf::from),
            debug: get(DEBUG).map(|v| parse_debug(&v)).transpose()?,
            trace: get(TRACE).map(PathBuf::from),
            loops: get(LOOPS).map(|v| parse_loops(&v)).transpose()?,
            pin: get(PIN)
                .map(|v| match v.trim() {
                    "1" => Ok(true),
                    "0" => Ok(false),
                    _ => Err(bad(PIN, &v, "1 (pin each loop's thread to a CPU) or 0")),
                })
                .transpose()?,
        })
    }
}

fn bad(var: &'static str, value: &str, accepted: &'static str) -> ConfigError {
    ConfigError {
        var,
        value: value.to_string(),
        accepted,
    }
}

/// What a build without the M:N engine accepts for the mode, and why.
#[cfg(not(feature = "mn"))]
pub(crate) const NO_MN: &str =
    "single: this build has no M:N engine (switchyard's `mn` cargo feature is off)";

pub(crate) fn parse_mode(v: &str) -> Result<Mode, ConfigError> {
    match v.trim() {
        "single" => Ok(Mode::Single),
        #[cfg(feature = "mn")]
        "mn" => Ok(Mode::Mn),
        #[cfg(not(feature = "mn"))]
        "mn" => Err(bad(MODE, v, NO_MN)),
        _ => Err(bad(MODE, v, "single or mn")),
    }
}

/// `RUNTIME_LOOPS`: `auto` and `0` are 0 (the usable CPUs, counted when
/// the runtime is built).
fn parse_loops(v: &str) -> Result<usize, ConfigError> {
    if v.trim() == "auto" {
        return Ok(0);
    }
    parse_count(LOOPS, v, 0, MAX_PROCS, LOOPS_ACCEPTED)
}

fn parse_count(
    var: &'static str,
    v: &str,
    min: usize,
    max: usize,
    accepted: &'static str,
) -> Result<usize, ConfigError> {
    match v.trim().parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(bad(var, v, accepted)),
    }
}

const STACK_ACCEPTED: &str = "a size in bytes from 16K to 1G, like 65536, 64K or 1M";

fn parse_stack(v: &str) -> Result<usize, ConfigError> {
    let t = v.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(bad(STACK, v, STACK_ACCEPTED)),
    };
    match num.parse::<usize>().ok().and_then(|n| n.checked_mul(mult)) {
        Some(n) if (MIN_STACK..=MAX_STACK).contains(&n) => Ok(n),
        _ => Err(bad(STACK, v, STACK_ACCEPTED)),
    }
}

const DURATION_ACCEPTED: &str = "a duration like 10s, 500ms or 2m (a bare number means seconds)";

pub(crate) fn parse_duration(var: &'static str, v: &str) -> Result<Duration, ConfigError> {
    let t = v.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad(var, v, DURATION_ACCEPTED))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1e3,
        "us" | "µs" => n / 1e6,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad(var, v, DURATION_ACCEPTED)),
    };
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(bad(var, v, DURATION_ACCEPTED));
    }
    Ok(Duration::from_secs_f64(secs))
}

const DEBUG_ACCEPTED: &str = "schedtrace=MS with MS a whole number of milliseconds >= 1, optionally followed by ,scheddetail=1";

fn parse_debug(v: &str) -> Result<Debug, ConfigError> {
    let mut d = Debug::default();
    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, val) = part
            .split_once('=')
            .ok_or_else(|| bad(DEBUG, v, DEBUG_ACCEPTED))?;
        match (key.trim(), val.trim()) {
            ("schedtrace", ms) => match ms.parse::<u64>() {
                Ok(ms) if ms >= 1 => d.schedtrace = Some(Duration::from_millis(ms)),
                _ => return Err(bad(DEBUG, v, DEBUG_ACCEPTED)),
            },
            ("scheddetail", "1") => d.scheddetail = true,
            ("scheddetail", "0") => d.scheddetail = false,
            _ => return Err(bad(DEBUG, v, DEBUG_ACCEPTED)),
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<EnvConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        EnvConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn unset_and_empty_mean_default() {
        assert_eq!(env(&[]).unwrap(), EnvConfig::default());
        assert_eq!(
            env(&[("RUNTIME_MODE", ""), ("RUNTIME_MAXPROCS", "  ")]).unwrap(),
            EnvConfig::default()
        );
    }

    #[test]
    fn good_values_parse() {
        // `mn` parses where the build has the M:N engine; without it,
        // tests/without_mn.rs checks the error that names the feature.
        #[cfg(feature = "mn")]
        let (mode, want) = ("mn", Mode::Mn);
        #[cfg(not(feature = "mn"))]
        let (mode, want) = ("single", Mode::Single);
        let c = env(&[
            ("RUNTIME_MODE", mode),
            ("RUNTIME_MAXPROCS", "4"),
            ("RUNTIME_MAXTHREADS", "64"),
            ("RUNTIME_BLOCKING_THREADS", "8"),
            ("RUNTIME_STACK_SIZE", "64K"),
            ("RUNTIME_IDLE_THREAD_TIMEOUT", "500ms"),
            ("RUNTIME_DEBUG", "schedtrace=1000,scheddetail=1"),
            ("RUNTIME_TRACE", "/tmp/t.json"),
            ("RUNTIME_LOOPS", "3"),
            ("RUNTIME_PIN", "1"),
        ])
        .unwrap();
        assert_eq!((c.loops, c.pin), (Some(3), Some(true)));
        assert_eq!(env(&[("RUNTIME_LOOPS", "auto")]).unwrap().loops, Some(0));
        assert_eq!(env(&[("RUNTIME_LOOPS", "0")]).unwrap().loops, Some(0));
        assert_eq!(c.mode, Some(want));
        assert_eq!(c.procs, Some(4));
        assert_eq!(c.max_threads, Some(64));
        assert_eq!(c.blocking_threads, Some(8));
        assert_eq!(c.stack_size, Some(65536));
        assert_eq!(c.idle_thread_timeout, Some(Duration::from_millis(500)));
        assert_eq!(
            c.debug,
            Some(Debug {
                schedtrace: Some(Duration::from_secs(1)),
                scheddetail: true
            })
        );
        assert_eq!(c.trace, Some(PathBuf::from("/tmp/t.json")));
        assert_eq!(parse_duration(IDLE, "10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_stack("1M").unwrap(), 1 << 20);
    }

    #[test]
    fn bad_values_name_the_variable_and_what_is_accepted() {
        for (var, value, accepted) in [
            ("RUNTIME_MODE", "js", "single or mn"),
            ("RUNTIME_MAXPROCS", "0", "from 1 to 1024"),
            ("RUNTIME_MAXPROCS", "two", "from 1 to 1024"),
            ("RUNTIME_MAXTHREADS", "-3", "from 1 to 1048576"),
            ("RUNTIME_MAXTHREADS", "2000000", "from 1 to 1048576"),
            ("RUNTIME_BLOCKING_THREADS", "0", "from 1 to 65536"),
            ("RUNTIME_BLOCKING_THREADS", "70000", "from 1 to 65536"),
            ("RUNTIME_STACK_SIZE", "1K", "16K to 1G"),
            ("RUNTIME_STACK_SIZE", "64Q", "16K to 1G"),
            ("RUNTIME_IDLE_THREAD_TIMEOUT", "soon", "10s"),
            ("RUNTIME_DEBUG", "schedtrace=0", "schedtrace=MS"),
            ("RUNTIME_DEBUG", "gctrace=1", "schedtrace=MS"),
            ("RUNTIME_LOOPS", "many", "or auto"),
            ("RUNTIME_LOOPS", "5000", "from 1 to 1024"),
            ("RUNTIME_PIN", "yes", "1 (pin"),
        ] {
            let e = env(&[(var, value)]).unwrap_err();
            assert_eq!(e.var, var);
            let line = e.to_string();
            assert!(
                line.starts_with(&format!("{var}=\"{value}\" is not valid: expected")),
                "{line}"
            );
            assert!(line.contains(accepted), "{line}");
        }
    }
}
