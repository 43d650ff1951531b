//! Looking inside: the task dump and its wait reasons, `stats()` as
//! Prometheus text, and the metrics example scraped over loopback.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use switchyard::debug::{TaskState, WaitReason};
use switchyard::sync::{mpsc, Mutex};
use switchyard::{spawn, yield_now};

switchyard::test_all_modes! {
    async fn the_dump_lists_parked_tasks_with_their_reasons() {
        let (_tx, mut rx) = mpsc::channel::<u8>(1);
        let lock = std::sync::Arc::new(Mutex::new(()));
        let held = lock.lock().await;
        let l2 = lock.clone();
        let (receiver, at_recv) = (spawn(async move { rx.recv().await }), line!());
        let (sleeper, at_sleep) = (spawn(switchyard::time::sleep(Duration::from_secs(60))), line!());
        let (locker, at_lock) = (spawn(async move { drop(l2.lock().await) }), line!());
        for _ in 0..3 {
            yield_now().await;
        }
        // In mn the tasks start on other threads: give them (bounded) time
        // to reach their waits.
        let t = std::time::Instant::now();
        let parked = |ts: &[switchyard::debug::TaskInfo]| {
            ts.iter().filter(|t| matches!(t.state, TaskState::Waiting(_))).count() >= 3
        };
        while !parked(&switchyard::debug::tasks()) && t.elapsed() < Duration::from_secs(2) {
            switchyard::time::sleep(Duration::from_millis(5)).await;
        }
        let tasks = switchyard::debug::tasks();
        let reason_of = |line: u32| {
            tasks
                .iter()
                .find(|t| t.spawned_at.file().ends_with("observe.rs") && t.spawned_at.line() == line)
                .map(|t| t.state)
        };
        assert_eq!(reason_of(at_recv), Some(TaskState::Waiting(WaitReason::ChanReceive)), "{tasks:?}");
        assert_eq!(reason_of(at_sleep), Some(TaskState::Waiting(WaitReason::Sleep)), "{tasks:?}");
        assert_eq!(reason_of(at_lock), Some(TaskState::Waiting(WaitReason::Lock)), "{tasks:?}");
        let text = switchyard::dump();
        assert!(text.contains("[chan receive"), "{text}");
        assert!(text.contains("[sleep"), "{text}");
        assert!(text.contains("[mutex lock"), "{text}");
        assert!(text.contains("(main) [running]"), "{text}");
        assert!(text.contains(&format!("spawned at tests/observe.rs:{at_sleep}")), "{text}");
        drop(held);
        locker.await.unwrap();
        receiver.abort();
        sleeper.abort();
    }

    async fn stats_render_as_prometheus_text() {
        let text = switchyard::stats().unwrap().to_prometheus();
        let mut names = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut it = rest.split_whitespace();
                let (name, kind) = (it.next().unwrap(), it.next().unwrap());
                assert!(kind == "gauge" || kind == "counter", "{line}");
                assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
                names.push(name.to_string());
            } else if !line.starts_with('#') {
                let (name, value) = line.rsplit_once(' ').unwrap();
                value.parse::<f64>().unwrap_or_else(|_| panic!("{line}"));
                let base = name.split('{').next().unwrap();
                assert!(names.iter().any(|n| n == base), "sample {name} without # TYPE");
            }
        }
        assert!(names.len() >= 20);
        assert!(text.contains("switchyard_info{mode=\""), "{text}");
    }
}

/// Sends one HTTP request to `addr`; returns (status line, body).
fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(len, body.len(), "Content-Length matches the body");
    (head.lines().next().unwrap().to_string(), body.to_string())
}

#[test]
fn the_metrics_example_is_scraped_over_loopback() {
    for env in util::mode_envs() {
        let mut cmd = Command::new(util::example("metrics"));
        cmd.args(["127.0.0.1:0", "--demo"])
            .envs(env.iter().copied());
        let mut p = util::Proc::spawn(cmd);
        let addr = p.listening_addr();
        std::thread::sleep(Duration::from_millis(1200));
        let (status, body) = http_get(addr, "/metrics");
        assert_eq!(status, "HTTP/1.1 200 OK");
        let value = |name: &str| -> f64 {
            body.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name} missing:\n{body}"))
                .parse()
                .unwrap()
        };
        let threads = value("switchyard_os_threads");
        assert!(
            threads >= 1.0 && threads <= p.threads() as f64 + 4.0,
            "{threads} vs /proc {}",
            p.threads()
        );
        assert!(
            value("switchyard_tasks_total") >= 100.0,
            "the demo spawned its sleepers"
        );
        assert!(value("switchyard_timers") >= 1.0);
        let mode = env.iter().find(|(k, _)| *k == "RUNTIME_MODE").unwrap().1;
        assert!(
            body.contains(&format!("switchyard_info{{mode=\"{mode}\"}} 1")),
            "{body}"
        );
        let (status, _) = http_get(addr, "/");
        assert_eq!(status, "HTTP/1.1 404 Not Found");
    }
}

#[test]
fn the_alert_rule_file_watches_threads_over_50_for_30s() {
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/metrics.rules.yml"
    ))
    .unwrap();
    assert!(
        rules.contains("expr: switchyard_os_threads > 50"),
        "{rules}"
    );
    assert!(rules.contains("for: 30s"), "{rules}");
}
