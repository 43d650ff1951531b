//! What `compare` measured, kept in `DIR/results.json`, and the arithmetic
//! of a table cell.
//!
//! A cell (one experiment in one column) holds every run of its command
//! ([`Sample`]s, `--runs N` of them) and the number of the `compare`
//! invocation that ran it ([`RunInfo`]: date, commit, machine, sizes). The
//! table shows a cell as the median of its runs with the min–max beside it
//! ([`Cell::text`]), figures to three significant figures ([`sig`]) and
//! ratios, taken between medians, to two ([`ratio`]).
//!
//! A full run writes a new file; `compare --only X` reads the file, replaces
//! the cells of the experiments it ran (every column) and keeps the rest
//! ([`Results::merge`]), so report.md and the charts are regenerated from
//! all the rows, each still saying which invocation it came from.

use std::collections::BTreeMap;

use crate::child::{Fields, Outcome};
use crate::Col;
use test_support::json::{obj, Value};

/// The `format` field of results.json; a file of another format is not
/// read.
pub const FORMAT: u64 = 1;

/// One run of a cell's command.
#[derive(Clone, Debug)]
pub struct Sample {
    /// What it gave.
    pub outcome: Outcome,
    /// The child's whole-process wall time (start to exit), seconds.
    pub took_s: f64,
    /// Its command line (environment first), or what ran for a load test.
    pub command: String,
}

/// Every run of one experiment in one column, all from one invocation.
#[derive(Clone, Debug)]
pub struct Cell {
    /// The number of the invocation ([`RunInfo::run`]).
    pub run: u32,
    /// Its runs, in order.
    pub samples: Vec<Sample>,
}

/// One invocation of `compare` that contributed rows.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    /// Its number: 1 for the first, one more for each `--only` after it.
    pub run: u32,
    /// `quick` or `full`.
    pub sizes: String,
    /// `--runs`: runs per cell.
    pub runs_per_cell: usize,
    /// Ordered facts for the report: date, commit, machine, command, …
    pub facts: Vec<(String, String)>,
}

impl RunInfo {
    /// The fact named `key`, or "?".
    pub fn fact(&self, key: &str) -> &str {
        self.facts
            .iter()
            .find(|(k, _)| k == key)
            .map_or("?", |(_, v)| v.as_str())
    }
}

/// Every cell, by (experiment id, column), and the invocations they came
/// from.
#[derive(Clone, Debug, Default)]
pub struct Results {
    /// The invocations, oldest first.
    pub runs: Vec<RunInfo>,
    /// The cells.
    pub cells: BTreeMap<(String, Col), Cell>,
}

/// A cell's figure over its runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Agg {
    /// The median of the runs that gave a number.
    pub median: f64,
    /// The smallest of them.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// How many runs gave a number.
    pub ok: usize,
    /// How many runs there were.
    pub runs: usize,
}

/// The median of `v` (the mean of the two middle values for an even
/// count); NaN for none.
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

impl Cell {
    /// (run index, value of `key`) for every run that gave one.
    fn values(&self, key: &str) -> Vec<(usize, f64)> {
        self.samples
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, s.outcome.num(key)?)))
            .collect()
    }

    /// The median, min and max of `key` over the runs, if any gave it.
    pub fn agg(&self, key: &str) -> Option<Agg> {
        let vals: Vec<f64> = self.values(key).into_iter().map(|(_, v)| v).collect();
        if vals.is_empty() {
            return None;
        }
        Some(Agg {
            median: median(&vals),
            min: vals.iter().copied().fold(f64::INFINITY, f64::min),
            max: vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            ok: vals.len(),
            runs: self.samples.len(),
        })
    }

    /// The run whose `key` is nearest the median (the lower one of a tie):
    /// the one whose CSV a chart draws.
    pub fn median_run(&self, key: &str) -> Option<usize> {
        let vals = self.values(key);
        let m = median(&vals.iter().map(|v| v.1).collect::<Vec<_>>());
        vals.iter()
            .min_by(|a, b| (a.1 - m).abs().total_cmp(&(b.1 - m).abs()))
            .map(|v| v.0)
    }

    /// The table's text for `key`: `median (min–max)` to three significant
    /// figures (the range left out when it rounds to one number), with
    /// `[k/N ok]` when only k of N runs gave a number; with none, why not
    /// (the first run's reason).
    pub fn text(&self, key: &str) -> String {
        let Some(a) = self.agg(key) else {
            return self
                .samples
                .first()
                .map_or_else(|| "—".into(), |s| s.outcome.cell(key));
        };
        let mut t = sig(a.median, 3);
        let (lo, hi) = (sig(a.min, 3), sig(a.max, 3));
        if a.ok > 1 && lo != hi {
            t = format!("{t} ({lo}–{hi})");
        }
        if a.ok < a.runs {
            t = format!("{t} [{}/{} ok]", a.ok, a.runs);
        }
        t
    }
}

