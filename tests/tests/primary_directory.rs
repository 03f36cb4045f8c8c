//! The wipe rule for users whose primary password lives in Dovecot's SQL
//! passdb (`primary = dovecot`): a private Dovecot with a real SQLite
//! passdb, the module in its auth worker asking Dovecot's auth-master
//! socket, IMAP clients logging in, and the row updated as an
//! administrator's tool updates it.

use apppass_e2e::clients::imap_login;
use apppass_e2e::dovecot::{Dovecot, Options, Passdb};
use apppass_e2e::fixture::{stderr, Fixture};
use apppass_e2e::pam::{login, PAM_AUTHINFO_UNAVAIL, PAM_AUTH_ERR, PAM_SUCCESS};
use apppass_e2e::sqlpassdb::SqlPassdb;
use apppass_e2e::system::require_root;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const ANN: &str = "ann@example.org";
const BOB: &str = "bob@example.org";
const STACK: &str = "auth sufficient @MODULE@ db=@DB@\nauth requisite pam_deny.so\n\
                     account sufficient @MODULE@ db=@DB@\naccount required pam_deny.so\n";

fn here() -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2)
}

/// A store named by a configuration file, a Dovecot whose passdb is SQL
/// (the login passdb first, then PAM for app passwords) and, with
/// `for_apppass`, the passdb only the service `apppass` sees; apppass.conf
/// says `primary = dovecot` with that Dovecot's auth-master socket.
fn setup(for_apppass: bool) -> (Fixture, SqlPassdb, Dovecot) {
    let sql = SqlPassdb::create();
    sql.set_password(ANN, "Ann-Primary-1!");
    sql.set_password(BOB, "Bob-Primary-1!");
    let (f, dc) = with_dovecot(sql.passdbs(for_apppass));
    (f, sql, dc)
}

/// A store named by a configuration file and a Dovecot with `passdbs`
/// first, then PAM for app passwords; apppass.conf says `primary =
/// dovecot` with that Dovecot's auth-master socket.
fn with_dovecot(passdbs: String) -> (Fixture, Dovecot) {
    let mut f = Fixture::new();
    f.configure("");
    let dc = Dovecot::start(
        &f,
        Options {
            passdb: Passdb::FirstThenPerProtocol(passdbs),
            cache: false,
            stack: STACK.into(),
            files_for: vec!["imap"],
        },
    );
    f.configure(&format!(
        "primary = dovecot\ndovecot_auth_master = {}\n",
        dc.auth_master().display()
    ));
    (f, dc)
}

