//! Several single-mode loops (`run_each`, `RUNTIME_LOOPS`): each loop on
//! its own thread running its own main future, one port shared through
//! `SO_REUSEPORT` (or one listener shared), channels between loops, the
//! shutdown policy (ctrl-c reaches every loop; a panic in one stops the
//! others), and what the observability tools show (thread counts, a
//! schedtrace line and a trace lane per loop). The process-wide checks run
//! in child processes of this test binary.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use switchyard::net::{TcpListener, UdpSocket};
use switchyard::time::{sleep, timeout};
use switchyard::{Builder, Error, Mode};
use test_support::json;

/// Set in a child process of this binary: which child to be.
const CHILD: &str = "SWITCHYARD_LOOPS_CHILD";

fn loops(n: usize) -> Builder {
    Builder::new().ignore_env().mode(Mode::Single).loops(n)
}

#[test]
fn each_loop_runs_its_own_main_on_its_own_thread() {
    let seen = Mutex::new(Vec::new());
    let out = loops(3).run_each(|id| {
        let seen = &seen;
        async move {
            assert_eq!(switchyard::loop_id(), Some(id));
            let s = switchyard::stats().expect("inside a loop");
            assert_eq!((s.loops, s.loop_id), (3, id));
            // Tasks of this loop stay on it.
            let task = switchyard::spawn(async { std::thread::current().id() });
            assert_eq!(task.await.unwrap(), std::thread::current().id());
            // spawn_local works per loop: no Send needed.
            let rc = std::rc::Rc::new(id);
            let local = switchyard::spawn_local(async move { *rc * 10 });
            assert_eq!(local.await.unwrap(), id * 10);
            seen.lock().unwrap().push((id, std::thread::current().id()));
            id * 2
        }
    });
    assert_eq!(out, vec![0, 2, 4]);
    let seen = seen.into_inner().unwrap();
    let mut threads: Vec<_> = seen.iter().map(|(_, t)| *t).collect();
    threads.dedup();
    threads.sort_by_key(|t| format!("{t:?}"));
    threads.dedup();
    assert_eq!(threads.len(), 3, "{seen:?}");
    // Loop 0 is the calling thread.
    assert!(seen
        .iter()
        .any(|(id, t)| *id == 0 && *t == std::thread::current().id()));
    assert_eq!(switchyard::loop_id(), None);
}

#[test]
fn one_loop_and_mn_run_the_same_program_once() {
    assert_eq!(loops(1).run_each(|id| async move { id + 1 }), vec![1]);
    #[cfg(feature = "mn")]
    {
        let out = Builder::new()
            .ignore_env()
            .mode(Mode::Mn)
            .procs(2)
            .run_each(|id| async move { (id, switchyard::loop_id()) });
        assert_eq!(out, vec![(0, Some(0))]);
    }
}

/// Connects `n` times to `addr` from a plain thread, reading the one byte
/// each server answers with (its loop id); returns how many each loop
/// served.
fn clients(addr: SocketAddr, n: usize, loops: usize) -> Vec<usize> {
    let mut per_loop = vec![0; loops];
    for _ in 0..n {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        per_loop[b[0] as usize] += 1;
    }
    per_loop
}

/// Each loop accepts until `done`, answering each connection with its
/// loop id.
async fn serve_ids(listener: TcpListener, done: &AtomicBool) -> usize {
    let id = switchyard::loop_id().unwrap() as u8;
    let mut served = 0;
    while !done.load(Ordering::SeqCst) {
        if let Ok(Ok((s, _))) = timeout(Duration::from_millis(20), listener.accept()).await {
            s.write_all(&[id]).await.unwrap();
            served += 1;
        }
    }
    served
}

#[test]
fn loops_share_a_port_and_the_kernel_spreads_connections() {
    let done = AtomicBool::new(false);
    let port = Mutex::new(None);
    let bound = AtomicUsize::new(0);
    let client = Mutex::new(None);
    let served = loops(2).run_each(|id| {
        let (done, port, bound, client) = (&done, &port, &bound, &client);
        async move {
            // Port 0 in every loop: one free port for the program.
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let first = *port.lock().unwrap().get_or_insert(addr);
            assert_eq!(addr, first, "loop {id} bound another port");
            // A UDP socket bound in every loop shares its port too.
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let udp_port = udp.local_addr().unwrap().port();
            assert_ne!(udp_port, 0);
            if bound.fetch_add(1, Ordering::SeqCst) == 1 {
                // Both loops listen: connect from a plain thread.
                *client.lock().unwrap() = Some(std::thread::spawn(move || clients(addr, 64, 2)));
            }
            let serving = serve_ids(listener, done);
            let watcher = async {
                loop {
                    let finished = client
                        .lock()
                        .unwrap()
                        .as_ref()
                        .is_some_and(|t: &std::thread::JoinHandle<_>| t.is_finished());
                    if finished {
                        done.store(true, Ordering::SeqCst);
                        return;
                    }
                    sleep(Duration::from_millis(10)).await;
                }
            };
            let (served, ()) = futures_join(serving, watcher).await;
            (served, udp_port)
        }
    });
    let per_loop = client.into_inner().unwrap().unwrap().join().unwrap();
    assert_eq!(per_loop.iter().sum::<usize>(), 64);
    assert_eq!(served.iter().map(|(s, _)| s).sum::<usize>(), 64);
    // 64 connections hashed over two sockets: both get some (all on one
    // happens with probability 2^-63).
    assert!(per_loop.iter().all(|&n| n > 0), "{per_loop:?}");
    assert_eq!(served[0].1, served[1].1, "UDP port shared");
}

