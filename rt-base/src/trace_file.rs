//! Where a Chrome trace is written (`RUNTIME_TRACE`): checked when the
//! runtime starts, then written without trusting any predictable name.
//!
//! [`TraceFile::open`] looks at the target once, at start, and fails there
//! (compat turns that into one line and exit status 2) rather than losing
//! the trace at exit:
//! * **nothing there, or a regular file** (not a symlink): each write goes to
//!   a new file created exclusively beside it (`O_CREAT | O_EXCL |
//!   O_NOFOLLOW`, a random hidden name; a name that exists, symlink or not,
//!   is never opened, another is tried) and is then renamed over the target,
//!   so a reader never sees half a trace and an earlier one survives a
//!   failed write. At start one such file is created and removed, to know
//!   the directory takes new files. Right before the rename the target is
//!   looked at again: if it has become something else than a regular file,
//!   nothing is replaced and the write fails.
//! * **anything else** — a symlink (followed, as the user named it), a
//!   device such as `/dev/null`, a FIFO: it is opened for writing at start
//!   (a FIFO without a reader is an error, not a hang) and kept open; each
//!   write goes into it (a regular file reached through a symlink is
//!   truncated first; a FIFO's write waits for its reader, as any writer
//!   of a FIFO does). It is never replaced.
//! * a directory: an error at start.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A trace's destination, checked (and for a non-regular target, opened)
/// when the runtime starts. Cheap to clone: clones share the open target.
#[derive(Debug, Clone)]
pub struct TraceFile {
    /// The path as given (for messages).
    path: PathBuf,
    how: How,
}

#[derive(Debug, Clone)]
enum How {
    /// A new file beside the target (in `dir`, absolute), renamed over it.
    Replace { dir: PathBuf, target: PathBuf },
    /// The target itself, open since start.
    Into(Arc<File>),
}

impl TraceFile {
    /// Checks that a trace can be written at `path` (module doc) and
    /// remembers how. The error is the OS's (or says why the path cannot
    /// hold a trace).
    pub fn open(path: impl Into<PathBuf>) -> io::Result<TraceFile> {
        let path = path.into();
        let how = match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => How::replace(&path)?,
            Ok(m) if m.is_dir() => {
                return Err(io::Error::new(
                    io::ErrorKind::IsADirectory,
                    "it is a directory",
                ))
            }
            Ok(_) => How::Into(Arc::new(open_into(&path)?)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => How::replace(&path)?,
            Err(e) => return Err(e),
        };
        Ok(TraceFile { path, how })
    }

    /// The path it was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` as the whole trace (module doc).
    pub fn write(&self, bytes: &[u8]) -> io::Result<()> {
        match &self.how {
            How::Replace { dir, target } => {
                let (tmp, mut file) = create_beside(dir, target)?;
                let done = file
                    .write_all(bytes)
                    .and_then(|()| {
                        drop(file);
                        still_replaceable(target)
                    })
                    .and_then(|()| fs::rename(&tmp, target));
                if done.is_err() {
                    let _ = fs::remove_file(&tmp);
                }
                done
            }
            How::Into(file) => {
                if file.metadata()?.is_file() {
                    file.set_len(0)?;
                    file.write_all_at(bytes, 0)
                } else {
                    (&**file).write_all(bytes)
                }
            }
        }
    }
}

impl How {
    /// The replace mode for `path`, after creating (and removing) a file in
    /// its directory.
    fn replace(path: &Path) -> io::Result<How> {
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "it names no file"))?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        // Absolute, so a later chdir does not move the trace.
        let dir = fs::canonicalize(parent)?;
        let target = dir.join(name);
        let (probe, file) = create_beside(&dir, &target)?;
        drop(file);
        fs::remove_file(&probe)?;
        Ok(How::Replace { dir, target })
    }
}

/// Opens a target that is not a plain regular file for writing (module
/// doc): without blocking on a FIFO that has no reader, then blocking again
/// for the writes.
fn open_into(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o666)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    if file.metadata()?.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "it is a directory",
        ));
    }
    let fd = file.as_raw_fd();
    // SAFETY: F_GETFL/F_SETFL on a descriptor we own; the description is
    // ours alone (just opened), so clearing O_NONBLOCK touches no one else.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(file)
}

/// Creates a new file in `dir` named after `target` plus a random part:
/// exclusively, never through a symlink, another name if one exists.
fn create_beside(dir: &Path, target: &Path) -> io::Result<(PathBuf, File)> {
    let name = target.file_name().unwrap_or_default();
    for _ in 0..16 {
        let mut tmp = OsString::from(".");
        tmp.push(name);
        tmp.push(format!(".{:016x}.tmp", random()));
        let tmp = dir.join(tmp);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o666)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no free temporary name in {}", dir.display()),
    ))
}

