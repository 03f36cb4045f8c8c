//! `apppass watch` started by a test, as apppass-watch.service starts it on
//! a host: a child process on a store, its position and PID files in a
//! directory of its own, what it says (stderr, the journal's part) kept in
//! a file the test reads. Stopped on drop; stopped and started again with
//! the same position by [`Watcher::restart`].

use crate::fixture::{apppass_bin, Fixture};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Watcher {
    pub dir: tempfile::TempDir,
    /// Where it keeps its position in the history.
    pub state: PathBuf,
    pub pid_file: PathBuf,
    log: PathBuf,
    args: Vec<OsString>,
    child: Option<Child>,
}

impl Watcher {
    /// A watcher on `f`'s store that tells the Dovecot of `dovecot_config`.
    pub fn start(f: &Fixture, dovecot_config: Option<&Path>) -> Watcher {
        Self::start_with(&store_args(f), dovecot_config, None)
    }

    /// A watcher on the store `store_args` name (`--db PATH` or `--config
    /// FILE`), its PID written to `pid_file` (its own directory's by default).
    pub fn start_with(
        store_args: &[OsString],
        dovecot_config: Option<&Path>,
        pid_file: Option<PathBuf>,
    ) -> Watcher {
        let dir = tempfile::Builder::new()
            .prefix("apppass-watch-")
            .tempdir()
            .unwrap();
        let state = dir.path().join("state").join("watch.position");
        let pid_file = pid_file.unwrap_or_else(|| dir.path().join("watch.pid"));
        let mut args: Vec<OsString> = store_args.to_vec();
        if let Some(conf) = dovecot_config {
            args.push("--dovecot-config".into());
            args.push(conf.into());
        }
        args.extend([
            "watch".into(),
            "--state".into(),
            state.clone().into(),
            "--pid-file".into(),
            pid_file.clone().into(),
        ]);
        let mut w = Watcher {
            log: dir.path().join("watch.log"),
            dir,
            state,
            pid_file,
            args,
            child: None,
        };
        w.spawn();
        w
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(apppass_bin())
            .args(&self.args)
            .env_remove("APPPASS_DB")
            .env_remove("APPPASS_CONFIG")
            .env_remove("APPPASS_DOVECOT_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// Everything it said so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How much it has said so far: a mark for [`Watcher::wait_for`].
    pub fn said(&self) -> usize {
        self.log().len()
    }

    /// Waits until it says something containing `text` after `mark`;
    /// whether it did within `timeout`.
    pub fn wait_for(&self, mark: usize, text: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().get(mark..).is_some_and(|l| l.contains(text)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether it has left by itself.
    pub fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))))
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops it as systemd would (SIGTERM), and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill with a PID of our own child, not yet reaped.
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again where it stopped (same position file).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `--db PATH` or `--config FILE`: the store `f` is on.
pub fn store_args(f: &Fixture) -> Vec<OsString> {
    match &f.config {
        Some(conf) => vec!["--config".into(), conf.into()],
        None => vec!["--db".into(), f.db.clone().into()],
    }
}
