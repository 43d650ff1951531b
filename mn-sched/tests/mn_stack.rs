//! Stacks: guard pages, the mprotect fallback and its budget, overflow
//! reports, and how little memory a parked G holds.

mod util;

use std::hint::black_box;
use std::time::Duration;

use mn_sched::{chan, go, GuardPolicy, JoinError, Runtime, SpawnError};
use util::{assert_overflow_abort_64k, is_child, recurse, run_child, run_child_ok};

#[test]
fn stack_overflow_prints_the_task_and_aborts() {
    if is_child("overflow") {
        let rt = Runtime::builder()
            .procs(1)
            .stack_size(64 * 1024)
            .build()
            .unwrap();
        // SAFETY: the G only recurses.
        let _ = unsafe { rt.block_on(|| go(|| recurse(u64::MAX)).join()) };
        unreachable!("the overflow should have aborted the process");
    }
    let out = run_child("stack_overflow_prints_the_task_and_aborts", "overflow");
    assert_overflow_abort_64k(&out);
}

#[test]
fn stack_overflow_with_mprotect_guards_is_reported_too() {
    if is_child("overflow-mprotect") {
        let rt = Runtime::builder()
            .procs(1)
            .guard(GuardPolicy::Mprotect)
            .stack_size(64 * 1024)
            .build()
            .unwrap();
        // SAFETY: the G only recurses.
        let _ = unsafe { rt.block_on(|| recurse(u64::MAX)) };
        unreachable!("the overflow should have aborted the process");
    }
    let out = run_child(
        "stack_overflow_with_mprotect_guards_is_reported_too",
        "overflow-mprotect",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("switchyard: stack overflow in task "),
        "unexpected stderr:\n{stderr}"
    );
}

#[test]
fn other_segfaults_go_to_the_previous_handler() {
    if is_child("null-deref") {
        let _rt = Runtime::builder().procs(1).build().unwrap();
        // SAFETY: not safe at all: this child crashes on purpose.
        unsafe { std::ptr::write_volatile(std::ptr::null_mut::<u64>().wrapping_add(8), 1) };
        unreachable!();
    }
    let out = run_child("other_segfaults_go_to_the_previous_handler", "null-deref");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("stack overflow in task"),
        "misreported:\n{stderr}"
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGSEGV),
        "status {:?}",
        out.status
    );
}

#[test]
fn forced_mprotect_fallback_runs_gs() {
    let rt = Runtime::builder()
        .procs(2)
        .guard(GuardPolicy::Mprotect)
        .build()
        .unwrap();
    // SAFETY: the Gs only compute and use channels.
    let sum = unsafe {
        rt.block_on(|| {
            let (tx, rx) = chan::unbounded();
            for i in 0..2_000u64 {
                let tx = tx.clone();
                go(move || tx.send(i).unwrap());
            }
            drop(tx);
            rx.iter().sum::<u64>()
        })
    }
    .unwrap();
    assert_eq!(sum, 1999 * 2000 / 2);
}

#[test]
fn mprotect_budget_exhausted_is_a_clear_spawn_error() {
    // Pretend only 40 mappings are left: 20 guarded stacks.
    let rt = Runtime::builder()
        .procs(1)
        .guard(GuardPolicy::Mprotect)
        .mprotect_map_budget(40)
        .build()
        .unwrap();
    // SAFETY: the Gs park on a channel and hold nothing else.
    let (spawned, err) = unsafe {
        rt.block_on(|| {
            let (tx, rx) = chan::rendezvous::<()>();
            let mut hs = Vec::new();
            let err = loop {
                let rx = rx.clone();
                match mn_sched::try_go(move || rx.recv().is_err()) {
                    Ok(h) => hs.push(h),
                    Err(e) => break e,
                }
                assert!(hs.len() < 1000, "the budget was not enforced");
            };
            let n = hs.len();
            // None has run yet (one P, busy with us): their stacks, taken
            // at spawn, are counted in use all the same.
            let in_use = mn_sched::Handle::current().unwrap().stats().stacks_in_use;
            assert!(
                in_use > n as u64,
                "{in_use} stacks in use for {n} Gs and main"
            );
            drop(tx);
            hs.into_iter().for_each(|h| assert!(h.join().unwrap()));
            (n, err)
        })
    }
    .unwrap();
    // The main G holds one stack: at most 19 more fit.
    assert!((10..20).contains(&spawned), "spawned {spawned}");
    let msg = err.to_string();
    assert!(matches!(err, SpawnError::NoStack(_)), "{msg}");
    assert!(msg.contains("vm.max_map_count"), "{msg}");
}

