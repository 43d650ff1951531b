//! What the three example servers (`echo`, `http`, `metrics`) share, tested
//! on each as a child process in every mode the build has: how they stop
//! (SIGINT and SIGTERM exit 0, whether or not anyone still reads stdout),
//! and how much they write on stderr when things go wrong at a high rate
//! (a few lines a second, not one per failure).

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use util::{example, mode_envs, Proc};

/// The servers, with the arguments that make each listen on a free port.
const SERVERS: [(&str, &[&str]); 3] = [
    ("echo", &["127.0.0.1:0"]),
    ("http", &["--addr", "127.0.0.1:0"]),
    ("metrics", &["127.0.0.1:0"]),
];

/// Starts server `name` in mode `env`; returns it and its address.
fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> (Proc, SocketAddr) {
    let mut cmd = Command::new(example(name));
    cmd.args(args).envs(env.iter().copied());
    let mut p = Proc::spawn(cmd);
    let addr = p.listening_addr();
    (p, addr)
}

/// One exchange the server answers: an echo, or an HTTP GET (which both
/// http and metrics answer). Returns the bytes that came back.
fn exchange(name: &str, addr: SocketAddr) -> Vec<u8> {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let ask: &[u8] = match name {
        "echo" => b"ping",
        _ => b"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n",
    };
    c.write_all(ask).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    back
}

#[test]
fn a_signal_stops_each_server_with_status_0_even_when_stdout_is_closed() {
    for env in mode_envs() {
        for (name, args) in SERVERS {
            for (sig, keep_stdout) in [("INT", true), ("INT", false), ("TERM", false)] {
                let (mut p, addr) = start(name, args, &env);
                if !keep_stdout {
                    // The reader of stdout goes away (`server | head -1`).
                    p.stdout = None;
                }
                assert!(!exchange(name, addr).is_empty(), "{name} answers");
                p.signal(sig);
                let st = p
                    .wait_timeout(Duration::from_secs(10))
                    .unwrap_or_else(|| panic!("{name} {env:?}: still running after SIG{sig}"));
                let err = p.stderr();
                assert_eq!(
                    st.code(),
                    Some(0),
                    "{name} {env:?} SIG{sig} stdout kept: {keep_stdout}: {st}; stderr: {err}"
                );
                assert!(!err.contains("panicked"), "{name}: {err}");
                if keep_stdout {
                    let out = p.rest_of_stdout();
                    assert!(out.contains(&format!("{name}: SIG{sig}")), "{name}: {out}");
                }
            }
        }
    }
}

/// Reads `r` to its end on a thread of its own (a child's stderr, which
/// must be drained while the child runs).
fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

/// Starts `name` with `args` under a hard limit of `fds` descriptors.
fn start_limited(name: &str, args: &str, fds: u32, env: &[(&str, &str)]) -> (Proc, SocketAddr) {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -n {fds} && exec {} {args}",
            example(name).display()
        ))
        .envs(env.iter().copied());
    let mut p = Proc::spawn(cmd);
    let addr = p.listening_addr();
    (p, addr)
}

#[test]
fn out_of_descriptors_http_writes_a_few_lines_a_second_and_recovers() {
    let _ = rt_base::sys::raise_nofile_limit();
    for env in mode_envs() {
        // A connection cap above the descriptor limit (the default keeps
        // below it), so accept does fail.
        let (mut p, addr) = start_limited("http", "--addr 127.0.0.1:0 --max-conns 1000", 48, &env);
        let stderr = drain(p.take_stderr());
        // Far more connections than descriptors, held open: the server
        // accepts until EMFILE and then must wait, not log every retry.
        let t0 = Instant::now();
        let held: Vec<TcpStream> = (0..200)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(2500));
        let secs = t0.elapsed().as_secs_f64();
        drop(held);
        // Descriptors free again: a new client is served.
        let deadline = Instant::now() + Duration::from_secs(20);
        let back = loop {
            let back = exchange("http", addr);
            if !back.is_empty() || Instant::now() > deadline {
                break back;
            }
        };
        assert!(
            String::from_utf8_lossy(&back).starts_with("HTTP/1.1 200 OK"),
            "{env:?}: served after the clients left: {back:?}"
        );
        p.signal("INT");
        p.wait_timeout(Duration::from_secs(10)).expect("exits");
        let err = stderr.join().unwrap();
        let lines = err.lines().count();
        // At most 10 lines and one summary a second.
        assert!(
            (lines as f64) <= 11.0 * (secs + 1.0),
            "{env:?}: {lines} lines in {secs:.1} s:\n{err}"
        );
        assert!(
            err.contains("backing off") && err.contains("Too many open files"),
            "{env:?}: {err}"
        );
    }
}

#[test]
fn a_burst_of_resets_gives_metrics_a_few_lines_and_a_count() {
    for env in mode_envs() {
        let (mut p, addr) = start("metrics", &["127.0.0.1:0"], &env);
        let stderr = drain(p.take_stderr());
        // 300 clients that send half a request and reset the connection:
        // each is an error for the server.
        for _ in 0..300 {
            let c = TcpStream::connect(addr).unwrap();
            (&c).write_all(b"GET /metr").unwrap();
            socket2::SockRef::from(&c)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
        }
        // The summary of the burst comes when its second is over.
        std::thread::sleep(Duration::from_millis(1500));
        assert!(!exchange("metrics", addr).is_empty(), "still serving");
        p.signal("INT");
        let st = p.wait_timeout(Duration::from_secs(10)).expect("exits");
        assert_eq!(st.code(), Some(0));
        let err = stderr.join().unwrap();
        let resets = err.lines().filter(|l| l.contains("reset")).count();
        assert!(resets >= 1, "{env:?}: the resets are reported: {err}");
        assert!(resets <= 20, "{env:?}: {resets} lines:\n{err}");
        assert!(
            err.contains("more error lines in the last second not shown"),
            "{env:?}: the rest are counted: {err}"
        );
        assert!(err.lines().count() <= 25, "{env:?}: {err}");
    }
}

#[test]
fn the_fault_run_passes_its_reset_checks_in_both_modes() {
    // scripts/faults.sh is run by hand; its quickest part runs here so the
    // harness itself keeps working (debug builds, next to this binary's).
    let faults = example("faults");
    let bins = faults.parent().unwrap().to_path_buf();
    let out = Command::new(&faults)
        .args(["--only", "rst", "--modes", "single,mn", "--bins"])
        .arg(&bins)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{table}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<&str> = table.lines().filter(|l| l.contains("RST")).collect();
    assert_eq!(rows.len(), 4, "echo and http, single and mn:\n{table}");
    assert!(rows.iter().all(|r| r.contains("| pass |")), "{table}");
}
