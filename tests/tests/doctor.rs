//! `apppass doctor --root DIR`: each finding seeded in a fixture tree of
//! its own, and silence on a clean one.

use apppass_core::doctor::{examine, Inputs};
use apppass_e2e::debian13::{snippet, Debian13};
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

    // The shipped key, a long TTL and no watcher: the TTL.
    let t = clean_tree();
    write(t.path(), "etc/dovecot/conf.d/10-auth.conf", "auth_cache_size = 10M\nauth_cache_ttl = 1 hour\npassdb {\n  driver = pam\n  args = cache_key=%u%s%r %s\n}\n");
    let (found, _) = doctor(t.path());
    assert_eq!(
        found,
        vec![(
            "dovecot-auth-cache-ttl".into(),
            "warning".into(),
            "/etc/dovecot/conf.d/10-auth.conf:2".into()
        )]
    );
    // A key without the client's address (the one shipped before).
    write(t.path(), "etc/dovecot/conf.d/10-auth.conf", "auth_cache_size = 10M\nauth_cache_ttl = 5 mins\npassdb {\n  driver = pam\n  args = cache_key=%u%s %s\n}\n");
    let (found, _) = doctor(t.path());
    assert_eq!(
        found,
        vec![(
            "dovecot-auth-cache-key".into(),
            "warning".into(),
            "/etc/dovecot/conf.d/10-auth.conf:3".into()
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

/// Each shipped Dovecot form, with the PAM service whose file is removed
/// to see the doctor name it: the snippets included, the service.
const FORMS: &[(&[&str], &str)] = &[
    (&["auth-apppass-single.conf.ext"], "dovecot"),
    (&["auth-apppass-protocols.conf.ext"], "pop3"),
    (&["auth-apppass-service.conf.ext"], "pop3"),
    (
        &[
            "auth-apppass-service.conf.ext",
            "apppass-postfix-sasl.conf.ext",
        ],
        "smtp",
    ),
];

/// A clean host whose Dovecot (`version` 2.3 or 2.4) includes the shipped
/// `snippets` as they are, with a PAM file for every service they name.
fn dovecot_tree(version: &str, snippets: &[&str]) -> tempfile::TempDir {
    let t = clean_tree();
    let r = t.path();
    std::fs::remove_file(r.join("etc/dovecot/conf.d/10-auth.conf")).unwrap();
    for p in ["imap", "pop3", "submission", "smtp", "dovecot"] {
        write(r, &format!("etc/pam.d/{p}"), MAIL);
    }
    let mut conf = String::new();
    if version == "2.4" {
        conf.push_str("dovecot_config_version = 2.4.1\ndovecot_storage_version = 2.4.1\n");
    }
    conf.push_str("protocols = imap pop3 submission\nssl = no\n");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/dovecot");
    for s in snippets {
        std::fs::copy(
            shipped.join(version).join(s),
            r.join("etc/dovecot/conf.d").join(s),
        )
        .unwrap();
        conf.push_str(&format!("!include conf.d/{s}\n"));
    }
    write(r, "etc/dovecot/dovecot.conf", &conf);
    t
}

/// The PAM services named by dovecot-pam-service-missing findings.
fn missing_services<'a>(checks: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    checks
        .filter(|(check, _)| *check == "dovecot-pam-service-missing")
        .map(|(_, problem)| {
            problem
                .split_once("the service '")
                .and_then(|(_, rest)| rest.split_once('\''))
                .unwrap_or_else(|| panic!("no service named: {problem}"))
                .0
                .to_string()
        })
        .collect()
}

#[test]
fn doctor_names_the_service_without_a_pam_file_in_each_shipped_dovecot_form() {
    for version in ["2.3", "2.4"] {
        for (snippets, service) in FORMS {
            let t = dovecot_tree(version, snippets);
            assert_eq!(
                doctor(t.path()),
                (vec![], Some(0)),
                "{version} {snippets:?} with every PAM file"
            );
            std::fs::remove_file(t.path().join("etc/pam.d").join(service)).unwrap();
            let (found, code) = doctor_json(t.path());
            let named = missing_services(
                found
                    .iter()
                    .map(|f| (f["check"].as_str().unwrap(), f["problem"].as_str().unwrap())),
            );
            assert_eq!(named, [*service], "{version} {snippets:?}: {found:?}");
            assert_eq!(code, Some(1));
        }
    }
}

/// What Dovecot 2.3 really uses, as `apppass doctor` reads it on a host:
/// `doveconf -n`, which hides the cache key in `args` behind
/// `cache_key=#hidden_use-P_to_show#`. The doctor used to take that `#`
/// for a comment, fall back to the service `dovecot` (whose file exists
/// here) and find nothing, while POP3 went through /etc/pam.d/other.
#[test]
fn doctor_reads_the_hidden_cache_key_in_doveconf_output_of_each_shipped_2_3_form() {
    for (snippets, service) in FORMS {
        let t = dovecot_tree("2.3", snippets);
        let out = Command::new("doveconf")
            .arg("-n")
            .arg("-c")
            .arg(t.path().join("etc/dovecot/dovecot.conf"))
            .output()
            .expect("doveconf (dovecot-core) is installed");
        assert!(out.status.success(), "{}", stderr(&out));
        let inputs = Inputs {
            doveconf: Some(stdout(&out)),
            schema: None,
        };
        assert!(
            stdout(&out).contains("args = cache_key=#hidden_use-P_to_show# "),
            "{}",
            stdout(&out)
        );
        let named = |root: &Path| {
            let found = examine(root, &inputs);
            missing_services(found.iter().map(|f| (f.check, f.problem.as_str())))
        };
        assert_eq!(named(t.path()), Vec::<String>::new(), "{snippets:?}");
        std::fs::remove_file(t.path().join("etc/pam.d").join(service)).unwrap();
        assert_eq!(
            named(t.path()),
            [*service],
            "{snippets:?}: {}",
            stdout(&out)
        );
    }
}

/// With Dovecot 2.3's auth cache on, each shipped form keys it on the
/// client's address, which doveconf -n hides: the doctor reads the key in
/// the files, says nothing of the shipped one and warns of the key shipped
/// before (`%u%s`, `%u`), which let a `--from` password in from anywhere.
#[test]
fn doctor_warns_of_a_2_3_cache_key_without_the_client_address_behind_doveconf() {
    for (snippets, _) in FORMS {
        let t = dovecot_tree("2.3", snippets);
        let conf = t.path().join("etc/dovecot/dovecot.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str("auth_cache_size = 1M\nauth_cache_ttl = 1 min\n");
        std::fs::write(&conf, text).unwrap();
        let keyed = |root: &Path| {
            let out = Command::new("doveconf")
                .arg("-n")
                .arg("-c")
                .arg(root.join("etc/dovecot/dovecot.conf"))
                .output()
                .expect("doveconf (dovecot-core) is installed");
            assert!(out.status.success(), "{}", stderr(&out));
            assert!(stdout(&out).contains("cache_key=#hidden_use-P_to_show#"));
            let inputs = Inputs {
                doveconf: Some(stdout(&out)),
                schema: None,
            };
            examine(root, &inputs)
                .into_iter()
                .filter(|f| f.check == "dovecot-auth-cache-key")
                .count()
        };
        assert_eq!(keyed(t.path()), 0, "{snippets:?} as shipped");
        for s in *snippets {
            let file = t.path().join("etc/dovecot/conf.d").join(s);
            let text = std::fs::read_to_string(&file).unwrap();
            std::fs::write(&file, text.replace("%r ", " ")).unwrap();
        }
        assert_eq!(keyed(t.path()), 1, "{snippets:?} without %r");
    }
}

/// `primary = dovecot`: the auth-master socket apppass.conf names must be
/// there, the sweep's timer enabled where systemd runs, and Dovecot's auth
/// cache (which hides a reset until it expires) is worth a warning.
#[test]
fn doctor_checks_what_primary_dovecot_needs() {
    let t = clean_tree();
    let r = t.path();
    let conf = "primary = dovecot\ndovecot_auth_master = /run/dovecot/auth-master\n";
    write(r, "etc/apppass/apppass.conf", conf);
    std::fs::set_permissions(
        r.join("etc/apppass/apppass.conf"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let (found, _) = doctor(r);
    assert_eq!(checks(&found), ["primary-dovecot-socket"], "{found:?}");

    std::fs::create_dir_all(r.join("run/dovecot")).unwrap();
    let _socket =
        std::os::unix::net::UnixListener::bind(r.join("run/dovecot/auth-master")).unwrap();
    let (found, _) = doctor(r);
    assert!(checks(&found).is_empty(), "{found:?}");

    // Where systemd runs, the timer must be enabled.
    std::fs::create_dir_all(r.join("run/systemd/system")).unwrap();
    let (found, _) = doctor(r);
    assert_eq!(checks(&found), ["primary-timer"], "{found:?}");
    std::fs::create_dir_all(r.join("etc/systemd/system/timers.target.wants")).unwrap();
    std::os::unix::fs::symlink(
        "/lib/systemd/system/apppass-check-primary.timer",
        r.join("etc/systemd/system/timers.target.wants/apppass-check-primary.timer"),
    )
    .unwrap();
    let (found, _) = doctor(r);
    assert!(checks(&found).is_empty(), "{found:?}");

    // Dovecot's auth cache on: a reset is seen late.
    write(
        r,
        "etc/dovecot/conf.d/10-auth.conf",
        "auth_mechanisms = plain\nauth_cache_size = 1M\nauth_cache_ttl = 1 min\npassdb {\n  driver = pam\n  args = %s\n}\n",
    );
    let (found, _) = doctor(r);
    assert_eq!(checks(&found), ["primary-dovecot-cache"], "{found:?}");

    // A user with an app password and no fingerprint: a reset revokes
    // nothing, which the doctor says.
    write(
        r,
        "etc/dovecot/conf.d/10-auth.conf",
        "auth_mechanisms = plain\npassdb {\n  driver = pam\n  args = %s\n}\n",
    );
    let out = Command::new(apppass_bin())
        .arg("--db")
        .arg(r.join("var/lib/apppass/apppass.db"))
        .args([
            "generate",
            "ann@example.org",
            "--virtual",
            "--service",
            "imap",
            "--label",
            "Phone",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let (found, _) = doctor(r);
    assert_eq!(checks(&found), ["primary-no-fingerprint"], "{found:?}");
}

/// `primary = ldap`: the bind password file must be private and hold a
/// password, and the CA file readable.
#[test]
fn doctor_checks_the_ldap_bind_password_and_ca_files() {
    let t = clean_tree();
    let r = t.path();
    write(
        r,
        "etc/apppass/apppass.conf",
        "primary = ldap\nldap_uri = ldaps://ldap.example.org\nldap_base = ou=people,dc=example,dc=org\nldap_ca_file = /etc/apppass/ca.pem\nldap_bind_dn = cn=apppass,dc=example,dc=org\nldap_bind_password_file = /etc/apppass/ldap.secret\n",
    );
    write(r, "etc/apppass/ca.pem", "-----BEGIN CERTIFICATE-----\n");
    write(r, "etc/apppass/ldap.secret", "bind-secret\n");
    let secret = r.join("etc/apppass/ldap.secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (found, _) = doctor(r);
    assert!(checks(&found).is_empty(), "{found:?}");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (found, _) = doctor(r);
    assert_eq!(checks(&found), ["primary-bind-password"], "{found:?}");
    let (json, _) = doctor_json(r);
    assert!(!format!("{json:?}").contains("bind-secret"), "{json:?}");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::remove_file(r.join("etc/apppass/ca.pem")).unwrap();
    let (found, _) = doctor(r);
    assert_eq!(checks(&found), ["primary-ca-file"], "{found:?}");
}

/// Files of the Debian 13 root as they were, put back on drop.
struct Saved(&'static Debian13, Vec<(String, Option<Vec<u8>>)>);

impl Saved {
    fn write(&mut self, inside: &str, text: &str) {
        if !self.1.iter().any(|(p, _)| p == inside) {
            let before = std::fs::read(self.0.host(inside)).ok();
            self.1.push((inside.to_string(), before));
        }
        self.0.write(inside, text);
    }
}

impl Drop for Saved {
    fn drop(&mut self) {
        for (inside, before) in self.1.drain(..).rev() {
            let _ = match before {
                Some(b) => std::fs::write(self.0.host(&inside), b),
                None => std::fs::remove_file(self.0.host(&inside)),
            };
        }
    }
}

/// On a Debian 13 host, as an administrator runs it: `apppass doctor`
/// reads Dovecot 2.4 through its own `doveconf -n`, with each shipped 2.4
/// form included from /etc/dovecot/dovecot.conf.
#[test]
fn debian13_doctor_names_the_service_without_a_pam_file_in_each_2_4_form() {
    let Some((_turn, root)) =
        Debian13::enter("debian13_doctor_names_the_service_without_a_pam_file_in_each_2_4_form")
    else {
        return;
    };
    let scratch = root.scratch();
    let mut saved = Saved(root, Vec::new());
    let named = || {
        let out = root.apppass(&["doctor", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&stdout(&out))
            .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
        missing_services(
            v.as_array()
                .unwrap()
                .iter()
                .map(|f| (f["check"].as_str().unwrap(), f["problem"].as_str().unwrap())),
        )
    };
    for (snippets, service) in FORMS {
        let mut conf = "dovecot_config_version = 2.4.1\ndovecot_storage_version = 2.4.1\n\
                        protocols = imap pop3 submission\nssl = no\n"
            .to_string();
        for s in *snippets {
            std::fs::copy(snippet(s), scratch.dir.path().join(s)).unwrap();
            conf.push_str(&format!("!include {}\n", scratch.inside(s)));
        }
        saved.write("/etc/dovecot/dovecot.conf", &conf);
        for p in ["imap", "pop3", "submission", "smtp", "dovecot"] {
            saved.write(&format!("/etc/pam.d/{p}"), MAIL);
        }
        assert_eq!(named(), Vec::<String>::new(), "{snippets:?}");
        std::fs::remove_file(root.host(&format!("/etc/pam.d/{service}"))).unwrap();
        assert_eq!(named(), [*service], "{snippets:?}");

        // The auth cache on: the shipped fields key it on the client's
        // address; without them 2.4 keys it on user and service only.
        let keyed = || {
            let out = root.apppass(&["doctor", "--json"]);
            let v: serde_json::Value = serde_json::from_str(&stdout(&out))
                .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
            v.as_array()
                .unwrap()
                .iter()
                .filter(|f| f["check"] == "dovecot-auth-cache-key")
                .count()
        };
        saved.write(
            "/etc/dovecot/dovecot.conf",
            &format!("{conf}auth_cache_size = 1M\nauth_cache_ttl = 1 min\n"),
        );
        assert_eq!(keyed(), 0, "{snippets:?} as shipped, cache on");
        for s in *snippets {
            let file = scratch.dir.path().join(s);
            let text = std::fs::read_to_string(&file).unwrap();
            let without = text.replace("apppass_client = %{remote_ip}", "");
            std::fs::write(&file, without).unwrap();
        }
        assert_eq!(keyed(), 1, "{snippets:?} without apppass_client, cache on");
    }
}

/// `entitled-group` naming a group that was removed since: every system
/// user's app password is refused, which the doctor says.
#[test]
fn doctor_reports_an_entitled_group_that_is_gone() {
    if !apppass_e2e::system::require_root("doctor_reports_an_entitled_group_that_is_gone") {
        return;
    }
    let root = clean_tree();
    let r = root.path();
    let g = apppass_e2e::system::SystemGroup::new();
    let out = Command::new(apppass_bin())
        .arg("--db")
        .arg(r.join("var/lib/apppass/apppass.db"))
        .args(["config", "entitled-group", &g.name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let (found, _) = doctor(r);
    assert!(checks(&found).is_empty(), "{found:?}");
    let name = g.name.clone();
    drop(g);
    let (found, _) = doctor(r);
    assert_eq!(checks(&found), ["entitled-group-missing"], "{found:?}");
    let (json, _) = doctor_json(r);
    let problem = json[0]["problem"].as_str().unwrap_or_default();
    assert!(problem.contains(&name), "{json:?}");
}

/// `primary_until=`: a stack that still lets the primary password through
/// after the date, or that would refuse app passwords, is reported.
#[test]
fn doctor_checks_the_primary_until_form() {
    let root = clean_tree();
    let r = root.path();
    let unix = "auth required pam_unix.so try_first_pass\naccount sufficient pam_apppass.so\naccount required pam_unix.so\n";
    let good = format!("auth [success=done ignore=ignore default=die] pam_apppass.so primary_until=2020-01-01\n{unix}");
    write(r, "etc/pam.d/imap", &good);
    let (found, _) = doctor(r);
    assert!(checks(&found).is_empty(), "{found:?}");
    for (stack, severity) in [
        (format!("auth sufficient pam_apppass.so primary_until=2020-01-01\n{unix}"), "critical"),
        (format!("auth sufficient pam_apppass.so primary_until=enrolled\n{unix}"), "critical"),
        (
            format!("auth sufficient pam_unix.so try_first_pass\nauth [success=done ignore=ignore default=die] pam_apppass.so primary_until=2020-01-01\n{unix}"),
            "critical",
        ),
        (format!("auth required pam_apppass.so primary_until=2999-01-01\n{unix}"), "warning"),
    ] {
        write(r, "etc/pam.d/imap", &stack);
        let (found, _) = doctor(r);
        let ours: Vec<_> = found.iter().filter(|f| f.0 == "pam-primary-until").collect();
        assert_eq!(ours.len(), 1, "{stack}: {found:?}");
        assert_eq!(ours[0].1, severity, "{stack}: {found:?}");
        assert!(ours[0].2.starts_with("/etc/pam.d/imap:"), "{found:?}");
    }
}
