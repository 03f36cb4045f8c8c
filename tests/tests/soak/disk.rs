//! A full disk and a read-only remount under an SQLite store: logins go on
//! (recording the last use is skipped), writes fail with one clear
//! sentence, nothing is lost, and writes work again once there is room.
//! The store's directory gets a small tmpfs of its own (root, and a kernel
//! that lets this process mount; said loudly otherwise). A PostgreSQL
//! store that cannot write is a standby: `postgres_hosts` covers logins
//! against one.

use super::{generate_args, Host};
use apppass_e2e::fixture::{pam_host_bin, Fixture};
use apppass_e2e::system::is_root;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted on a directory, unmounted on drop (even after a panic).
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(dir: &Path, size: &str) -> Option<Mounted> {
    let ok = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0700"),
            "tmpfs",
        ])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| Mounted(dir.to_path_buf()))
}

fn remount(dir: &Path, how: &str) {
    let s = Command::new("mount")
        .args(["-o", &format!("remount,{how}")])
        .arg(dir)
        .status()
        .unwrap();
    assert!(s.success(), "remount {how}");
}

/// A login in a process of its own (nothing kept from earlier logins).
fn fresh_login(f: &Fixture, user: &str, pw: &str) -> bool {
    let out = Command::new(pam_host_bin())
        .arg(&f.confdir)
        .args(["mail", user, pw, "1", "1"])
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    r["right_ok"] == 1
}

/// One sentence on one line, naming the cause, and no password shown.
fn one_clear_sentence(out: &std::process::Output, cause: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the write succeeded: {err}");
    assert!(
        out.stdout.is_empty(),
        "a password was shown for a write that failed"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let lower = err.to_lowercase();
    assert!(cause.iter().any(|c| lower.contains(c)), "{err}");
}

const USER: &str = "disk@example.org";

/// How many passwords `apppass list` shows for USER.
fn listed(f: &Fixture) -> usize {
    f.list_json(&[USER]).as_array().unwrap().len()
}

#[test]
fn a_full_disk_and_a_read_only_store_lose_nothing_and_logins_go_on() {
    if !is_root() {
        eprintln!(
            "\n*** SKIPPED a_full_disk_and_a_read_only_store: needs root to mount a tmpfs ***\n"
        );
        return;
    }
    let Some(host) = Host::new(super::Kind::Sqlite, "a_full_disk") else {
        return;
    };
    let f = host.f();
    f.simple_service("mail");
    let dir = f.db.parent().unwrap().to_path_buf();
    // Move the store onto its own small tmpfs.
    let aside = tempfile::tempdir().unwrap();
    let copy = |from: &Path, to: &Path| {
        let s = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", from.display()))
            .arg(to)
            .status()
            .unwrap();
        assert!(s.success());
    };
    copy(&dir, aside.path());
    let Some(_mount) = mount_tmpfs(&dir, "4m") else {
        eprintln!(
            "\n*** SKIPPED a_full_disk_and_a_read_only_store: mount is not permitted here ***\n"
        );
        return;
    };
    copy(aside.path(), &dir);
    let first = f.generate(USER, &["mail"], "First");
    assert!(fresh_login(f, USER, &first));
    let before = host.query("SELECT count(*) FROM passwords");

    // The disk fills up.
    let filler = dir.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .stderr(std::process::Stdio::null())
        .status();
    assert!(fresh_login(f, USER, &first), "a login on a full disk");
    let out = f.apppass(&generate_args(USER, "Full"));
    one_clear_sentence(&out, &["space", "full"]);
    // The CLI still reads the store (as the module does).
    assert_eq!(listed(f), 1);
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(host.query("SELECT count(*) FROM passwords"), before);
    host.consistent();
    let second = f.generate(USER, &["mail"], "Second");
    assert!(fresh_login(f, USER, &second) && fresh_login(f, USER, &first));

    // Read-only.
    remount(&dir, "ro");
    let ro = std::panic::catch_unwind(|| {
        assert!(fresh_login(f, USER, &first), "a login on a read-only store");
        let out = f.apppass(&generate_args(USER, "RO"));
        one_clear_sentence(&out, &["read-only", "read only"]);
        assert_eq!(listed(f), 2);
    });
    remount(&dir, "rw");
    if let Err(e) = ro {
        std::panic::resume_unwind(e);
    }
    assert!(fresh_login(f, USER, &first) && fresh_login(f, USER, &second));
    let third = f.generate(USER, &["mail"], "Third");
    assert!(fresh_login(f, USER, &third));
    host.consistent();
}
