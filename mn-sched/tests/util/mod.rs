//! Helpers shared by the mn-sched integration tests.
#![allow(dead_code)]

use std::process::{Command, Output};

use mn_sched::{JoinError, Runtime};

/// Polls `f` on the calling G, parking it on Pending.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let w = mn_sched::current_waker();
    let mut cx = std::task::Context::from_waker(&w);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        mn_sched::park();
    }
}

/// A runtime with `procs` Ps and otherwise default settings.
pub fn rt(procs: usize) -> Runtime {
    Runtime::builder().procs(procs).build().expect("runtime")
}

/// Runs `f` as the main G of a fresh runtime with `procs` Ps.
pub fn run<T: Send + 'static>(procs: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    // SAFETY: test bodies hold no thread-local reference or std lock guard
    // across a park.
    unsafe { rt(procs).block_on(f) }.unwrap_or_else(|e: JoinError| panic!("main G failed: {e}"))
}

/// The calling OS thread's id.
pub fn gettid() -> i64 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

/// Threads of this process (from /proc/self/status).
pub fn threads_now() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// Environment variable that tells a re-executed test binary which child
/// scenario to run.
pub const CHILD: &str = "MN_SCHED_TEST_CHILD";

/// Whether this process is the child for `scenario`.
pub fn is_child(scenario: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|v| v == scenario)
}

/// Re-runs this test binary with only `test` selected, as the child for
/// `scenario`, and returns its output.
pub fn run_child(test: &str, scenario: &str) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, scenario)
        .output()
        .expect("spawn child test process")
}

/// [`run_child`], and asserts the child passed (its status, stdout and
/// stderr in the message); returns its stdout and stderr.
pub fn run_child_ok(test: &str, scenario: &str) -> (String, String) {
    let out = run_child(test, scenario);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "child {scenario} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

/// Recurses `depth` times with a 1 KiB frame (`u64::MAX`: until the stack
/// overflows); returns a sum so nothing is optimised away.
pub fn recurse(depth: u64) -> u64 {
    let buf = std::hint::black_box([depth as u8; 1024]);
    if depth == 0 {
        return 0;
    }
    recurse(depth - 1) + u64::from(buf[0])
}

/// A child that overflowed a 64 KiB G stack printed the task and the stack
/// size, and aborted.
pub fn assert_overflow_abort_64k(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("switchyard: stack overflow in task ")
            && stderr.contains("(stack size 64 KiB"),
        "unexpected stderr:\n{stderr}"
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "status {:?}",
        out.status
    );
}

/// Runtime calls racing sysmon's retakes (syscall.rs steps U2 and U4):
/// at `procs` Ps, one G computes for 8–15 ms at a time with no runtime call
/// (around sysmon's 10 ms, so its next call often lands while sysmon
/// decides; the last time 80 ms, so at least one retake happens) then makes
/// 50 runtime calls, 12 times, while `procs + 2` Gs
/// yield in a loop. Nothing may be lost or run twice: every yielder and the
/// computing G finish with their exact counts, and the computing G's M
/// gets a P back. Returns the runtime's stats.
pub fn retake_race(procs: usize) -> mn_sched::Stats {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let rt = rt(procs);
    let stop = Arc::new(AtomicBool::new(false));
    let yields = Arc::new(AtomicU64::new(0));
    // SAFETY: nothing held across parks.
    let (rounds, per_yielder) = unsafe {
        let (stop, yields) = (stop.clone(), yields.clone());
        rt.block_on(move || {
            let yielders: Vec<_> = (0..procs + 2)
                .map(|_| {
                    let (stop, yields) = (stop.clone(), yields.clone());
                    mn_sched::go(move || {
                        let mut n = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            mn_sched::yield_now();
                            n += 1;
                        }
                        yields.fetch_add(n, Ordering::Relaxed);
                        n
                    })
                })
                .collect();
            let computer = mn_sched::go(|| {
                let mut rounds = 0u64;
                for i in 0..12u64 {
                    // The last run is long enough for a retake even on a
                    // loaded machine (sysmon samples the M's CPU clock first).
                    let spin = if i == 11 {
                        Duration::from_millis(80)
                    } else {
                        Duration::from_micros(8_000 + (i * 611) % 7_000)
                    };
                    let t = Instant::now();
                    let mut x = 0u64;
                    while t.elapsed() < spin {
                        x = x.wrapping_add(1);
                        std::hint::black_box(x);
                    }
                    for _ in 0..25 {
                        mn_sched::yield_now();
                        assert_eq!(mn_sched::go(|| 1u64).join().unwrap(), 1);
                    }
                    rounds += 1;
                }
                rounds
            });
            let rounds = computer.join().unwrap();
            stop.store(true, Ordering::Relaxed);
            let per: Vec<u64> = yielders.into_iter().map(|h| h.join().unwrap()).collect();
            (rounds, per)
        })
    }
    .expect("main G");
    assert_eq!(rounds, 12);
    assert_eq!(
        per_yielder.iter().sum::<u64>(),
        yields.load(Ordering::Relaxed)
    );
    assert!(
        per_yielder.iter().all(|&n| n > 0),
        "a yielder never ran: {per_yielder:?}"
    );
    let st = rt.stats();
    assert_eq!(st.ms_without_p, 0, "an M still lacks its P: {st:?}");
    st
}

/// `n` async readers on `rt`, each parked on its own socket; once all are
/// parked (and every M idle again), one byte is written to every socket
/// at once. Each reader then computes `work` and reports the thread it ran
/// on. Returns the number of distinct threads and the time from the writes
/// to the last reader's end.
pub fn ready_burst(
    rt: &Runtime,
    n: usize,
    work: std::time::Duration,
) -> (usize, std::time::Duration) {
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let mut clients = Vec::with_capacity(n);
    let parked = std::sync::Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..n)
        .map(|_| {
            // One at a time: the listen backlog may be smaller than `n`.
            clients.push(std::net::TcpStream::connect(addr).unwrap());
            let (s, _) = l.accept().unwrap();
            let parked = parked.clone();
            rt.handle().spawn_future(async move {
                let s = mn_sched::aio::net::TcpStream::from_std(s).unwrap();
                let mut b = [0u8; 1];
                let mut first = true;
                let got = std::future::poll_fn(|cx| {
                    let r = s.poll_read_buf(cx, &mut b);
                    if r.is_pending() && std::mem::take(&mut first) {
                        parked.fetch_add(1, Ordering::AcqRel);
                    }
                    r
                })
                .await
                .unwrap();
                let t = Instant::now();
                while t.elapsed() < work {
                    std::hint::spin_loop();
                }
                (got, gettid())
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while parked.load(Ordering::Acquire) < n {
        assert!(Instant::now() < deadline, "readers never parked");
        std::thread::sleep(Duration::from_millis(1));
    }
    // Every M idle again, one waiting in epoll.
    std::thread::sleep(Duration::from_millis(30));
    let sent = Instant::now();
    for mut c in &clients {
        c.write_all(b"x").unwrap();
    }
    let mut threads = std::collections::HashSet::new();
    for h in hs {
        let (got, tid) = rt.block_on_future(h).unwrap();
        assert_eq!(got, 1);
        threads.insert(tid);
    }
    (threads.len(), sent.elapsed())
}
