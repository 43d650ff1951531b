//! N single-mode loops sharing a port: the JavaScript model past one core
//! (Node's `cluster`, thread-per-core servers).
//!
//! [`run_each`] starts `RUNTIME_LOOPS` event loops, each on its own OS
//! thread (loop 0 on the calling thread), and runs the program's main on
//! each: a future cannot be cloned, so the entry point takes a closure that
//! makes one main future per loop. A task never leaves its loop, so
//! everything a single loop promises holds per loop: no atomics on the hot
//! path, `spawn_local`, a blocking call stops that loop only. The loops
//! share one `spawn_blocking` pool, and nothing else: a listening socket
//! bound in every loop gets `SO_REUSEPORT` and the kernel spreads the
//! connections (see [`TcpListener::bind`](crate::net::TcpListener::bind)).
//!
//! Shutdown policy: `run_each` returns when every loop's main future has
//! returned (ctrl-c reaches every loop: each has its own listener). If one
//! loop's main future panics, a line on stderr names the loop, the other
//! loops are stopped (their main futures and tasks dropped at their next
//! turn), and the panic resumes on the caller of `run_each` once all loop
//! threads have ended.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::config::Config;
use crate::engine;
use crate::error::Error;
use crate::hooks::ThreadHooks;
use crate::runtime::{exit_on_start_error as fail, Builder, EngineRuntime, Runtime};
use crate::shared::Shared;

thread_local! {
    /// How many times this loop has bound each port-0 address, so its k-th
    /// bind of an address gets the k-th port chosen for it.
    static BINDS: std::cell::RefCell<HashMap<SocketAddr, usize>> =
        std::cell::RefCell::new(HashMap::new());
}

/// Runs the program's main on every loop: `make(loop_id)` is called once
/// on each loop's thread and its future runs there, as `run` runs one.
/// Returns the main futures' outputs in loop order.
///
/// With one loop (the default) or in mn this is `run(make(0))`, so the
/// same program runs in every model; `RUNTIME_LOOPS=N` (or
/// [`Builder::loops`]) in single mode gives N loops. A bad `RUNTIME_*`
/// value, or a loop thread the OS refuses, prints one line and exits with
/// status 2, as [`run`](crate::run) does.
///
/// ```
/// # extern crate compat as switchyard;
/// use switchyard::net::TcpListener;
///
/// // Each loop binds the same port (SO_REUSEPORT with several loops) and
/// // would serve its share of the connections; here each just says hello.
/// let ports = switchyard::Builder::new()
///     .ignore_env()
///     .loops(2)
///     .run_each(|_| async move {
///         let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///         listener.local_addr().unwrap().port()
///     });
/// assert_eq!(ports[0], ports[1]); // port 0 picked once, shared by the loops
/// ```
///
/// # Panics
/// If called inside a runtime; with the panic of a loop's main future.
pub fn run_each<F, Fut>(make: F) -> Vec<Fut::Output>
where
    F: Fn(usize) -> Fut + Sync,
    Fut: Future,
    Fut::Output: Send,
{
    Builder::new().run_each(make)
}

impl Builder {
    /// Like [`run_each`](crate::run_each), with this builder's settings.
    ///
    /// # Panics
    /// If called inside a runtime; with the panic of a loop's main future.
    pub fn run_each<F, Fut>(self, make: F) -> Vec<Fut::Output>
    where
        F: Fn(usize) -> Fut + Sync,
        Fut: Future,
        Fut::Output: Send,
    {
        crate::runtime::assert_outside_runtime();
        let config = self.config().unwrap_or_else(|e| fail(&e));
        // More than one loop is single mode's alone (`config` refuses it
        // in mn).
        if config.loops <= 1 {
            let rt = self.build_with(config).unwrap_or_else(|e| fail(&e));
            return vec![rt.block_on(make(0))];
        }
        let trace = self.trace_file(&config).unwrap_or_else(|e| fail(&e));
        let cluster = Cluster {
            shared: Arc::new(Shared::new(&config, self.hooks())),
            recorder: trace.is_some().then(rt_base::trace::Recorder::new),
            stop: Stop::default(),
            cpus: if config.pin {
                rt_base::procs::allowed_cpus()
            } else {
                Vec::new()
            },
            trace,
            config,
        };
        cluster.run(&self, &make)
    }
}

/// What the loops of one `run_each` share.
struct Cluster {
    config: Config,
    shared: Arc<Shared>,
    trace: Option<rt_base::trace::TraceFile>,
    recorder: Option<Arc<rt_base::trace::Recorder>>,
    stop: Stop,
    cpus: Vec<usize>,
}

/// A loop's main future's end: its output, stopped because another loop
/// panicked, or its own panic.
enum Ended<T> {
    Output(T),
    Stopped,
    Panicked(Box<dyn Any + Send>),
}

