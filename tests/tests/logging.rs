//! What reaches syslog: the module's lines captured on a private /dev/log
//! (bubblewrap binds a socket of the test's over it).

use apppass_e2e::fail2ban;
use apppass_e2e::fixture::{pam_host_bin, Fixture};
use apppass_e2e::system::{capture_syslog, require_root, sandbox_works};

/// Runs pam-host with /dev/log replaced; returns the syslog lines.
fn captured(f: &Fixture, user: &str, right: &str, wrong: &str) -> Vec<String> {
    capture_syslog(
        f.dir.path(),
        &pam_host_bin(),
        &[
            f.confdir.display().to_string(),
            "mail".into(),
            user.into(),
            right.into(),
            "2".into(),
            "2".into(),
            format!("wrong={wrong}"),
        ],
    )
}

#[test]
fn log_lines_have_the_pam_unix_shape_and_never_carry_what_was_typed() {
    if !require_root("log_lines_have_the_pam_unix_shape_and_never_carry_what_was_typed")
        || !sandbox_works("log_lines_have_the_pam_unix_shape_and_never_carry_what_was_typed")
    {
        return;
    }
    let f = Fixture::new();
    let user = "eve@example.org";
    let pw = f.generate(user, &["mail"], "Phone \"home\"");
    f.simple_service("mail");
    let primary = "My-Primary-Passw0rd!";
    let mut lines = captured(&f, user, &pw, primary);
    // A name with terminal escapes, as an attacker may send it.
    lines.extend(captured(&f, "mallory\x1b[31m\x07", &pw, "Hunter2-Hunter2"));
    let all = lines.join("\n");
    assert!(lines.len() >= 3, "{all}");
    assert!(
        lines.iter().all(|l| l.contains("pam_apppass(mail:auth):")),
        "{all}"
    );
    // authpriv (10) * 8 + LOG_INFO (6) = 86, + LOG_NOTICE (5) = 85.
    let success = lines
        .iter()
        .find(|l| l.contains("authentication success"))
        .expect(&all);
    assert!(success.starts_with("<86>"), "{success}");
    assert!(
        success.contains("user=eve@example.org label=\"Phone\\x20\\x22home\\x22\""),
        "{success}"
    );
    let failure = lines
        .iter()
        .find(|l| l.contains("authentication failure;"))
        .expect(&all);
    assert!(failure.starts_with("<85>"), "{failure}");
    assert!(
        failure.contains("logname= uid=0 euid=0 tty= ruser= rhost=  user=eve@example.org"),
        "{failure}"
    );
    assert!(
        lines.iter().any(|l| l.contains("no matching app password")),
        "{all}"
    );
    assert!(all.contains("user=mallory\\x1b[31m\\x07"), "escaped: {all}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("user has no active app passwords")),
        "{all}"
    );
    for secret in [
        pw.as_str(),
        &pw.replace('-', ""),
        &pw.replace('-', " "),
        primary,
        "Primary",
        "Hunter2",
    ] {
        assert!(!all.contains(secret), "{secret:?} leaked: {all}");
    }
    assert!(
        !all.contains('\x1b') && !all.contains('\x07'),
        "control characters reached the log"
    );
    assert!(!all.contains("$argon2"), "a hash leaked");
}

/// The address a hostile client writes into its names, where a filter
/// looking for `rhost=` could take it; the real one is the service's.
const PLANTED: &str = "203.0.113.66";
const REAL: &str = "198.51.100.23";

#[test]
fn names_a_client_chooses_cannot_plant_an_address_for_fail2ban() {
    let test = "names_a_client_chooses_cannot_plant_an_address_for_fail2ban";
    if !require_root(test) || !sandbox_works(test) {
        return;
    }
    let f = Fixture::new();
    f.simple_service("mail");
    // The user name (a virtual user may have spaces in it, as Dovecot's
    // auth_username_chars can allow) and the label read like fields too.
    let user = format!("mallory rhost={PLANTED} user=m");
    let label = format!("Old\" rhost={PLANTED} x=\"");
    let old = f.generate(&user, &["mail"], &label);
    f.revoke(&user, &label);
    // One try with the revoked password (failure and tripwire lines), one
    // with a wrong one; PAM_RUSER and PAM_TTY as a client could set them
    // through a service that copies what was typed.
    let lines = capture_syslog(
        f.dir.path(),
        &pam_host_bin(),
        &[
            f.confdir.display().to_string(),
            "mail".into(),
            user.clone(),
            old.clone(),
            "2".into(),
            "2".into(),
            format!("rhost={REAL}"),
            format!("ruser=x rhost={PLANTED} user=y"),
            format!("tty=t ruser= rhost={PLANTED} user=z"),
        ],
    );
    let all = lines.join("\n");
    let failures = lines
        .iter()
        .filter(|l| l.contains("authentication failure;"))
        .count();
    let tripwires = lines
        .iter()
        .filter(|l| l.contains("revoked app password used;"))
        .count();
    assert_eq!((failures, tripwires), (2, 1), "{all}");
    // What a jail would count and ban, in both modes, and with fail2ban's
    // own pam-generic filter, which the failure line's shape is kept for
    // (it reads pam_unix's lines only unless told otherwise).
    let log = fail2ban::as_log_file(&lines);
    let dir = f.dir.path();
    assert_eq!(
        fail2ban::addresses(dir, &log, "apppass"),
        [REAL],
        "tripwire mode:\n{log}"
    );
    assert_eq!(
        fail2ban::addresses(dir, &log, "apppass[mode=aggressive]"),
        [REAL; 3],
        "aggressive mode:\n{log}"
    );
    assert_eq!(
        fail2ban::addresses(dir, &log, "pam-generic[__pam_auth=pam_apppass]"),
        [REAL; 2],
        "pam-generic:\n{log}"
    );
    // Each value is one token: the only rhost field is the real one.
    for l in &lines {
        assert!(l.matches("rhost=").count() <= 1, "{l}");
        assert!(!l.contains(&format!("rhost={PLANTED}")), "{l}");
    }
    assert!(
        all.contains(&format!(
            "tty=t\\x20ruser\\x3d\\x20rhost\\x3d{PLANTED}\\x20user\\x3dz ruser=x\\x20rhost\\x3d{PLANTED}\\x20user\\x3dy rhost={REAL}  user=mallory\\x20rhost\\x3d{PLANTED}\\x20user\\x3dm"
        )),
        "{all}"
    );
    assert!(!all.contains(&old[..9]), "no secret in the log");
}

