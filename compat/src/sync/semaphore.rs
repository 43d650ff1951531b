//! A counting semaphore, fair: waiters are served strictly in FIFO order,
//! so a large request at the head is not starved by later small ones.
//!
//! Rules (with the waiter protocol of `waiters.rs`):
//! 1. An acquire of `n` takes `n` free permits at once only if nobody waits;
//!    otherwise it parks with its request `n`.
//! 2. Whenever permits come back (a permit dropped, `add_permits`, a waiter
//!    leaving the head of the queue), the oldest waiters are granted in order
//!    while the free count covers the oldest one's request: the permits are
//!    moved into its slot (`Granted(n)`) and it is woken.
//! 3. An acquire future dropped while `Granted` returns its permits (rule
//!    2); dropped while waiting it leaves the FIFO, and the waiters behind it
//!    are reconsidered (it may have been the head that blocked them).
//! 4. `close` fails every waiter and every later acquire; permits still
//!    held may be dropped as usual.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex as StdMutex};
use std::task::{ready, Context, Poll};

use super::lock;
use super::waiters::{WaiterKey, Waiters, WakeList};
use crate::coop::{self, WaitReason};

/// A pool of permits; `acquire` waits until one is free.
///
/// Fair: waiters are served in order, so a request for many permits at the
/// head is not starved by later small ones. A permit goes back when it is
/// dropped. Use it to bound how much runs at once:
///
/// ```
/// # extern crate compat as switchyard;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use switchyard::sync::Semaphore;
///
/// switchyard::run(async {
///     let slots = Arc::new(Semaphore::new(2)); // at most 2 at a time
///     let running = Arc::new(AtomicUsize::new(0));
///     let mut set = switchyard::JoinSet::new();
///     for _ in 0..6 {
///         let (slots, running) = (slots.clone(), running.clone());
///         set.spawn(async move {
///             let _permit = slots.acquire_owned().await.unwrap();
///             let now = running.fetch_add(1, Ordering::SeqCst) + 1;
///             switchyard::time::sleep(Duration::from_millis(1)).await;
///             running.fetch_sub(1, Ordering::SeqCst);
///             now
///         });
///     }
///     while let Some(at_once) = set.join_next().await {
///         assert!(at_once.unwrap() <= 2);
///     }
///     assert_eq!(slots.available_permits(), 2);
/// });
/// ```
pub struct Semaphore {
    state: StdMutex<State>,
}

/// The semaphore under its lock.
struct State {
    /// Free permits.
    permits: usize,
    /// Rule 4.
    closed: bool,
    /// Parked acquires.
    waiters: Waiters<Slot>,
}

/// A waiter's slot.
enum Slot {
    /// In the FIFO, wanting this many permits.
    Waiting(u32),
    /// Rule 2: the permits are ours.
    Granted(u32),
    /// Rule 4: the semaphore closed.
    Closed,
}

/// The semaphore was closed.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct AcquireError(());

/// Why a `try_acquire` failed.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// Not enough free permits now (or others wait for them first).
    NoPermits,
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the semaphore is closed")
    }
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => f.write_str("the semaphore is closed"),
            TryAcquireError::NoPermits => f.write_str("no permits available"),
        }
    }
}

impl std::error::Error for AcquireError {}
impl std::error::Error for TryAcquireError {}

impl State {
    /// Rule 2: grants the oldest waiters while the free permits cover them.
    fn grant(&mut self, wakes: &mut WakeList) {
        while let Some(key) = self.waiters.front() {
            let Slot::Waiting(n) = *self.waiters.data(key) else {
                unreachable!("a linked waiter is waiting")
            };
            if self.permits < n as usize {
                break;
            }
            self.permits -= n as usize;
            self.waiters.pop_front();
            *self.waiters.data_mut(key) = Slot::Granted(n);
            wakes.push(self.waiters.take_waker(key));
        }
    }

    /// Returns `n` permits and grants whom they cover.
    fn release(&mut self, n: usize, wakes: &mut WakeList) {
        self.permits = self
            .permits
            .checked_add(n)
            .filter(|&p| p <= Semaphore::MAX_PERMITS)
            .expect("switchyard: Semaphore permits overflow MAX_PERMITS");
        self.grant(wakes);
    }

