//! Whether `apppass watch` runs on a host that shares a PostgreSQL store:
//! without it, a password revoked on another host keeps this host's
//! sessions and Dovecot's cached logins until they end by themselves.

use super::read::{text, MOST_BYTES};
use super::{under, Finding, Severity};
use crate::config::StoreChoice;
use crate::watch::PID_FILE;
use std::path::Path;

pub(super) fn check(root: &Path, found: &mut Vec<Finding>) {
    let Some((StoreChoice::Postgres { .. }, _)) = super::store_under(root) else {
        return;
    };
    if runs_under(root) {
        return;
    }
    let pid_file = Path::new(PID_FILE);
    found.push(Finding {
        check: "watcher",
        severity: Severity::Warning,
        file: Some(pid_file.to_path_buf()),
        line: None,
        problem: "this host shares a PostgreSQL store but apppass watch is not running: a password revoked on another host stays logged in here (its IMAP and SSH sessions, Dovecot's cached logins) until they end by themselves".into(),
        fix: "systemctl enable --now apppass-watch.service (or, without systemd, start apppass watch and keep it running)".into(),
    });
}

/// Whether `apppass watch` runs on the host under `root`: its PID file
/// names a live process that is `apppass watch`.
pub(super) fn runs_under(root: &Path) -> bool {
    text(&under(root, Path::new(PID_FILE)), MOST_BYTES)
        .ok()
        .flatten()
        .and_then(|t| t.trim().parse::<u32>().ok())
        .is_some_and(watcher_runs)
}

/// Whether process `pid` is `apppass watch`.
fn watcher_runs(pid: u32) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let program = args.first().is_some_and(|p| p.ends_with(b"apppass"));
    program && args.iter().skip(1).any(|a| *a == b"watch")
}
