//! The store's files as administrators handle them: copied between hosts,
//! backed up into shared directories, restored over a store in use, put on
//! file systems that fail. Whatever happens, one clear sentence, nothing
//! wiped that should not be, nothing written through a link.

use apppass_e2e::fixture::{stderr, stdout, Fixture};
use apppass_e2e::pam::{login, PAM_AUTHINFO_UNAVAIL, PAM_SUCCESS};
use apppass_e2e::system::{require_root, SystemUser};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const U: &str = "dora@example.org";

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn private_dir(parent: &Path, name: &str) -> std::path::PathBuf {
    let d = parent.join(name);
    std::fs::create_dir(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    d
}

#[test]
fn a_store_next_to_another_key_is_refused_and_nothing_is_wiped() {
    if !require_root("a_store_next_to_another_key_is_refused_and_nothing_is_wiped") {
        return;
    }
    let old = Fixture::new();
    let user = SystemUser::new("Key-Test-Primary-1!");
    let pw = old.issue(&[&user.name, "--service", "mail", "--label", "Phone"]);
    // A new host: apppass init made its own key; only the database is copied in.
    let new = Fixture::new();
    std::fs::copy(&old.db, &new.db).unwrap();
    new.service("mail", "auth required @MODULE@ db=@DB@\n");

    let out = new.apppass(&["list"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let msg = stderr(&out);
    assert!(
        msg.contains("does not belong to the store")
            && msg.contains(&new.key().display().to_string()),
        "{msg}"
    );
    assert_eq!(msg.trim_end().lines().count(), 1, "one sentence: {msg}");
    assert_eq!(
        login(&new.confdir, "mail", &user.name, pw.as_bytes()).0,
        PAM_AUTHINFO_UNAVAIL
    );
    assert_eq!(code(&new.apppass(&["init"])), 3, "init refuses it too");
    // Nothing was revoked: with the right key back, the password works.
    std::fs::copy(old.key(), new.key()).unwrap();
    assert_eq!(
        login(&new.confdir, "mail", &user.name, pw.as_bytes()).0,
        PAM_SUCCESS
    );
    assert_eq!(new.row(&user.name, "Phone")["status"], "active");
}

#[test]
fn a_lost_key_is_replaced_only_on_request_revoking_what_it_protected() {
    if !require_root("a_lost_key_is_replaced_only_on_request_revoking_what_it_protected") {
        return;
    }
    let f = Fixture::new();
    let user = SystemUser::new("Lost-Key-Primary-1!");
    f.issue(&[&user.name, "--service", "mail", "--label", "Phone"]);
    let virt = f.generate(U, &["mail"], "Phone");
    f.simple_service("mail");
    std::fs::remove_file(f.key()).unwrap();

    let out = f.apppass(&["init"]);
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("init --new-key"), "{}", stderr(&out));
    assert!(
        !f.key().exists(),
        "no key made behind the administrator's back"
    );

    let out = f.apppass(&["init", "--new-key"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("revoked 1 app passwords of {}", user.name)),
        "{}",
        stderr(&out)
    );
    let row = f.row(&user.name, "Phone");
    assert_eq!(row["status"], "revoked");
    assert_eq!(row["revoked_reason"], "key replaced");
    // The virtual user had no fingerprint: untouched, and the store works again.
    assert_eq!(login(&f.confdir, "mail", U, virt.as_bytes()).0, PAM_SUCCESS);
    let again = f.apppass(&["init", "--new-key"]);
    assert_eq!(code(&again), 3, "never replaces a key that is there");
    assert!(
        stderr(&again).contains("move it aside"),
        "{}",
        stderr(&again)
    );
}

/// A directory anyone may write to (sticky, like /tmp).
fn shared_dir(f: &Fixture) -> std::path::PathBuf {
    let d = f.dir.path().join("shared");
    std::fs::create_dir(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o1777)).unwrap();
    d
}

fn backup_with_deadline(f: &Fixture, dest: &Path) -> std::process::Output {
    let mut child = Command::new(apppass_e2e::fixture::apppass_bin())
        .arg("--db")
        .arg(&f.db)
        .arg("backup")
        .arg(dest)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("apppass backup hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn backup_into_a_shared_directory_never_hangs_on_a_fifo_nor_writes_through_a_link() {
    let f = Fixture::new();
    f.generate(U, &["mail"], "Phone");
    let shared = shared_dir(&f);
    let dest = shared.join("copy.db");

    let fifo = std::ffi::CString::new(shared.join("key").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let out = backup_with_deadline(&f, &dest);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("FIFO"), "{}", stderr(&out));
    assert!(!dest.exists(), "nothing half-written");
    std::fs::remove_file(shared.join("key")).unwrap();

    let elsewhere = f.dir.path().join("elsewhere-key");
    std::os::unix::fs::symlink(&elsewhere, shared.join("key")).unwrap();
    let out = backup_with_deadline(&f, &dest);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("wrote"), "{}", stderr(&out));
    assert!(!elsewhere.exists(), "nothing written through the link");
    assert!(!dest.exists());

    // A link in place of the copy itself is refused as well.
    std::fs::remove_file(shared.join("key")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &dest).unwrap();
    let out = backup_with_deadline(&f, &dest);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(!elsewhere.exists());
    std::fs::remove_file(&dest).unwrap();

    // With nothing in the way the backup works there.
    let out = backup_with_deadline(&f, &dest);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        std::fs::read(shared.join("key")).unwrap(),
        std::fs::read(f.key()).unwrap()
    );
}

