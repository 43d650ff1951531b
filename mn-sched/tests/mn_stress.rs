//! Stress: many Ms and Gs, work stealing, wakes from everywhere. Nothing is
//! lost, nothing runs twice.

mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mn_sched::{chan, go, yield_now, WaitGroup};
use util::run;

#[test]
fn every_g_runs_exactly_once_under_spawn_storms() {
    let n = 40_000;
    let ran = run(4, move || {
        let ran: Arc<Vec<AtomicUsize>> = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect());
        // Four spawners on different Ps; some Gs yield, some sleep, some spawn.
        let spawners: Vec<_> = (0..4)
            .map(|s| {
                let ran = ran.clone();
                // SAFETY: nothing held across parks.
                unsafe {
                    go(move || {
                        let hs: Vec<_> = (s..n)
                            .step_by(4)
                            .map(|i| {
                                let ran = ran.clone();
                                go(move || {
                                    match i % 5 {
                                        0 => yield_now(),
                                        1 => mn_sched::sleep(Duration::from_micros(50)),
                                        2 => go(yield_now).join().unwrap(),
                                        _ => {}
                                    }
                                    ran[i].fetch_add(1, Ordering::Relaxed);
                                })
                            })
                            .collect();
                        hs.into_iter().for_each(|h| h.join().unwrap());
                    })
                }
            })
            .collect();
        spawners.into_iter().for_each(|h| h.join().unwrap());
        ran.iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect::<Vec<_>>()
    });
    let bad: Vec<_> = ran
        .iter()
        .enumerate()
        .filter(|(_, &c)| c != 1)
        .take(5)
        .collect();
    assert!(bad.is_empty(), "Gs that ran other than once: {bad:?}");
}

#[test]
fn wakes_from_gs_threads_and_other_runtimes() {
    let other = util::rt(2);
    let total = run(3, move || {
        let wg = WaitGroup::new();
        let count = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = chan::bounded::<usize>(16);
        // Consumers: Gs of this runtime.
        for _ in 0..8 {
            let (rx, count, wg) = (rx.clone(), count.clone(), wg.clone());
            wg.add(1);
            // SAFETY: nothing held across parks.
            unsafe {
                go(move || {
                    for v in rx.iter() {
                        count.fetch_add(v, Ordering::Relaxed);
                    }
                    wg.done();
                })
            };
        }
        drop(rx);
        // Producers: plain threads, Gs of another runtime, Gs of this one.
        let mut threads = Vec::new();
        for _ in 0..2 {
            let tx = tx.clone();
            threads.push(std::thread::spawn(move || {
                (0..1000).for_each(|_| tx.send(1).unwrap())
            }));
        }
        let foreign: Vec<_> = (0..2)
            .map(|_| {
                let tx = tx.clone();
                // SAFETY: nothing held across parks.
                unsafe {
                    other
                        .handle()
                        .spawn(move || (0..1000).for_each(|_| tx.send(1).unwrap()))
                }
                .unwrap()
            })
            .collect();
        let local: Vec<_> = (0..2)
            .map(|_| {
                let tx = tx.clone();
                // SAFETY: nothing held across parks.
                unsafe { go(move || (0..1000).for_each(|_| tx.send(1).unwrap())) }
            })
            .collect();
        drop(tx);
        local.into_iter().for_each(|h| h.join().unwrap());
        foreign.into_iter().for_each(|h| h.join().unwrap());
        threads.into_iter().for_each(|t| t.join().unwrap());
        wg.wait();
        count.load(Ordering::Relaxed)
    });
    assert_eq!(total, 6000);
}

#[test]
fn ping_pong_pairs_across_many_ps() {
    let sums = run(4, || {
        let pairs: Vec<_> = (0..16)
            .map(|p| {
                let (a_tx, a_rx) = chan::rendezvous::<u64>();
                let (b_tx, b_rx) = chan::rendezvous::<u64>();
                // SAFETY: nothing held across parks.
                unsafe {
                    go(move || {
                        for v in a_rx.iter() {
                            b_tx.send(v + 1).unwrap();
                        }
                    });
                    go(move || {
                        let mut x = p;
                        for _ in 0..2000 {
                            a_tx.send(x).unwrap();
                            x = b_rx.recv().unwrap();
                        }
                        x
                    })
                }
            })
            .collect();
        pairs
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(sums, (0..16).map(|p| p + 2000).collect::<Vec<_>>());
}

#[test]
fn deep_spawn_trees_join_all_the_way_up() {
    fn tree(depth: u32) -> u64 {
        if depth == 0 {
            return 1;
        }
        // SAFETY: nothing held across parks.
        let (l, r) = unsafe { (go(move || tree(depth - 1)), go(move || tree(depth - 1))) };
        l.join().unwrap() + r.join().unwrap()
    }
    assert_eq!(run(4, || tree(13)), 1 << 13);
}
