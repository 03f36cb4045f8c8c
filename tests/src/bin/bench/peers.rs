//! What an administrator would otherwise pick: the primary password
//! (pam_unix), and a separate password file (pam_pwdfile from Debian's
//! libpam-pwdfile) or Berkeley DB (pam_userdb). Both peers hold the same
//! yescrypt hash /etc/shadow holds, so all three verify the same thing.

use crate::chart::SECTION;
use crate::logins::time_logins;
use crate::report::{Report, SYSTEM};
use crate::{PRIMARY, WRONG};
use apppass_e2e::fixture::Fixture;
use apppass_e2e::system::SystemUser;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

pub const UNIX_RIGHT: &str = "pam_unix right";
pub const UNIX_WRONG: &str = "pam_unix wrong (nodelay)";
pub const PWDFILE_RIGHT: &str = "pam_pwdfile right";
pub const PWDFILE_WRONG: &str = "pam_pwdfile wrong (nodelay)";
pub const USERDB_RIGHT: &str = "pam_userdb right";
pub const USERDB_WRONG: &str = "pam_userdb wrong";

/// The peers' PAM lines for `user`, their files written under `dir`;
/// `None` (and why) when a peer is not installed.
pub fn stacks(dir: &Path, user: &SystemUser) -> Vec<(&'static str, Result<String, String>)> {
    let hash = user.shadow_hash();
    let pwdfile = dir.join("passwd");
    std::fs::write(&pwdfile, format!("{}:{hash}\n", user.name)).unwrap();
    let pwd = if module_exists("pam_pwdfile.so") {
        Ok(format!(
            "auth required pam_pwdfile.so pwdfile={} nodelay\n",
            pwdfile.display()
        ))
    } else {
        Err("pam_pwdfile is not installed (apt-get install libpam-pwdfile)".into())
    };
    let userdb = dir.join("users");
    let db = make_userdb(&userdb, &user.name, &hash).map(|()| {
        format!(
            "auth required pam_userdb.so db={} crypt=crypt\n",
            userdb.display()
        )
    });
    vec![
        ("unix", Ok("auth required pam_unix.so nodelay\n".into())),
        ("pwdfile", pwd),
        ("userdb", db),
    ]
}

fn module_exists(name: &str) -> bool {
    Command::new("sh")
        .args([
            "-c",
            &format!("ls /lib/*/security/{name} /usr/lib/*/security/{name}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `db_load` writes the Berkeley DB file pam_userdb reads (`BASE.db`).
fn make_userdb(base: &Path, user: &str, hash: &str) -> Result<(), String> {
    if !module_exists("pam_userdb.so") {
        return Err("pam_userdb is not installed (libpam-modules)".into());
    }
    let file = base.with_extension("db");
    let child = Command::new("db5.3_load")
        .args(["-T", "-t", "hash"])
        .arg(&file)
        .stdin(Stdio::piped())
        .spawn();
    let mut child = child.map_err(|_| "db5.3_load is missing (apt-get install db5.3-util)")?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{user}\n{hash}\n").as_bytes())
        .unwrap();
    match child.wait() {
        Ok(s) if s.success() => Ok(()),
        _ => Err("db5.3_load failed".into()),
    }
}

pub fn one_process(r: &mut Report, user: &SystemUser) {
    let f = Fixture::new();
    for (name, stack) in stacks(f.dir.path(), user) {
        let stack = match stack {
            Ok(s) => s,
            Err(why) => {
                r.skip(&format!("pam_{name}: {why}"));
                continue;
            }
        };
        f.service(name, &stack);
        let (right_case, wrong_case) = match name {
            "unix" => (UNIX_RIGHT, UNIX_WRONG),
            "pwdfile" => (PWDFILE_RIGHT, PWDFILE_WRONG),
            _ => (USERDB_RIGHT, USERDB_WRONG),
        };
        time_logins(&f, name, &user.name, PRIMARY.as_bytes(), 3, true);
        let right = time_logins(&f, name, &user.name, PRIMARY.as_bytes(), 60, true);
        r.add(SECTION, right_case, SYSTEM, right, "ms");
        let wrong = time_logins(&f, name, &user.name, WRONG, 60, false);
        r.add(SECTION, wrong_case, SYSTEM, wrong, "ms");
    }
}
