//! The echo example as its users run it: a child process on 127.0.0.1,
//! driven by real clients, in every mode the build has.

mod util;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use util::{example, mode_envs, payload, server_envs, Proc};

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
    for env in server_envs() {
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
    let _ = raise_fd_limit();
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
fn raise_fd_limit() -> u64 {
    rt_base::sys::raise_nofile_limit().unwrap()
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
    for env in server_envs() {
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
            if env.contains(&("RUNTIME_LOOPS", "2")) {
                // Two loops, each one thread, nothing else running.
                assert!(out.contains("mode=single loops=2 threads=2 "), "{out}");
            }
        }
    }
}

#[test]
fn bad_environment_values_exit_2_with_one_clear_line() {
    for (var, value, accepted) in [
        ("RUNTIME_MODE", "javascript", "single or mn"),
        ("RUNTIME_MAXPROCS", "lots", "from 1 to 1024"),
        ("RUNTIME_MAXTHREADS", "0", "from 1 to 1048576"),
        ("RUNTIME_BLOCKING_THREADS", "-1", "from 1 to 65536"),
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

/// A pipe for a child's stderr that the test reads only when it chooses to;
/// it keeps a copy of the write end to see when the pipe is full.
struct StderrPipe {
    read: std::os::fd::OwnedFd,
    write: std::os::fd::OwnedFd,
}

impl StderrPipe {
    fn new() -> StderrPipe {
        use std::os::fd::FromRawFd;
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: pipe2 just returned them; each is owned once.
        unsafe {
            StderrPipe {
                read: std::os::fd::OwnedFd::from_raw_fd(fds[0]),
                write: std::os::fd::OwnedFd::from_raw_fd(fds[1]),
            }
        }
    }

    /// The write end, for the child.
    fn for_child(&self) -> std::process::Stdio {
        std::process::Stdio::from(self.write.try_clone().unwrap())
    }

    /// Whether a write to the pipe would block now.
    fn full(&self) -> bool {
        use std::os::fd::AsRawFd;
        let mut pfd = libc::pollfd {
            fd: self.write.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        unsafe { libc::poll(&mut pfd, 1, 0) == 0 }
    }

    /// Waits (up to 20 s) until the child has filled the pipe.
    fn wait_full(&self) {
        let start = Instant::now();
        while !self.full() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "stderr never filled"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Reads whatever the pipe holds, for `how_long`.
    fn drain_for(&self, how_long: Duration) -> String {
        use std::os::fd::AsRawFd;
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        let start = Instant::now();
        while start.elapsed() < how_long {
            let mut pfd = libc::pollfd {
                fd: self.read.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, 10) } <= 0 {
                continue;
            }
            // SAFETY: `buf` is writable for its length.
            let n =
                unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            out.extend_from_slice(&buf[..n as usize]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Sends `data` and reads it back, or fails after 5 s.
fn round_trip_within_5s(addr: SocketAddr, data: &[u8]) -> Result<Vec<u8>, String> {
    let mut c = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(data).map_err(|e| e.to_string())?;
    let mut back = vec![0u8; data.len()];
    c.read_exact(&mut back)
        .map_err(|e| format!("no echo: {e}"))?;
    Ok(back)
}

#[test]
fn a_stderr_nobody_reads_neither_stops_serving_nor_sigint() {
    for env in mode_envs() {
        let single = env.contains(&("RUNTIME_MODE", "single"));
        // A scheduler line every millisecond: 64 KiB of pipe fill in a
        // second or less.
        let debug = if single {
            "schedtrace=1"
        } else {
            "schedtrace=1,scheddetail=1"
        };
        let pipe = StderrPipe::new();
        let mut cmd = Command::new(example("echo"));
        cmd.arg("127.0.0.1:0")
            .envs(env.iter().copied())
            .env("RUNTIME_DEBUG", debug)
            .stdout(std::process::Stdio::piped())
            .stderr(pipe.for_child());
        let spawned = Instant::now();
        let mut child = cmd.spawn().expect("spawn echo");
        drop(cmd);
        let mut p = Proc {
            stdout: child.stdout.take().map(std::io::BufReader::new),
            child,
        };
        let addr = p.listening_addr();

        // Nobody reads stderr: the runtime's lines fill it, and it serves on.
        pipe.wait_full();
        let fill = spawned.elapsed();
        std::thread::sleep(Duration::from_millis(200));
        for i in 0..3u8 {
            let data = [b'a' + i; 100];
            let back = round_trip_within_5s(addr, &data)
                .unwrap_or_else(|e| panic!("{env:?}: with stderr full: {e}"));
            assert_eq!(back, data);
        }
        // Lines go on coming: twice what filled the 64 KiB pipe overflows
        // the runtime's 64 KiB queue too, so some are dropped.
        std::thread::sleep((fill * 2).max(Duration::from_secs(1)));

        // Someone reads for a while: the lines flow again, and the count of
        // those dropped is among them.
        let seen = pipe.drain_for(Duration::from_millis(1500));
        assert!(seen.contains("SCHED "), "{env:?}: {seen:.300}");
        assert!(
            seen.contains("lines of runtime diagnostics dropped (stderr was full)"),
            "{env:?}: no count of the dropped lines in {} bytes",
            seen.len()
        );

        // Full again: SIGINT still ends the program, promptly and cleanly.
        pipe.wait_full();
        std::thread::sleep(Duration::from_millis(200));
        p.signal("INT");
        let st = p
            .wait_timeout(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{env:?}: no exit within 10 s of SIGINT with stderr full"));
        assert_eq!(st.code(), Some(0), "{env:?}");
        let out = p.rest_of_stdout();
        assert!(
            out.contains("SIGINT: served 3 connections"),
            "{env:?}: {out}"
        );
    }
}

#[test]
fn a_runtime_trace_that_cannot_be_written_exits_2_at_start() {
    // A directory that takes no new files: a read-only one, unless this
    // runs as root (who writes anyway), then sysfs (which refuses root).
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let ro = std::env::temp_dir().join(format!("switchyard-ro-{}", std::process::id()));
    let unwritable = if root {
        std::path::PathBuf::from("/sys/kernel")
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        ro.clone()
    };
    let missing = std::env::temp_dir().join(format!("switchyard-missing-{}", std::process::id()));
    for env in mode_envs() {
        for dir in [&unwritable, &missing] {
            let target = dir.join("trace.json");
            let mut cmd = Command::new(example("echo"));
            cmd.arg("127.0.0.1:0")
                .envs(env.iter().copied())
                .env("RUNTIME_TRACE", &target);
            let mut p = Proc::spawn(cmd);
            let Some(st) = p.wait_timeout(Duration::from_secs(10)) else {
                drop(p); // killed
                panic!("{env:?} {target:?}: still serving after 10 s");
            };
            let err = p.stderr();
            assert_eq!(st.code(), Some(2), "{env:?} {target:?}: {err}");
            let out = p.rest_of_stdout();
            assert!(out.is_empty(), "never started serving: {out}");
            assert_eq!(err.lines().count(), 1, "one line: {err}");
            assert!(
                err.starts_with(&format!(
                    "switchyard: RUNTIME_TRACE=\"{}\": cannot write a trace there: ",
                    target.display()
                )),
                "{err}"
            );
            assert!(!target.exists());
        }
    }
    let _ = std::fs::remove_dir_all(&ro);
}
