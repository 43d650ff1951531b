//! Observability under `--cfg loom`: rt-base builds no `trace` or `signal`
//! module there, so the task dump, schedtrace and the Chrome trace
//! (`observe.rs`, `trace.rs`) are replaced by these no-op stand-ins with
//! the same names, keeping the scheduler's hooks unchanged.
#![allow(dead_code)]

/// Stand-ins for `observe.rs`.
pub(crate) mod observe {
    use super::super::Shared;

    /// No main future is tracked under loom.
    #[derive(Debug, Default)]
    pub(crate) struct MainSlot;

    /// Nothing to watch under loom.
    pub(crate) struct Watch;

    impl Watch {
        pub(crate) fn new(_shared: &Shared) -> Self {
            Watch
        }

        pub(crate) fn deadline(&self) -> Option<std::time::Instant> {
            None
        }

        pub(crate) fn tick(&mut self, _shared: &Shared) {}
    }

    /// No dump stops the Ms under loom.
    #[inline]
    pub(crate) fn safe_point(_m: &super::super::m::M) {}
}

/// Stand-ins for `trace.rs`.
pub(crate) mod trace {
    use super::super::m::M;
    use super::super::Shared;
    use crate::g::Header;

    /// The event kinds the scheduler's hooks name.
    #[derive(Debug, Clone, Copy)]
    pub(crate) enum EventKind {
        Steal,
        Handoff,
        Retake,
        Preempt,
    }

    /// Never built under loom (`Shared::trace` stays None).
    pub(crate) struct Tracer;

    impl Tracer {
        pub(crate) fn new(_file: rt_base::trace_file::TraceFile) -> Self {
            Tracer
        }

        pub(crate) fn write(&self) {}

        pub(crate) fn other(&self, _kind: EventKind, _arg: u64) {}
    }

    /// No lane under loom.
    #[derive(Default)]
    pub(crate) struct MLane;

    impl MLane {
        pub(crate) fn open(_m: &M) {}

        pub(crate) fn flush(_m: &M) {}
    }

    pub(crate) fn run_start(_m: &M) -> u64 {
        0
    }

    pub(crate) fn run_end(_m: &M, _h: &Header, _start: u64, _parking: bool) {}

    pub(crate) fn wake(_shared: &Shared, _h: &Header) {}

    pub(crate) fn instant(_m: &M, _kind: EventKind, _arg: u64) {}

    /// No span under loom.
    pub(crate) struct SyscallSpan;

    impl SyscallSpan {
        pub(crate) fn start(_m: &'static M) -> Option<Self> {
            None
        }
    }
}
