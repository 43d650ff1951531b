//! hyper 1 on switchyard through `switchyard::hyper` (the `hyper` feature),
//! in every mode: a hyper server and hyper's own client
//! (`client::conn::http1` / `http2`) over real sockets on 127.0.0.1, the
//! timer adapter behind `header_read_timeout`, the executors behind HTTP/2,
//! the `hyper` example as a child process, and the feature's dependency
//! tree (no tokio runtime in it).

mod util;

use std::cell::Cell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use switchyard::hyper::{Executor, Io, LocalExecutor, Timer};
use switchyard::net::{TcpListener, TcpStream};
use switchyard::sync::WaitGroup;
use switchyard::time::timeout;

use util::{example, payload, server_envs, Proc};

/// Past this, a test that is still waiting has failed (generous: a loaded
/// machine's threads wait for a CPU).
const GIVE_UP: Duration = Duration::from_secs(30);

/// What the test server saw.
#[derive(Default)]
struct Seen {
    /// Connections accepted.
    connections: AtomicUsize,
    /// Connections open now.
    live: AtomicUsize,
    /// The most connections open at once.
    most_live: AtomicUsize,
    /// Requests answered.
    requests: AtomicUsize,
    /// Connections hyper ended with a timeout error.
    timeouts: AtomicUsize,
}

/// `GET /` → hello; `POST /echo` → the request's body; else 404.
async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let res = match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => Response::new(Full::new(Bytes::from_static(b"Hello, World!"))),
        (&Method::POST, "/echo") => {
            let body = req.into_body().collect().await?.to_bytes();
            Response::new(Full::new(body))
        }
        _ => {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    };
    Ok(res)
}

