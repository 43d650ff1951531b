//! The http example as its users run it: a child process on 127.0.0.1,
//! driven by real clients in every mode the build has. What it must do as
//! a server people leave running: parse request heads the same however
//! their bytes arrive, refuse what it does not handle with a status, hold
//! slow, idle and non-reading clients for a bounded time, keep to its
//! connection cap without starving normal requests, keep its memory per
//! connection and its own bookkeeping bounded.

mod util;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use util::{example, mode_envs, proc_status, server_envs, Proc};

/// Starts http on a free port in mode `env`, with `args` besides.
fn start_http(env: &[(&str, &str)], args: &[&str]) -> (Proc, SocketAddr) {
    let mut cmd = Command::new(example("http"));
    cmd.args(["--addr", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied());
    let mut p = Proc::spawn(cmd);
    let addr = p.listening_addr();
    (p, addr)
}

/// Sends `req` in writes of at most `piece` bytes (on a thread, ignoring
/// write errors: the server may answer and close before it has all), then
/// reads what comes back until the server closes or 10 s pass.
fn ask(addr: SocketAddr, req: &[u8], piece: usize) -> String {
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let writer = {
        let mut w = c.try_clone().unwrap();
        let req = req.to_vec();
        std::thread::spawn(move || {
            for p in req.chunks(piece) {
                if w.write_all(p).is_err() {
                    return;
                }
                if piece < req.len() {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        })
    };
    let mut back = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = (&c).read(&mut buf) {
        if n == 0 {
            break;
        }
        back.extend_from_slice(&buf[..n]);
    }
    writer.join().unwrap();
    String::from_utf8_lossy(&back).into_owned()
}

/// The status codes of the responses in `text`, in order.
fn statuses(text: &str) -> Vec<u16> {
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text[i + 9..].get(..3)?.parse().ok())
        .collect()
}

/// A GET whose head is exactly `len` bytes long (padded with one field).
fn head_of(len: usize) -> Vec<u8> {
    let start = "GET / HTTP/1.1\r\nConnection: close\r\nX-Fill: ";
    let end = "\r\n\r\n";
    let fill = len - start.len() - end.len();
    format!("{start}{}{end}", "a".repeat(fill)).into_bytes()
}

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
                    .args(["--addr", "127.0.0.1:0", "--for", "8s"])
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
        // A reading every 10 ms for 8 s: ~800 taken (far fewer on a busy
        // machine), at most 256 kept (+ the last two).
        assert!(num(&f, "samples_taken") >= 300.0, "{env:?}: {f:?}");
        assert!(num(&f, "samples_kept") <= 258.0, "{env:?}: {f:?}");
        assert!(num(&f, "peak_threads") >= 1.0, "{env:?}: {f:?}");
    }
}

#[test]
fn the_64_kib_head_limit_holds_however_the_bytes_arrive() {
    for env in mode_envs() {
        let (_p, addr) = start_http(&env, &[]);
        for piece in [usize::MAX, 1024, 100] {
            for (len, want) in [(65_536, 200), (65_537, 431), (81_000, 431)] {
                let back = ask(addr, &head_of(len), piece);
                assert_eq!(
                    statuses(&back),
                    [want],
                    "{env:?}: a {len}-byte head in writes of {piece}: {back:?}"
                );
            }
        }
    }
}

#[test]
fn content_lengths_must_agree_and_be_digits_and_bodies_are_skipped() {
    let body = "b".repeat(60_000);
    let close = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
    for env in mode_envs() {
        let (_p, addr) = start_http(&env, &[]);
        for (req, want) in [
            (
                "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde"
                    .to_string(),
                vec![400],
            ),
            (
                format!(
                    "POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nabcde{close}"
                ),
                vec![200, 200],
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nabcde".to_string(),
                vec![400],
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 70000\r\n\r\n".to_string(),
                vec![413],
            ),
            (
                format!("POST / HTTP/1.1\r\nContent-Length: 60000\r\n\r\n{body}{close}"),
                vec![200, 200],
            ),
        ] {
            for piece in [usize::MAX, 1000] {
                let back = ask(addr, req.as_bytes(), piece);
                assert_eq!(
                    statuses(&back),
                    want,
                    "{env:?}: {:?}: {back:?}",
                    &req[..60.min(req.len())]
                );
            }
        }
    }
}

