//! Helpers shared by the integration tests: finding and running the example
//! binaries as child processes, reading /proc, deterministic payloads.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

/// The target directory's profile folder this test binary lives in.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test>-<hash>
    exe.parent()
        .and_then(|p| p.parent())
        .expect("target dir")
        .to_path_buf()
}

/// The path of example `name`, after one `cargo build --examples` per test
/// process, with the features the test was built with (a no-op when they
/// are up to date; never a stale binary from an older tree).
pub fn example(name: &str) -> PathBuf {
    static BUILD: Once = Once::new();
    let path = profile_dir().join("examples").join(name);
    {
        BUILD.call_once(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let release = profile_dir().ends_with("release");
            let mut cmd = Command::new(cargo);
            cmd.args(["build", "--examples"]);
            // The examples this test binary was built to drive: with the
            // `hyper` feature, examples/hyper.rs too.
            if cfg!(feature = "hyper") {
                cmd.args(["--features", "hyper"]);
            }
            if release {
                cmd.arg("--release");
            }
            let st = cmd.status().expect("cargo build --examples");
            assert!(st.success(), "building the examples failed");
        });
    }
    assert!(
        path.exists(),
        "example {name} not found at {}",
        path.display()
    );
    path
}

/// A child process killed (and reaped) when dropped.
pub struct Proc {
    pub child: Child,
    pub stdout: Option<BufReader<ChildStdout>>,
}

impl Proc {
    /// Starts `cmd` with piped stdout and stderr.
    pub fn spawn(mut cmd: Command) -> Proc {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn child");
        let stdout = child.stdout.take().map(BufReader::new);
        Proc { child, stdout }
    }

    /// Reads stdout lines until one starts with `prefix`; returns the rest.
    pub fn wait_line(&mut self, prefix: &str) -> String {
        let out = self.stdout.as_mut().expect("stdout");
        let mut line = String::new();
        loop {
            line.clear();
            let n = out.read_line(&mut line).expect("read child stdout");
            assert!(
                n > 0,
                "child exited before printing {prefix:?}; stderr: {}",
                self.stderr()
            );
            if let Some(rest) = line.trim_end().strip_prefix(prefix) {
                return rest.trim().to_string();
            }
        }
    }

    /// The `listening on ADDR` address of a server child.
    pub fn listening_addr(&mut self) -> std::net::SocketAddr {
        self.wait_line("listening on").parse().expect("address")
    }

    /// Everything on stderr (call after the child exited or was killed).
    pub fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }

    /// The stderr pipe, to read while the child runs.
    pub fn take_stderr(&mut self) -> ChildStderr {
        self.child.stderr.take().expect("stderr")
    }

    /// Rest of stdout.
    pub fn rest_of_stdout(&mut self) -> String {
        let mut s = String::new();
        if let Some(out) = self.stdout.as_mut() {
            let _ = out.read_to_string(&mut s);
        }
        s
    }

    /// Sends a signal.
    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(st.success());
    }

    /// Waits up to `limit` for the child to exit.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// `Threads:` of the child from /proc.
    pub fn threads(&self) -> usize {
        proc_status(self.child.id(), "Threads:")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A numeric field of /proc/PID/status.
pub fn proc_status(pid: u32, field: &str) -> usize {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Deterministic pseudo-random bytes (xorshift).
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Two single-mode loops (`RUNTIME_LOOPS=2`), as `RUNTIME_*` variables.
pub fn loops_env() -> Vec<(&'static str, &'static str)> {
    vec![("RUNTIME_MODE", "single"), ("RUNTIME_LOOPS", "2")]
}

/// [`mode_envs`] and two single-mode loops ([`loops_env`]), for the
/// servers written with `run_each`.
pub fn server_envs() -> Vec<Vec<(&'static str, &'static str)>> {
    let mut envs = mode_envs();
    envs.push(loops_env());
    envs
}

/// The modes a child process can be started in, as `RUNTIME_*` variables.
pub fn mode_envs() -> Vec<Vec<(&'static str, &'static str)>> {
    vec![
        vec![("RUNTIME_MODE", "single")],
        vec![("RUNTIME_MODE", "mn"), ("RUNTIME_MAXPROCS", "1")],
        vec![("RUNTIME_MODE", "mn"), ("RUNTIME_MAXPROCS", "4")],
    ]
}
