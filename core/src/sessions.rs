//! PAM sessions opened with an app password, registered so that taking
//! the password out of service can end them: `session optional
//! pam_apppass.so` registers the process that opened the session (its PID
//! and start time, so a reused PID is never hit) and the password's ID
//! under [`DIR`] when the session opens, and removes the entry when it
//! closes. Ending is SIGHUP, then SIGTERM after 2 seconds, to that
//! process only.
//!
//! (The registry's contract; its implementation follows.)

use std::path::Path;

/// Where sessions are registered.
pub const DIR: &str = "/run/apppass/sessions";

/// A registered session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The process that opened the session (sshd's `[priv]` process).
    pub pid: i32,
    /// Its start time, in clock ticks since boot (`/proc/PID/stat` field 22).
    pub started: u64,
    /// The app password it was opened with.
    pub password: i64,
    pub user: String,
    /// The PAM service (`sshd`).
    pub service: String,
}

/// Registers the calling process's session, opened by `user` with
/// password `password` for `service`.
pub fn register(_dir: &Path, _password: i64, _user: &str, _service: &str) -> std::io::Result<()> {
    Ok(())
}

/// Removes the calling process's entry, if any.
pub fn unregister(_dir: &Path) {}

/// Ends the registered sessions of `user` opened with one of `passwords`;
/// returns those it signalled.
pub fn end(_dir: &Path, _user: &str, _passwords: &[i64]) -> Vec<Registered> {
    Vec::new()
}
