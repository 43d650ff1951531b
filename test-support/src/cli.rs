//! The command line of the example programs and of `compare`, and the way
//! they print numbers: [`Flags`] (`--name value`, `--name=value`, `--flag`,
//! hand-parsed from `std::env::args`, no clap), [`parse_duration`] (Go's
//! units, so `compare` passes the same flags to the Go versions),
//! [`refuse`] (one line and exit status 2) and [`fmt_num`] (the figures of
//! the `result:` lines and of compare's tables).
//!
//! The examples reach these through their `common` module
//! (`examples/common/mod.rs` re-exports them); `compare` uses them
//! directly.

use std::io::Write;
use std::str::FromStr;
use std::time::Duration;

/// The command line of one program, consumed flag by flag; whatever is left at
/// [`Flags::finish`] is an error (a typo never silently runs the defaults).
pub struct Flags {
    /// The program's name, for messages.
    name: &'static str,
    /// Its usage text, printed by `--help` and after a bad flag.
    usage: &'static str,
    /// Arguments not consumed yet.
    rest: Vec<String>,
}

impl Flags {
    /// Reads `std::env::args`; `--help` prints `usage` and exits 0.
    pub fn parse(name: &'static str, usage: &'static str) -> Flags {
        let rest: Vec<String> = std::env::args().skip(1).collect();
        if rest.iter().any(|a| a == "--help" || a == "-h") {
            // Written as the examples' `say` writes: a closed stdout
            // (`--help | head -1`) is not a crash.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{usage}").and_then(|()| out.flush());
            std::process::exit(0);
        }
        Flags { name, usage, rest }
    }

    /// Whether the bare flag `name` (e.g. `--threads`) was given.
    pub fn flag(&mut self, name: &str) -> bool {
        let before = self.rest.len();
        self.rest.retain(|a| a != name);
        before != self.rest.len()
    }

    /// The raw text of `--name V` or `--name=V`, if given.
    pub fn text(&mut self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        if let Some(i) = self.rest.iter().position(|a| a.starts_with(&prefix)) {
            let a = self.rest.remove(i);
            return Some(a[prefix.len()..].to_string());
        }
        let i = self.rest.iter().position(|a| a == name)?;
        if i + 1 >= self.rest.len() {
            self.fail(&format!("{name} needs a value"));
        }
        self.rest.remove(i);
        Some(self.rest.remove(i))
    }

    /// `--name V` parsed as a `T`, or `default`.
    pub fn value<T: FromStr>(&mut self, name: &str, default: T) -> T {
        match self.text(name) {
            None => default,
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| self.fail(&format!("{name} {v:?}: not a valid value"))),
        }
    }

    /// `--name DUR` (`250ms`, `1s`, `1.5s`, `200us`; a bare number is
    /// milliseconds), or `default`.
    pub fn duration(&mut self, name: &str, default: Duration) -> Duration {
        match self.text(name) {
            None => default,
            Some(v) => parse_duration(&v).unwrap_or_else(|| {
                self.fail(&format!(
                    "{name} {v:?}: expected a duration such as 100ms or 1s"
                ))
            }),
        }
    }

    /// `--name 1,2,4` as a list, or `default`.
    pub fn list(&mut self, name: &str, default: Vec<usize>) -> Vec<usize> {
        match self.text(name) {
            None => default,
            Some(v) => v
                .split(',')
                .map(|x| x.trim().parse().ok())
                .collect::<Option<Vec<usize>>>()
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| self.fail(&format!("{name} {v:?}: expected e.g. 1,2,4"))),
        }
    }

    /// Ends parsing: any argument left over is an error.
    pub fn finish(self) {
        if let Some(a) = self.rest.first() {
            self.fail(&format!("unknown argument {a:?}"));
        }
    }

    /// Prints `msg` and the usage on stderr, exits 2.
    pub fn fail(&self, msg: &str) -> ! {
        eprintln!("{}: {msg}\n\n{}", self.name, self.usage);
        std::process::exit(2)
    }
}

/// Parses `1s`, `250ms`, `1.5s`, `200us`, `50ns`, `2m`; a bare number is
/// milliseconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().ok()?;
    let secs = match unit {
        "" | "ms" => v / 1e3,
        "s" => v,
        "us" | "µs" => v / 1e6,
        "ns" => v / 1e9,
        "m" => v * 60.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

/// Prints `msg` prefixed by the program's name and exits 2: for a path the
/// running build cannot take (an mn-only feature asked for in single mode,
/// or mn itself before it is built). Never a fake run.
pub fn refuse(name: &str, msg: &str) -> ! {
    eprintln!("{name}: {msg}");
    std::process::exit(2)
}

/// A number with about four significant digits, no exponent, no trailing
/// zeros (`512.3`, `0.2503`, `1200000`).
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "nan".into();
    }
    let decimals = match v.abs() {
        a if a >= 1000.0 => 0,
        a if a >= 100.0 => 1,
        a if a >= 1.0 => 2,
        _ => 4,
    };
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}