    /// Rule 1: takes `n` permits now if nobody waits and enough are free.
    fn try_take(&mut self, n: u32) -> Result<(), TryAcquireError> {
        if self.closed {
            Err(TryAcquireError::Closed)
        } else if self.waiters.is_empty() && self.permits >= n as usize {
            self.permits -= n as usize;
            Ok(())
        } else {
            Err(TryAcquireError::NoPermits)
        }
    }
}

impl Semaphore {
    /// The most permits a semaphore holds.
    pub const MAX_PERMITS: usize = usize::MAX >> 3;

    /// A semaphore with `permits` free permits.
    ///
    /// # Panics
    /// If `permits` exceeds [`MAX_PERMITS`](Self::MAX_PERMITS).
    pub fn new(permits: usize) -> Self {
        assert!(
            permits <= Self::MAX_PERMITS,
            "switchyard: Semaphore::new with more than MAX_PERMITS permits"
        );
        Semaphore {
            state: StdMutex::new(State {
                permits,
                closed: false,
                waiters: Waiters::new(),
            }),
        }
    }

    /// Free permits now.
    pub fn available_permits(&self) -> usize {
        lock(&self.state).permits
    }

    /// Adds `n` permits, waking the waiters they cover.
    ///
    /// # Panics
    /// If the total would exceed [`MAX_PERMITS`](Self::MAX_PERMITS).
    pub fn add_permits(&self, n: usize) {
        self.release(n);
    }

    /// Closes the semaphore: waiting and later acquires fail with
    /// [`AcquireError`]; permits already held stay valid.
    pub fn close(&self) {
        let mut wakes = WakeList::new();
        {
            let mut st = lock(&self.state);
            st.closed = true;
            while let Some(key) = st.waiters.pop_front() {
                *st.waiters.data_mut(key) = Slot::Closed;
                wakes.push(st.waiters.take_waker(key));
            }
        }
        wakes.wake_all();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    /// Waits for one permit, returned when the permit is dropped.
    ///
    /// Cancel-safe: dropping the future, even after the permit was granted
    /// to it, returns the permit. FIFO among waiters.
    pub fn acquire(&self) -> AcquireFuture<'_> {
        self.acquire_many(1)
    }

    /// Waits for `n` permits at once (FIFO: later requests wait behind it,
    /// and it waits behind earlier ones, even for `n = 0`).
    pub fn acquire_many(&self, n: u32) -> AcquireFuture<'_> {
        AcquireFuture {
            sem: self,
            wait: Wait::new(n),
        }
    }

    /// Takes one permit if one is free now and nobody waits.
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are free now and nobody waits.
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        lock(&self.state).try_take(n)?;
        Ok(SemaphorePermit {
            sem: self,
            permits: n,
        })
    }

    /// Like [`acquire`](Self::acquire), for a semaphore in an `Arc`: the
    /// permit owns a reference, so it can move into a spawned task.
    pub fn acquire_owned(self: Arc<Self>) -> AcquireOwnedFuture {
        self.acquire_many_owned(1)
    }

    /// Like [`acquire_many`](Self::acquire_many), with an owned permit.
    pub fn acquire_many_owned(self: Arc<Self>, n: u32) -> AcquireOwnedFuture {
        AcquireOwnedFuture {
            sem: Some(self),
            wait: Wait::new(n),
        }
    }

    /// Like [`try_acquire`](Self::try_acquire), with an owned permit.
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_acquire_many_owned(1)
    }

    /// Like [`try_acquire_many`](Self::try_acquire_many), with an owned
    /// permit.
    pub fn try_acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        lock(&self.state).try_take(n)?;
        Ok(OwnedSemaphorePermit {
            sem: self,
            permits: n,
        })
    }

    /// Returns `n` permits (rule 2).
    fn release(&self, n: usize) {
        let mut wakes = WakeList::new();
        lock(&self.state).release(n, &mut wakes);
        wakes.wake_all();
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.state);
        f.debug_struct("Semaphore")
            .field("permits", &st.permits)
            .field("waiters", &st.waiters.len())
            .field("closed", &st.closed)
            .finish()
    }
}

/// One acquire's progress, shared by the borrowed and owned futures.
#[derive(Debug)]
struct Wait {
    /// Permits asked for.
    n: u32,
    /// Our slot in the FIFO, while parked.
    key: Option<WaiterKey>,
}