/// A hyper HTTP/1 server on 127.0.0.1 (one task per connection, `builder`'s
/// settings), counting into the returned `Seen`.
async fn http1_server(
    builder: hyper::server::conn::http1::Builder,
) -> (std::net::SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let builder = Arc::new(builder);
    let s = seen.clone();
    switchyard::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            s.connections.fetch_add(1, Ordering::SeqCst);
            let now = s.live.fetch_add(1, Ordering::SeqCst) + 1;
            s.most_live.fetch_max(now, Ordering::SeqCst);
            let (s, builder) = (s.clone(), builder.clone());
            switchyard::spawn(async move {
                let counted = s.clone();
                let service = hyper::service::service_fn(move |req| {
                    counted.requests.fetch_add(1, Ordering::SeqCst);
                    answer(req)
                });
                if let Err(e) = builder.serve_connection(Io::new(stream), service).await {
                    if e.is_timeout() {
                        s.timeouts.fetch_add(1, Ordering::SeqCst);
                    }
                }
                s.live.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (addr, seen)
}

/// The server with hyper's defaults plus switchyard's timer.
async fn default_server() -> (std::net::SocketAddr, Arc<Seen>) {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(Timer);
    http1_server(b).await
}

/// hyper's HTTP/1 client on a new connection to `addr` (its connection
/// task spawned).
async fn http1_client(
    addr: std::net::SocketAddr,
) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(Io::new(stream))
        .await
        .expect("handshake");
    switchyard::spawn(async move {
        let _ = conn.await;
    });
    sender
}

/// Sends `req`; the status and the whole body.
async fn send(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> (StatusCode, Bytes) {
    sender.ready().await.expect("connection ready");
    let res = sender.send_request(req).await.expect("response");
    let status = res.status();
    (
        status,
        res.into_body().collect().await.expect("body").to_bytes(),
    )
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", "test")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn post(path: &str, body: Vec<u8>) -> Request<Full<Bytes>> {
    Request::post(path)
        .header("host", "test")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// Whether hyper's error is the I/O error ENOTCONN (`NotConnected`).
fn not_connected(e: &hyper::Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .is_some_and(|io| io.kind() == std::io::ErrorKind::NotConnected)
}

switchyard::test_all_modes! {
    async fn many_requests_share_one_keep_alive_connection() {
        timeout(GIVE_UP, async {
            let (addr, seen) = default_server().await;
            let mut sender = http1_client(addr).await;
            for i in 0..300 {
                let (status, body) = send(&mut sender, get("/")).await;
                assert_eq!(status, StatusCode::OK, "request {i}");
                assert_eq!(&body[..], b"Hello, World!", "request {i}");
            }
            let (status, _) = send(&mut sender, get("/nowhere")).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert_eq!(seen.connections.load(Ordering::SeqCst), 1, "one connection");
            assert_eq!(seen.requests.load(Ordering::SeqCst), 301);
        })
        .await
        .expect("done in time");
    }

    async fn concurrent_connections_are_served_at_once() {
        timeout(GIVE_UP, async {
            const CLIENTS: usize = 16;
            const EACH: usize = 25;
            let (addr, seen) = default_server().await;
            // Every client holds its connection open until all are
            // connected and answered once: the server has them all at once.
            let all_in = Arc::new(WaitGroup::new());
            all_in.add(CLIENTS);
            let clients: Vec<_> = (0..CLIENTS)
                .map(|c| {
                    let all_in = all_in.clone();
                    switchyard::spawn(async move {
                        let mut sender = http1_client(addr).await;
                        let mut answered = 0;
                        for i in 0..EACH {
                            let (status, body) = send(&mut sender, get("/")).await;
                            assert_eq!(status, StatusCode::OK, "client {c} request {i}");
                            assert_eq!(&body[..], b"Hello, World!");
                            answered += 1;
                            if i == 0 {
                                all_in.done();
                                all_in.wait().await;
                            }
                        }
                        answered
                    })
                })
                .collect();
            let mut answered = 0;
            for c in clients {
                answered += c.await.expect("client task");
            }
            assert_eq!(answered, CLIENTS * EACH);
            assert_eq!(seen.requests.load(Ordering::SeqCst), CLIENTS * EACH);
            assert_eq!(seen.connections.load(Ordering::SeqCst), CLIENTS);
            assert_eq!(seen.most_live.load(Ordering::SeqCst), CLIENTS, "all open at once");
        })
        .await
        .expect("done in time");
    }

    async fn request_bodies_are_echoed_whole() {
        timeout(GIVE_UP, async {
            let (addr, seen) = default_server().await;
            let mut sender = http1_client(addr).await;
            // Empty, small, a read's worth, and much more than hyper's
            // buffer and the adapter's 64 KiB read: all on one connection.
            for (i, len) in [0usize, 1, 100, 8 * 1024, 64 * 1024 + 1, 3 << 20].into_iter().enumerate() {
                let data = payload(i as u64, len);
                let (status, body) = send(&mut sender, post("/echo", data.clone())).await;
                assert_eq!(status, StatusCode::OK);
                assert_eq!(body.len(), len);
                assert!(body[..] == data[..], "{len} bytes came back different");
            }
            assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
        })
        .await
        .expect("done in time");
    }

    async fn a_late_request_head_is_cut_off_by_the_header_read_timeout() {
        const LIMIT: Duration = Duration::from_millis(1500);
        const GAP: Duration = Duration::from_millis(1000);
        timeout(GIVE_UP, async {
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(Timer).header_read_timeout(LIMIT);
            let (addr, seen) = http1_server(b).await;

            // A client that sends part of a head and then nothing: hyper
            // ends the connection once the timer fires, never before.
            let slow = switchyard::spawn(async move {
                let t0 = Instant::now();
                let c = TcpStream::connect(addr).await.unwrap();
                c.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n").await.unwrap();
                let mut buf = [0u8; 256];
                let n = c.read(&mut buf).await.unwrap_or(0);
                (n, t0.elapsed())
            });

            // A kept-alive client whose requests come GAP apart: each head
            // gets a timeout of its own (a new sleep from the timer), so the
            // third request, 2 × GAP after the first, is still in time.
            let mut sender = http1_client(addr).await;
            for i in 0..3 {
                if i > 0 {
                    switchyard::time::sleep(GAP).await;
                }
                let (status, body) = send(&mut sender, get("/")).await;
                assert_eq!(status, StatusCode::OK, "request {i}");
                assert_eq!(&body[..], b"Hello, World!");
            }

            let (n, waited) = slow.await.unwrap();
            assert_eq!(n, 0, "the half-sent request got no answer, only the close");
            assert!(waited >= LIMIT, "closed after {waited:?}, before the {LIMIT:?} timeout");
            assert!(waited < LIMIT + Duration::from_secs(10), "closed only after {waited:?}");
            assert_eq!(seen.timeouts.load(Ordering::SeqCst), 1, "hyper says: timeout");
        })
        .await
        .expect("done in time");
    }

    async fn an_http2_peer_that_never_answers_a_ping_is_dropped_on_time() {
        // hyper's HTTP/2 keep-alive: a ping after INTERVAL without a frame
        // from the peer, then the connection ends if no pong came within
        // TIMEOUT. Both deadlines move one sleep with the timer's `reset`:
        // a reset that failed to move it would end the connection right
        // after the ping, at INTERVAL.
        const INTERVAL: Duration = Duration::from_millis(300);
        const TIMEOUT: Duration = Duration::from_millis(700);
        timeout(GIVE_UP, async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            // The peer reads whatever comes and never writes a byte.
            let mute = switchyard::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let mut total = 0;
                while let Ok(n @ 1..) = stream.read(&mut buf).await {
                    total += n;
                }
                total
            });
            let t0 = Instant::now();
            let stream = TcpStream::connect(addr).await.unwrap();
            let (_sender, conn) = hyper::client::conn::http2::Builder::new(Executor)
                .timer(Timer)
                .keep_alive_interval(INTERVAL)
                .keep_alive_timeout(TIMEOUT)
                .keep_alive_while_idle(true)
                .handshake::<_, Full<Bytes>>(Io::new(stream))
                .await
                .expect("handshake");
            // hyper ends it with Ok or an error, depending on which of its
            // tasks sees the timeout first: only the time is the timer's.
            let _ = conn.await;
            let took = t0.elapsed();
            assert!(took >= INTERVAL + TIMEOUT, "ended after {took:?}, before ping + timeout");
            assert!(took < INTERVAL + TIMEOUT + Duration::from_secs(10), "ended only after {took:?}");
            // The client's preface, settings and ping reached the peer.
            assert!(mute.await.unwrap() > 24);
        })
        .await
        .expect("done in time");
    }

    async fn http2_streams_run_on_the_executor() {
        timeout(GIVE_UP, async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let served = Arc::new(AtomicUsize::new(0));
            let counted = served.clone();
            switchyard::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let service = hyper::service::service_fn(move |req| {
                    counted.fetch_add(1, Ordering::SeqCst);
                    answer(req)
                });
                let _ = hyper::server::conn::http2::Builder::new(Executor)
                    .timer(Timer)
                    .serve_connection(Io::new(stream), service)
                    .await;
            });
            let stream = TcpStream::connect(addr).await.unwrap();
            let (sender, conn) = hyper::client::conn::http2::Builder::new(Executor)
                .timer(Timer)
                .handshake(Io::new(stream))
                .await
                .expect("handshake");
            switchyard::spawn(conn);
            // Streams in flight at once on the one connection, each a task
            // of its own on both sides.
            let calls: Vec<_> = (0..32u64)
                .map(|i| {
                    let mut sender = sender.clone();
                    switchyard::spawn(async move {
                        let data = payload(i, 1000 + i as usize);
                        let res = sender.send_request(post("/echo", data.clone())).await.unwrap();
                        let body = res.into_body().collect().await.unwrap().to_bytes();
                        body[..] == data[..]
                    })
                })
                .collect();
            for c in calls {
                assert!(c.await.unwrap(), "an echo came back different");
            }
            assert_eq!(served.load(Ordering::SeqCst), 32);
        })
        .await
        .expect("done in time");
    }

    async fn http2_local_executor_runs_a_not_send_service() {
        timeout(GIVE_UP, async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            // An `Rc` in the service: its futures are !Send, so the
            // connection and its streams are local tasks.
            let served = Rc::new(Cell::new(0usize));
            let counted = served.clone();
            let server = switchyard::spawn_local(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let service = hyper::service::service_fn(move |req| {
                    let counted = counted.clone();
                    async move {
                        counted.set(counted.get() + 1);
                        answer(req).await
                    }
                });
                hyper::server::conn::http2::Builder::new(LocalExecutor)
                    .serve_connection(Io::new(stream), service)
                    .await
            });
            let stream = TcpStream::connect(addr).await.unwrap();
            let (mut sender, conn) = hyper::client::conn::http2::handshake(Executor, Io::new(stream))
                .await
                .expect("handshake");
            let client_conn = switchyard::spawn(conn);
            for i in 0..16 {
                let res = sender.send_request(get("/")).await.unwrap();
                assert_eq!(res.status(), StatusCode::OK, "request {i}");
                let body = res.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(&body[..], b"Hello, World!");
            }
            drop(sender);
            client_conn.await.unwrap().expect("client connection ends cleanly");
            // The client closes its socket as soon as its GOAWAY is out. A
            // frame the server still sends then meets a closed socket,
            // whose kernel answers with a reset, and the server's final
            // `shutdown(Write)` fails with ENOTCONN (as on any runtime):
            // the client went first, not an error of the server's. Any
            // other error is one.
            match server.await.unwrap() {
                Ok(()) => {}
                Err(e) if not_connected(&e) => {}
                Err(e) => panic!("server connection ends cleanly: {e:?}"),
            }
            assert_eq!(served.get(), 16);
        })
        .await
        .expect("done in time");
    }
}

