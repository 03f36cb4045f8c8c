//! Cleans up after a test run that was interrupted before its destructors
//! ran: daemons, directories and PAM files whose owning test process
//! (the pid in their name) is gone.

use std::path::Path;
use std::process::{Command, Stdio};

fn owner_alive(name: &str, prefix: &str) -> bool {
    let Some(rest) = name.strip_prefix(prefix) else {
        return true;
    };
    let pid = rest.split('-').next().unwrap_or("");
    pid.is_empty()
        || !pid.bytes().all(|b| b.is_ascii_digit())
        || Path::new("/proc").join(pid).exists()
}

pub fn leftovers() {
    crate::postgres::sweep();
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if name.starts_with("apppass-dovecot-") && !owner_alive(&name, "apppass-dovecot-") {
                let _ = Command::new("doveadm")
                    .arg("-c")
                    .arg(path.join("dovecot.conf"))
                    .arg("stop")
                    .stderr(Stdio::null())
                    .status();
                let _ = std::fs::remove_dir_all(&path);
            } else if name.starts_with(crate::pgbouncer::DIR_PREFIX)
                && !owner_alive(&name, crate::pgbouncer::DIR_PREFIX)
            {
                crate::pgbouncer::sweep(&path);
            } else if name.starts_with(crate::dav::DIR_PREFIX)
                && !owner_alive(&name, crate::dav::DIR_PREFIX)
            {
                crate::dav::stop(&path);
                let _ = std::fs::remove_dir_all(&path);
            } else if name.starts_with(crate::postfix::DIR_PREFIX)
                && !owner_alive(&name, crate::postfix::DIR_PREFIX)
            {
                crate::postfix::sweep(&path);
                let _ = std::fs::remove_dir_all(&path);
            } else if name.starts_with("apppass-sshd-") && !owner_alive(&name, "apppass-sshd-") {
                if let Ok(pid) = std::fs::read_to_string(path.join("sshd.pid")) {
                    let _ = Command::new("kill").arg(pid.trim()).status();
                }
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    }
    if let Ok(passwd) = std::fs::read_to_string("/etc/passwd") {
        for name in passwd.lines().filter_map(|l| l.split(':').next()) {
            if let Some(rest) = name.strip_prefix("aptest") {
                let pid = rest.split('x').next().unwrap_or("");
                if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
                    let _ = Command::new("userdel")
                        .arg(name)
                        .stderr(Stdio::null())
                        .status();
                }
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir("/etc/pam.d") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("apppass-t-") && !owner_alive(&name, "apppass-t-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}