impl Wait {
    fn new(n: u32) -> Self {
        Wait { n, key: None }
    }

    /// Rules 1 and 2, from the waiter's side.
    fn poll(&mut self, sem: &Semaphore, cx: &mut Context<'_>) -> Poll<Result<(), AcquireError>> {
        ready!(coop::poll_proceed(cx));
        let mut st = lock(&sem.state);
        let Some(key) = self.key else {
            return match st.try_take(self.n) {
                Ok(()) => Poll::Ready(Ok(())),
                Err(TryAcquireError::Closed) => Poll::Ready(Err(AcquireError(()))),
                Err(TryAcquireError::NoPermits) => {
                    self.key = Some(st.waiters.push_back(Slot::Waiting(self.n), cx.waker()));
                    coop::wait(WaitReason::Semaphore)
                }
            };
        };
        if st.waiters.is_linked(key) {
            st.waiters.register(key, cx.waker());
            return coop::wait(WaitReason::Semaphore);
        }
        self.key = None;
        Poll::Ready(match st.waiters.remove(key) {
            Slot::Granted(_) => Ok(()),
            Slot::Closed => Err(AcquireError(())),
            Slot::Waiting(_) => unreachable!("an unlinked waiter was answered"),
        })
    }

    /// Rule 3.
    fn cancel(&mut self, sem: &Semaphore) {
        let Some(key) = self.key.take() else { return };
        let mut wakes = WakeList::new();
        {
            let mut st = lock(&sem.state);
            match st.waiters.remove(key) {
                Slot::Granted(n) => st.release(n as usize, &mut wakes),
                Slot::Waiting(_) => st.grant(&mut wakes),
                Slot::Closed => {}
            }
        }
        wakes.wake_all();
    }
}

/// The future of [`Semaphore::acquire`] and [`Semaphore::acquire_many`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct AcquireFuture<'a> {
    sem: &'a Semaphore,
    wait: Wait,
}

impl<'a> Future for AcquireFuture<'a> {
    type Output = Result<SemaphorePermit<'a>, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        ready!(this.wait.poll(this.sem, cx))?;
        Poll::Ready(Ok(SemaphorePermit {
            sem: this.sem,
            permits: this.wait.n,
        }))
    }
}

impl Drop for AcquireFuture<'_> {
    fn drop(&mut self) {
        self.wait.cancel(self.sem);
    }
}

/// The future of [`Semaphore::acquire_owned`] and
/// [`Semaphore::acquire_many_owned`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct AcquireOwnedFuture {
    /// `None` once the permit took it.
    sem: Option<Arc<Semaphore>>,
    wait: Wait,
}

impl Future for AcquireOwnedFuture {
    type Output = Result<OwnedSemaphorePermit, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let sem = this
            .sem
            .as_ref()
            .expect("switchyard: AcquireOwnedFuture polled after completion");
        ready!(this.wait.poll(sem, cx))?;
        Poll::Ready(Ok(OwnedSemaphorePermit {
            sem: this.sem.take().expect("checked above"),
            permits: this.wait.n,
        }))
    }
}

impl Drop for AcquireOwnedFuture {
    fn drop(&mut self) {
        if let Some(sem) = &self.sem {
            self.wait.cancel(sem);
        }
    }
}

/// Permits borrowed from a [`Semaphore`]; returned when dropped.
#[must_use = "the permits return as soon as this is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    permits: u32,
}

impl SemaphorePermit<'_> {
    /// How many permits this holds.
    pub fn num_permits(&self) -> u32 {
        self.permits
    }

    /// Keeps the permits out of the semaphore for good.
    pub fn forget(mut self) {
        self.permits = 0;
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.sem.release(self.permits as usize);
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}

/// Permits of a [`Semaphore`] in an `Arc`; returned when dropped.
#[must_use = "the permits return as soon as this is dropped"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Semaphore>,
    permits: u32,
}

impl OwnedSemaphorePermit {
    /// How many permits this holds.
    pub fn num_permits(&self) -> u32 {
        self.permits
    }

    /// The semaphore the permits belong to.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }

    /// Keeps the permits out of the semaphore for good.
    pub fn forget(mut self) {
        self.permits = 0;
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.sem.release(self.permits as usize);
        }
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}
