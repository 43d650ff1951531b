//! The netpoller at the edges of its resources: a poller that could not be
//! created (no file descriptor left) is tried again at the next socket.
//! Each scenario runs in a child process, since it lowers the process's own
//! file-descriptor limit.

mod util;

use std::net::SocketAddr;

use mn_sched::aio;
use util::{block_on, is_child, run, run_child_ok};

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Opens `/dev/null` until the process is out of file descriptors, then
/// closes `keep_free` of them; returns the rest (closed when dropped).
fn exhaust_fds(keep_free: usize) -> Vec<std::fs::File> {
    let mut files = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => files.push(f),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
            Err(e) => panic!("open /dev/null: {e}"),
        }
        assert!(files.len() < 100_000, "the fd limit was not lowered");
    }
    files.truncate(files.len() - keep_free);
    files
}

/// Lowers this process's soft RLIMIT_NOFILE to `n`.
fn lower_fd_limit(n: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write `lim`.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = n.min(lim.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
}

/// The first socket of a runtime finds one descriptor left: the socket
/// takes it and the netpoller (epoll, eventfd, timerfd) cannot be created,
/// so the bind fails with EMFILE. Once descriptors are free again, a bind
/// succeeds and the socket works: the failure was not remembered.
#[test]
fn netpoller_creation_is_retried_after_emfile() {
    if is_child("emfile") {
        lower_fd_limit(256);
        run(1, || {
            let files = exhaust_fds(1);
            let err = aio::net::TcpListener::bind(local())
                .expect_err("a bind with one descriptor left should fail");
            let msg = err.to_string();
            assert!(
                msg.contains("netpoller") && msg.contains("Too many open files"),
                "{msg}"
            );
            drop(files);
            let l = aio::net::TcpListener::bind(local())
                .unwrap_or_else(|e| panic!("the bind after fds were freed failed: {e}"));
            let addr = l.local_addr().unwrap();
            let client = std::thread::spawn(move || std::net::TcpStream::connect(addr).unwrap());
            let (_s, _) = block_on(l.accept()).unwrap();
            client.join().unwrap();
        });
        println!("CHILD ok");
        return;
    }
    let (stdout, _) = run_child_ok("netpoller_creation_is_retried_after_emfile", "emfile");
    assert!(stdout.contains("CHILD ok"), "{stdout}");
}