#[test]
fn a_listener_created_once_can_be_shared_by_the_loops() {
    // The other way: one socket, accepted from by every loop (each loop's
    // epoll sees it readable; one accept wins, the others see WouldBlock).
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let shared = Mutex::new(Some(std_listener));
    let done = AtomicBool::new(false);
    let client = std::thread::spawn(move || clients(addr, 32, 2));
    let client = Mutex::new(Some(client));
    let served = loops(2).run_each(|_| {
        let (shared, done, client) = (&shared, &done, &client);
        async move {
            // Every loop gets its own descriptor of the one socket.
            let clone = shared
                .lock()
                .unwrap()
                .as_ref()
                .unwrap()
                .try_clone()
                .unwrap();
            let listener = TcpListener::from_std(clone).unwrap();
            let serving = serve_ids(listener, done);
            let watcher = async {
                loop {
                    let finished = client
                        .lock()
                        .unwrap()
                        .as_ref()
                        .is_none_or(|t: &std::thread::JoinHandle<_>| t.is_finished());
                    if finished {
                        done.store(true, Ordering::SeqCst);
                        return;
                    }
                    sleep(Duration::from_millis(10)).await;
                }
            };
            futures_join(serving, watcher).await.0
        }
    });
    let per_loop = client.lock().unwrap().take().unwrap().join().unwrap();
    assert_eq!(per_loop.iter().sum::<usize>(), 32);
    assert_eq!(served.iter().sum::<usize>(), 32);
}

#[test]
fn a_channel_carries_messages_from_loop_to_loop() {
    let (tx, rx) = switchyard::sync::mpsc::channel::<(usize, u32)>(8);
    let tx = Mutex::new(Some(tx));
    let rx = Mutex::new(Some(rx));
    let out = loops(2).run_each(|id| {
        let (tx, rx) = (&tx, &rx);
        async move {
            if id == 0 {
                let tx = tx.lock().unwrap().take().unwrap();
                for i in 0..1000 {
                    tx.send((id, i)).await.unwrap();
                }
                0
            } else {
                let mut rx = rx.lock().unwrap().take().unwrap();
                let mut got = 0;
                while let Some((from, i)) = rx.recv().await {
                    assert_eq!((from, i), (0, got));
                    got += 1;
                }
                got
            }
        }
    });
    assert_eq!(out, vec![0, 1000]);
}

