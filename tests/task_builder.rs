//! `switchyard::task::Builder`: a task with a name and (mn) a stack of its
//! own. A task whose frame is larger than the default stack aborts the
//! process with a message naming it, the size and the way out (checked in
//! a child process), and runs to completion when given a larger stack.

use std::process::{Command, Output};
use std::time::Duration;

use switchyard::{task, Builder, Mode, Runtime};

/// Tells a re-run of this test binary which child scenario to play.
const CHILD: &str = "SWITCHYARD_TASK_BUILDER_CHILD";

fn runtime(mode: Mode) -> Runtime {
    Builder::new()
        .mode(mode)
        .procs(2)
        .ignore_env()
        .build()
        .expect("runtime")
}

/// Re-runs this test binary with only `test` selected, as child `scenario`.
fn run_child(test: &str, scenario: &str) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, scenario)
        .output()
        .expect("spawn the child test process")
}

fn is_child(scenario: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|v| v == scenario)
}

/// A 300 KiB local array: more than the default 256 KiB stack.
#[inline(never)]
fn big_frame() -> u64 {
    let a = std::hint::black_box([7u8; 300 * 1024]);
    a.iter().map(|&b| u64::from(b)).sum()
}

const BIG_SUM: u64 = 7 * 300 * 1024;

/// The task that needs the big frame, spawned through `builder`.
fn run_big_task(builder: task::Builder) -> u64 {
    runtime(Mode::Mn).block_on(async move {
        builder
            .spawn(async { big_frame() })
            .expect("spawn")
            .await
            .expect("the task")
    })
}

#[test]
fn a_large_frame_runs_on_a_task_given_a_larger_stack() {
    let sum = run_big_task(task::Builder::new().name("big").stack_size(1 << 20));
    assert_eq!(sum, BIG_SUM);
}

#[test]
fn a_large_frame_on_the_default_stack_aborts_naming_the_task() {
    if is_child("default-stack") {
        run_big_task(task::Builder::new().name("big"));
        unreachable!("the overflow should have aborted the process");
    }
    let out = run_child(
        "a_large_frame_on_the_default_stack_aborts_naming_the_task",
        "default-stack",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    for part in [
        "switchyard: stack overflow in task ",
        "\"big\"",
        "(stack size 256 KiB",
        "RUNTIME_STACK_SIZE",
        "task::Builder::stack_size",
    ] {
        assert!(stderr.contains(part), "no {part:?} in stderr:\n{stderr}");
    }
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{:?}", out.status);
}

/// Tasks of the default size and of a task's own size side by side, many
/// times over. Each waits (so it gives its stack back, aio/cell.rs) before
/// its work: a sized task gets a stack of its size again when woken (its
/// large frame fits), and every task gets its output.
#[test]
fn sized_and_default_tasks_side_by_side() {
    let total = runtime(Mode::Mn).block_on(async {
        let mut handles = Vec::new();
        for i in 0..200u64 {
            let sized = i % 2 == 0;
            let b = if sized {
                task::Builder::new().stack_size(1 << 20)
            } else {
                task::Builder::new()
            };
            handles.push(
                b.spawn(async move {
                    switchyard::time::sleep(Duration::from_millis(1)).await;
                    if sized {
                        assert_eq!(big_frame(), BIG_SUM);
                    }
                    i
                })
                .unwrap(),
            );
        }
        let mut total = 0;
        for h in handles {
            total += h.await.unwrap();
        }
        total
    });
    assert_eq!(total, 199 * 200 / 2);
}

#[test]
fn the_name_shows_in_the_mn_task_dump() {
    let dump = runtime(Mode::Mn).block_on(async {
        let h = task::Builder::new()
            .name("the-waiter")
            .spawn(switchyard::time::sleep(Duration::from_secs(30)))
            .unwrap();
        switchyard::time::sleep(Duration::from_millis(50)).await;
        let dump = switchyard::dump();
        h.abort();
        dump
    });
    assert!(dump.contains("\"the-waiter\" ["), "{dump}");
}

#[test]
fn a_stack_size_out_of_range_is_invalid_input_in_both_modes() {
    for mode in [Mode::Single, Mode::Mn] {
        let err = runtime(mode).block_on(async {
            task::Builder::new()
                .stack_size(1024)
                .spawn(async {})
                .unwrap_err()
        });
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{mode:?}");
        assert!(err.to_string().contains("stack_size = 1024"), "{err}");
    }
}

#[test]
fn single_mode_runs_builder_tasks_ignoring_the_stack_size() {
    let out = runtime(Mode::Single).block_on(async {
        let h = task::Builder::new()
            .name("single")
            .stack_size(1 << 20)
            .spawn(async { big_frame() })
            .unwrap();
        h.await.unwrap()
    });
    assert_eq!(out, BIG_SUM);
}

#[test]
fn spawn_on_a_handle_from_another_thread() {
    for mode in [Mode::Single, Mode::Mn] {
        let rt = runtime(mode);
        let handle = rt.handle();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let h = task::Builder::new()
                .name("remote")
                .stack_size(1 << 20)
                .spawn_on(async { big_frame() }, &handle)
                .unwrap();
            tx.send(h).unwrap();
        });
        let h = rx.recv().unwrap();
        assert_eq!(rt.block_on(h).unwrap(), BIG_SUM, "{mode:?}");
    }
}