/// `v` rounded to `digits` significant figures, without exponent: an
/// integer below 10^digits prints as it is (`4`, `13`), a larger one
/// rounded (`137330` → `137000` for 3), a fraction with as many decimals as
/// the figures need (`0.1026` → `0.103`, `9.996` → `10.0`).
pub fn sig(v: f64, digits: u32) -> String {
    if !v.is_finite() {
        return "nan".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let limit = 10f64.powi(digits as i32);
    if v.fract() == 0.0 && v.abs() < limit {
        return format!("{v:.0}");
    }
    round_sig(v, digits)
}

/// `v` rounded to `digits` significant figures, trailing zeros kept
/// (`4.0` for 2): [`sig`] without its whole-number rule.
fn round_sig(v: f64, digits: u32) -> String {
    if !v.is_finite() {
        return "nan".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let mag = |x: f64| x.abs().log10().floor() as i32;
    let scale = 10f64.powi(mag(v) + 1 - digits as i32);
    let r = (v / scale).round() * scale;
    let decimals = (digits as i32 - 1 - mag(r)).max(0) as usize;
    format!("{r:.decimals$}")
}

/// A ratio to two significant figures, with `×` (`1.0×`, `0.10×`, `23×`).
pub fn ratio(x: f64) -> String {
    format!("{}×", round_sig(x, 2))
}

impl Results {
    /// The newest invocation.
    pub fn latest(&self) -> Option<&RunInfo> {
        self.runs.iter().max_by_key(|r| r.run)
    }

    /// `self` with one more invocation: `info` (its number is set here, one
    /// past the highest) and its `cells`. Every experiment id that `cells`
    /// has loses all its old cells, in every column; invocations that no
    /// cell comes from any more are dropped.
    pub fn merge(mut self, mut info: RunInfo, cells: BTreeMap<(String, Col), Cell>) -> Results {
        let run = self.runs.iter().map(|r| r.run).max().unwrap_or(0) + 1;
        info.run = run;
        self.cells
            .retain(|(id, _), _| !cells.keys().any(|(i, _)| i == id));
        for (k, mut c) in cells {
            c.run = run;
            self.cells.insert(k, c);
        }
        self.runs.push(info);
        let used: Vec<u32> = self.cells.values().map(|c| c.run).collect();
        self.runs.retain(|r| used.contains(&r.run));
        self
    }

    /// As JSON. Every object has its keys in alphabetical order, the
    /// layout of results.json since format 1.
    pub fn to_json(&self) -> Value {
        let runs: Vec<Value> = self
            .runs
            .iter()
            .map(|r| {
                let facts: Vec<Value> = r
                    .facts
                    .iter()
                    .map(|(k, v)| vec![Value::from(k), Value::from(v)].into())
                    .collect();
                obj([
                    ("facts", facts.into()),
                    ("run", r.run.into()),
                    ("runs_per_cell", r.runs_per_cell.into()),
                    ("sizes", (&r.sizes).into()),
                ])
            })
            .collect();
        let cells: Vec<Value> = self
            .cells
            .iter()
            .map(|((id, col), c)| {
                let samples: Vec<Value> = c.samples.iter().map(sample_json).collect();
                obj([
                    ("col", col.file().into()),
                    ("id", id.into()),
                    ("run", c.run.into()),
                    ("samples", samples.into()),
                ])
            })
            .collect();
        obj([
            ("cells", cells.into()),
            ("format", FORMAT.into()),
            ("runs", runs.into()),
        ])
    }

    /// Reads what [`Results::to_json`] wrote (its keys in any order).
    pub fn from_json(v: &Value) -> Result<Results, String> {
        if v["format"].as_u64() != Some(FORMAT) {
            return Err(format!(
                "format {} (this compare reads format {FORMAT})",
                v["format"]
            ));
        }
        let bad = |what: &str| format!("a malformed {what}");
        let mut out = Results::default();
        for r in v["runs"].as_array().ok_or_else(|| bad("runs list"))? {
            let facts = r["facts"]
                .as_array()
                .ok_or_else(|| bad("run's facts"))?
                .iter()
                .map(|kv| Some((kv[0].as_str()?.to_string(), kv[1].as_str()?.to_string())))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("fact"))?;
            out.runs.push(RunInfo {
                run: number_u32(&r["run"]).ok_or_else(|| bad("run number"))?,
                sizes: r["sizes"].as_str().unwrap_or("?").to_string(),
                runs_per_cell: r["runs_per_cell"].as_u64().unwrap_or(0) as usize,
                facts,
            });
        }
        for c in v["cells"].as_array().ok_or_else(|| bad("cells list"))? {
            let id = c["id"].as_str().ok_or_else(|| bad("cell id"))?;
            let col = c["col"]
                .as_str()
                .and_then(Col::from_file)
                .ok_or_else(|| bad("cell column"))?;
            let samples = c["samples"]
                .as_array()
                .ok_or_else(|| bad("cell's samples"))?
                .iter()
                .map(sample_from_json)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("sample"))?;
            let run = number_u32(&c["run"]).ok_or_else(|| bad("cell's run"))?;
            out.cells
                .insert((id.to_string(), col), Cell { run, samples });
        }
        Ok(out)
    }
}

