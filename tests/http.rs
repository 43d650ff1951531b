//! The http example as its users run it: a child process on 127.0.0.1,
//! driven by real clients in every mode the build has. What it must do as
//! a server people leave running: keep its own bookkeeping bounded.

mod util;

use std::collections::BTreeMap;
use std::process::Command;

use util::{example, mode_envs};

/// The key=value pairs of the `result:` line that ends `stdout`.
fn result_fields(stdout: &str) -> BTreeMap<String, String> {
    let line = stdout
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("result:"))
        .unwrap_or_else(|| panic!("no result line last: {stdout}"));
    line.split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// A field of a result line as a number.
fn num(f: &BTreeMap<String, String>, key: &str) -> f64 {
    f.get(key)
        .unwrap_or_else(|| panic!("no {key} in {f:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{key}={} is not a number", f[key]))
}

#[test]
fn the_thread_sampler_keeps_a_bounded_number_of_readings() {
    let http = example("http");
    let runs: Vec<_> = mode_envs()
        .into_iter()
        .map(|env| {
            let http = http.clone();
            std::thread::spawn(move || {
                let out = Command::new(http)
                    .args(["--addr", "127.0.0.1:0", "--for", "4s"])
                    .envs(env.iter().copied())
                    .output()
                    .unwrap();
                let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                assert!(
                    out.status.success(),
                    "{env:?}: {}\n{stdout}\n{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
                (env, result_fields(&stdout))
            })
        })
        .collect();
    for run in runs {
        let (env, f) = run.join().unwrap();
        // A reading every 10 ms for 4 s: ~400 taken (fewer on a busy
        // machine), at most 256 kept (+ the last two).
        assert!(num(&f, "samples_taken") >= 300.0, "{env:?}: {f:?}");
        assert!(num(&f, "samples_kept") <= 258.0, "{env:?}: {f:?}");
        assert!(num(&f, "peak_threads") >= 1.0, "{env:?}: {f:?}");
    }
}
