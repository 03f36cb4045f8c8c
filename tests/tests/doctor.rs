//! `apppass doctor --root DIR`: each finding seeded in a fixture tree of
//! its own, and silence on a clean one.

use apppass_e2e::fixture::{apppass_bin, stderr, stdout};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A mail service's PAM file: app passwords, then the primary password.
const MAIL: &str = "auth sufficient pam_apppass.so\nauth required pam_unix.so try_first_pass\naccount required pam_unix.so\n";

/// A clean host: pam_apppass in the IMAP service only, before pam_unix
/// with try_first_pass; Dovecot 2.3 per protocol with a PAM file for each
/// protocol; an initialised store with its key.
fn clean_tree() -> tempfile::TempDir {
    let root = tempfile::Builder::new()
        .prefix("apppass-doctor-")
        .tempdir()
        .unwrap();
    let r = root.path();
    write(r, "etc/pam.d/common-auth", "auth [success=1 default=ignore] pam_unix.so nullok\nauth requisite pam_deny.so\nauth required pam_permit.so\n");
    write(
        r,
        "etc/pam.d/sudo",
        "@include common-auth\n@include common-account\n",
    );
    for p in ["imap", "pop3"] {
        write(r, &format!("etc/pam.d/{p}"), MAIL);
    }
    write(
        r,
        "etc/dovecot/dovecot.conf",
        "protocols = imap pop3 lmtp\n!include conf.d/*.conf\n",
    );
    write(
        r,
        "etc/dovecot/conf.d/10-auth.conf",
        "auth_mechanisms = plain\npassdb {\n  driver = pam\n  args = %s\n}\n",
    );
    let db = r.join("var/lib/apppass/apppass.db");
    let out = Command::new(apppass_bin())
        .arg("--db")
        .arg(&db)
        .arg("init")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    root
}

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// `apppass doctor --json --root ROOT`, killed (and the test failed) if it
/// takes longer than a doctor ever should.
fn doctor_run(root: &Path) -> Output {
    let mut child = Command::new(apppass_bin())
        .args(["doctor", "--json", "--root"])
        .arg(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("apppass doctor --root {} hung", root.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The findings doctor reports for the tree as JSON, and its exit code.
fn doctor_json(root: &Path) -> (Vec<serde_json::Value>, Option<i32>) {
    let out = doctor_run(root);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    let found = v.as_array().unwrap().clone();
    for f in &found {
        assert!(f["fix"].as_str().is_some_and(|s| !s.is_empty()), "{f}");
    }
    (found, out.status.code())
}

/// The checks doctor reports for the tree, and its exit code.
fn doctor(root: &Path) -> (Vec<(String, String, String)>, Option<i32>) {
    let (found, code) = doctor_json(root);
    let found = found
        .iter()
        .map(|f| {
            (
                f["check"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                format!("{}:{}", f["file"].as_str().unwrap_or(""), f["line"]),
            )
        })
        .collect();
    (found, code)
}

fn checks(found: &[(String, String, String)]) -> Vec<&str> {
    found.iter().map(|(c, _, _)| c.as_str()).collect()
}

#[test]
fn doctor_is_silent_on_a_clean_host_and_finds_each_seeded_problem() {
    let clean = clean_tree();
    assert_eq!(doctor(clean.path()), (vec![], Some(0)), "a clean tree");

    let t = clean_tree();
    write(t.path(), "etc/pam.d/common-auth", "auth sufficient pam_apppass.so\nauth [success=1 default=ignore] pam_unix.so nullok try_first_pass\nauth requisite pam_deny.so\nauth required pam_permit.so\n");
    let (found, code) = doctor(t.path());
    assert_eq!(code, Some(1));
    assert!(
        found.contains(&(
            "pam-common-auth".into(),
            "critical".into(),
            "/etc/pam.d/common-auth:1".into()
        )),
        "{found:?}"
    );

    let t = clean_tree();
    write(
        t.path(),
        "etc/pam.d/su",
        "auth sufficient pam_rootok.so\nauth sufficient pam_apppass.so\n@include common-auth\n",
    );
    let (found, _) = doctor(t.path());
    assert!(
        found.contains(&(
            "pam-privileged-service".into(),
            "critical".into(),
            "/etc/pam.d/su:2".into()
        )),
        "{found:?}"
    );

    let t = clean_tree();
    write(
        t.path(),
        "etc/pam.d/imap",
        "auth sufficient pam_apppass.so\n@include common-auth\n",
    );
    let (found, _) = doctor(t.path());
    assert_eq!(
        checks(&found),
        ["pam-unix-without-try-first-pass"],
        "{found:?}"
    );
    assert_eq!(found[0].2, "/etc/pam.d/common-auth:1");

    let t = clean_tree();
    std::fs::remove_file(t.path().join("etc/pam.d/pop3")).unwrap();
    let (found, _) = doctor(t.path());
    assert_eq!(checks(&found), ["dovecot-pam-service-missing"], "{found:?}");

    // Dovecot 2.4: %{protocol}, and submission without its PAM file.
    let t = clean_tree();
    write(t.path(), "etc/dovecot/dovecot.conf", "dovecot_config_version = 2.4.1\nprotocols = imap submission\npassdb pam {\n  service_name = %{protocol}\n}\n");
    let (found, _) = doctor(t.path());
    assert_eq!(
        found,
        vec![(
            "dovecot-pam-service-missing".into(),
            "warning".into(),
            "/etc/dovecot/dovecot.conf:3".into()
        )]
    );

    let t = clean_tree();
    write(t.path(), "etc/dovecot/conf.d/10-auth.conf", "auth_cache_size = 10M\nauth_cache_ttl = 1 hour\npassdb {\n  driver = pam\n  args = cache_key=%u%s %s\n}\n");
    let (found, _) = doctor(t.path());
    assert_eq!(
        found,
        vec![(
            "dovecot-auth-cache-ttl".into(),
            "warning".into(),
            "/etc/dovecot/conf.d/10-auth.conf:2".into()
        )]
    );

    let t = clean_tree();
    let db = t.path().join("var/lib/apppass/apppass.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (found, _) = doctor(t.path());
    assert_eq!(checks(&found), ["permissions"], "{found:?}");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (found, _) = doctor(t.path());
    assert_eq!(checks(&found), ["store-readable"], "{found:?}");

    let t = clean_tree();
    std::fs::remove_file(t.path().join("var/lib/apppass/key")).unwrap();
    let (found, _) = doctor(t.path());
    assert_eq!(checks(&found), ["key-missing"], "{found:?}");

    let t = clean_tree();
    write(
        t.path(),
        "etc/apppass/apppass.conf",
        "store = postgresql\nconninfo = host=db dbname=apppass user=login password=secret\n",
    );
    std::fs::set_permissions(
        t.path().join("etc/apppass/apppass.conf"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let (found, _) = doctor(t.path());
    assert!(
        checks(&found).contains(&"config-password-readable"),
        "{found:?}"
    );
    assert!(
        checks(&found).contains(&"key-missing"),
        "the server key /etc/apppass/key: {found:?}"
    );

    // Text output names severity, place and fix.
    let out = Command::new(apppass_bin())
        .args(["doctor", "--root"])
        .arg(t.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("critical: /etc/apppass/apppass.conf: ")
            && stdout(&out).contains("  fix: chmod 0640"),
        "{}",
        stdout(&out)
    );
}

/// A trigger added to the live store runs inside every change apppass
/// makes (this one undoes each revoke as it is written): critical. A view
/// changes nothing apppass does: a warning. Both named, with the store.
#[test]
fn doctor_reports_a_trigger_or_view_added_to_the_store() {
    let t = clean_tree();
    let db = t.path().join("var/lib/apppass/apppass.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER keep_alive AFTER UPDATE OF revoked_at ON passwords
             BEGIN UPDATE passwords SET revoked_at = NULL WHERE id = NEW.id; END;
             CREATE VIEW active AS SELECT id FROM passwords WHERE revoked_at IS NULL;",
        )
        .unwrap();
    let (found, code) = doctor(t.path());
    assert_eq!(code, Some(1));
    let place = "/var/lib/apppass/apppass.db:null".to_string();
    assert_eq!(
        found,
        vec![
            ("store-schema".into(), "critical".into(), place.clone()),
            ("store-schema".into(), "warning".into(), place),
        ]
    );
    let out = Command::new(apppass_bin())
        .args(["doctor", "--root"])
        .arg(t.path())
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("critical: /var/lib/apppass/apppass.db: the store /var/lib/apppass/apppass.db holds a trigger 'keep_alive' that apppass does not make")
            && text.contains("warning: /var/lib/apppass/apppass.db: the store /var/lib/apppass/apppass.db holds a view 'active' that apppass does not make"),
        "{text}"
    );
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// A file of `len` bytes that takes no room: a hole.
fn sparse(path: &Path, len: u64) {
    std::fs::File::create(path).unwrap().set_len(len).unwrap();
}

/// A FIFO, a link to /dev/zero, a directory or a 2 GB file where a
/// configuration file belongs: each one a finding within the deadline of
/// [`doctor_run`], never a hang or an endless read.
#[test]
fn doctor_reports_odd_configuration_files_instead_of_hanging() {
    let conf = "etc/apppass/apppass.conf";
    let t = clean_tree();
    std::fs::create_dir_all(t.path().join("etc/apppass")).unwrap();
    mkfifo(&t.path().join(conf));
    assert_eq!(
        doctor(t.path()).0,
        [(
            "permissions".into(),
            "critical".into(),
            "/etc/apppass/apppass.conf:null".into()
        )],
        "a FIFO as the configuration file"
    );

    let t = clean_tree();
    mkfifo(&t.path().join("etc/dovecot/conf.d/20-fifo.conf"));
    assert_eq!(
        doctor(t.path()).0,
        [(
            "odd-file".into(),
            "critical".into(),
            "/etc/dovecot/conf.d/20-fifo.conf:null".into()
        )],
        "a FIFO as a Dovecot file"
    );

    let t = clean_tree();
    std::fs::create_dir_all(t.path().join("etc/apppass")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", t.path().join(conf)).unwrap();
    assert_eq!(
        doctor(t.path()).0,
        [(
            "permissions".into(),
            "critical".into(),
            "/etc/apppass/apppass.conf:null".into()
        )],
        "a link to /dev/zero as the configuration file"
    );

    let t = clean_tree();
    std::fs::remove_file(t.path().join("etc/pam.d/common-auth")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", t.path().join("etc/pam.d/common-auth")).unwrap();
    let (found, _) = doctor_json(t.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["check"], "odd-file");
    assert_eq!(found[0]["file"], "/etc/pam.d/common-auth");
    assert!(
        found[0]["problem"]
            .as_str()
            .unwrap()
            .contains("a symbolic link to a device"),
        "{found:?}"
    );

    let t = clean_tree();
    std::fs::create_dir(t.path().join("etc/dovecot/conf.d/30-dir.conf")).unwrap();
    assert_eq!(
        checks(&doctor(t.path()).0),
        ["odd-file"],
        "a directory as a Dovecot file"
    );

    let t = clean_tree();
    sparse(&t.path().join("etc/dovecot/dovecot.conf"), 2 << 30);
    assert_eq!(
        doctor(t.path()).0,
        [(
            "file-too-large".into(),
            "warning".into(),
            "/etc/dovecot/dovecot.conf:null".into()
        )],
        "a 2 GB dovecot.conf"
    );

    let t = clean_tree();
    std::fs::create_dir_all(t.path().join("etc/apppass")).unwrap();
    sparse(&t.path().join(conf), 2 << 30);
    std::fs::set_permissions(t.path().join(conf), std::fs::Permissions::from_mode(0o600)).unwrap();
    let (found, _) = doctor_json(t.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["check"], "config-invalid");
    assert!(
        found[0]["problem"]
            .as_str()
            .unwrap()
            .contains("larger than 65536 bytes"),
        "as pam_apppass refuses it: {found:?}"
    );
}
