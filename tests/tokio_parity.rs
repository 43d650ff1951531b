//! What tokio users reach for, in every mode: `mpsc::unbounded_channel`
//! and `mpsc::channel(n)`'s buffer.

use std::time::Duration;

use switchyard::sync::mpsc::{self, TrySendError};
use switchyard::time::timeout;

/// Generous: how long a test waits for something that should come at once.
const PATIENCE: Duration = Duration::from_secs(10);

switchyard::test_all_modes! {
    async fn unbounded_channel_is_tokios_name_for_unbounded() {
        let (tx, mut rx): (mpsc::UnboundedSender<u32>, mpsc::UnboundedReceiver<u32>) =
            mpsc::unbounded_channel();
        assert_eq!(tx.max_capacity(), None);
        for i in 0..10_000 {
            tx.try_send(i).unwrap();
        }
        tx.send(10_000).await.unwrap();
        assert_eq!(rx.len(), 10_001);
        drop(tx);
        let mut n = 0;
        while let Some(i) = rx.recv().await {
            assert_eq!(i, n);
            n += 1;
        }
        assert_eq!(n, 10_001);
    }

    async fn channel_n_buffers_n_messages_as_in_tokio() {
        let (tx, mut rx) = mpsc::channel::<u32>(3);
        assert_eq!(tx.max_capacity(), Some(3));
        for i in 0..3 {
            tx.try_send(i).unwrap();
        }
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        assert!(
            timeout(Duration::from_millis(20), tx.send(3)).await.is_err(),
            "a send waits while the buffer is full"
        );
        assert_eq!(rx.recv().await, Some(0));
        timeout(PATIENCE, tx.send(3)).await.unwrap().unwrap();
        drop(tx);
        for want in 1..=3 {
            assert_eq!(rx.recv().await, Some(want));
        }
        assert_eq!(rx.recv().await, None);
    }
}

#[test]
fn channel_zero_panics_as_in_tokio() {
    let e = std::panic::catch_unwind(|| mpsc::channel::<u8>(0)).unwrap_err();
    let msg = e.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("capacity must be at least 1"), "{msg}");
}
