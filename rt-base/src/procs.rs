//! The CPUs this process may use: its affinity mask, lowered to its cgroup
//! v2 CPU quota (`cpu.max`) when one is set. mn's default number of Ps and
//! single mode's `RUNTIME_LOOPS=auto` both come from here, and loop threads
//! pinned with `RUNTIME_PIN` take their CPUs from [`allowed_cpus`].

use std::path::{Path, PathBuf};

/// The default number of Ps, reading the cgroup tree at `/sys/fs/cgroup`.
/// See [`default_procs_in`].
pub fn default_procs() -> usize {
    default_procs_in(Path::new("/sys/fs/cgroup"))
}

/// The default number of Ps with the cgroup v2 tree mounted at `root`: the
/// CPUs in the affinity mask (`sched_getaffinity`), lowered to
/// `ceil(quota / period)` (at least 1) when `cpu.max` holds a quota.
/// `cpu.max` is read from the process's own cgroup (`0::/path` in
/// `/proc/self/cgroup`) under `root`, else from `root/cpu.max`. A missing
/// or unreadable file means no quota.
pub fn default_procs_in(root: &Path) -> usize {
    let cpus = affinity_cpus();
    match cgroup_quota(root) {
        Some(q) => cpus.min(q).max(1),
        None => cpus,
    }
}

/// CPUs in this thread's affinity mask (falls back to
/// `available_parallelism`, then 1).
fn affinity_cpus() -> usize {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity
    // writes at most `size_of::<cpu_set_t>()` bytes into it.
    let n = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            libc::CPU_COUNT(&set) as usize
        } else {
            0
        }
    };
    if n > 0 {
        n
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// The CPU quota of `cpu.max` under `root`, rounded up; None if unlimited
/// or unreadable.
fn cgroup_quota(root: &Path) -> Option<usize> {
    let own = own_cgroup().map(|rel| root.join(rel).join("cpu.max"));
    let text = own
        .and_then(|p| std::fs::read_to_string(p).ok())
        .or_else(|| std::fs::read_to_string(root.join("cpu.max")).ok())?;
    parse_cpu_max(&text)
}

/// This process's cgroup v2 path, relative (from `/proc/self/cgroup`).
fn own_cgroup() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    let rel = line.trim().trim_start_matches('/');
    (!rel.is_empty()).then(|| PathBuf::from(rel))
}

/// Parses `cpu.max` ("max 100000" or "150000 100000").
fn parse_cpu_max(text: &str) -> Option<usize> {
    let mut it = text.split_whitespace();
    let quota = it.next()?;
    let period: u64 = it.next().map_or(Some(100_000), |p| p.parse().ok())?;
    if quota == "max" || period == 0 {
        return None;
    }
    let quota: u64 = quota.parse().ok()?;
    Some((quota.div_ceil(period) as usize).max(1))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::parse_cpu_max;

    #[test]
    fn parses_cpu_max() {
        assert_eq!(parse_cpu_max("150000 100000\n"), Some(2));
        assert_eq!(parse_cpu_max("100000 100000"), Some(1));
        assert_eq!(parse_cpu_max("1000 100000"), Some(1));
        assert_eq!(parse_cpu_max("max 100000"), None);
        assert_eq!(parse_cpu_max("junk"), None);
        assert_eq!(parse_cpu_max(""), None);
    }
}

/// The CPU numbers in this thread's affinity mask, ascending (empty if it
/// cannot be read).
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity
    // writes at most `size_of::<cpu_set_t>()` bytes into it, and CPU_ISSET
    // reads a bit of that set for an index below CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Pins the calling thread to CPU `cpu` (`sched_setaffinity`).
pub fn pin_current_thread(cpu: usize) -> std::io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("CPU {cpu} is beyond the affinity set's size"),
        ));
    }
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes the
    // bit of an index checked above to be below CPU_SETSIZE, and
    // sched_setaffinity reads `size_of::<cpu_set_t>()` bytes of it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