/// On a kernel without guard markers `Auto` falls back to mprotect guards,
/// and then, as with `GuardPolicy::Mprotect`, every G takes its stack at
/// spawn: an async task keeps the stack it was promised while it waits, so
/// Gs that use up the mapping budget meanwhile are refused at spawn instead
/// of leaving the task without a stack when it wakes (it would end with
/// `JoinError::NoStack` between two polls). The kernel here has markers:
/// the hidden test hook forces the fallback.
#[test]
fn auto_fallback_to_mprotect_keeps_a_waiting_tasks_stack() {
    // 40 mappings: 20 guarded stacks.
    let rt = Runtime::builder()
        .procs(1)
        .pretend_no_guard_markers()
        .mprotect_map_budget(40)
        .build()
        .unwrap();
    // SAFETY: the Gs park on a channel and hold nothing else.
    let (out, refused, started) = unsafe {
        rt.block_on(|| {
            let task = mn_sched::aio::task::spawn(async {
                mn_sched::aio::time::sleep(Duration::from_millis(300)).await;
                42
            });
            // The task runs and waits in its sleep.
            mn_sched::sleep(Duration::from_millis(30));
            let (tx, rx) = chan::rendezvous::<()>();
            let mut gs = Vec::new();
            let mut refused = None;
            while gs.len() < 100 {
                let rx = rx.clone();
                match mn_sched::try_go(move || rx.recv().is_err()) {
                    Ok(h) => gs.push(h),
                    Err(e) => {
                        refused = Some(e);
                        break;
                    }
                }
            }
            // They run and park on the channel, holding their stacks.
            mn_sched::sleep(Duration::from_millis(30));
            let out = util::block_on(task);
            drop(tx);
            let started = gs
                .into_iter()
                .map(|h| h.join())
                .filter(Result::is_ok)
                .count();
            (out, refused, started)
        })
    }
    .unwrap();
    match out {
        Ok(v) => assert_eq!(v, 42),
        Err(e) => panic!("the waiting task lost its stack: {e}"),
    }
    assert!(
        matches!(refused, Some(SpawnError::NoStack(_))),
        "the budget should refuse a spawn, after {started} Gs: {refused:?}"
    );
}

/// With the default vm.max_map_count (65530 here), the mprotect fallback
/// guards a few tens of thousands of stacks, then says why it stops. Runs in
/// a child process, which uses up its own mapping budget only.
#[test]
fn mprotect_fallback_within_the_real_map_budget() {
    if is_child("real-budget") {
        let rt = Runtime::builder()
            .procs(1)
            .guard(GuardPolicy::Mprotect)
            .stack_size(16 * 1024)
            .build()
            .unwrap();
        // SAFETY: the Gs park on a channel and hold nothing else.
        let (n, msg) = unsafe {
            rt.block_on(|| {
                let (tx, rx) = chan::rendezvous::<()>();
                let mut hs = Vec::new();
                let msg = loop {
                    let rx = rx.clone();
                    match mn_sched::try_go(move || rx.recv().is_ok()) {
                        Ok(h) => hs.push(h),
                        Err(e) => break e.to_string(),
                    }
                };
                let n = hs.len();
                drop(tx);
                hs.into_iter().for_each(|h| assert!(!h.join().unwrap()));
                (n, msg)
            })
        }
        .unwrap();
        println!("CHILD spawned={n} msg={msg}");
        return;
    }
    let (stdout, _) = run_child_ok(
        "mprotect_fallback_within_the_real_map_budget",
        "real-budget",
    );
    let line = stdout
        .split("CHILD spawned=")
        .nth(1)
        .unwrap_or_else(|| panic!("no child report in:\n{stdout}"));
    let n: usize = line.split(' ').next().unwrap().parse().unwrap();
    let max: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        n >= (max - 8192) / 2 - 1024 && n < max / 2,
        "spawned {n} with vm.max_map_count = {max}"
    );
    assert!(line.contains("vm.max_map_count"), "{line}");
}

