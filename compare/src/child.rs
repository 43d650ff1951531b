//! Running one demo as a child process and reading its `result:` line.
//!
//! Every run is a fresh process (so its thread count and peak RSS are its
//! own); stdout and stderr are read on two threads while the child runs, and
//! a child past its time limit is killed. A child that exits without a
//! `result:` line is an [`Outcome::Failed`] carrying its exit status and the
//! first line of its stderr: that is how an unbuilt mode shows in the table
//! (`not built (exit 2)`), never as a number.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The key=value pairs of a `result:` line.
pub type Fields = BTreeMap<String, String>;

/// What one cell's run gave.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The child printed its result line.
    Ok(Fields),
    /// It did not: how it ended and what it said.
    Failed {
        /// `exit 2`, `killed by signal 9`, `timed out after 60 s`, …
        status: String,
        /// The first line of its stderr (or why it could not start).
        message: String,
    },
    /// Not run, and why (`no go`, `no Go version`, `no wrk`).
    Skipped(String),
}

impl Outcome {
    /// The value of `key` as a number, if the run succeeded and has it.
    pub fn num(&self, key: &str) -> Option<f64> {
        match self {
            Outcome::Ok(f) => f.get(key)?.parse().ok(),
            _ => None,
        }
    }

    /// The cell text for `key`: the value, or a short reason for none.
    pub fn cell(&self, key: &str) -> String {
        match self {
            Outcome::Ok(f) => f.get(key).cloned().unwrap_or_else(|| "—".into()),
            Outcome::Failed { status, message } if message.contains("not built") => {
                format!("not built ({status})")
            }
            Outcome::Failed { status, message } => match message.strip_prefix("fatal error: ") {
                Some(fatal) => format!("crashed: {fatal} ({status})"),
                None => format!("failed ({status})"),
            },
            Outcome::Skipped(why) => why.clone(),
        }
    }
}

/// A finished child: its outcome plus how long it took and its full output.
pub struct Ran {
    /// The parsed outcome.
    pub outcome: Outcome,
    /// Wall time of the whole process.
    pub took: Duration,
    /// Its stdout.
    pub stdout: String,
    /// Whether it exited 0 within its time.
    pub success: bool,
}

/// Runs `cmd` to completion (killed after `limit`) and parses its output.
pub fn run(mut cmd: Command, limit: Duration) -> Ran {
    let t0 = Instant::now();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Ran {
                outcome: Outcome::Failed {
                    status: "did not start".into(),
                    message: e.to_string(),
                },
                took: t0.elapsed(),
                stdout: String::new(),
                success: false,
            }
        }
    };
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if t0.elapsed() > limit => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break None,
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let took = t0.elapsed();
    let success = !timed_out && status.is_some_and(|s| s.success());
    let outcome = match parse_result(&stdout) {
        Some(fields) if success => Outcome::Ok(fields),
        _ => Outcome::Failed {
            status: if timed_out {
                format!("timed out after {} s", limit.as_secs())
            } else {
                describe(status)
            },
            message: first_words(&stderr, success),
        },
    };
    Ran {
        outcome,
        took,
        stdout,
        success,
    }
}

/// What a failed child said: Go's `fatal error: …` line if there is one,
/// else the first line of stderr (or, for a clean exit, that it printed no
/// result line).
fn first_words(stderr: &str, success: bool) -> String {
    let mut lines = stderr.lines().map(str::trim).filter(|l| !l.is_empty());
    if let Some(fatal) = stderr.lines().find(|l| l.starts_with("fatal error: ")) {
        return fatal.trim().to_string();
    }
    match lines.next() {
        Some(l) => l.to_string(),
        None if success => "no result: line on stdout".into(),
        None => String::new(),
    }
}

/// Reads a pipe to its end on a thread of its own.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut p) = pipe {
            let mut bytes = Vec::new();
            let _ = p.read_to_end(&mut bytes);
            s = String::from_utf8_lossy(&bytes).into_owned();
        }
        s
    })
}

/// `exit N` or `killed by signal S`.
fn describe(status: Option<std::process::ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(s) => match (s.code(), s.signal()) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            _ => "ended".into(),
        },
        None => "lost".into(),
    }
}

/// The fields of the last `result:` line of `stdout`.
pub fn parse_result(stdout: &str) -> Option<Fields> {
    let line = stdout.lines().rev().find(|l| l.starts_with("result:"))?;
    Some(
        line["result:".len()..]
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}
