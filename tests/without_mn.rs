//! The crate built with and without its `mn` cargo feature. CI runs this
//! file in both builds (`cargo test --no-default-features --test
//! without_mn`): without the M:N engine, single mode works in full and
//! asking for mn is a clear error naming the feature, from the environment
//! (exit status 2, one line) and from the builder; with it, mn runs.

use std::process::Command;
use std::time::Duration;

use switchyard::net::{TcpListener, TcpStream};
use switchyard::{Builder, Mode};

/// Set in the child this file starts: run `switchyard::run` and exit.
const CHILD: &str = "SWITCHYARD_WITHOUT_MN_CHILD";

/// An echo round trip over 127.0.0.1, with a timer, on the runtime given.
async fn echo_round_trip() -> Vec<u8> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = switchyard::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 16];
        let n = stream.read(&mut buf).await.unwrap();
        stream.write_all(&buf[..n]).await.unwrap();
    });
    switchyard::time::sleep(Duration::from_millis(5)).await;
    let client = TcpStream::connect(addr).await.unwrap();
    client.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 16];
    let n = client.read(&mut buf).await.unwrap();
    server.await.unwrap();
    buf[..n].to_vec()
}

#[test]
fn single_mode_serves_a_socket() {
    let rt = Builder::new()
        .ignore_env()
        .mode(Mode::Single)
        .build()
        .unwrap();
    assert_eq!(rt.block_on(echo_round_trip()), b"ping");
}

/// The child's side of the environment checks: run with what it was given.
#[test]
fn child_runs_with_the_environment() {
    if std::env::var_os(CHILD).is_none() {
        return; // only as the child of the tests below
    }
    let (got, inside) =
        switchyard::run(async { (echo_round_trip().await, switchyard::stats().is_some()) });
    assert_eq!(got, b"ping");
    assert!(inside, "stats() inside run is Some");
    println!("ran in a runtime");
}

/// Runs this test binary's child test with `RUNTIME_MODE=mode`.
fn child(mode: &str) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_runs_with_the_environment", "--nocapture"])
        .env(CHILD, "1")
        .env("RUNTIME_MODE", mode)
        .output()
        .unwrap()
}

#[cfg(not(feature = "mn"))]
mod without {
    use super::*;

    #[test]
    fn the_builder_refuses_mn_naming_the_feature() {
        let Err(err) = Builder::new().ignore_env().mode(Mode::Mn).build() else {
            panic!("a build without mn must refuse Mode::Mn");
        };
        let msg = err.to_string();
        assert!(msg.contains("`mn` cargo feature"), "{msg}");
    }

    #[test]
    fn runtime_mode_mn_exits_2_naming_the_variable_and_the_feature() {
        let out = child("mn");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
        assert!(stderr.contains("RUNTIME_MODE"), "{stderr}");
        assert!(stderr.contains("`mn` cargo feature"), "{stderr}");
    }
}

#[cfg(feature = "mn")]
#[test]
fn with_mn_runtime_mode_mn_runs_the_same_program() {
    let out = child("mn");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    let rt = Builder::new()
        .ignore_env()
        .mode(Mode::Mn)
        .procs(2)
        .build()
        .unwrap();
    assert_eq!(rt.mode(), Mode::Mn);
    assert_eq!(rt.block_on(echo_round_trip()), b"ping");
}

#[test]
fn runtime_mode_single_runs_in_a_child_too() {
    let out = child("single");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("ran in a runtime"));
}
