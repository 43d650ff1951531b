//! The echo example as its users run it: a child process on 127.0.0.1,
//! driven by real clients, in every mode the build has.

mod util;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use util::{example, mode_envs, payload, Proc};

fn start_echo(env: &[(&str, &str)]) -> (Proc, SocketAddr) {
    let mut cmd = Command::new(example("echo"));
    cmd.arg("127.0.0.1:0").envs(env.iter().copied());
    let mut p = Proc::spawn(cmd);
    let addr = p.listening_addr();
    (p, addr)
}

/// Sends `data`, half-closes, reads everything back.
fn round_trip(addr: SocketAddr, data: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let writer = {
        let mut w = c.try_clone().unwrap();
        let data = data.to_vec();
        std::thread::spawn(move || {
            w.write_all(&data).unwrap();
            w.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    writer.join().unwrap();
    back
}

#[test]
fn concurrent_clients_get_their_random_payloads_back_byte_for_byte() {
    for env in mode_envs() {
        let (_p, addr) = start_echo(&env);
        let clients: Vec<_> = (0..64u64)
            .map(|i| {
                std::thread::spawn(move || {
                    let data = payload(i, 1 + (i as usize * 104_729) % 300_000);
                    let back = round_trip(addr, &data);
                    assert_eq!(back.len(), data.len(), "client {i}");
                    assert!(back == data, "client {i}: bytes differ");
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
    }
}

#[test]
fn thousands_of_connections_are_served_at_once() {
    let _ = loop_core_limit();
    for env in mode_envs() {
        let (p, addr) = start_echo(&env);
        let mut conns: Vec<TcpStream> = (0..2000)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        for (i, c) in conns.iter_mut().enumerate() {
            c.write_all(&(i as u32).to_le_bytes()).unwrap();
        }
        for (i, c) in conns.iter_mut().enumerate() {
            c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut b = [0u8; 4];
            c.read_exact(&mut b).unwrap();
            assert_eq!(u32::from_le_bytes(b), i as u32);
        }
        if env.contains(&("RUNTIME_MODE", "single")) {
            assert_eq!(
                p.threads(),
                1,
                "single mode serves 2000 connections on one thread"
            );
        }
    }
}

/// Raises this test process's own fd limit (2000 client sockets).
fn loop_core_limit() -> u64 {
    loop_core::sys::raise_nofile_limit().unwrap()
}

#[test]
fn half_closed_connections_get_everything_echoed_then_eof() {
    for env in mode_envs() {
        let (_p, addr) = start_echo(&env);
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"first part, ").unwrap();
        c.write_all(b"second part").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut back = String::new();
        c.read_to_string(&mut back).unwrap();
        assert_eq!(back, "first part, second part");
    }
}

#[test]
fn sigint_and_sigterm_exit_zero_after_printing_stats() {
    for env in mode_envs() {
        for sig in ["INT", "TERM"] {
            let (mut p, addr) = start_echo(&env);
            assert_eq!(round_trip(addr, b"abc"), b"abc");
            p.signal(sig);
            let st = p
                .wait_timeout(Duration::from_secs(10))
                .expect("echo exits on the signal");
            assert_eq!(st.code(), Some(0), "SIG{sig}: {}", p.stderr());
            let out = p.rest_of_stdout();
            assert!(
                out.contains(&format!("SIG{sig}: served 1 connections, 3 bytes")),
                "{out}"
            );
            assert!(out.contains("mode="), "{out}");
        }
    }
}

#[test]
fn bad_environment_values_exit_2_with_one_clear_line() {
    for (var, value, accepted) in [
        ("RUNTIME_MODE", "javascript", "single or mn"),
        ("RUNTIME_MAXPROCS", "lots", "from 1 to 1024"),
        ("RUNTIME_MAXTHREADS", "0", "at least 1"),
        ("RUNTIME_BLOCKING_THREADS", "-1", "at least 1"),
        ("RUNTIME_STACK_SIZE", "2", "16K to 1G"),
        ("RUNTIME_IDLE_THREAD_TIMEOUT", "whenever", "10s"),
        ("RUNTIME_DEBUG", "schedtrace", "schedtrace=MS"),
    ] {
        let out = Command::new(example("echo"))
            .arg("127.0.0.1:0")
            .env(var, value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            err.starts_with(&format!("switchyard: {var}=\"{value}\" is not valid")),
            "{err}"
        );
        assert!(err.contains(accepted), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(out.stdout.is_empty(), "nothing served: {:?}", out.stdout);
    }
}

#[test]
fn out_of_file_descriptors_the_server_backs_off_and_keeps_serving() {
    for env in mode_envs() {
        // A hard limit of 48 descriptors: the server cannot raise it.
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "ulimit -n 48 && exec {} 127.0.0.1:0",
                example("echo").display()
            ))
            .envs(env.iter().copied());
        let mut p = Proc::spawn(cmd);
        let addr = p.listening_addr();
        let mut stderr = p.take_stderr();

        // More connections than the server has descriptors: the kernel
        // completes them all (backlog), the server accepts until EMFILE.
        let mut conns: Vec<TcpStream> =
            (0..80).map(|_| TcpStream::connect(addr).unwrap()).collect();
        for c in &mut conns {
            c.write_all(b"x").unwrap();
        }
        std::thread::sleep(Duration::from_millis(500));
        let mut answered = vec![false; conns.len()];
        for (i, c) in conns.iter_mut().enumerate() {
            c.set_nonblocking(true).unwrap();
            let mut b = [0u8; 1];
            answered[i] = matches!(c.read(&mut b), Ok(1));
            c.set_nonblocking(false).unwrap();
        }
        let first = answered.iter().filter(|a| **a).count();
        assert!(
            first > 20 && first < 80,
            "some but not all served at first: {first}"
        );

        // Free descriptors: close the served ones; the rest must now be
        // accepted (after the back-off) and echoed.
        let pending: Vec<TcpStream> = conns
            .into_iter()
            .zip(&answered)
            .filter_map(|(c, a)| (!a).then_some(c))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        for mut c in pending {
            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut b = [0u8; 1];
            c.read_exact(&mut b).expect("served after the back-off");
            assert_eq!(&b, b"x");
            assert!(Instant::now() < deadline);
        }
        // And brand-new connections still work.
        assert_eq!(round_trip(addr, b"still serving"), b"still serving");
        drop(p);
        let mut err = String::new();
        let _ = stderr.read_to_string(&mut err);
        assert!(err.contains("backing off"), "stderr: {err}");
        assert!(
            err.contains("Too many open files") || err.contains("os error 24"),
            "stderr: {err}"
        );
    }
}
