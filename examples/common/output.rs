//! What the examples write, and the rules that keep writing from hurting
//! them: [`say`] for stdout lines (a reader that went away is not a crash).
//!
//! `echo`, `http` and `metrics` run for days under whatever their users
//! point at them, often piped into something (`| head`, a log shipper that
//! restarts); losing the reader of stdout must not turn a clean stop into
//! a crash.

use std::fmt::Display;
use std::io::Write;

/// Prints `line` and a newline on stdout, flushed. If the write fails —
/// stdout closed because the reader of a pipe went away, a full disk — the
/// line is dropped: the program goes on and its exit status does not
/// change. `println!` would panic instead ("failed printing to stdout",
/// exit 101).
pub fn say(line: impl Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}