/// Unguarded stacks are an `unsafe` opt-in (tests/compile_fail.rs shows
/// that safe code cannot ask for them); a runtime built so runs Gs.
#[test]
fn unguarded_stacks_only_by_unsafe_opt_in() {
    // SAFETY: the only G adds two numbers: far less than its stack.
    let builder = unsafe { Runtime::builder().procs(1).unguarded_stacks() };
    let rt = builder.build().unwrap();
    // SAFETY: the G only computes.
    assert_eq!(unsafe { rt.block_on(|| 1 + 1) }.unwrap(), 2);
}

/// Resident pages in [lo, hi) (mincore).
fn resident_pages(lo: usize, hi: usize) -> usize {
    let page = 4096;
    let lo = lo & !(page - 1);
    let n = (hi - lo).div_ceil(page);
    let mut v = vec![0u8; n];
    // SAFETY: mincore only writes `n` bytes into `v`; the range is mapped
    // (a stack slot of a live runtime).
    let rc = unsafe { libc::mincore(lo as *mut libc::c_void, hi - lo, v.as_mut_ptr()) };
    assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
    v.iter().filter(|&&b| b & 1 != 0).count()
}

#[test]
fn a_g_parked_on_a_channel_touches_one_stack_page() {
    let size = mn_sched::DEFAULT_STACK_SIZE;
    let resident = util::run(1, move || {
        let (tx, rx) = chan::rendezvous::<()>();
        let (addr_tx, addr_rx) = chan::bounded::<usize>(1);
        // SAFETY: the G only reports an address and parks.
        let h = unsafe {
            go(move || {
                let marker = 0u8;
                addr_tx
                    .send(black_box(&marker) as *const u8 as usize)
                    .unwrap();
                rx.recv().unwrap();
            })
        };
        let addr = addr_rx.recv().unwrap();
        mn_sched::sleep(Duration::from_millis(1)); // the G is parked in recv now
        let top = (addr + 4095) & !4095;
        let resident = resident_pages(top - size, top);
        tx.send(()).unwrap();
        h.join().unwrap();
        resident
    });
    assert_eq!(
        resident, 1,
        "a parked G should touch only its stack's top page"
    );
}

#[test]
fn a_stack_that_went_deep_gives_its_pages_back() {
    let size = 256 * 1024;
    let (deep, after) = util::run(1, move || {
        let (addr_tx, addr_rx) = chan::bounded::<usize>(1);
        let (go_on_tx, go_on_rx) = chan::rendezvous::<()>();
        let (after_tx, after_rx) = chan::rendezvous::<()>();
        // SAFETY: the G recurses, reports, parks (deep), then exits.
        let h = unsafe {
            go(move || {
                fn deep_park(n: u32, tx: &chan::Sender<usize>, rx: &chan::Receiver<()>) -> u8 {
                    let buf = black_box([n as u8; 1024]);
                    if n == 0 {
                        tx.send(black_box(&buf) as *const u8 as usize).unwrap();
                        rx.recv().unwrap(); // park ~100 KiB deep
                        return buf[1];
                    }
                    deep_park(n - 1, tx, rx) ^ buf[0]
                }
                let marker = 0u8;
                addr_tx
                    .send(black_box(&marker) as *const u8 as usize)
                    .unwrap();
                black_box(deep_park(100, &addr_tx, &go_on_rx));
            })
        };
        let top = (addr_rx.recv().unwrap() + 4095) & !4095;
        let _deep_addr = addr_rx.recv().unwrap();
        let deep = resident_pages(top - size, top);
        go_on_tx.send(()).unwrap();
        h.join().unwrap();
        // The next G gets the same (cached) stack; park it shallow and look.
        // SAFETY: the G only parks.
        let h2 = unsafe { go(move || after_rx.recv().unwrap()) };
        mn_sched::sleep(Duration::from_millis(1));
        let after = resident_pages(top - size, top);
        after_tx.send(()).unwrap();
        h2.join().unwrap();
        (deep, after)
    });
    assert!(
        deep >= 20,
        "the deep G should have touched many pages, saw {deep}"
    );
    assert!(after <= 2, "the returned stack kept {after} pages");
}