/// A writer that died before checkpointing leaves its `-wal` beside the
/// store; this leaves one with extra history in it.
fn leave_a_wal_with_history(db: &Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    c.execute(
        "INSERT INTO events (user, at, event, password_id, label, reason)
         VALUES ('ghost@example.org', 1, 'revoked', 999, 'Ghost', 'from the wal')",
        [],
    )
    .unwrap();
    // Never closed: a closing connection would checkpoint the WAL away.
    std::mem::forget(c);
    let wal = format!("{}-wal", db.display());
    assert!(std::fs::metadata(wal).unwrap().len() > 0);
}

#[test]
fn restore_replaces_the_store_whole_even_with_a_wal_beside_it() {
    let f = Fixture::new();
    let kept = f.generate(U, &["mail"], "Kept");
    let revived = f.generate(U, &["mail"], "Revived");
    let backups = private_dir(f.dir.path(), "backups");
    let copy = backups.join("apppass.db");
    let out = f.apppass(&["backup", copy.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    f.revoke(U, "Revived");
    let later = f.generate(U, &["mail"], "Later");
    leave_a_wal_with_history(&f.db);

    let out = f.apppass(&["restore", copy.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let id = f.row(U, "Revived")["id"].as_i64().unwrap();
    assert!(
        stderr(&out).contains(&format!("apppass revoke '{U}' {id}")),
        "the revived password is named with the command to revoke it again:\n{}",
        stderr(&out)
    );

    let labels: Vec<String> = f
        .list_json(&["--all"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["label"].as_str().unwrap(),
                r["status"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(labels, ["Kept active", "Revived active"]);
    let history = f.history_json(U).to_string();
    assert!(
        !history.contains("from the wal") && !history.contains("Later"),
        "{history}"
    );
    assert!(f
        .history_json("ghost@example.org")
        .as_array()
        .unwrap()
        .is_empty());
    let c = rusqlite::Connection::open(&f.db).unwrap();
    let verdict: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
    f.simple_service("mail");
    for (pw, want) in [(&kept, PAM_SUCCESS), (&revived, PAM_SUCCESS)] {
        assert_eq!(login(&f.confdir, "mail", U, pw.as_bytes()).0, want);
    }
    assert_ne!(
        login(&f.confdir, "mail", U, later.as_bytes()).0,
        PAM_SUCCESS
    );
}

#[test]
fn restore_refuses_a_backup_whose_key_is_not_its_own_and_changes_nothing() {
    let f = Fixture::new();
    f.generate(U, &["mail"], "Before");
    let backups = private_dir(f.dir.path(), "backups");
    let copy = backups.join("apppass.db");
    assert_eq!(code(&f.apppass(&["backup", copy.to_str().unwrap()])), 0);
    f.generate(U, &["mail"], "After");
    std::fs::remove_file(backups.join("key")).unwrap();
    std::fs::write(backups.join("key"), [7u8; 32]).unwrap();
    std::fs::set_permissions(backups.join("key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = f.apppass(&["restore", copy.to_str().unwrap()]);
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("does not belong"), "{}", stderr(&out));
    assert_eq!(
        f.list_json(&[]).as_array().unwrap().len(),
        2,
        "the live store is untouched"
    );
}

/// What `apppass backup` never writes, added to a backup: a trigger that
/// would undo every later revoke as it is made (reported and logged, yet
/// not kept), a view, a hash a login refuses. Restore names it in one
/// sentence and leaves the live store as it was.
#[test]
fn restore_refuses_a_backup_with_a_trigger_a_view_or_a_cheap_hash_and_changes_nothing() {
    let cases = [
        (
            "CREATE TRIGGER keep_alive AFTER UPDATE OF revoked_at ON passwords
             BEGIN UPDATE passwords SET revoked_at = NULL, revoked_reason = NULL
                    WHERE id = NEW.id; END;",
            "holds a trigger 'keep_alive' that apppass does not make",
        ),
        (
            "CREATE VIEW active AS SELECT id, user FROM passwords WHERE revoked_at IS NULL",
            "holds a view 'active' that apppass does not make",
        ),
        (
            "UPDATE passwords SET phc = replace(phc, 'm=19456,t=2', 'm=8,t=1')",
            "holds app password 1, whose stored password hash is not accepted: m=8 t=1 p=1 is below the floor",
        ),
    ];
    for (sql, want) in cases {
        let f = Fixture::new();
        let pw = f.generate(U, &["mail"], "Before");
        let backups = private_dir(f.dir.path(), "backups");
        let copy = backups.join("apppass.db");
        assert_eq!(code(&f.apppass(&["backup", copy.to_str().unwrap()])), 0);
        rusqlite::Connection::open(&copy)
            .unwrap()
            .execute_batch(sql)
            .unwrap();
        f.generate(U, &["mail"], "After");
        f.revoke(U, "Before");

        let out = f.apppass(&["restore", copy.to_str().unwrap()]);
        assert_eq!(code(&out), 3, "{sql}: {}", stderr(&out));
        let msg = stderr(&out);
        assert!(
            msg.contains(&format!("the backup {} {want}", copy.display()))
                && msg.contains("restore only backups made by 'apppass backup'"),
            "{msg}"
        );
        assert_eq!(msg.trim_end().lines().count(), 1, "one sentence: {msg}");
        let rows: Vec<String> = f
            .list_json(&["--all"])
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{} {}", r["label"], r["status"]))
            .collect();
        assert_eq!(
            rows,
            ["\"Before\" \"revoked\"", "\"After\" \"active\""],
            "the live store is untouched"
        );
        let extra: i64 = rusqlite::Connection::open(&f.db)
            .unwrap()
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type IN ('trigger', 'view')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(extra, 0);
        f.simple_service("mail");
        assert_ne!(login(&f.confdir, "mail", U, pw.as_bytes()).0, PAM_SUCCESS);
    }
}

#[test]
fn restore_puts_back_a_store_that_cannot_be_opened_and_keeps_the_broken_one() {
    let f = Fixture::new();
    let pw = f.generate(U, &["mail"], "Phone");
    let backups = private_dir(f.dir.path(), "backups");
    let copy = backups.join("apppass.db");
    assert_eq!(code(&f.apppass(&["backup", copy.to_str().unwrap()])), 0);
    std::fs::write(&f.db, vec![0x5a; 8192]).unwrap();
    let out = f.apppass(&["restore", copy.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("moved it aside"), "{}", stderr(&out));
    let aside: Vec<_> = std::fs::read_dir(f.db.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("apppass.db.replaced-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "the broken store is kept");
    assert_eq!(
        std::fs::metadata(&f.db).unwrap().permissions().mode() & 0o777,
        0o600
    );
    f.simple_service("mail");
    assert_eq!(login(&f.confdir, "mail", U, pw.as_bytes()).0, PAM_SUCCESS);
}

#[test]
fn store_errors_name_the_real_cause() {
    let f = Fixture::new();
    // A backup into a directory that does not exist.
    let missing = f.dir.path().join("no-such-dir").join("copy.db");
    let out = f.apppass(&["backup", missing.to_str().unwrap()]);
    assert_eq!(code(&out), 3);
    let msg = stderr(&out);
    assert!(msg.contains("does not exist; create it first"), "{msg}");
    assert!(!msg.contains("root"), "{msg}");

    // A store reached through a symbolic link to its directory's parent.
    let link = f.dir.path().join("link");
    std::os::unix::fs::symlink(f.dir.path(), &link).unwrap();
    let through = link.join("store").join("apppass.db");
    let out = Command::new(apppass_e2e::fixture::apppass_bin())
        .arg("--db")
        .arg(&through)
        .arg("list")
        .output()
        .unwrap();
    assert_eq!(code(&out), 3);
    let msg = stderr(&out);
    assert!(
        msg.contains("symbolic link") && msg.contains(&link.display().to_string()),
        "{msg}"
    );
    assert!(!msg.contains("root"), "{msg}");
}

#[test]
fn a_read_only_file_system_is_named_as_such() {
    if !require_root("a_read_only_file_system_is_named_as_such") {
        return;
    }
    let f = Fixture::uninitialised();
    let mnt = f.db.parent().unwrap();
    std::fs::create_dir(mnt).unwrap();
    let mount = |args: &[&str]| {
        assert!(
            Command::new("mount").args(args).status().unwrap().success(),
            "mount {args:?}"
        );
    };
    mount(&[
        "-t",
        "tmpfs",
        "-o",
        "mode=0700,size=8m",
        "tmpfs",
        mnt.to_str().unwrap(),
    ]);
    let result = std::panic::catch_unwind(|| {
        assert_eq!(code(&f.apppass(&["init"])), 0);
        f.generate(U, &["mail"], "Phone");
        mount(&["-o", "remount,ro", mnt.to_str().unwrap()]);
        let out = f.apppass(&[
            "generate",
            U,
            "--virtual",
            "--service",
            "mail",
            "--label",
            "Two",
        ]);
        assert_eq!(code(&out), 3);
        assert!(
            stderr(&out).contains("read-only file system"),
            "{}",
            stderr(&out)
        );
        assert!(
            stdout(&out).is_empty(),
            "no password printed for a store that cannot keep it"
        );
    });
    let _ = Command::new("umount").arg(mnt).status();
    result.unwrap();
}
