//! netpoll_vs_blocking: N tasks reading a regular file through `syscall` vs
//! N tasks reading sockets (seed task 8: the file version's threads climb,
//! the network version's stay at 5–10).
//!
//! ```text
//! RUNTIME_MODE=single cargo run --release --example netpoll_vs_blocking -- [--n 100] [--file-kb 1024] [--wait 100ms]
//! ```
//!
//! 1. Sockets: N tasks each connect to a listener of this process and read
//!    one byte, which the server side writes after `--wait`; meanwhile all N
//!    wait in the poller, on no thread of their own.
//! 2. Files: a scratch file of `--file-kb` KiB is written to the temp
//!    directory; N tasks each open it and read it whole in `--chunk-kb`
//!    reads, each open and read a blocking call wrapped in
//!    `switchyard::syscall` (a regular file cannot be waited on with epoll).
//!    The seed read one byte; from the page cache that returns in about a
//!    microsecond, faster than any handoff could start, so a larger read
//!    shows the difference better.
//!
//! The socket phase runs first, so threads an engine keeps after the file
//! phase (idle Ms linger) cannot be counted against the poller. Threads are
//! sampled through both phases and read once more at each phase's end (this
//! example's sampler thread not counted). Single: 1 in both, and the file
//! phase runs the reads one task at a time. mn: the file phase can take more
//! threads (handoffs), the socket phase should not. Result keys: `n`,
//! `file_kb`, `chunk_kb`, `file_ms`, `file_threads`, `socket_ms`,
//! `socket_threads`, `wait_ms`.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Flags, Here, Report, Sampler};
use switchyard::net::{TcpListener, TcpStream};

const USAGE: &str = "usage: netpoll_vs_blocking [--n N] [--file-kb K] [--chunk-kb C] [--wait DUR]
  --n N          tasks in each phase (default 100)
  --file-kb K    size of the file each task reads in the file phase (default 1024)
  --chunk-kb C   bytes per read call, in KiB (default 1024: one read per file)
  --wait DUR     how long the socket readers wait for their byte (default 100ms)";

/// One phase's measurement.
struct Phase {
    /// When it began.
    from: Instant,
    /// When its last task finished.
    to: Instant,
    /// Threads right then (the sampler's taken off).
    threads_at_end: usize,
}

impl Phase {
    /// Ends a phase begun at `from`.
    fn ended(from: Instant) -> Phase {
        Phase {
            from,
            to: Instant::now(),
            threads_at_end: switchyard::os::thread_count().saturating_sub(1),
        }
    }

    /// The most threads seen during the phase.
    fn peak(&self, samples: &common::Samples) -> usize {
        samples
            .peak_between(self.from, self.to)
            .max(self.threads_at_end)
    }

    /// How long it took, in ms.
    fn ms(&self) -> f64 {
        self.to.duration_since(self.from).as_secs_f64() * 1e3
    }
}

fn main() {
    let mut f = Flags::parse("netpoll_vs_blocking", USAGE);
    let n: usize = f.value("--n", 100).max(1);
    let file_kb: usize = f.value("--file-kb", 1024).max(1);
    let chunk_kb: usize = f.value("--chunk-kb", 1024).max(1);
    let wait = f.duration("--wait", Duration::from_millis(100));
    f.finish();

    let path = std::env::temp_dir().join(format!("switchyard-netpoll-{}", std::process::id()));
    if let Err(e) = std::fs::write(&path, vec![7u8; file_kb * 1024]) {
        common::refuse(
            "netpoll_vs_blocking",
            &format!("writing {}: {e}", path.display()),
        );
    }
    let sampler = Sampler::start();
    let t0 = Instant::now();
    let file_path = path.clone();
    let (here, files, sockets) = common::run_main(switchyard::Builder::new(), async move {
        let here = Here::now();
        let sockets = read_sockets(n, wait).await;
        let files = read_files(n, Arc::new(file_path), file_kb, chunk_kb).await;
        (here, files, sockets)
    });
    let wall = t0.elapsed();
    let samples = sampler.finish();
    let _ = std::fs::remove_file(&path);

    let file_threads = files.peak(&samples);
    let socket_threads = sockets.peak(&samples);
    println!(
        "netpoll_vs_blocking: {n} tasks per phase, mode={}",
        here.mode
    );
    println!(
        "  socket phase: each waited {wait:?} for one byte in the poller; {:.0} ms, up to {socket_threads} OS thread(s)",
        sockets.ms()
    );
    println!(
        "  file phase:   each read {file_kb} KiB through syscall, {chunk_kb} KiB a call; {:.1} ms, up to {file_threads} OS thread(s)",
        files.ms()
    );
    let mut r = Report::new("netpoll_vs_blocking", here);
    r.kv("n", n)
        .kv("file_kb", file_kb)
        .kv("chunk_kb", chunk_kb)
        .num("file_ms", files.ms())
        .kv("file_threads", file_threads)
        .num("socket_ms", sockets.ms())
        .kv("socket_threads", socket_threads)
        .num("wait_ms", wait.as_secs_f64() * 1e3);
    r.finish(wall, &samples);
}

/// Phase 2: N tasks each read the whole file through blocking calls.
async fn read_files(n: usize, path: Arc<PathBuf>, file_kb: usize, chunk_kb: usize) -> Phase {
    let from = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let path = path.clone();
            switchyard::spawn(async move { read_file(&path, chunk_kb) })
        })
        .collect();
    for t in tasks {
        let got = t.await.expect("file reader task");
        assert_eq!(got, file_kb * 1024, "read the whole file");
    }
    Phase::ended(from)
}

/// Opens and reads `path` in `chunk_kb` KiB reads, each call through
/// `syscall`.
fn read_file(path: &Path, chunk_kb: usize) -> usize {
    let mut file = switchyard::syscall(|| std::fs::File::open(path)).expect("open the file");
    let mut buf = vec![0u8; chunk_kb * 1024];
    let mut total = 0;
    loop {
        match switchyard::syscall(|| file.read(&mut buf)).expect("read the file") {
            0 => return total,
            k => total += k,
        }
    }
}

/// Phase 1: N tasks each wait in the poller for one byte on a socket.
async fn read_sockets(n: usize, wait: Duration) -> Phase {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let from = Instant::now();
    let readers: Vec<_> = (0..n)
        .map(|_| {
            switchyard::spawn(async move {
                let s = TcpStream::connect(addr).await.expect("connect");
                let mut b = [0u8; 1];
                s.read_exact(&mut b).await.expect("read one byte");
                b[0]
            })
        })
        .collect();
    let mut server_side = Vec::with_capacity(n);
    for _ in 0..n {
        server_side.push(listener.accept().await.expect("accept").0);
    }
    switchyard::time::sleep(wait).await;
    for s in &server_side {
        s.write_all(&[1]).await.expect("write one byte");
    }
    for r in readers {
        assert_eq!(r.await.expect("socket reader task"), 1);
    }
    Phase::ended(from)
}
