use mn_sched::{chan, go, Runtime};

#[test]
fn smoke() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let r = unsafe { rt.block_on(|| 40 + 2) };
    assert_eq!(r.unwrap(), 42);
    let r = unsafe {
        rt.block_on(|| {
            let hs: Vec<_> = (0..1000u64).map(|i| go(move || i * 2)).collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        })
    };
    assert_eq!(r.unwrap(), 999 * 1000);
    let r = unsafe {
        rt.block_on(|| {
            let (tx, rx) = chan::rendezvous::<u64>();
            let (tx2, rx2) = chan::rendezvous::<u64>();
            go(move || {
                while let Ok(v) = rx.recv() {
                    tx2.send(v + 1).unwrap();
                }
            });
            let mut x = 0;
            for _ in 0..10000 {
                tx.send(x).unwrap();
                x = rx2.recv().unwrap();
            }
            x
        })
    };
    assert_eq!(r.unwrap(), 10000);
}