#[test]
fn stack_error_reaches_the_join_handle_when_stacks_are_lazy() {
    // Lazy stacks cannot fail at spawn; JoinError::NoStack is the path when
    // an arena cannot be mapped. Not reproducible without exhausting address
    // space, so only the type is checked here.
    fn is_no_stack(e: &JoinError) -> bool {
        matches!(e, JoinError::NoStack(_))
    }
    assert!(!is_no_stack(&JoinError::Cancelled));
}

/// `task::Builder::stack_size`: a blocking-style G given 4 MiB recurses
/// 1,000 frames of more than 1 KiB, several times the runtime's 256 KiB,
/// and Gs of both sizes reuse their own stacks.
#[test]
fn a_g_given_its_own_stack_size_recurses_deeper() {
    let sums = util::run(2, || {
        (0..4)
            .map(|_| {
                // SAFETY: the G only recurses.
                let big = unsafe {
                    mn_sched::task::Builder::new()
                        .name("deep")
                        .stack_size(4 << 20)
                        .go(|| recurse(1000))
                }
                .unwrap();
                // SAFETY: as above.
                let small = unsafe { go(|| recurse(50)) };
                big.join().unwrap() + small.join().unwrap()
            })
            .collect::<Vec<_>>()
    });
    // `recurse(n)` sums `d as u8` for d in 1..=n.
    let expect = (1..=1000u64).map(|d| d % 256).sum::<u64>() + (1..=50u64).sum::<u64>();
    assert_eq!(sums, vec![expect; 4]);
}

/// A G with a stack size of its own that overflows it is reported with its
/// name and its own size (its arena is listed for the overflow handler).
#[test]
fn an_overflow_on_a_task_sized_stack_reports_that_size() {
    if is_child("sized-overflow") {
        let rt = Runtime::builder().procs(1).build().unwrap();
        // SAFETY: the Gs only recurse.
        let _ = unsafe {
            rt.block_on(|| {
                mn_sched::task::Builder::new()
                    .name("sized")
                    .stack_size(128 * 1024)
                    .go(|| recurse(u64::MAX))
                    .unwrap()
                    .join()
            })
        };
        unreachable!("the overflow should have aborted the process");
    }
    let out = run_child(
        "an_overflow_on_a_task_sized_stack_reports_that_size",
        "sized-overflow",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("switchyard: stack overflow in task ")
            && stderr.contains("\"sized\" (stack size 128 KiB"),
        "unexpected stderr:\n{stderr}"
    );
}

#[test]
fn a_task_stack_size_out_of_range_is_a_spawn_error() {
    let err = util::run(1, || {
        mn_sched::task::Builder::new()
            .stack_size(1 << 31)
            .spawn(async {})
            .unwrap_err()
    });
    assert!(
        matches!(err, SpawnError::StackSize(n) if n == 1 << 31),
        "{err}"
    );
    assert!(err.to_string().contains("16 KiB"), "{err}");
}
