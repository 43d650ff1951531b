//! What the three example servers (`echo`, `http`, `metrics`) share, tested
//! on each as a child process in every mode the build has: how they stop
//! (SIGINT and SIGTERM exit 0, whether or not anyone still reads stdout).

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

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
