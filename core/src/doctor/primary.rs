//! `primary = dovecot` or `ldap`: whether the auth-master socket, or the
//! LDAP bind password file and CA file, apppass.conf names are usable, and
//! whether the timer that sweeps primary passwords runs.
//! (Dovecot's auth cache, which delays a reset, is checked with the rest
//! of Dovecot's configuration.)

use super::{under, Finding, Severity};
use crate::config::{self, LdapSettings, PrimaryChoice, DEFAULT_CONFIG};
use crate::primary::secret_file;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// What apppass.conf under `root` says about `primary`; `None` when the
/// file cannot be read or used (the file checks report that).
pub(super) fn configured(root: &Path) -> Option<PrimaryChoice> {
    let conf = under(root, Path::new(DEFAULT_CONFIG));
    match super::read::text(&conf, super::read::MOST_BYTES) {
        Ok(Some(text)) => config::parse_config(&text, Path::new(DEFAULT_CONFIG))
            .ok()
            .map(|c| c.primary),
        Ok(None) => Some(PrimaryChoice::Shadow),
        Err(_) => None,
    }
}

const TIMER: &str = "apppass-check-primary.timer";

pub(super) fn check(root: &Path, seen: Option<&super::SchemaSeen>, found: &mut Vec<Finding>) {
    let what = match configured(root) {
        Some(PrimaryChoice::Dovecot { socket, .. }) => {
            dovecot_socket(root, &socket, found);
            "Dovecot's passdb"
        }
        Some(PrimaryChoice::Ldap(s)) => {
            ldap_files(root, &s, found);
            "the LDAP directory"
        }
        _ => return,
    };
    if let Some(seen) = seen.filter(|s| !s.unfingerprinted.is_empty()) {
        let users = &seen.unfingerprinted;
        let shown: Vec<String> = users
            .iter()
            .take(5)
            .map(|u| crate::escape::for_message(u))
            .collect();
        let more = match users.len() {
            n if n > 5 => format!(" and {} more", n - 5),
            _ => String::new(),
        };
        found.push(Finding {
            check: "primary-no-fingerprint",
            severity: Severity::Warning,
            file: seen.file.clone(),
            line: None,
            problem: format!(
                "{} users with app passwords have no primary-password fingerprint ({}{more}): a reset of their primary password in {what} revokes nothing",
                users.len(),
                shown.join(", ")
            ),
            fix: "make the source give their password (the passdb field, or the bind DN's right to read the attribute), then run apppass check-primary, which takes the fingerprints".into(),
        });
    }
    let systemd = under(root, Path::new("/run/systemd/system")).is_dir();
    let wants = PathBuf::from("/etc/systemd/system/timers.target.wants").join(TIMER);
    if systemd && std::fs::symlink_metadata(under(root, &wants)).is_err() {
        found.push(Finding {
            check: "primary-timer",
            severity: Severity::Warning,
            file: Some(wants),
            line: None,
            problem: format!(
                "{TIMER} is not enabled: a reset of a primary password in {what} revokes the user's app passwords only at their next login, not within 15 minutes"
            ),
            fix: format!("systemctl enable --now {TIMER}"),
        });
    }
}

fn dovecot_socket(root: &Path, socket: &Path, found: &mut Vec<Finding>) {
    let is_socket =
        std::fs::symlink_metadata(under(root, socket)).is_ok_and(|m| m.file_type().is_socket());
    if !is_socket {
        found.push(Finding {
            check: "primary-dovecot-socket",
            severity: Severity::Critical,
            file: Some(socket.to_path_buf()),
            line: None,
            problem: format!(
                "apppass.conf says primary = dovecot, and {} is not a socket: every login of a user whose fingerprint came from Dovecot fails (PAM_AUTHINFO_UNAVAIL), nothing is revoked, and generate refuses",
                socket.display()
            ),
            fix: "start Dovecot, or set dovecot_auth_master in /etc/apppass/apppass.conf to its auth-master socket (base_dir/auth-master; doveconf -h base_dir)".into(),
        });
    }
}

fn ldap_files(root: &Path, s: &LdapSettings, found: &mut Vec<Finding>) {
    let unusable = "every login of a user whose fingerprint came from the directory fails (PAM_AUTHINFO_UNAVAIL), nothing is revoked, and generate refuses";
    if let Some(file) = &s.bind_password_file {
        if let Err(why) = secret_file::load(&under(root, file), crate::sys::euid()) {
            found.push(Finding {
                check: "primary-bind-password",
                severity: Severity::Critical,
                file: Some(file.clone()),
                line: None,
                // The loader's sentence names the file under the root;
                // never the password.
                problem: format!("{why}: {unusable}"),
                fix: format!(
                    "write the bind DN's password alone into {} (root, mode 0600)",
                    file.display()
                ),
            });
        }
    }
    let ca = std::fs::File::open(under(root, &s.ca_file));
    if ca.is_err() {
        found.push(Finding {
            check: "primary-ca-file",
            severity: Severity::Critical,
            file: Some(s.ca_file.clone()),
            line: None,
            problem: format!(
                "ldap_ca_file {} cannot be read, so the LDAP server's certificate cannot be checked: {unusable}",
                s.ca_file.display()
            ),
            fix: "point ldap_ca_file at the PEM file of the CA that signed the LDAP server's certificate".into(),
        });
    }
}