/// Reads from a std stream until `n` hello bodies have arrived; panics on
/// a close first.
fn read_hellos(c: &mut std::net::TcpStream, n: usize) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let count = |b: &[u8]| b.windows(13).filter(|w| w == b"Hello, World!").count();
    while count(&got) < n {
        let k = c.read(&mut buf).expect("response");
        assert!(k > 0, "server closed a keep-alive connection");
        got.extend_from_slice(&buf[..k]);
    }
    assert_eq!(count(&got), n);
}

#[test]
fn the_hyper_example_serves_keep_alive_and_stops_on_sigint() {
    let limit = Duration::from_millis(500);
    for env in server_envs() {
        let mut cmd = std::process::Command::new(example("hyper"));
        cmd.args(["--addr", "127.0.0.1:0", "--header-timeout", "500ms"])
            .envs(env.iter().copied());
        let mut p = Proc::spawn(cmd);
        let addr = p.listening_addr();
        let connect = || {
            let c = std::net::TcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(GIVE_UP)).unwrap();
            c
        };
        // Three requests on one kept-alive connection (two pipelined),
        // then one for a path it does not serve.
        let mut c = connect();
        let get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        c.write_all(get.as_bytes()).unwrap();
        read_hellos(&mut c, 1);
        c.write_all(format!("{get}{get}").as_bytes()).unwrap();
        read_hellos(&mut c, 2);
        c.write_all(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 4096];
        let k = c.read(&mut buf).unwrap();
        assert!(buf[..k].starts_with(b"HTTP/1.1 404"), "{env:?}");
        // Closed by the client now: left idle, it would meet the header
        // timeout too (hyper arms it while it waits for the next head).
        drop(c);
        // One that asks to close: answered, then end of stream.
        let mut d = connect();
        d.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut all = String::new();
        d.read_to_string(&mut all).unwrap();
        assert!(all.starts_with("HTTP/1.1 200 OK"), "{all}");
        assert!(all.ends_with("Hello, World!"), "{all}");
        // Half a head: cut off by the header-read timeout, not before.
        let t0 = Instant::now();
        let mut e = connect();
        e.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        let n = e.read(&mut buf).unwrap_or(0);
        let waited = t0.elapsed();
        assert_eq!(n, 0, "{env:?}: no answer to half a head");
        assert!(waited >= limit, "{env:?}: cut after {waited:?}");

        p.signal("INT");
        let st = p.wait_timeout(GIVE_UP).expect("exits on SIGINT");
        assert!(st.success(), "{env:?}: {st}");
        let out = p.rest_of_stdout();
        assert!(
            out.contains("hyper: SIGINT: served 5 requests on 3 connections"),
            "{out}"
        );
        let line = out.lines().last().expect("output");
        assert!(line.starts_with("result: experiment=hyper"), "{out}");
        for kv in [" requests=5 ", " connections=3 ", " header_timeouts=1"] {
            assert!(line.contains(kv), "{kv}: {line}");
        }
    }
}