/// Whether `target` may be renamed over: absent, or a regular file.
fn still_replaceable(target: &Path) -> io::Result<()> {
    match fs::symlink_metadata(target) {
        Ok(m) if !m.is_file() => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "it is no longer a regular file; not replaced",
        )),
        _ => Ok(()),
    }
}

/// 64 unpredictable bits (std's randomly keyed hasher over a counter).
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static N: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(N.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, FileTypeExt};

    /// A fresh directory under the temp dir.
    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "switchyard-trace-file-{name}-{}-{:x}",
            std::process::id(),
            random()
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_new_or_regular_target_is_replaced_and_nothing_beside_it_touched() {
        let d = scratch("replace");
        let victim = d.join("victim");
        fs::write(&victim, "victim").unwrap();
        // The names a predictable writer would use, planted.
        fs::write(d.join("t.json.tmp"), "keep").unwrap();
        symlink(&victim, d.join("t.tmp")).unwrap();
        let t = TraceFile::open(d.join("t.json")).unwrap();
        assert!(!d.join("t.json").exists(), "nothing written at start");
        t.write(b"{\"one\":1}").unwrap();
        assert_eq!(fs::read_to_string(d.join("t.json")).unwrap(), "{\"one\":1}");
        t.write(b"{}").unwrap();
        assert_eq!(fs::read_to_string(d.join("t.json")).unwrap(), "{}");
        assert_eq!(fs::read_to_string(d.join("t.json.tmp")).unwrap(), "keep");
        assert!(fs::symlink_metadata(d.join("t.tmp")).unwrap().is_symlink());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "victim");
        assert_eq!(names(&d), ["t.json", "t.json.tmp", "t.tmp", "victim"]);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_symlink_target_is_written_through_and_kept() {
        let d = scratch("symlink");
        fs::write(d.join("real.json"), "an older and longer trace").unwrap();
        symlink(d.join("real.json"), d.join("link.json")).unwrap();
        let t = TraceFile::open(d.join("link.json")).unwrap();
        t.write(b"{}").unwrap();
        assert!(fs::symlink_metadata(d.join("link.json"))
            .unwrap()
            .is_symlink());
        assert_eq!(fs::read_to_string(d.join("real.json")).unwrap(), "{}");
        // A symlink to /dev/null stays one, and /dev/null a device.
        symlink("/dev/null", d.join("null.json")).unwrap();
        TraceFile::open(d.join("null.json"))
            .unwrap()
            .write(b"{}")
            .unwrap();
        assert!(fs::symlink_metadata(d.join("null.json"))
            .unwrap()
            .is_symlink());
        assert!(fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_device_target_is_written_into_not_replaced() {
        let t = TraceFile::open("/dev/null").unwrap();
        t.write(b"{}").unwrap();
        t.write(b"{}").unwrap();
        assert!(fs::symlink_metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
    }

    #[test]
    fn a_fifo_target_gets_the_trace_and_stays_a_fifo() {
        let d = scratch("fifo");
        let fifo = d.join("t.json");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid C string path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = TraceFile::open(&fifo).unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            Some(libc::ENXIO),
            "no reader: an error, not a hang"
        );
        let reader = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        let t = TraceFile::open(&fifo).unwrap();
        t.write(b"{\"fifo\":true}").unwrap();
        drop(t);
        let mut got = String::new();
        io::Read::read_to_string(&mut &reader, &mut got).unwrap();
        assert_eq!(got, "{\"fifo\":true}");
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn targets_that_cannot_be_written_fail_at_open() {
        let d = scratch("bad");
        assert!(TraceFile::open(d.join("no/such/dir/t.json")).is_err());
        assert_eq!(
            TraceFile::open(&d).unwrap_err().kind(),
            io::ErrorKind::IsADirectory
        );
        // A directory that takes no new files: sysfs refuses even root.
        if Path::new("/sys/kernel").is_dir() {
            assert!(TraceFile::open("/sys/kernel/switchyard-t.json").is_err());
        }
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_target_that_became_a_symlink_after_open_is_not_replaced() {
        let d = scratch("race");
        let t = TraceFile::open(d.join("t.json")).unwrap();
        fs::write(d.join("victim"), "victim").unwrap();
        symlink(d.join("victim"), d.join("t.json")).unwrap();
        assert!(t.write(b"{}").is_err());
        assert!(fs::symlink_metadata(d.join("t.json")).unwrap().is_symlink());
        assert_eq!(fs::read_to_string(d.join("victim")).unwrap(), "victim");
        assert_eq!(names(&d), ["t.json", "victim"], "no temporary file left");
        let _ = fs::remove_dir_all(&d);
    }
}