#[test]
fn bad_arguments_and_refused_stores_are_logged_with_path_and_mode() {
    if !require_root("bad_arguments_and_refused_stores_are_logged_with_path_and_mode")
        || !sandbox_works("bad_arguments_and_refused_stores_are_logged_with_path_and_mode")
    {
        return;
    }
    let f = Fixture::new();
    let pw = f.generate("frank@example.org", &["mail"], "Phone");
    f.service("mail", "auth required @MODULE@ db=@DB@ frobnicate\n");
    let lines = captured(&f, "frank@example.org", &pw, "x");
    let err = lines
        .iter()
        .find(|l| l.contains("frobnicate"))
        .expect("bad argument logged");
    assert!(err.starts_with("<83>"), "LOG_ERR: {err}");

    f.service("mail", "auth required @MODULE@ db=@DB@\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&f.db, std::fs::Permissions::from_mode(0o646)).unwrap();
    let lines = captured(&f, "frank@example.org", &pw, "x");
    let all = lines.join("\n");
    assert!(
        all.contains(&f.db.display().to_string()) && all.contains("0646"),
        "{all}"
    );

    std::fs::set_permissions(&f.db, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&f.db, vec![0x42u8; 8192]).unwrap();
    let lines = captured(&f, "frank@example.org", &pw, "x");
    let alert = lines
        .iter()
        .find(|l| l.contains("corrupt"))
        .expect("corruption logged");
    assert!(alert.starts_with("<81>"), "LOG_ALERT: {alert}");
}

#[test]
fn postgresql_failures_name_the_server_never_the_conninfo_and_config_errors_name_the_line() {
    let test =
        "postgresql_failures_name_the_server_never_the_conninfo_and_config_errors_name_the_line";
    if !require_root(test) || !sandbox_works(test) {
        return;
    }
    use apppass_e2e::postgres;
    let cluster = postgres::shared();
    let db = postgres::fresh_database();
    let keydir = tempfile::tempdir().unwrap();
    let key = keydir.path().join("key");
    let f = Fixture::postgres(
        &cluster.login_conninfo(&db),
        &cluster.admin_conninfo(&db),
        &key,
    );
    let pw = f.generate("gina@example.org", &["mail"], "Phone");
    f.service(
        "mail",
        "auth sufficient @MODULE@ db=@DB@ debug\nauth requisite pam_deny.so\naccount sufficient @MODULE@ db=@DB@\n",
    );
    let mut lines = captured(&f, "gina@example.org", &pw, "x");
    let conf = f.config.clone().unwrap();
    let good = std::fs::read_to_string(&conf).unwrap();
    // The login role's password is wrong now.
    std::fs::write(
        &conf,
        good.replace(postgres::LOGIN_PASSWORD, "Wrong-Secret-42"),
    )
    .unwrap();
    let refused = captured(&f, "gina@example.org", &pw, "x");
    assert!(
        refused
            .iter()
            .any(|l| l.starts_with("<83>") && l.contains(&format!("127.0.0.1:{}", cluster.port))),
        "the unreachable store is logged with host and port: {refused:?}"
    );
    lines.extend(refused);
    // A bad line in the file: LOG_ERR naming file and line.
    std::fs::write(&conf, format!("{good}colour = blue\n")).unwrap();
    let bad = captured(&f, "gina@example.org", &pw, "x");
    let line_no = good.lines().count() + 1;
    assert!(
        bad.iter().any(|l| l.starts_with("<83>")
            && l.contains(&conf.display().to_string())
            && l.contains(&format!("line {line_no}"))
            && l.contains("unknown key 'colour'")),
        "{bad:?}"
    );
    lines.extend(bad);
    let all = lines.join("\n");
    assert!(all.contains("authentication success"), "{all}");
    for secret in [
        postgres::LOGIN_PASSWORD,
        postgres::ADMIN_PASSWORD,
        "Wrong-Secret-42",
        "password=",
        "sslrootcert",
        pw.as_str(),
    ] {
        assert!(!all.contains(secret), "{secret:?} reached the log: {all}");
    }
}