#[test]
fn a_panic_in_one_loop_stops_the_others_and_reaches_the_caller() {
    let dropped = AtomicUsize::new(0);
    let start = Instant::now();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        loops(3).run_each(|id| {
            let dropped = &dropped;
            async move {
                struct Count<'a>(&'a AtomicUsize);
                impl Drop for Count<'_> {
                    fn drop(&mut self) {
                        self.0.fetch_add(1, Ordering::SeqCst);
                    }
                }
                let _count = Count(dropped);
                if id == 1 {
                    sleep(Duration::from_millis(20)).await;
                    panic!("loop one fails");
                }
                // The others would run forever.
                loop {
                    sleep(Duration::from_millis(5)).await;
                }
            }
        })
    }));
    let payload = r.expect_err("the panic reaches run_each's caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"loop one fails"));
    // Every main future was dropped, the panicking one included.
    assert_eq!(dropped.load(Ordering::SeqCst), 3);
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn more_than_one_loop_needs_run_each_and_single_mode() {
    match loops(2).build() {
        Err(Error::Config(e)) => {
            assert_eq!(e.var, "Builder::loops");
            assert!(e.accepted.contains("run_each"), "{e}");
        }
        Err(e) => panic!("not a config error: {e}"),
        Ok(_) => panic!("built one runtime for two loops"),
    }
    #[cfg(feature = "mn")]
    match Builder::new().ignore_env().mode(Mode::Mn).loops(2).config() {
        Err(Error::Config(e)) => assert!(e.accepted.contains("RUNTIME_MAXPROCS"), "{e}"),
        other => panic!("mn with two loops: {:?}", other.map(|c| c.loops)),
    }
    // 0 means the usable CPUs.
    let auto = loops(0).config().unwrap().loops;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!((1..=cpus).contains(&auto), "{auto} of {cpus}");
}

/// Joins two futures (the tests need no more than this).
async fn futures_join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    let (mut a, mut b) = (Box::pin(a), Box::pin(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let std::task::Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            std::task::Poll::Ready((ra.take().unwrap(), rb.take().unwrap()))
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

// ------------------------------------------------------------ child processes

/// The child's side: what `SWITCHYARD_LOOPS_CHILD` asks for.
#[test]
fn child() {
    let Ok(kind) = std::env::var(CHILD) else {
        return; // only as the child of the tests below
    };
    match kind.as_str() {
        // `run` with RUNTIME_LOOPS=2: must refuse.
        "run" => {
            switchyard::run(async {});
            println!("ran");
        }
        // Every loop waits for ctrl-c, then says how many threads it saw.
        "ctrl_c" => {
            let out = switchyard::run_each(|id| async move {
                let threads = switchyard::stats().unwrap().threads;
                // Listening before saying so: a SIGINT that reaches the
                // other loops' listeners is not kept for a later one.
                let mut sigint =
                    switchyard::signal::signal(switchyard::signal::SignalKind::interrupt())
                        .unwrap();
                println!("ready {id}");
                std::io::stdout().flush().unwrap();
                sigint.recv().await;
                (id, threads)
            });
            println!("stopped {out:?}");
        }
        // A little work per loop, traced and schedtraced.
        "observe" => {
            let out = switchyard::run_each(|id| async move {
                for _ in 0..5 {
                    switchyard::spawn(async { sleep(Duration::from_millis(30)).await })
                        .await
                        .unwrap();
                }
                id
            });
            println!("done {out:?}");
        }
        other => panic!("unknown child {other}"),
    }
}

fn child_command(kind: &str) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, kind)
        .env("RUNTIME_MODE", "single")
        .env_remove("RUNTIME_TRACE")
        .env_remove("RUNTIME_DEBUG");
    c
}

#[test]
fn run_with_several_loops_exits_2_naming_run_each() {
    let out = child_command("run")
        .env("RUNTIME_LOOPS", "2")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("RUNTIME_LOOPS"), "{stderr}");
    assert!(stderr.contains("run_each"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ran"));
}

#[test]
fn ctrl_c_stops_every_loop_and_each_loop_is_one_thread() {
    let mut child = child_command("ctrl_c")
        .env("RUNTIME_LOOPS", "3")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buf = [0u8; 256];
    while (0..3).any(|i| !text.contains(&format!("ready {i}"))) {
        assert!(Instant::now() < deadline, "no ready lines: {text}");
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "child ended early: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // SAFETY: kill sends a signal to the child we started and still own.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0);
    let out = child.wait_with_output().unwrap();
    stdout.read_to_string(&mut text).unwrap();
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("stopped"))
        .expect(&text);
    // Three loops, each on its own thread: the test harness's main thread,
    // its test thread (loop 0) and two loop threads — no other thread.
    for i in 0..3 {
        assert!(line.contains(&format!("({i}, ")), "{line}");
    }
    let max_threads = line
        .split(", ")
        .filter_map(|p| p.trim_end_matches([')', ']']).parse::<usize>().ok())
        .max()
        .unwrap();
    assert!(max_threads <= 4, "threads seen: {line}");
}

#[test]
fn schedtrace_and_the_trace_show_every_loop() {
    let dir = std::env::temp_dir().join(format!("switchyard-loops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("trace.json");
    let out = child_command("observe")
        .env("RUNTIME_LOOPS", "2")
        .env("RUNTIME_DEBUG", "schedtrace=20")
        .env("RUNTIME_TRACE", &trace)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("done [0, 1]"));
    for i in 0..2 {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("SCHED") && l.contains(&format!("loop={i}/2 mode=single"))),
            "no schedtrace line of loop {i}: {stderr}"
        );
    }
    let text = std::fs::read_to_string(&trace).unwrap();
    let v = json::Value::parse(&text).unwrap();
    let events = v["traceEvents"].as_array().unwrap();
    let lanes: Vec<&str> = events
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .filter_map(|e| e["args"]["name"].as_str())
        .collect();
    for i in 0..2 {
        assert!(
            lanes.iter().any(|l| l.starts_with(&format!("loop {i} "))),
            "{lanes:?}"
        );
    }
    // Task runs recorded in both lanes.
    let tids: std::collections::HashSet<u64> = events
        .iter()
        .filter(|e| e["ph"] == "X")
        .filter_map(|e| e["tid"].as_u64())
        .collect();
    assert!(tids.len() >= 2, "{tids:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