#[test]
fn bare_lf_heads_are_answered_and_malformed_ones_get_400() {
    for env in server_envs() {
        let (_p, addr) = start_http(&env, &[]);
        for (req, want) in [
            (
                "GET / HTTP/1.1\nHost: x\n\nGET / HTTP/1.1\nConnection: close\n\n",
                vec![200, 200],
            ),
            (
                "\r\n\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n",
                vec![200],
            ),
            ("GET / HTTP/1.0\n\n", vec![200]),
            ("GET / HTTP/1.1\r\nNoColon\r\n\r\n", vec![400]),
            ("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", vec![400]),
            ("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", vec![400]),
            (
                "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                vec![400],
            ),
            ("GET /\r\n\r\n", vec![400]),
            ("GET / HTTP/2.0\r\n\r\n", vec![400]),
            ("GET  / HTTP/1.1\r\n\r\n", vec![400]),
        ] {
            let back = ask(addr, req.as_bytes(), usize::MAX);
            assert_eq!(statuses(&back), want, "{env:?}: {req:?}: {back:?}");
        }
    }
}

#[test]
fn connections_kept_open_after_large_heads_give_the_memory_back() {
    for env in mode_envs() {
        let (p, addr) = start_http(&env, &[]);
        let pid = p.child.id();
        let head = {
            let mut h = head_of(60_000);
            // Keep-alive: the same head without `Connection: close`.
            let s = String::from_utf8(h)
                .unwrap()
                .replace("Connection: close", "Connection: keep");
            h = s.into_bytes();
            h
        };
        // Warm up (the runtime's own first allocations), then measure.
        let mut warm = TcpStream::connect(addr).unwrap();
        warm.write_all(&head).unwrap();
        read_one_response(&mut warm);
        let before = proc_status(pid, "VmRSS:");
        // One at a time, so at most one large head is in flight: what
        // stays is what each idle connection keeps.
        let mut held = Vec::new();
        for _ in 0..200 {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(&head).unwrap();
            read_one_response(&mut c);
            held.push(c);
        }
        let grown = proc_status(pid, "VmRSS:").saturating_sub(before);
        // 200 idle connections: a few KiB each, not the 64 KiB a head took.
        assert!(grown < 6 * 1024, "{env:?}: RSS grew {grown} KiB");
        for c in &held {
            c.shutdown(Shutdown::Both).unwrap();
        }
    }
}

/// Reads one hello response off a kept-alive connection.
fn read_one_response(c: &mut TcpStream) {
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"Hello, World!") {
        let n = c.read(&mut buf).expect("a response");
        assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
}

/// Starts http under a hard limit of `fds` descriptors.
fn start_http_limited(env: &[(&str, &str)], fds: u32) -> (Proc, SocketAddr) {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -n {fds} && exec {} --addr 127.0.0.1:0",
            example("http").display()
        ))
        .envs(env.iter().copied());
    let mut p = Proc::spawn(cmd);
    let addr = p.listening_addr();
    (p, addr)
}

/// How long after `t0` the server closes `c` (EOF or reset), reading and
/// keeping what it sends; panics after `limit`.
fn time_to_close(c: &mut TcpStream, t0: Instant, limit: Duration) -> (Duration, String) {
    c.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("not closed after {:?}: {e}", t0.elapsed()),
        }
    }
    (t0.elapsed(), String::from_utf8_lossy(&got).into_owned())
}

#[test]
fn slowloris_connections_do_not_starve_normal_requests() {
    let _ = rt_base::sys::raise_nofile_limit();
    for env in mode_envs() {
        // Defaults only, under 64 descriptors: 100 clients that send half
        // a head and stall would hold every descriptor, forever.
        let (_p, addr) = start_http_limited(&env, 64);
        let mut slow = Vec::new();
        for _ in 0..100 {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(b"GET / HTTP/1.1\r\nX-Slow: ").unwrap();
            slow.push(c);
        }
        std::thread::sleep(Duration::from_millis(300));
        for round in 0..3 {
            let t0 = Instant::now();
            let back = ask(
                addr,
                b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
                usize::MAX,
            );
            let took = t0.elapsed();
            assert_eq!(statuses(&back), [200], "{env:?} round {round}: {back:?}");
            assert!(
                took < Duration::from_secs(3),
                "{env:?}: answered after {took:?}"
            );
        }
    }
}

#[test]
fn the_connection_cap_closes_the_longest_idle_connection_for_a_new_one() {
    for env in mode_envs() {
        let (_p, addr) = start_http(&env, &["--max-conns", "4"]);
        let get = b"GET / HTTP/1.1\r\n\r\n";
        let mut idle: Vec<TcpStream> = Vec::new();
        for _ in 0..4 {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(get).unwrap();
            read_one_response(&mut c);
            idle.push(c);
            std::thread::sleep(Duration::from_millis(50));
        }
        // A fifth: served, and the oldest idle one is closed for it.
        let back = ask(
            addr,
            b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
            usize::MAX,
        );
        assert_eq!(statuses(&back), [200], "{env:?}: {back:?}");
        let (_, rest) = time_to_close(&mut idle[0], Instant::now(), Duration::from_secs(5));
        assert_eq!(rest, "", "{env:?}: closed without a word");
        // The others are still served.
        for c in &mut idle[2..] {
            c.write_all(get).unwrap();
            read_one_response(c);
        }
    }
}

