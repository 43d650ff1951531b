//! mn-sched: switchyard's stackful M:N scheduler (Go's model).
//!
//! Gs (stackful coroutines, each on its own guarded stack) run on Ms (OS
//! threads) that hold Ps (processors with a local run queue); idle Ms steal
//! work, a netpoller wakes Gs blocked on sockets, and `sysmon` retakes the P of
//! an M stuck in a system call. This crate is empty until the "M:N core" issue
//! lands; `RUNTIME_MODE=mn` says so plainly instead of pretending.
