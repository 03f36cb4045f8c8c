//! The module inside one long-lived process, as in Dovecot's auth worker.

use apppass_e2e::fixture::{pam_host, stderr, Fixture};

const USER: &str = "worker@example.org";

fn host(f: &Fixture, password: &str, cycles: usize, every: usize, fork: bool) -> serde_json::Value {
    let (cycles, every) = (cycles.to_string(), every.to_string());
    let mut args = vec!["mail", USER, password, &cycles, &every];
    if fork {
        args.push("fork");
    }
    pam_host(&f.confdir, &args)
}

#[test]
fn five_thousand_logins_in_one_process_leak_nothing() {
    let f = Fixture::new();
    let pw = f.generate(USER, &["mail"], "Worker");
    f.simple_service("mail");
    let r = host(&f, &pw, 5000, 10, true);
    eprintln!("long-lived host: {r}");
    assert_eq!(r["right_ok"], 500, "every right login succeeds");
    assert_eq!(r["right_bad"], 0);
    assert_eq!(r["wrong_ok"], 0, "no wrong login succeeds");
    assert_eq!(r["wrong_bad"], 4500);
    assert_eq!(r["fds_end"], r["fds_baseline"], "no file descriptor leaks");
    assert_eq!(r["threads_end"], 1, "the module starts no threads");
    assert_eq!(r["threads_baseline"], 1);
    let (base, end) = (
        r["rss_kib_baseline"].as_f64().unwrap(),
        r["rss_kib_end"].as_f64().unwrap(),
    );
    assert!(end <= base * 1.5, "RSS grew from {base} KiB to {end} KiB");
    assert_eq!(r["fork_ok"], true, "a login in a forked child works");
    assert_eq!(
        r["parent_after_fork_ok"], true,
        "the parent's kept connection still works after its child logged in"
    );
}

/// The module keeps its SQLite connection between logins. A restore
/// (pages copied into the live file) and a store put back in place (a new
/// file, so a new inode) must both be seen by the next login: a password
/// the restored store does not hold is refused.
#[test]
fn a_kept_connection_sees_a_restore_and_a_store_put_in_place() {
    use apppass_e2e::pam::{login, PAM_SUCCESS};
    let f = Fixture::new();
    f.simple_service("mail");
    let ok = |pw: &str| login(&f.confdir, "mail", USER, pw.as_bytes()).0 == PAM_SUCCESS;
    let old = f.generate(USER, &["mail"], "Old");
    assert!(ok(&old));
    let backup = f.dir.path().join("backup.db");
    let run = |args: &[&str]| {
        let out = f.apppass(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    };
    run(&["backup", backup.to_str().unwrap()]);

    // Restored into the live file, under the connection this process keeps.
    let newer = f.generate(USER, &["mail"], "Newer");
    assert!(ok(&newer));
    run(&["restore", backup.to_str().unwrap()]);
    assert!(!ok(&newer), "the restore took the newer password away");
    assert!(ok(&old));

    // The store deleted and restored: a new file at the same path.
    let newest = f.generate(USER, &["mail"], "Newest");
    assert!(ok(&newest));
    let db = f.db.display().to_string();
    for file in [db.clone(), format!("{db}-wal"), format!("{db}-shm")] {
        let _ = std::fs::remove_file(file);
    }
    run(&["restore", backup.to_str().unwrap()]);
    assert!(
        !ok(&newest),
        "a login read the deleted file through a kept connection"
    );
    assert!(ok(&old));
}