/// `apppass ARGS…`, which must succeed: the password it printed, and
/// what it said on stderr.
fn issued(f: &Fixture, args: &[&str]) -> (String, String) {
    let out = f.apppass(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    let said = stderr(&out);
    let pw = String::from_utf8(out.stdout).unwrap();
    (pw.trim_end().to_string(), said)
}

fn generate(f: &Fixture, dc: &Dovecot, user: &str) -> (String, String) {
    let conf = dc.conf.to_str().unwrap();
    let service = dc.service("imap");
    issued(
        f,
        &[
            "--dovecot-config",
            conf,
            "generate",
            user,
            "--virtual",
            "--service",
            &service,
            "--label",
            "Phone",
        ],
    )
}

fn sources(f: &Fixture) -> Vec<(String, String)> {
    let c = rusqlite::Connection::open(&f.db).unwrap();
    let mut stmt = c
        .prepare("SELECT user, source FROM fingerprints ORDER BY user")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_reset_in_dovecots_sql_passdb_wipes_that_users_app_passwords() {
    if !require_root("a_reset_in_dovecots_sql_passdb_wipes_that_users_app_passwords") {
        return;
    }
    let (f, sql, dc) = setup(true);
    let (ann, said) = generate(&f, &dc, ANN);
    assert!(!said.contains("fingerprint"), "{said}");
    let (bob, _) = generate(&f, &dc, BOB);
    assert_eq!(
        sources(&f),
        [
            (ANN.into(), "dovecot".into()),
            (BOB.into(), "dovecot".into())
        ]
    );
    // The primary password still logs in through the SQL passdb, the app
    // password through the module.
    assert!(
        imap_login(dc.imap, here(), ANN, "Ann-Primary-1!"),
        "{}",
        dc.log()
    );
    assert!(imap_login(dc.imap, here(), ANN, &ann), "{}", dc.log());

    sql.set_password(ANN, "Ann-Primary-2!");
    assert!(
        !imap_login(dc.imap, here(), ANN, &ann),
        "the app password outlived the reset\n{}",
        dc.log()
    );
    let history = f.history_json(ANN);
    assert!(
        history.to_string().contains("primary password changed"),
        "{history}"
    );
    assert_eq!(f.active(ANN), 0);
    // Bob's row did not change: his password still works.
    assert!(imap_login(dc.imap, here(), BOB, &bob), "{}", dc.log());
    // The hash never reaches Dovecot's login processes or its log.
    let out = std::process::Command::new("doveadm")
        .arg("-c")
        .arg(&dc.conf)
        .args(["auth", "lookup", "-x", "service=imap", BOB])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("apppass_primary"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!dc.log().contains("$6$"), "a hash in Dovecot's log");
}

#[test]
fn a_passdb_without_the_field_records_no_fingerprint_and_says_so() {
    if !require_root("a_passdb_without_the_field_records_no_fingerprint_and_says_so") {
        return;
    }
    let (f, sql, dc) = setup(false);
    let (ann, said) = generate(&f, &dc, ANN);
    assert!(
        said.contains("Dovecot's passdb gives nothing to fingerprint")
            && said.contains("apppass check-primary"),
        "{said}"
    );
    assert!(sources(&f).is_empty());
    // Without a fingerprint nothing is compared: the password keeps working.
    sql.set_password(ANN, "Ann-Primary-2!");
    assert!(imap_login(dc.imap, here(), ANN, &ann), "{}", dc.log());
}

#[test]
fn dovecot_down_fails_closed_and_revokes_nothing() {
    if !require_root("dovecot_down_fails_closed_and_revokes_nothing") {
        return;
    }
    let (f, _sql, dc) = setup(true);
    let (ann, _) = generate(&f, &dc, ANN);
    // The module alone, through libpam as any PAM host asks it: its own
    // answer is the stack's.
    let service = dc.service("imap");
    f.service(&service, "auth required @MODULE@ db=@DB@\n");
    assert_eq!(
        login(&f.confdir, &service, ANN, ann.as_bytes()).0,
        PAM_SUCCESS
    );
    dc.stop();
    let started = Instant::now();
    let (rc, _) = login(&f.confdir, &service, ANN, ann.as_bytes());
    assert_eq!(rc, PAM_AUTHINFO_UNAVAIL);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(f.active(ANN), 1, "nothing revoked");
    // generate refuses rather than issue a password without a fingerprint.
    let out = f.apppass(&[
        "generate",
        ANN,
        "--virtual",
        "--service",
        &service,
        "--label",
        "Laptop",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot check the primary-password fingerprint"),
        "{}",
        stderr(&out)
    );
    // A wrong password never asks Dovecot: refused as ever.
    assert_eq!(
        login(&f.confdir, &service, ANN, b"aaaa-bbbb-cccc-dddd").0,
        PAM_AUTH_ERR
    );
    dc.start_again();
    assert_eq!(
        login(&f.confdir, &service, ANN, ann.as_bytes()).0,
        PAM_SUCCESS
    );
}

#[test]
fn a_system_account_dovecot_does_not_know_keeps_the_shadow_rule() {
    if !require_root("a_system_account_dovecot_does_not_know_keeps_the_shadow_rule") {
        return;
    }
    let user = apppass_e2e::system::SystemUser::new("Sys-Primary-1!");
    let (f, _sql, dc) = setup(true);
    let out = f.apppass(&[
        "generate",
        &user.name,
        "--service",
        &dc.service("imap"),
        "--label",
        "Phone",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pw = String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string();
    assert_eq!(sources(&f), [(user.name.clone(), "shadow".into())]);
    let service = dc.service("imap");
    f.service(&service, STACK);
    assert_eq!(
        login(&f.confdir, &service, &user.name, pw.as_bytes()).0,
        PAM_SUCCESS
    );
    user.chpasswd("Sys-Primary-2!");
    assert_eq!(
        login(&f.confdir, &service, &user.name, pw.as_bytes()).0,
        PAM_AUTH_ERR
    );
    assert_eq!(f.active(&user.name), 0);
}

// ---- primary = ldap: a private slapd, the module through real libpam ----

use apppass_e2e::slapd::{self, Slapd, BASE, BIND_DN};

/// The module alone: its own answer (AUTHINFO_UNAVAIL included) is the
/// stack's.
const LDAP_STACK: &str = "auth required @MODULE@ db=@DB@\n";

/// A store named by a configuration file with `primary = ldap` and
/// `lines`, and a PAM service `mail` asking the module.
fn ldap_fixture(lines: &str) -> Fixture {
    let mut f = Fixture::new();
    f.configure(&format!("primary = ldap\n{lines}"));
    f.service("mail", LDAP_STACK);
    f
}

/// ldaps://, the bind DN that may read userPassword.
fn ldaps_lines(ldap: &Slapd) -> String {
    format!(
        "ldap_uri = {}\nldap_ca_file = {}\nldap_base = {BASE}\nldap_bind_dn = {BIND_DN}\nldap_bind_password_file = {}\n",
        ldap.ldaps_uri(),
        ldap.ca().display(),
        ldap.bind_secret_file().display()
    )
}

fn issue(f: &Fixture, user: &str, label: &str) -> (String, String) {
    issued(
        f,
        &[
            "generate",
            user,
            "--virtual",
            "--service",
            "mail",
            "--label",
            label,
        ],
    )
}

/// A login through libpam on another thread, so that a lookup that never
/// ends fails the test instead of hanging it: the code, and how long.
fn login_within(f: &Fixture, user: &str, pw: &str, limit: Duration) -> (i32, Duration) {
    let (confdir, user, pw) = (f.confdir.clone(), user.to_string(), pw.to_string());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let started = Instant::now();
        let (rc, _) = login(&confdir, "mail", &user, pw.as_bytes());
        let _ = tx.send((rc, started.elapsed()));
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("the login did not end within {limit:?}"))
}

/// The module's answer to a login, within 10 s.
fn code(f: &Fixture, user: &str, pw: &str) -> i32 {
    login_within(f, user, pw, Duration::from_secs(10)).0
}

fn ldap_ready(test: &str) -> bool {
    if !require_root(test) {
        return false;
    }
    if !slapd::available() {
        eprintln!("*** SKIPPED {test}: slapd and ldap-utils are not installed (make test-deps)");
        return false;
    }
    true
}

#[test]
fn a_reset_with_ldappasswd_wipes_that_users_app_passwords() {
    if !ldap_ready("a_reset_with_ldappasswd_wipes_that_users_app_passwords") {
        return;
    }
    let ldap = Slapd::start(&[("alice", "Alice-1!"), ("bob", "Bob-1!")]);
    let f = ldap_fixture(&ldaps_lines(&ldap));
    let (alice, said) = issue(&f, "alice", "Phone");
    assert!(!said.contains("fingerprint"), "{said}");
    let (bob, _) = issue(&f, "bob", "Phone");
    assert_eq!(
        sources(&f),
        [
            ("alice".into(), "ldap".into()),
            ("bob".into(), "ldap".into())
        ]
    );
    assert_eq!(code(&f, "alice", &alice), PAM_SUCCESS);
    ldap.passwd("alice", "Alice-2!");
    assert_eq!(code(&f, "alice", &alice), PAM_AUTH_ERR);
    assert_eq!(f.active("alice"), 0);
    assert!(f
        .history_json("alice")
        .to_string()
        .contains("primary password changed"));
    assert_eq!(code(&f, "bob", &bob), PAM_SUCCESS);
}

#[test]
fn pwdchangedtime_over_starttls_wipes_and_a_user_without_it_gets_no_fingerprint() {
    if !ldap_ready("pwdchangedtime_over_starttls_wipes_and_a_user_without_it_gets_no_fingerprint") {
        return;
    }
    let ldap = Slapd::start(&[("alice", "Alice-1!"), ("carol", "Carol-1!")]);
    // Anonymous: pwdChangedTime needs no right to read userPassword.
    let f = ldap_fixture(&format!(
        "ldap_uri = {}\nldap_starttls = yes\nldap_ca_file = {}\nldap_base = {BASE}\nldap_attribute = pwdChangedTime\n",
        ldap.ldap_uri(),
        ldap.ca().display()
    ));
    // Loaded without a change, alice has no pwdChangedTime yet: a first
    // change stamps it.
    ldap.passwd("alice", "Alice-1b!");
    let (alice, said) = issue(&f, "alice", "Phone");
    assert!(!said.contains("fingerprint"), "{said}");
    let (carol, said) = issue(&f, "carol", "Phone");
    assert!(
        said.contains("the LDAP directory gives nothing to fingerprint"),
        "{said}"
    );
    assert_eq!(sources(&f), [("alice".into(), "ldap".into())]);
    assert_eq!(code(&f, "alice", &alice), PAM_SUCCESS);
    // pwdChangedTime has one-second resolution.
    std::thread::sleep(Duration::from_millis(1100));
    ldap.passwd("alice", "Alice-2!");
    assert_eq!(code(&f, "alice", &alice), PAM_AUTH_ERR);
    assert_eq!(f.active("alice"), 0);
    // carol had no fingerprint: her reset is not seen by the login; the
    // sweep takes her fingerprint now that the attribute is there.
    ldap.passwd("carol", "Carol-2!");
    assert_eq!(code(&f, "carol", &carol), PAM_SUCCESS);
    let out = f.apppass(&["check-primary", "carol"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("fingerprint taken from the LDAP directory"),
        "{}",
        stderr(&out)
    );
    // alice's fingerprint went with her wipe; her next password takes one.
    assert_eq!(sources(&f), [("carol".into(), "ldap".into())]);
}

#[test]
fn a_directory_down_or_paused_fails_closed_within_the_deadline_and_revokes_nothing() {
    if !ldap_ready(
        "a_directory_down_or_paused_fails_closed_within_the_deadline_and_revokes_nothing",
    ) {
        return;
    }
    let ldap = Slapd::start(&[("alice", "Alice-1!")]);
    let f = ldap_fixture(&ldaps_lines(&ldap));
    let (alice, _) = issue(&f, "alice", "Phone");
    // Accepting connections and never answering (slapd stopped with
    // SIGSTOP): libldap 2.5's TLS handshake would spin forever here.
    ldap.pause();
    let (rc, took) = login_within(&f, "alice", &alice, Duration::from_secs(10));
    assert_eq!(rc, PAM_AUTHINFO_UNAVAIL);
    assert!(took < Duration::from_secs(4), "{took:?}");
    ldap.resume();
    assert_eq!(code(&f, "alice", &alice), PAM_SUCCESS);
    ldap.stop();
    let (rc, took) = login_within(&f, "alice", &alice, Duration::from_secs(10));
    assert_eq!(rc, PAM_AUTHINFO_UNAVAIL);
    assert!(took < Duration::from_secs(3), "{took:?}");
    // The sweep says so and revokes nothing.
    let out = f.apppass(&["check-primary"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("not checked"), "{}", stderr(&out));
    assert_eq!(f.active("alice"), 1);
    ldap.start_again();
    assert_eq!(code(&f, "alice", &alice), PAM_SUCCESS);
    assert_eq!(f.active("alice"), 1);
}

#[test]
fn a_hostile_user_name_cannot_widen_the_search() {
    if !ldap_ready("a_hostile_user_name_cannot_widen_the_search") {
        return;
    }
    let ldap = Slapd::start(&[("alice", "Alice-1!"), ("bob", "Bob-1!")]);
    let f = ldap_fixture(&ldaps_lines(&ldap));
    for hostile in ["*)(uid=*", "al*", "*"] {
        let (pw, said) = issue(&f, hostile, "Phone");
        assert!(
            said.contains("neither the LDAP directory nor /etc/shadow knows"),
            "{hostile}: {said}"
        );
        // Unescaped, `al*` would have read alice's entry, and `*` or
        // `*)(uid=*` everyone's.
        assert_eq!(code(&f, hostile, &pw), PAM_SUCCESS);
    }
    assert!(sources(&f).is_empty(), "{:?}", sources(&f));
    ldap.passwd("alice", "Alice-2!");
    assert_eq!(f.active("al*"), 1);
}

#[test]
fn an_unsafe_bind_password_file_fails_closed_and_says_how_to_fix_it() {
    if !ldap_ready("an_unsafe_bind_password_file_fails_closed_and_says_how_to_fix_it") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let ldap = Slapd::start(&[("alice", "Alice-1!")]);
    let f = ldap_fixture(&ldaps_lines(&ldap));
    let (alice, _) = issue(&f, "alice", "Phone");
    let secret = ldap.bind_secret_file();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A new process: no kept connection.
    let out = f.apppass(&[
        "generate",
        "alice",
        "--virtual",
        "--service",
        "mail",
        "--label",
        "Two",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("chmod 0600"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("bind-secret"), "{}", stderr(&out));
    let (rc, _) = login_within(&f, "alice", &alice, Duration::from_secs(10));
    assert_eq!(rc, PAM_AUTHINFO_UNAVAIL);
    assert_eq!(f.active("alice"), 1, "nothing revoked");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(code(&f, "alice", &alice), PAM_SUCCESS);
}

/// A long-lived host (pam-host, as Dovecot's auth worker) with `primary =
/// ldap`: logins keep working across 40 cycles on one kept connection,
/// after a fork too, and the module starts no thread; with `primary =
/// shadow`, libldap is never mapped.
#[test]
fn a_long_lived_host_keeps_one_ldap_connection_starts_no_thread_and_a_shadow_host_never_maps_libldap(
) {
    if !ldap_ready("a_long_lived_host_keeps_one_ldap_connection_starts_no_thread_and_a_shadow_host_never_maps_libldap") {
        return;
    }
    let ldap = Slapd::start(&[("alice", "Alice-1!")]);
    let f = ldap_fixture(&ldaps_lines(&ldap));
    let (alice, _) = issue(&f, "alice", "Phone");
    let r = apppass_e2e::fixture::pam_host(&f.confdir, &["mail", "alice", &alice, "40", "2"]);
    assert_eq!(r["right_ok"], 20, "{r}");
    assert_eq!(r["right_bad"], 0, "{r}");
    assert_eq!(r["threads_end"], r["threads_baseline"], "{r}");
    assert_eq!(r["libldap_mapped"], true, "{r}");
    assert_ne!(r["fork_ok"], false, "{r}");
    assert_ne!(r["parent_after_fork_ok"], false, "{r}");

    let mut shadow = Fixture::new();
    shadow.configure("primary = shadow\n");
    shadow.service("mail", LDAP_STACK);
    let (pw, _) = issue(&shadow, "alice", "Phone");
    let r = apppass_e2e::fixture::pam_host(&shadow.confdir, &["mail", "alice", &pw, "20", "2"]);
    assert_eq!(r["right_ok"], 10, "{r}");
    assert_eq!(r["libldap_mapped"], false, "{r}");
}

/// The README's OpenLDAP + Dovecot example: Dovecot's LDAP passdb hands
/// apppass a hash of userPassword for the service apppass (`primary =
/// dovecot`), and a reset with ldappasswd revokes that user's passwords.
#[test]
fn a_reset_in_ldap_behind_dovecots_ldap_passdb_wipes_that_users_app_passwords() {
    if !ldap_ready("a_reset_in_ldap_behind_dovecots_ldap_passdb_wipes_that_users_app_passwords") {
        return;
    }
    if !std::path::Path::new("/usr/lib/dovecot/modules/auth/libauthdb_ldap.so").exists() {
        eprintln!("*** SKIPPED a_reset_in_ldap_behind_dovecots_ldap_passdb_wipes_that_users_app_passwords: dovecot-ldap is not installed (make test-deps)");
        return;
    }
    let ldap = Slapd::start(&[("alice", "Alice-1!"), ("bob", "Bob-1!")]);
    let conf = tempfile::Builder::new()
        .prefix("apppass-dovecot-ldap-")
        .tempdir()
        .unwrap();
    let args = conf.path().join("dovecot-ldap-apppass.conf.ext");
    std::fs::write(
        &args,
        format!(
            "uris = {}\ntls_ca_cert_file = {}\ntls_require_cert = hard\ndn = {BIND_DN}\ndnpass = bind-secret\nbase = {BASE}\nldap_version = 3\nauth_bind = no\npass_filter = (uid=%u)\npass_attrs = uid=user, userPassword=password, =apppass_primary=%{{ldap:userPassword}}\n",
            ldap.ldaps_uri(),
            ldap.ca().display()
        ),
    )
    .unwrap();
    let passdb = format!(
        "passdb {{\n  driver = passwd-file\n  args = /dev/null\n}}\nprotocol apppass {{\n  passdb {{\n    driver = ldap\n    args = {}\n    override_fields = apppass_primary=%{{sha256:passdb:apppass_primary}}\n  }}\n}}\n",
        args.display()
    );
    let (f, dc) = with_dovecot(passdb);
    let (alice, said) = generate(&f, &dc, "alice");
    assert!(!said.contains("fingerprint"), "{said}");
    let (bob, _) = generate(&f, &dc, "bob");
    assert_eq!(
        sources(&f),
        [
            ("alice".into(), "dovecot".into()),
            ("bob".into(), "dovecot".into())
        ]
    );
    assert!(imap_login(dc.imap, here(), "alice", &alice), "{}", dc.log());
    ldap.passwd("alice", "Alice-2!");
    assert!(
        !imap_login(dc.imap, here(), "alice", &alice),
        "the app password outlived the reset\n{}",
        dc.log()
    );
    assert_eq!(f.active("alice"), 0);
    assert!(imap_login(dc.imap, here(), "bob", &bob), "{}", dc.log());
}
