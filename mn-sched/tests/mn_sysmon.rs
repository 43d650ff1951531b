//! Sysmon: `syscall` / `syscall_blocking` hand the P on while a call blocks
//! its thread (sysmon retakes it, or the eager path gives it away), the
//! thread cap holds with no deadlock, and the default procs follow the
//! cgroup CPU quota.

mod util;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mn_sched::{default_procs_in, go, syscall, syscall_blocking, yield_now, Handle, Runtime};
use util::{is_child, run_child_ok};

/// Sleeps the OS thread with nanosleep (a real blocking system call).
fn nanosleep(d: Duration) {
    let ts = libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `ts` is a valid timespec; a null remainder is allowed.
    unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
}

/// Samples `Stats::threads` until stopped; returns the maximum.
fn sample_threads(handle: Handle, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut max = 0;
        while !stop.load(Ordering::Relaxed) {
            max = max.max(handle.stats().threads);
            std::thread::sleep(Duration::from_micros(500));
        }
        max
    })
}

/// Ten Gs each blocking 200 ms in `call` at procs 2: returns the wall time
/// and the most Ms seen.
fn ten_sleepers(rt: &Runtime, blocking: bool) -> (Duration, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_threads(rt.handle(), stop.clone());
    let t0 = Instant::now();
    // SAFETY: nothing held across parks.
    unsafe {
        rt.block_on(move || {
            let hs: Vec<_> = (0..10)
                .map(|_| {
                    go(move || {
                        let d = Duration::from_millis(200);
                        if blocking {
                            syscall_blocking(|| nanosleep(d));
                        } else {
                            syscall(|| nanosleep(d));
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        })
    }
    .unwrap();
    let wall = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    (wall, sampler.join().unwrap())
}

#[test]
fn ten_lazy_syscalls_run_in_parallel() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let (wall, threads) = ten_sleepers(&rt, false);
    assert!(wall < Duration::from_secs(1), "wall {wall:?}");
    assert!(threads >= 10, "only {threads} Ms seen");
    let s = rt.stats();
    assert!(s.retakes >= 8, "retakes {}", s.retakes);
    assert_eq!(s.ms_in_syscall, 0);
}

#[test]
fn ten_blocking_syscalls_run_in_parallel() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let (wall, threads) = ten_sleepers(&rt, true);
    assert!(wall < Duration::from_secs(1), "wall {wall:?}");
    assert!(threads >= 10, "only {threads} Ms seen");
    let s = rt.stats();
    assert!(s.handoffs >= 10, "handoffs {}", s.handoffs);
    assert_eq!(s.retakes, 0);
    assert_eq!(s.ms_in_syscall, 0);
}

#[test]
fn syscall_off_a_g_just_calls() {
    assert_eq!(syscall(|| 7), 7);
    assert_eq!(syscall_blocking(|| 8), 8);
}

#[test]
fn a_panic_in_the_call_gives_the_p_back() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    // SAFETY: nothing held across parks.
    let r = unsafe {
        rt.block_on(|| {
            let h = go(|| syscall(|| panic!("inside syscall")));
            assert!(h.join().is_err());
            let h = go(|| syscall_blocking(|| panic!("inside syscall_blocking")));
            assert!(h.join().is_err());
            // The P still runs Gs.
            go(|| 5).join().unwrap()
        })
    };
    assert_eq!(r.unwrap(), 5);
    assert_eq!(rt.stats().ms_in_syscall, 0);
}

#[test]
fn a_p_stuck_in_syscall_runs_its_other_gs() {
    // One P: a G blocks 300 ms in `syscall`; another G of the same P keeps
    // counting meanwhile (sysmon retook the P for it).
    let rt = Runtime::builder().procs(1).build().unwrap();
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    // SAFETY: nothing held across parks.
    let during = unsafe {
        rt.block_on(move || {
            let stop = Arc::new(AtomicBool::new(false));
            let s = stop.clone();
            let c2 = c.clone();
            let worker = go(move || {
                while !s.load(Ordering::Relaxed) {
                    c2.fetch_add(1, Ordering::Relaxed);
                    yield_now();
                }
            });
            let before = c.load(Ordering::Relaxed);
            syscall(|| nanosleep(Duration::from_millis(300)));
            let during = c.load(Ordering::Relaxed) - before;
            stop.store(true, Ordering::Relaxed);
            worker.join().unwrap();
            during
        })
    }
    .unwrap();
    assert!(during > 100, "the other G ran only {during} times");
    assert!(rt.stats().retakes >= 1);
}

/// Child body of the cap tests: ten 50 ms calls under a cap of 4 Ms.
fn capped_child(blocking: bool) {
    let rt = Runtime::builder().procs(2).max_threads(4).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_threads(rt.handle(), stop.clone());
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let t0 = Instant::now();
    // SAFETY: nothing held across parks.
    unsafe {
        rt.block_on(move || {
            let hs: Vec<_> = (0..10)
                .map(|_| {
                    let d = d.clone();
                    go(move || {
                        let dur = Duration::from_millis(50);
                        if blocking {
                            syscall_blocking(|| nanosleep(dur));
                        } else {
                            syscall(|| nanosleep(dur));
                        }
                        d.fetch_add(1, Ordering::Relaxed);
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        })
    }
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    let max = sampler.join().unwrap();
    assert_eq!(done.load(Ordering::Relaxed), 10);
    assert!(max <= 4, "{max} Ms under a cap of 4");
    assert!(rt.stats().threads_capped >= 1);
    assert!(t0.elapsed() < Duration::from_secs(5));
}

/// Runs `test` as a child for `scenario`: it must pass and warn once.
fn assert_capped_child(test: &str, scenario: &str) {
    let (_, err) = run_child_ok(test, scenario);
    assert_eq!(err.matches("reached max_threads").count(), 1, "{err}");
}

#[test]
fn thread_cap_holds_without_deadlock() {
    if is_child("cap") {
        return capped_child(false);
    }
    assert_capped_child("thread_cap_holds_without_deadlock", "cap");
}

#[test]
fn thread_cap_holds_for_blocking_handoffs() {
    if is_child("cap-blocking") {
        return capped_child(true);
    }
    assert_capped_child("thread_cap_holds_for_blocking_handoffs", "cap-blocking");
}

#[test]
fn cgroup_quota_lowers_the_default() {
    let dir = std::env::temp_dir().join(format!("mn-sysmon-cg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let none = default_procs_in(&dir);
    assert!(none >= 1);
    std::fs::write(dir.join("cpu.max"), "150000 100000\n").unwrap();
    assert_eq!(default_procs_in(&dir), 2.min(none));
    std::fs::write(dir.join("cpu.max"), "max 100000\n").unwrap();
    assert_eq!(default_procs_in(&dir), none);
    std::fs::write(dir.join("cpu.max"), "10000 100000\n").unwrap();
    assert_eq!(default_procs_in(&dir), 1);
    std::fs::remove_dir_all(&dir).unwrap();
    // The affinity count, from the kernel's own view.
    assert_eq!(
        none,
        std::thread::available_parallelism()
            .unwrap()
            .get()
            .max(none)
            .min(none)
    );
}

#[test]
fn idle_ms_are_reaped() {
    let rt = Runtime::builder()
        .procs(2)
        .idle_thread_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let (_, peak) = ten_sleepers(&rt, true);
    assert!(peak >= 10, "only {peak} Ms seen");
    let deadline = Instant::now() + Duration::from_secs(5);
    while rt.stats().threads > 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = rt.stats().threads;
    assert!(left <= 2, "{left} Ms still alive after the idle timeout");
    // The runtime still works with the Ms it kept (or new ones).
    // SAFETY: nothing held across parks.
    let r = unsafe { rt.block_on(|| go(|| 3).join().unwrap()) };
    assert_eq!(r.unwrap(), 3);
}

#[test]
fn a_long_runner_is_flagged_and_yields_at_its_next_spawn() {
    // One P: a G spins 60 ms with no runtime call, then spawns; sysmon has
    // flagged it, so the spawn yields and the other queued G runs first.
    let rt = Runtime::builder().procs(1).build().unwrap();
    let order = Arc::new(AtomicUsize::new(0));
    let o = order.clone();
    // SAFETY: nothing held across parks.
    let (other_at, after_spawn) = unsafe {
        rt.block_on(move || {
            let o2 = o.clone();
            let other = go(move || o2.fetch_add(1, Ordering::SeqCst));
            let t = Instant::now();
            while t.elapsed() < Duration::from_millis(60) {
                std::hint::spin_loop();
            }
            let spawned = go(|| ());
            let after = o.load(Ordering::SeqCst);
            let at = other.join().unwrap();
            spawned.join().unwrap();
            (at, after)
        })
    }
    .unwrap();
    assert_eq!(other_at, 0);
    assert_eq!(after_spawn, 1, "the spawn did not yield to the queued G");
    assert!(rt.stats().preemptions >= 1);
}

/// Samples `ms_without_p`, `ms_without_p_computing` and
/// `ms_without_p_blocked` until stopped; returns the maximum of each.
fn sample_without_p(
    handle: Handle,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(usize, usize, usize)> {
    std::thread::spawn(move || {
        let mut max = (0, 0, 0);
        while !stop.load(Ordering::Relaxed) {
            let s = handle.stats();
            max.0 = max.0.max(s.ms_without_p);
            max.1 = max.1.max(s.ms_without_p_computing);
            max.2 = max.2.max(s.ms_without_p_blocked);
            std::thread::sleep(Duration::from_millis(1));
        }
        max
    })
}

#[test]
fn a_loop_at_one_p_loses_its_p_and_the_sleeper_still_wakes() {
    // One P: a G computes 400 ms with no runtime call; a sleeper on the
    // same P sleeps 20 ms ten times. Sysmon takes the P from the loop (the
    // G keeps its thread), so the sleeper finishes long before the loop
    // does, each wake a few ms late at most; the loop's G then goes on
    // (spawns and joins) with a P got back at its next runtime call.
    let rt = Runtime::builder().procs(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_without_p(rt.handle(), stop.clone());
    // SAFETY: nothing held across parks.
    let (late, sleeper_done, loop_done, after) = unsafe {
        rt.block_on(move || {
            let t0 = Instant::now();
            let sleeper = go(move || {
                let mut late = Duration::ZERO;
                for _ in 0..10 {
                    let t = Instant::now();
                    mn_sched::sleep(Duration::from_millis(20));
                    late = late.max(t.elapsed().saturating_sub(Duration::from_millis(20)));
                }
                (late, t0.elapsed())
            });
            let spinner = go(move || {
                let t = Instant::now();
                let mut x = 0u64;
                while t.elapsed() < Duration::from_millis(400) {
                    x = x.wrapping_add(1);
                    std::hint::black_box(x);
                }
                let done = t0.elapsed();
                // Runtime calls after the loop: the P comes back.
                let after = go(|| 7).join().unwrap();
                (done, after)
            });
            let (late, sleeper_done) = sleeper.join().unwrap();
            let (loop_done, after) = spinner.join().unwrap();
            (late, sleeper_done, loop_done, after)
        })
    }
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    let (without, computing, _) = sampler.join().unwrap();
    assert_eq!(after, 7);
    assert!(
        sleeper_done < loop_done,
        "the sleeper finished at {sleeper_done:?}, after the loop ({loop_done:?})"
    );
    assert!(
        late < Duration::from_millis(150),
        "a sleep woke {late:?} late beside the loop"
    );
    let st = rt.stats();
    assert!(st.user_retakes >= 1, "{st:?}");
    assert!(
        without >= 1 && computing >= 1,
        "sampled {without} Ms without P, {computing} computing"
    );
    assert_eq!(st.ms_without_p, 0, "the loop's M got a P back: {st:?}");
}

#[test]
fn a_std_mutex_held_across_a_sleep_costs_a_thread_not_the_p() {
    // One P: a G takes a std Mutex and sleeps its thread 300 ms without
    // telling the runtime; another G of the same P keeps counting (its P
    // was taken from the sleeper's M), and sysmon reports that M as
    // blocked, not computing, by its CPU clock.
    let rt = Runtime::builder().procs(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_without_p(rt.handle(), stop.clone());
    let lock = Arc::new(std::sync::Mutex::new(0u32));
    // SAFETY: nothing held across parks (the std guard is dropped before
    // the G's next runtime call).
    let during = unsafe {
        rt.block_on(move || {
            let count = Arc::new(AtomicU64::new(0));
            let done = Arc::new(AtomicBool::new(false));
            let (c, d) = (count.clone(), done.clone());
            let worker = go(move || {
                while !d.load(Ordering::Relaxed) {
                    c.fetch_add(1, Ordering::Relaxed);
                    yield_now();
                }
            });
            let l = lock.clone();
            let holder = go(move || {
                let mut g = l.lock().unwrap();
                let before = count.load(Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(300));
                *g += 1;
                drop(g);
                count.load(Ordering::Relaxed) - before
            });
            let during = holder.join().unwrap();
            done.store(true, Ordering::Relaxed);
            worker.join().unwrap();
            assert_eq!(*lock.lock().unwrap(), 1);
            during
        })
    }
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    let (without, _, blocked) = sampler.join().unwrap();
    assert!(
        during > 100,
        "the other G ran only {during} times in 300 ms"
    );
    assert!(rt.stats().user_retakes >= 1);
    assert!(
        without >= 1 && blocked >= 1,
        "sampled {without} Ms without P, {blocked} blocked"
    );
}

#[test]
fn runtime_calls_race_retakes() {
    // The fences are membarrier-backed where the kernel allows it (the
    // full-fence path: mn_retake_full_fences.rs).
    let st = util::retake_race(1);
    assert!(st.user_retakes >= 1, "no retake happened: {st:?}");
    util::retake_race(2);
}

#[test]
fn a_long_run_that_makes_runtime_calls_keeps_its_p() {
    // One P: a G runs 150 ms without a switch but makes a runtime call
    // (the P ownership check every runtime call does) every ~100 µs. It is
    // flagged for preemption, but sysmon does not take its P: the P is
    // taken only from a G that made no runtime call for 10 ms.
    let rt = Runtime::builder().procs(1).build().unwrap();
    // SAFETY: nothing held across parks.
    unsafe {
        rt.block_on(|| {
            go(|| {
                let t = Instant::now();
                while t.elapsed() < Duration::from_millis(150) {
                    mn_sched::bench_support::runtime_call_checks(1, true);
                    let s = Instant::now();
                    while s.elapsed() < Duration::from_micros(100) {
                        std::hint::spin_loop();
                    }
                }
            })
            .join()
            .unwrap()
        })
    }
    .unwrap();
    let st = rt.stats();
    assert!(st.preemptions >= 1, "{st:?}");
    assert_eq!(st.user_retakes, 0, "{st:?}");
}

/// A connected socket (the server side, non-blocking) whose peer, a plain
/// thread, writes one byte `after` and keeps the connection open `hold`
/// longer; the thread returns when it wrote.
fn delayed_writer(
    after: Duration,
    hold: Duration,
) -> (std::net::TcpStream, std::thread::JoinHandle<Instant>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        std::thread::sleep(after);
        c.write_all(b"x").unwrap();
        let sent = Instant::now();
        std::thread::sleep(hold);
        sent
    });
    let (server, _) = listener.accept().unwrap();
    server.set_nonblocking(true).unwrap();
    (server, writer)
}

#[test]
fn the_network_is_polled_while_the_only_p_sleeps_in_a_syscall() {
    // One P: the main G sleeps 1.5 s in a lazy `syscall`; an async task of
    // the same runtime waits to read a socket that a plain thread writes
    // at ~200 ms. The read must not wait for the syscall to end: sysmon
    // retakes the P and some M (or sysmon itself) polls the network.
    let rt = Runtime::builder().procs(1).build().unwrap();
    let (server, writer) = delayed_writer(Duration::from_millis(200), Duration::from_millis(1500));
    let reader = rt.handle().spawn_future(async move {
        let s = mn_sched::aio::net::TcpStream::from_std(server).unwrap();
        let mut buf = [0u8; 1];
        let n = std::future::poll_fn(|cx| s.poll_read_buf(cx, &mut buf))
            .await
            .unwrap();
        (n, Instant::now())
    });
    // SAFETY: nothing held across parks.
    unsafe { rt.block_on(|| syscall(|| nanosleep(Duration::from_millis(1500)))) }.unwrap();
    let (n, read_at) = rt.block_on_future(reader).unwrap();
    let sent = writer.join().unwrap();
    assert_eq!(n, 1);
    let late = read_at.saturating_duration_since(sent);
    assert!(
        late < Duration::from_millis(700),
        "the read came {late:?} after the write"
    );
}

#[test]
fn the_network_is_served_while_the_only_p_stays_busy() {
    // One P, kept busy by two Gs that compute 2 ms and then hand a token
    // to each other over channels (each park goes through the scheduler,
    // whose own poll comes only every 61st schedule, and no yield polls);
    // an async task waits to read a socket a plain thread writes at
    // ~100 ms. The read must complete while they still compute: sysmon
    // polls the network when nobody has for 10 ms (or an idle M waits in
    // epoll).
    let rt = Runtime::builder().procs(1).build().unwrap();
    let (server, writer) = delayed_writer(Duration::from_millis(100), Duration::from_millis(500));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = done.clone();
        rt.handle().spawn_future(async move {
            let s = mn_sched::aio::net::TcpStream::from_std(server).unwrap();
            let mut buf = [0u8; 1];
            let n = std::future::poll_fn(|cx| s.poll_read_buf(cx, &mut buf))
                .await
                .unwrap();
            done.store(true, Ordering::Release);
            n
        })
    };
    let d = done.clone();
    // SAFETY: nothing held across parks.
    let served_while_busy = unsafe {
        rt.block_on(move || {
            let (to_b, from_a) = mn_sched::chan::rendezvous::<bool>();
            let (to_a, from_b) = mn_sched::chan::rendezvous::<bool>();
            let compute = move |d: &AtomicBool| {
                let s = Instant::now();
                while s.elapsed() < Duration::from_millis(2) {
                    std::hint::spin_loop();
                }
                d.load(Ordering::Acquire)
            };
            let da = d.clone();
            let a = go(move || {
                let t0 = Instant::now();
                loop {
                    let seen = compute(&da) || t0.elapsed() > Duration::from_secs(5);
                    to_b.send(seen).unwrap();
                    if seen {
                        return da.load(Ordering::Acquire);
                    }
                    from_b.recv().unwrap();
                }
            });
            let b = go(move || {
                while !from_a.recv().unwrap() {
                    compute(&d);
                    to_a.send(false).unwrap();
                }
            });
            b.join().unwrap();
            a.join().unwrap()
        })
    }
    .unwrap();
    assert!(served_while_busy, "the read waited for the busy Gs to stop");
    assert_eq!(rt.block_on_future(reader).unwrap(), 1);
    writer.join().unwrap();
    // The only M ran Gs the whole time, so nobody waited in epoll: sysmon
    // found the poll stale and polled.
    let s = rt.stats();
    assert!(s.sysmon_netpolls >= 1, "{s:?}");
}

/// The figure `key` of the file `file` (`status`, `io`) of this process's
/// sysmon thread in /proc (the child runs a single runtime).
fn sysmon_figure(file: &str, key: &str) -> u64 {
    for t in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = t.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == "mn-sysmon" {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            return text
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().parse().ok())
                .unwrap();
        }
    }
    panic!("no mn-sysmon thread");
}

/// Voluntary context switches of this process's sysmon thread.
fn sysmon_switches() -> u64 {
    sysmon_figure("status", "voluntary_ctxt_switches:")
}

#[test]
fn sysmon_sleeps_when_idle_and_not_once_per_burst() {
    if is_child("sysmon-wakes") {
        let rt = Runtime::builder().procs(1).build().unwrap();
        // Idle: after its quiet period sysmon sleeps deeply (waking only to
        // look at SIGQUIT every 50 ms).
        std::thread::sleep(Duration::from_millis(100));
        let s0 = sysmon_switches();
        std::thread::sleep(Duration::from_millis(500));
        let idle = sysmon_switches() - s0;
        assert!(idle <= 30, "idle sysmon switched {idle} times in 500 ms");
        // Bursts: the only P flips between idle and busy thousands of times
        // a second (a task spawned every ~100 µs, like readiness on a
        // server). sysmon must not be woken on every flip: it ticks at most
        // every millisecond while the Ps are not quiet.
        let h = rt.handle();
        let s0 = sysmon_switches();
        let t0 = Instant::now();
        let mut bursts = 0u64;
        while t0.elapsed() < Duration::from_millis(500) {
            drop(h.spawn_future(async {}));
            bursts += 1;
            let t = Instant::now();
            while t.elapsed() < Duration::from_micros(100) {
                std::hint::spin_loop();
            }
        }
        let ms = t0.elapsed().as_millis() as u64;
        let busy = sysmon_switches() - s0;
        println!("bursts={bursts} sysmon_switches={busy} ms={ms}");
        assert!(
            busy <= ms * 3 / 2 + 20 && busy * 2 < bursts,
            "sysmon switched {busy} times for {bursts} bursts in {ms} ms"
        );
        return;
    }
    run_child_ok(
        "sysmon_sleeps_when_idle_and_not_once_per_burst",
        "sysmon-wakes",
    );
}

/// Echo ping-pong for `sysmon_naps_while_the_ms_poll_the_network`: an async
/// task on `rt` echoes one byte at a time; a plain thread sends and reads
/// back until `stop`, storing in `gap_us` the longest wait for an echo
/// since the last reset (a swap to 0).
fn ping_pong(
    rt: &Runtime,
    stop: Arc<AtomicBool>,
    gap_us: Arc<AtomicU64>,
) -> std::thread::JoinHandle<u64> {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = std::thread::spawn(move || {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.set_nodelay(true).unwrap();
        let mut b = [0u8; 1];
        let mut trips = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            c.write_all(b"x").unwrap();
            c.read_exact(&mut b).unwrap();
            gap_us.fetch_max(t.elapsed().as_micros() as u64, Ordering::Relaxed);
            trips += 1;
        }
        trips
    });
    let (s, _) = listener.accept().unwrap();
    s.set_nodelay(true).unwrap();
    drop(rt.handle().spawn_future(async move {
        let s = mn_sched::aio::net::TcpStream::from_std(s).unwrap();
        let mut b = [0u8; 1];
        loop {
            match std::future::poll_fn(|cx| s.poll_read_buf(cx, &mut b)).await {
                Ok(1) => {}
                _ => return,
            }
            if std::future::poll_fn(|cx| s.poll_write_buf(cx, &b))
                .await
                .is_err()
            {
                return;
            }
        }
    }));
    client
}

#[test]
fn sysmon_naps_while_the_ms_poll_the_network() {
    if is_child("sysmon-naps") {
        // One P serving a ping-pong: its M polls the network all the time,
        // which keeps the coarse clocks fresh, so sysmon naps (10 ms) instead
        // of ticking every millisecond.
        let rt = Runtime::builder().procs(1).build().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let gap = Arc::new(AtomicU64::new(0));
        let client = ping_pong(&rt, stop.clone(), gap.clone());
        std::thread::sleep(Duration::from_millis(100));
        let s0 = sysmon_switches();
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_millis(500));
        let ms = t0.elapsed().as_millis() as u64;
        let woke = sysmon_switches() - s0;
        // A G on the only P enters a syscall for 50 ms: sysmon, napping or
        // not (the entry wakes it), retakes the P, so the echo stalls a
        // millisecond or so (under one on an idle machine, a few with every
        // CPU busy elsewhere), never the whole call.
        let mut stalls = Vec::new();
        for _ in 0..7 {
            std::thread::sleep(Duration::from_millis(20));
            gap.store(0, Ordering::Relaxed);
            // SAFETY: the G holds nothing across its park.
            let h = unsafe {
                rt.handle()
                    .spawn(|| syscall(|| nanosleep(Duration::from_millis(50))))
            };
            drop(h);
            std::thread::sleep(Duration::from_millis(70));
            stalls.push(gap.load(Ordering::Relaxed));
        }
        stop.store(true, Ordering::Relaxed);
        let trips = client.join().unwrap();
        stalls.sort_unstable();
        let median = stalls[stalls.len() / 2];
        println!("woke={woke} in {ms} ms, trips={trips}, stalls_us={stalls:?}");
        assert!(
            trips > 1000,
            "the ping-pong hardly ran: {trips} round trips"
        );
        assert!(
            woke <= ms / 4 + 20,
            "sysmon woke {woke} times in {ms} ms of network polling: no naps"
        );
        assert!(
            median < 25_000,
            "an echo stalled {median} µs (median of {stalls:?}) behind a syscall on the only P"
        );
        return;
    }
    run_child_ok("sysmon_naps_while_the_ms_poll_the_network", "sysmon-naps");
}

/// Two Gs on `rt`'s P that compute in 1 ms slices and yield between them
/// until `stop`: the P always has a G to run and never looks for work.
fn yielders(rt: &Runtime, stop: &Arc<AtomicBool>) -> Vec<mn_sched::JoinHandle<()>> {
    let hs: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            // SAFETY: nothing is held across parks.
            unsafe {
                rt.handle().spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        let t = Instant::now();
                        while t.elapsed() < Duration::from_millis(1) {
                            std::hint::spin_loop();
                        }
                        yield_now();
                    }
                })
            }
            .unwrap()
        })
        .collect();
    // Both running (the P's ring holds the one that waits).
    std::thread::sleep(Duration::from_millis(20));
    hs
}