impl Cluster {
    fn run<F, Fut>(&self, builder: &Builder, make: &F) -> Vec<Fut::Output>
    where
        F: Fn(usize) -> Fut + Sync,
        Fut: Future,
        Fut::Output: Send,
    {
        let n = self.config.loops;
        let hooks = builder.hooks();
        let ended: Vec<Ended<Fut::Output>> = std::thread::scope(|scope| {
            let mut threads = Vec::with_capacity(n - 1);
            for id in 1..n {
                let started = std::thread::Builder::new()
                    .name(format!("switchyard-loop-{id}"))
                    .spawn_scoped(scope, move || {
                        if let Some(f) = &hooks.start {
                            f();
                        }
                        let ended = self.run_loop(id, make);
                        if let Some(f) = &hooks.stop {
                            f();
                        }
                        ended
                    });
                match started {
                    Ok(t) => threads.push(t),
                    Err(e) => {
                        // The loops already started stop; then the caller
                        // hears why, as for any runtime that cannot start.
                        self.stop.set();
                        for t in threads {
                            let _ = t.join();
                        }
                        fail(&Error::Io(std::io::Error::new(
                            e.kind(),
                            format!("could not start loop {id} of {n}: {e}"),
                        )));
                    }
                }
            }
            let mut ended = vec![self.run_loop(0, make)];
            for t in threads {
                // run_loop catches the main future's panic; a panic that
                // escapes it (a thread hook) is that loop's panic too.
                ended.push(t.join().unwrap_or_else(Ended::Panicked));
            }
            ended
        });
        let mut outputs = Vec::with_capacity(n);
        let mut panic = None;
        for e in ended {
            match e {
                Ended::Output(v) => outputs.push(v),
                Ended::Panicked(p) => {
                    panic.get_or_insert(p);
                }
                Ended::Stopped => {}
            }
        }
        if let Some(p) = panic {
            panic::resume_unwind(p);
        }
        outputs
    }

    /// Runs loop `id` on this thread until its main future ends, another
    /// loop's panics, or its own does.
    fn run_loop<F, Fut>(&self, id: usize, make: &F) -> Ended<Fut::Output>
    where
        F: Fn(usize) -> Fut + Sync,
        Fut: Future,
    {
        let n = self.config.loops;
        if let Some(&cpu) = self.cpus.get(id % self.cpus.len().max(1)) {
            if let Err(e) = rt_base::procs::pin_current_thread(cpu) {
                rt_base::diag::line(&format!(
                    "switchyard: loop {id} not pinned to CPU {cpu}: {e}"
                ));
            }
        }
        let lane = self
            .recorder
            .clone()
            .map(|r| (r, format!("loop {id} (single mode)")));
        let engine = match EngineRuntime::build(
            &self.config,
            self.trace.clone(),
            &ThreadHooks::default(),
            self.shared.clone(),
            lane,
        ) {
            Ok(engine) => engine,
            Err(e) => {
                self.stop.set();
                fail(&Error::Io(std::io::Error::other(format!(
                    "could not start loop {id} of {n}: {e}"
                ))))
            }
        };
        let rt = Runtime::from_parts(engine, self.config.clone());
        engine::set_loop(Some((id, n)));
        let stop = &self.stop;
        let ended = panic::catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async {
                let main = Box::pin(make(id));
                Stoppable { main, stop }.await
            })
        }));
        engine::set_loop(None);
        BINDS.with(|b| b.borrow_mut().clear());
        match ended {
            Ok(Some(v)) => Ended::Output(v),
            Ok(None) => Ended::Stopped,
            Err(p) => {
                rt_base::diag::line(&format!(
                    "switchyard: loop {id}'s main future panicked; stopping the other {} loop(s)",
                    n - 1
                ));
                self.stop.set();
                Ended::Panicked(p)
            }
        }
    }
}

/// Set when one loop's main future panicked: every other loop's main
/// future returns at its next poll.
#[derive(Default)]
struct Stop {
    set: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Stop {
    fn set(&self) {
        self.set.store(true, Ordering::SeqCst);
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|p| p.into_inner()));
        for w in wakers {
            w.wake();
        }
    }
}

/// A loop's main future that ends early (`None`) once [`Stop`] is set.
struct Stoppable<'a, F> {
    main: Pin<Box<F>>,
    stop: &'a Stop,
}

impl<F: Future> Future for Stoppable<'_, F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let stop = self.stop;
        if stop.set.load(Ordering::SeqCst) {
            return Poll::Ready(None);
        }
        {
            let mut wakers = stop.wakers.lock().unwrap_or_else(|p| p.into_inner());
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
        }
        // Set between the check and the registration: seen here.
        if stop.set.load(Ordering::SeqCst) {
            return Poll::Ready(None);
        }
        self.main.as_mut().poll(cx).map(Some)
    }
}

/// The address a listener of this loop should bind for `addr`: with
/// several loops, the k-th bind of a port-0 address in each loop gets the
/// port the first loop to get there was given (so port 0 means one free
/// port for the program, as with Node's cluster), through `bind`, which
/// binds and returns the address bound. Without loops, `bind(addr)`.
pub(crate) fn shared_port_bind<T>(
    addr: SocketAddr,
    bind: impl FnOnce(SocketAddr) -> std::io::Result<(T, SocketAddr)>,
) -> std::io::Result<T> {
    if engine::loop_count() <= 1 || addr.port() != 0 {
        return bind(addr).map(|(t, _)| t);
    }
    let shared = engine::shared().ok_or_else(|| std::io::Error::other("no runtime"))?;
    let k = BINDS.with(|b| {
        let mut b = b.borrow_mut();
        let k = b.entry(addr).or_insert(0);
        *k += 1;
        *k - 1
    });
    // Held across the bind (a system call, no await): two loops binding
    // the same port-0 address at once get the same port.
    let mut ports = shared.ports.lock().unwrap_or_else(|p| p.into_inner());
    let chosen = ports.entry(addr).or_default();
    match chosen.get(k) {
        Some(&a) => bind(a).map(|(t, _)| t),
        None => {
            let (t, bound) = bind(addr)?;
            chosen.push(bound);
            Ok(t)
        }
    }
}

/// Whether sockets bound now should set `SO_REUSEPORT`: on a loop of
/// several.
pub(crate) fn reuse_port() -> bool {
    engine::loop_count() > 1
}