/// `v` as a `u32`, if it is a whole number that fits.
fn number_u32(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok())
}

/// One run as JSON: `command`, `took_s` and one of `ok` (the result
/// line's fields, as strings), `failed` (`status` and `message`) or
/// `skipped` (why), keys in alphabetical order.
fn sample_json(s: &Sample) -> Value {
    let outcome = match &s.outcome {
        Outcome::Ok(f) => ("ok", obj(f.iter().map(|(k, v)| (k.as_str(), v.into())))),
        Outcome::Failed { status, message } => (
            "failed",
            obj([("message", message.into()), ("status", status.into())]),
        ),
        Outcome::Skipped(why) => ("skipped", why.into()),
    };
    obj([
        ("command", (&s.command).into()),
        outcome,
        ("took_s", s.took_s.into()),
    ])
}

/// Reads what [`sample_json`] wrote; `None` if anything is missing or of
/// the wrong kind.
fn sample_from_json(v: &Value) -> Option<Sample> {
    let outcome = if let Some(f) = v.get("ok") {
        let fields: Fields = f
            .as_object()?
            .iter()
            .map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect::<Option<_>>()?;
        Outcome::Ok(fields)
    } else if let Some(f) = v.get("failed") {
        Outcome::Failed {
            status: f["status"].as_str()?.to_string(),
            message: f["message"].as_str()?.to_string(),
        }
    } else {
        Outcome::Skipped(v.get("skipped")?.as_str()?.to_string())
    };
    Some(Sample {
        outcome,
        took_s: v["took_s"].as_f64()?,
        command: v["command"].as_str()?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(pairs: &[(&str, &str)]) -> Sample {
        Sample {
            outcome: Outcome::Ok(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            took_s: 0.5,
            command: "cmd".into(),
        }
    }

    fn failed() -> Sample {
        Sample {
            outcome: Outcome::Failed {
                status: "exit 1".into(),
                message: "boom".into(),
            },
            took_s: 0.1,
            command: "cmd".into(),
        }
    }

    fn cell(values: &[&str]) -> Cell {
        Cell {
            run: 0,
            samples: values.iter().map(|v| ok(&[("ns", v)])).collect(),
        }
    }

    fn info(date: &str) -> RunInfo {
        RunInfo {
            run: 0,
            sizes: "quick".into(),
            runs_per_cell: 3,
            facts: vec![("date (UTC)".into(), date.into())],
        }
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[7.0]), 7.0);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn a_cell_is_the_median_with_min_and_max() {
        let c = cell(&["136.3", "257.9", "140.1"]);
        let a = c.agg("ns").unwrap();
        assert_eq!((a.median, a.min, a.max), (140.1, 136.3, 257.9));
        assert_eq!((a.ok, a.runs), (3, 3));
        assert_eq!(c.text("ns"), "140 (136–258)");
        assert_eq!(c.median_run("ns"), Some(2));
    }

    #[test]
    fn a_range_that_rounds_to_one_number_is_left_out() {
        assert_eq!(cell(&["4", "4", "4"]).text("ns"), "4");
        assert_eq!(cell(&["137330", "137340"]).text("ns"), "137000");
        assert_eq!(cell(&["82.19"]).text("ns"), "82.2");
    }

    #[test]
    fn failed_runs_are_counted_not_averaged() {
        let mut c = cell(&["10", "12"]);
        c.samples.push(failed());
        assert_eq!(c.text("ns"), "11 (10–12) [2/3 ok]");
        let none = Cell {
            run: 0,
            samples: vec![failed(), failed()],
        };
        assert_eq!(none.agg("ns"), None);
        assert_eq!(none.text("ns"), "failed (exit 1)");
        assert_eq!(cell(&["10"]).text("other_key"), "—");
    }

    #[test]
    fn significant_figures() {
        let cases = [
            (82.19, "82.2"),
            (0.1026, "0.103"),
            (137330.0, "137000"),
            (69915.0, "69900"),
            (4.0, "4"),
            (13.0, "13"),
            (100000.0, "100000"),
            (1.0, "1"),
            (9.996, "10.0"),
            (0.509, "0.509"),
            (2.5, "2.50"),
            (-12.34, "-12.3"),
            (0.0, "0"),
        ];
        for (v, want) in cases {
            assert_eq!(sig(v, 3), want, "{v}");
        }
        assert_eq!(sig(f64::NAN, 3), "nan");
    }

    #[test]
    fn ratios_have_two_significant_figures() {
        assert_eq!(ratio(1.0088), "1.0×");
        assert_eq!(ratio(1.88), "1.9×");
        assert_eq!(ratio(0.1026), "0.10×");
        assert_eq!(ratio(850.7), "850×");
        assert_eq!(ratio(23.0), "23×");
        assert_eq!(ratio(2.44), "2.4×");
        assert_eq!(ratio(1.0), "1.0×");
        assert_eq!(ratio(4.0), "4.0×");
        assert_eq!(ratio(13.0), "13×");
    }

    #[test]
    fn merge_replaces_every_column_of_the_ids_it_ran_and_keeps_the_rest() {
        let mut first = BTreeMap::new();
        for id in ["ping_pong", "spawn_cost"] {
            for col in Col::ALL {
                first.insert((id.to_string(), col), cell(&["1"]));
            }
        }
        let r = Results::default().merge(info("day 1"), first);
        assert_eq!(r.runs.len(), 1);
        assert_eq!(r.runs[0].run, 1);

        // `--only ping_pong` ran only the mn column's command successfully;
        // its Go cell was skipped this time.
        let mut second = BTreeMap::new();
        second.insert(("ping_pong".to_string(), Col::Mn), cell(&["2", "3"]));
        let r = r.merge(info("day 2"), second);
        assert_eq!(r.runs.iter().map(|r| r.run).collect::<Vec<_>>(), [1, 2]);
        let pp = &r.cells[&("ping_pong".to_string(), Col::Mn)];
        assert_eq!((pp.run, pp.text("ns")), (2, "2.50 (2–3)".to_string()));
        assert!(!r
            .cells
            .contains_key(&("ping_pong".to_string(), Col::Single)));
        let sc = &r.cells[&("spawn_cost".to_string(), Col::Go)];
        assert_eq!((sc.run, sc.text("ns")), (1, "1".to_string()));
        assert_eq!(r.latest().unwrap().fact("date (UTC)"), "day 2");

        // Rerunning spawn_cost too leaves nothing of run 1: it is dropped.
        let mut third = BTreeMap::new();
        for col in Col::ALL {
            third.insert(("spawn_cost".to_string(), col), cell(&["5"]));
        }
        let r = r.merge(info("day 3"), third);
        assert_eq!(r.runs.iter().map(|r| r.run).collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn json_round_trip_keeps_every_outcome() {
        let mut cells = BTreeMap::new();
        let mut c = cell(&["1.5"]);
        c.samples.push(failed());
        c.samples.push(Sample {
            outcome: Outcome::Skipped("no Go version".into()),
            took_s: 0.0,
            command: String::new(),
        });
        cells.insert(("spawn_cost".to_string(), Col::Go), c);
        let r = Results::default().merge(info("day 1"), cells);
        let text = r.to_json().to_string_pretty();
        let back = Results::from_json(&Value::parse(&text).unwrap()).unwrap();
        assert_eq!(back.runs, r.runs);
        let c = &back.cells[&("spawn_cost".to_string(), Col::Go)];
        assert_eq!(c.samples.len(), 3);
        assert_eq!(c.text("ns"), "1.50 [1/3 ok]");
        assert!(
            matches!(&c.samples[1].outcome, Outcome::Failed { status, .. } if status == "exit 1")
        );
        assert!(matches!(&c.samples[2].outcome, Outcome::Skipped(w) if w == "no Go version"));

        let other = obj([("format", Value::from(99u64))]);
        assert!(Results::from_json(&other)
            .unwrap_err()
            .contains("format 99"));
    }

    /// A results.json as compare wrote it before it had its own JSON
    /// printer, byte for byte, with every outcome in it.
    const OLD_FILE: &str = r#"{
  "cells": [
    {
      "col": "go",
      "id": "spawn_cost",
      "run": 2,
      "samples": [
        {
          "command": "RUNTIME_MODE=single spawn_cost --tasks 1000",
          "ok": {
            "experiment": "spawn_cost",
            "ns_per_task": "82.19"
          },
          "took_s": 0.5
        },
        {
          "command": "cmd",
          "failed": {
            "message": "line \"one\"\nline two\t\u001b[0m",
            "status": "exit 1"
          },
          "took_s": 12.25
        },
        {
          "command": "",
          "skipped": "no Go version",
          "took_s": 0.0
        }
      ]
    }
  ],
  "format": 1,
  "runs": [
    {
      "facts": [
        [
          "date (UTC)",
          "day 1 — ünïcode"
        ]
      ],
      "run": 2,
      "runs_per_cell": 3,
      "sizes": "quick"
    }
  ]
}"#;

    #[test]
    fn an_older_file_loads_and_is_written_back_the_same() {
        let r = Results::from_json(&Value::parse(OLD_FILE).unwrap()).unwrap();
        assert_eq!(r.runs.len(), 1);
        assert_eq!(r.runs[0].run, 2);
        assert_eq!(r.runs[0].fact("date (UTC)"), "day 1 — ünïcode");
        let c = &r.cells[&("spawn_cost".to_string(), Col::Go)];
        assert_eq!(c.run, 2);
        assert_eq!(c.text("ns_per_task"), "82.2 [1/3 ok]");
        assert!(matches!(
            &c.samples[1].outcome,
            Outcome::Failed { message, .. } if message == "line \"one\"\nline two\t\u{1b}[0m"
        ));
        assert_eq!(c.samples[1].took_s, 12.25);
        // Written back the same, but for a whole float's ".0", which
        // the printer now leaves out.
        assert_eq!(
            r.to_json().to_string_pretty(),
            OLD_FILE.replace("\"took_s\": 0.0\n", "\"took_s\": 0\n")
        );

        // A tiny float the older printer wrote with an exponent reads back.
        let tiny = OLD_FILE.replace("\"took_s\": 0.5\n", "\"took_s\": 2.5e-7\n");
        let r = Results::from_json(&Value::parse(&tiny).unwrap()).unwrap();
        let c = &r.cells[&("spawn_cost".to_string(), Col::Go)];
        assert_eq!((c.samples[0].took_s, c.samples[2].took_s), (2.5e-7, 0.0));
    }

    #[test]
    fn malformed_files_are_refused_with_a_reason() {
        let load = |text: &str| Results::from_json(&Value::parse(text).unwrap());
        assert!(load(r#"{"runs": []}"#).unwrap_err().contains("format null"));
        assert_eq!(
            load(r#"{"format": 1, "runs": [], "cells": [{"id": "x", "col": "tpu"}]}"#).unwrap_err(),
            "a malformed cell column"
        );
        let no_took = r#"{"format": 1, "runs": [], "cells": [{"id": "x", "col": "mn",
            "run": 1, "samples": [{"command": "c", "skipped": "why"}]}]}"#;
        assert_eq!(load(no_took).unwrap_err(), "a malformed sample");
        let huge_run = r#"{"format": 1, "cells": [], "runs": [{"run": 5e9, "facts": []}]}"#;
        assert_eq!(load(huge_run).unwrap_err(), "a malformed run number");
    }
}