#[test]
fn gs_that_yield_do_not_starve_the_global_queue() {
    // One P kept busy by two Gs that yield every millisecond. 500 async
    // readers spawned from this thread, and readied by sysmon's poll of the
    // network when written, go through the global queue. When a yield put
    // the G back on the P's ring, the scheduler served the global queue
    // one G per 61 turns: 30 s to park them, 30 s more to serve them.
    let rt = Runtime::builder().procs(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let busy = yielders(&rt, &stop);
    let t = Instant::now();
    let (_, served) = util::ready_burst(&rt, 500, Duration::ZERO);
    let took = t.elapsed();
    stop.store(true, Ordering::Release);
    busy.into_iter().for_each(|h| h.join().unwrap());
    assert!(
        took < Duration::from_secs(5) && served < Duration::from_secs(3),
        "the readers took {took:?} to park and be served, {served:?} to be served"
    );
}

#[test]
fn gs_spawned_from_outside_run_beside_gs_that_yield() {
    // The same with plain Gs: spawned from this thread into the global
    // queue while the only P's Gs keep yielding (was 61 ms per G).
    let rt = Runtime::builder().procs(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let busy = yielders(&rt, &stop);
    let t = Instant::now();
    // SAFETY: the Gs only count.
    let hs: Vec<_> = (0..300u64)
        .map(|i| unsafe { rt.handle().spawn(move || i) }.unwrap())
        .collect();
    let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    let took = t.elapsed();
    stop.store(true, Ordering::Release);
    busy.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(sum, 300 * 299 / 2);
    assert!(took < Duration::from_secs(3), "300 Gs took {took:?}");
}

#[test]
fn a_sleeper_beside_gs_that_yield_wakes_on_time() {
    // Two Gs compute in 1 ms slices and hand the only P to each other at
    // each yield; a third sleeps 2 ms, 40 times. Its timer fires at a
    // schedule by the coarse clock, which sysmon ticks each millisecond
    // while no M does: a median of a few ms. It was tens of ms while a
    // yield handed the P on without looking at due timers, and a whole
    // nap (~10 ms) while sysmon took its own tick for an M's.
    let rt = Runtime::builder().procs(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let busy = yielders(&rt, &stop);
    // SAFETY: nothing is held across parks.
    let sleeper = unsafe {
        rt.handle().spawn(|| {
            let mut took: Vec<Duration> = (0..40)
                .map(|_| {
                    let t = Instant::now();
                    mn_sched::sleep(Duration::from_millis(2));
                    t.elapsed()
                })
                .collect();
            took.sort();
            took[took.len() / 2]
        })
    }
    .unwrap();
    let median = sleeper.join().unwrap();
    stop.store(true, Ordering::Release);
    busy.into_iter().for_each(|h| h.join().unwrap());
    assert!(
        median < Duration::from_millis(8),
        "a 2 ms sleep took {median:?} (median) beside Gs that yield"
    );
}

#[test]
fn a_socket_beside_gs_that_yield_is_served_within_milliseconds() {
    // An async echo on the only P beside two Gs that compute in 1 ms
    // slices and yield: the P never idles, so nothing would poll the
    // network but sysmon, after 10 ms without a poll (Go's rule, and ours
    // before: median round trip 10 ms). A yield polls when no M has for
    // 1–2 ms: median 2–3 ms.
    let rt = Runtime::builder().procs(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let busy = yielders(&rt, &stop);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    let echo = rt.handle().spawn_future(async move {
        let s = mn_sched::aio::net::TcpStream::from_std(s).unwrap();
        let mut b = [0u8; 1];
        while std::future::poll_fn(|cx| s.poll_read_buf(cx, &mut b))
            .await
            .unwrap()
            == 1
        {
            std::future::poll_fn(|cx| s.poll_write_buf(cx, &b))
                .await
                .unwrap();
        }
    });
    let median = test_support::echo_rtt::median_round_trip(&mut c, 40);
    drop(c);
    rt.block_on_future(echo).unwrap();
    stop.store(true, Ordering::Release);
    busy.into_iter().for_each(|h| h.join().unwrap());
    assert!(
        median < Duration::from_millis(6),
        "median echo round trip {median:?} beside Gs that yield"
    );
}

#[test]
fn sysmon_reads_the_sigquit_pipe_only_after_a_sigquit() {
    if is_child("sigquit-reads") {
        let rt = Runtime::builder()
            .procs(1)
            .control_signals(true)
            .build()
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let watcher = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let (r0, w0) = (sysmon_figure("io", "syscr:"), sysmon_switches());
            std::thread::sleep(Duration::from_millis(400));
            let quiet = (sysmon_figure("io", "syscr:") - r0, sysmon_switches() - w0);
            // SAFETY: raise(3) sends SIGQUIT to this thread; the runtime's
            // handler (control_signals) takes it and the program goes on.
            assert_eq!(unsafe { libc::raise(libc::SIGQUIT) }, 0);
            std::thread::sleep(Duration::from_millis(300));
            s.store(true, Ordering::Relaxed);
            quiet
        });
        // A G that computes in 50 µs slices keeps the only P busy: sysmon
        // ticks all along, watching it for preemption and for SIGQUIT.
        // SAFETY: nothing held across parks.
        let slices = unsafe {
            rt.block_on(move || {
                let mut slices = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    while t.elapsed() < Duration::from_micros(50) {
                        std::hint::spin_loop();
                    }
                    slices += 1;
                    yield_now();
                }
                slices
            })
        }
        .unwrap();
        let (reads, wakes) = watcher.join().unwrap();
        println!("quiet: sysmon reads={reads} wakes={wakes}; slices={slices}");
        assert!(wakes >= 10, "sysmon hardly ticked ({wakes} wake-ups)");
        // One read per tick before the delivery count (every tick). None
        // is on the pipe now, but on a loaded machine sysmon still reads
        // /proc now and then (the state of an M whose G has not come back
        // for 10 ms, the load average): a few in hundreds of ticks beside
        // two spinning processes.
        assert!(
            reads * 4 <= wakes,
            "sysmon made {reads} read calls in {wakes} ticks with no signal"
        );
        return;
    }
    let (_, stderr) = run_child_ok(
        "sysmon_reads_the_sigquit_pipe_only_after_a_sigquit",
        "sigquit-reads",
    );
    assert_eq!(
        stderr.matches("task dump (SIGQUIT)").count(),
        1,
        "one SIGQUIT, one dump:\n{stderr}"
    );
}
