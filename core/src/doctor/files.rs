//! The store's, the key's and the configuration file's permissions, judged
//! as the PAM module will judge them (it refuses what is unsafe, locking
//! every app password out), plus what it tolerates but should not.

use super::read::{self, Odd};
use super::{under, Finding, Severity};
use crate::config::{self, StoreChoice, DEFAULT_CONFIG, DEFAULT_DB};
use crate::store::safety::{check_path, Kind};
use crate::store::StoreError;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

fn unsafe_finding(host: &Path, e: &StoreError, what: &str) -> Finding {
    Finding {
        check: "permissions",
        severity: Severity::Critical,
        file: Some(host.to_path_buf()),
        line: None,
        problem: format!(
            "{what} {}: {e}; pam_apppass refuses it, so no app password logs in",
            host.display()
        ),
        fix: format!(
            "make {} owned by root and not writable by group or others (chown root:root, chmod {}), and not a symbolic link",
            host.display(),
            if what == "the directory" { "0700" } else { "0600" }
        ),
    }
}

/// Checks `host` (a path on the host) found under `root`; `Some(mode)` when
/// it exists and is safe.
fn check(
    root: &Path,
    host: &Path,
    kind: Kind,
    what: &str,
    found: &mut Vec<Finding>,
) -> Option<u32> {
    let real = under(root, host);
    match check_path(&real, 0, kind) {
        Ok(()) => std::fs::metadata(&real).ok().map(|m| m.mode() & 0o7777),
        Err(StoreError::Missing { .. }) => None,
        Err(StoreError::Unsafe { detail, .. }) => {
            let e = StoreError::Unsafe {
                path: host.to_path_buf(),
                detail,
            };
            found.push(unsafe_finding(host, &e, what));
            Some(0)
        }
        Err(e) => {
            found.push(unsafe_finding(host, &e, what));
            Some(0)
        }
    }
}

pub(super) fn check_all(root: &Path, found: &mut Vec<Finding>) {
    let conf_host = Path::new(DEFAULT_CONFIG);
    let mut choice = StoreChoice::sqlite(Path::new(DEFAULT_DB));
    let before = found.len();
    if let Some(mode) = check(root, conf_host, Kind::File, "the configuration file", found) {
        // Read as the module reads it: a regular file up to its cap, never
        // a FIFO or a device (a symbolic link is already reported above).
        let read = read::text(&under(root, conf_host), config::MAX_CONFIG_BYTES);
        if matches!(read, Err(Odd::Type(_))) && found.len() > before {
            return;
        }
        match read
            .map_err(|odd| odd.to_string())
            .and_then(|t| t.ok_or_else(|| "it vanished while the doctor read it".to_string()))
            .and_then(|t| config::parse(&t, conf_host).map_err(|e| e.to_string()))
        {
            Ok(c) => {
                if let StoreChoice::Postgres {
                    conninfo,
                    admin_conninfo,
                    ..
                } = &c
                {
                    let secret = conninfo.has_password()
                        || admin_conninfo.as_ref().is_some_and(|a| a.has_password());
                    if secret && mode & 0o004 != 0 {
                        found.push(Finding {
                            check: "config-password-readable",
                            severity: Severity::Critical,
                            file: Some(conf_host.to_path_buf()),
                            line: None,
                            problem: format!(
                                "{} holds a database password (password= in a conninfo) and every user can read it",
                                conf_host.display()
                            ),
                            fix: format!(
                                "chmod 0640 {} (or 0600), or move the password into a passfile readable by root only",
                                conf_host.display()
                            ),
                        });
                    }
                }
                choice = c;
            }
            Err(e) => {
                found.push(Finding {
                    check: "config-invalid",
                    severity: Severity::Critical,
                    file: Some(conf_host.to_path_buf()),
                    line: None,
                    problem: format!("{e}; pam_apppass refuses every login while it is so"),
                    fix: format!(
                        "correct {} (see apppass.conf in pam_apppass(8))",
                        conf_host.display()
                    ),
                });
                return;
            }
        }
    }
    let key: PathBuf = choice.key().to_path_buf();
    if let StoreChoice::Sqlite { db, .. } = &choice {
        let dir = db.parent().unwrap_or(Path::new("/")).to_path_buf();
        check(root, &dir, Kind::Directory, "the directory", found);
        match check(root, db, Kind::File, "the store", found) {
            None => {
                found.push(Finding {
                    check: "store-missing",
                    severity: Severity::Warning,
                    file: Some(db.clone()),
                    line: None,
                    problem: format!(
                        "the store {} does not exist: pam_apppass answers every app-password login with 'authentication information unavailable'",
                        db.display()
                    ),
                    fix: "run 'apppass init'".into(),
                });
                return;
            }
            Some(mode) if mode & 0o044 != 0 => found.push(Finding {
                check: "store-readable",
                severity: Severity::Warning,
                file: Some(db.clone()),
                line: None,
                problem: format!(
                    "the store {} is readable by group or others (mode {mode:04o}): its argon2 hashes can be copied and guessed at offline",
                    db.display()
                ),
                fix: format!("chmod 0600 {}", db.display()),
            }),
            Some(_) => {}
        }
    }
    match check(root, &key, Kind::File, "the key", found) {
        None => found.push(Finding {
            check: "key-missing",
            severity: Severity::Critical,
            file: Some(key.clone()),
            line: None,
            problem: format!(
                "the key file {} is missing: pam_apppass fails closed, so no app password logs in",
                key.display()
            ),
            fix: "restore the key from the backup taken with the store (apppass backup writes it beside the copy); if it is lost for good, run 'apppass init --new-key'".into(),
        }),
        Some(mode) if mode & 0o044 != 0 => found.push(Finding {
            check: "key-readable",
            severity: Severity::Warning,
            file: Some(key.clone()),
            line: None,
            problem: format!(
                "the key file {} is readable by group or others (mode {mode:04o}): with a copy of the store it helps to guess weak legacy primary passwords",
                key.display()
            ),
            fix: format!("chmod 0600 {}", key.display()),
        }),
        Some(_) => {}
    }
}
