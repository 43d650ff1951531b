//! Memory per live async task: a child process spawns many async
//! tasks, each parked on a future a plain thread wakes later, and reads its
//! own VmRSS from /proc. Run in a child so the figure is not mixed with
//! other tests' memory. The 1,000,000-task run was a soak while each parked
//! task held a stack page (~4 GiB); now that waiting tasks hold no stack
//! it takes ~300 MB and ~3 s in a debug build, so it runs with the rest:
//! `cargo test -p switchyard-mn --release --test mn_async_mem -- --nocapture`
//! prints the figures.

mod util;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use mn_sched::aio::task;

/// Bytes of resident memory now (VmRSS).
fn rss() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: usize = s
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// Released all at once by a plain thread.
#[derive(Default)]
struct Release {
    open: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
    parked: AtomicUsize,
}

struct WaitRelease(Arc<Release>, bool);

impl Future for WaitRelease {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.open.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        self.0.wakers.lock().unwrap().push(cx.waker().clone());
        if !self.1 {
            self.1 = true;
            self.0.parked.fetch_add(1, Ordering::Release);
        }
        if self.0.open.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// The child: spawns `n` parked tasks, prints bytes per task, releases them.
fn child(n: usize) {
    let rt = mn_sched::Runtime::builder().procs(2).build().unwrap();
    // Warm the runtime (threads, caches) before the baseline.
    rt.block_on_future(async {
        let hs: Vec<_> = (0..64).map(|_| task::spawn(async {})).collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    let rel = Arc::new(Release::default());
    rel.wakers.lock().unwrap().reserve(n);
    let base = rss();
    let start = Instant::now();
    let hs: Vec<_> = {
        let rel = rel.clone();
        rt.block_on_future(async move {
            (0..n)
                .map(|i| {
                    let rel = rel.clone();
                    task::spawn(async move {
                        WaitRelease(rel, false).await;
                        i as u64
                    })
                })
                .collect()
        })
    };
    while rel.parked.load(Ordering::Acquire) < n {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "tasks never parked"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let spawned = start.elapsed();
    let st = rt.stats();
    assert_eq!(st.live_tasks as usize, n, "not all tasks alive at once");
    // Waiting async tasks hold no stack (aio/cell.rs); one per P at most
    // may still be committing its park.
    assert!(st.stacks_in_use <= 2, "{st:?}");
    let per_task = (rss() - base) / n;
    let opener = {
        let rel = rel.clone();
        std::thread::spawn(move || {
            rel.open.store(true, Ordering::Release);
            let ws = std::mem::take(&mut *rel.wakers.lock().unwrap());
            ws.into_iter().for_each(Waker::wake);
        })
    };
    let sum: u64 = rt.block_on_future(async move {
        let mut s = 0;
        for h in hs {
            s += h.await.unwrap();
        }
        s
    });
    opener.join().unwrap();
    assert_eq!(sum, (n as u64) * (n as u64 - 1) / 2);
    println!(
        "RESULT tasks={n} bytes_per_task={per_task} spawn_and_park={spawned:?} total={:?} stats={:?}",
        start.elapsed(),
        rt.stats()
    );
}

/// Runs the child and returns its bytes per task.
fn measure(test: &str, n: usize) -> usize {
    // Like util::run_child, with ignored tests included (the soak).
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            test,
            "--nocapture",
            "--test-threads=1",
            "--include-ignored",
        ])
        .env(util::CHILD, n.to_string())
        .output()
        .expect("spawn child test process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.find("RESULT").map(|i| &l[i..]))
        .unwrap_or_else(|| panic!("no RESULT line: {stdout}"));
    println!("{line}");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("bytes_per_task="))
        .unwrap()
        .parse()
        .unwrap()
}

/// 200,000 parked async tasks fit in ≤ 1 KiB of RSS each (target 4.8 KiB:
/// 1.6× Go's ~3 KiB per goroutine; measured ~300 bytes: the G's cell and
/// its waker, no stack).
#[test]
fn rss_per_parked_async_task() {
    if let Ok(n) = std::env::var(util::CHILD) {
        child(n.parse().unwrap());
        return;
    }
    let per = measure("rss_per_parked_async_task", 200_000);
    assert!(per <= 1024, "{per} bytes of RSS per parked async task");
}

/// 1,000,000 parked async tasks, all alive at once, under the default
/// vm.max_map_count.
#[test]
fn rss_per_parked_async_task_million() {
    if let Ok(n) = std::env::var(util::CHILD) {
        child(n.parse().unwrap());
        return;
    }
    let per = measure("rss_per_parked_async_task_million", 1_000_000);
    assert!(per <= 1024, "{per} bytes of RSS per parked async task");
}