/// The normal dependencies `package` has with its `hyper` feature, one
/// `name vX.Y.Z [features]` line per package.
fn normal_tree(package: &str) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = std::process::Command::new(cargo)
        .args(["tree", "--offline", "-e", "normal", "--features", "hyper"])
        .args(["-p", package, "--prefix", "none", "--format", "{p} [{f}]"])
        .args(["--manifest-path", manifest])
        .output()
        .expect("cargo tree");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// tokio's features on a `cargo tree` line, if the line is tokio's.
fn tokio_features(line: &str) -> Option<Vec<&str>> {
    if line.split(' ').next() != Some("tokio") {
        return None;
    }
    let features = line.rsplit_once('[').unwrap().1.trim_end_matches(']');
    Some(features.split(',').filter(|f| !f.is_empty()).collect())
}

/// The library's `hyper` feature (switchyard-api's adapters) brings tokio
/// only as hyper's own, with no feature beyond `sync` (channels: no runtime,
/// no reactor, no timer), and none of the glue crates it replaces. The
/// switchyard-rt package's feature adds hyper's http2 and client for the
/// example and tests (h2 brings tokio's `io-util` traits and tokio-util's
/// codec), still without tokio's runtime, reactor or timer.
#[test]
fn the_hyper_feature_brings_no_tokio_runtime() {
    let glue = ["hyper-util", "tokio-stream", "async-compat"];
    let api = normal_tree("switchyard-api");
    assert!(api.lines().any(|l| l.starts_with("hyper v1.")), "{api}");
    for l in api.lines() {
        let name = l.split(' ').next().unwrap();
        assert!(name != "tokio-util" && !glue.contains(&name), "{l}");
        for f in tokio_features(l).unwrap_or_default() {
            assert!(f == "default" || f == "sync", "tokio feature {f}: {l}");
        }
    }
    let rt = normal_tree("switchyard-rt");
    assert!(rt.lines().any(|l| l.starts_with("h2 v")), "{rt}");
    for l in rt.lines() {
        let name = l.split(' ').next().unwrap();
        assert!(!glue.contains(&name), "{l}");
        for f in tokio_features(l).unwrap_or_default() {
            assert!(
                !matches!(
                    f,
                    "rt" | "rt-multi-thread" | "time" | "net" | "macros" | "full"
                ),
                "tokio feature {f}: {l}"
            );
        }
    }
}
