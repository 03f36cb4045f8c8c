//! A process's clocks moved by the test while it runs: libfaketime
//! preloaded, reading its offset from a file on every call
//! (FAKETIME_NO_CACHE), so writing "+11m" there moves both the wall clock
//! and CLOCK_MONOTONIC (Rust's `Instant`) eleven minutes on at once.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

pub struct FakeClock {
    dir: tempfile::TempDir,
    library: PathBuf,
}

/// libfaketime's thread-safe library, where the system has it (Debian's
/// package libfaketime, pulled in by faketime).
pub fn library() -> Option<PathBuf> {
    let lib = std::fs::read_dir("/usr/lib").ok()?;
    lib.flatten()
        .map(|e| e.path().join("faketime/libfaketimeMT.so.1"))
        .find(|p| p.exists())
}

impl FakeClock {
    /// A clock at the real time (offset `+0`), or `None` without
    /// libfaketime.
    pub fn new() -> Option<FakeClock> {
        let library = library()?;
        let dir = tempfile::Builder::new()
            .prefix("apppass-clock-")
            .tempdir()
            .unwrap();
        // Read by the process under test, whatever user it runs as.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let clock = FakeClock { dir, library };
        clock.set("+0");
        Some(clock)
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("offset")
    }

    /// The environment that puts a process on this clock.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("LD_PRELOAD".into(), self.library.display().to_string()),
            (
                "FAKETIME_TIMESTAMP_FILE".into(),
                self.file().display().to_string(),
            ),
            ("FAKETIME_NO_CACHE".into(), "1".into()),
        ]
    }

    /// Moves the clock to `offset` from the real time ("+9m", "+11m"),
    /// written whole (a rename) so a reader never sees half of it.
    pub fn set(&self, offset: &str) {
        let next = self.dir.path().join("offset.next");
        std::fs::write(&next, format!("{offset}\n")).unwrap();
        std::fs::set_permissions(&next, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::rename(&next, self.file()).unwrap();
    }
}

/// Removes what libfaketime left in /dev/shm for process `pid`, which was
/// killed before its library could.
pub fn tidy(pid: u32) {
    let _ = std::fs::remove_file(format!("/dev/shm/faketime_shm_{pid}"));
    let _ = std::fs::remove_file(format!("/dev/shm/sem.faketime_sem_{pid}"));
}
