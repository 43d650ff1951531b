//! Small readings of this process from `/proc/self/status`: its thread
//! count and memory, as [`stats`](crate::stats) reports them.
//!
//! ```
//! # extern crate compat as switchyard;
//! let threads = switchyard::os::thread_count();
//! assert!(threads >= 1);
//! println!("{threads} threads, {} KiB resident", switchyard::os::rss_kb());
//! ```

/// OS threads of this process, from `/proc/self/status` (0 if unreadable).
pub fn thread_count() -> usize {
    status_field("Threads:").unwrap_or(0) as usize
}

/// Peak resident set size in KiB (`VmHWM`), 0 if unreadable.
pub fn peak_rss_kb() -> u64 {
    status_field("VmHWM:").unwrap_or(0)
}

/// Current resident set size in KiB (`VmRSS`), 0 if unreadable.
pub fn rss_kb() -> u64 {
    status_field("VmRSS:").unwrap_or(0)
}

fn status_field(name: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}