#[test]
fn a_head_must_arrive_within_the_head_timeout_even_a_byte_at_a_time() {
    for env in mode_envs() {
        let (_p, addr) = start_http(&env, &["--head-timeout", "1s"]);
        let t0 = Instant::now();
        // Sends nothing: closed, no answer.
        let mut quiet = TcpStream::connect(addr).unwrap();
        // Half a head: 408.
        let mut half = TcpStream::connect(addr).unwrap();
        half.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
        // A byte every 100 ms: still 408 after about 1 s, not reset by each.
        let mut drip = TcpStream::connect(addr).unwrap();
        let dripper = {
            let mut w = drip.try_clone().unwrap();
            std::thread::spawn(move || {
                for b in b"GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                    if w.write_all(&[*b]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        for (name, c, want) in [
            ("quiet", &mut quiet, ""),
            ("half", &mut half, "HTTP/1.1 408"),
            ("drip", &mut drip, "HTTP/1.1 408"),
        ] {
            let (took, got) = time_to_close(c, t0, Duration::from_secs(10));
            assert!(got.starts_with(want), "{env:?} {name}: {got:?}");
            assert!(
                took > Duration::from_millis(600) && took < Duration::from_secs(4),
                "{env:?} {name}: closed after {took:?}"
            );
        }
        dripper.join().unwrap();
    }
}

#[test]
fn kept_alive_connections_close_after_the_idle_timeout_but_not_while_used() {
    for env in mode_envs() {
        let (_p, addr) = start_http(&env, &["--idle-timeout", "1s"]);
        let get = b"GET / HTTP/1.1\r\n\r\n";
        // Used every 300 ms for 2 s: stays open.
        let mut used = TcpStream::connect(addr).unwrap();
        for _ in 0..7 {
            used.write_all(get).unwrap();
            read_one_response(&mut used);
            std::thread::sleep(Duration::from_millis(300));
        }
        // Then left alone: closed after about 1 s.
        let (took, rest) = time_to_close(&mut used, Instant::now(), Duration::from_secs(10));
        assert_eq!(rest, "", "{env:?}");
        assert!(
            took > Duration::from_millis(300) && took < Duration::from_secs(4),
            "{env:?}: closed after {took:?}"
        );
    }
}

#[test]
fn a_client_that_never_reads_is_closed_after_the_idle_timeout() {
    for env in mode_envs() {
        let (p, addr) = start_http(&env, &["--idle-timeout", "1s"]);
        let pid = p.child.id();
        let before = proc_status(pid, "VmRSS:");
        // Pipelined requests, never reading an answer: the answers fill
        // the socket buffers and the server's write stalls.
        let c = TcpStream::connect(addr).unwrap();
        c.set_write_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let batch = b"GET / HTTP/1.1\r\n\r\n".repeat(1000);
        let t0 = Instant::now();
        let closed = loop {
            match (&c).write(&batch) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break t0.elapsed(),
            }
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "{env:?}: never closed"
            );
        };
        assert!(
            closed < Duration::from_secs(8),
            "{env:?}: closed after {closed:?}"
        );
        let grown = proc_status(pid, "VmRSS:").saturating_sub(before);
        assert!(grown < 4 * 1024, "{env:?}: RSS grew {grown} KiB");
        // And the server still answers others.
        let back = ask(
            addr,
            b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
            usize::MAX,
        );
        assert_eq!(statuses(&back), [200], "{env:?}");
    }
}

#[test]
fn at_the_cap_a_burst_of_clients_is_answered_before_any_is_closed() {
    for env in mode_envs() {
        let (_p, addr) = start_http(&env, &["--max-conns", "4"]);
        // 20 clients send a request at once and keep their connections:
        // each is answered (the cap admits them as the idle ones age), none
        // is closed before it was read.
        let mut conns: Vec<TcpStream> = (0..20)
            .map(|_| {
                let mut c = TcpStream::connect(addr).unwrap();
                c.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
                c
            })
            .collect();
        for (i, c) in conns.iter_mut().enumerate() {
            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.ends_with(b"Hello, World!") {
                match c.read(&mut buf) {
                    Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                    other => panic!("{env:?}: client {i} closed unanswered: {other:?}"),
                }
            }
        }
    }
}
