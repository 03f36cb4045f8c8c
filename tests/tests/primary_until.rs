//! `primary_until=`: the primary password passed on to pam_unix until a
//! date and refused from it, or refused once a user has an app password
//! (`enrolled`); app passwords work throughout. Real libpam and pam_unix
//! with real users, and a real Dovecot over IMAP.

use apppass_e2e::clients::imap_login;
use apppass_e2e::dovecot::{Dovecot, Options, Passdb};
use apppass_e2e::fixture::{pam_host_bin, stderr, stdout, Fixture};
use apppass_e2e::pam::{login, Pam, PAM_AUTHINFO_UNAVAIL, PAM_AUTH_ERR, PAM_RHOST, PAM_SUCCESS};
use apppass_e2e::postgres;
use apppass_e2e::system::{capture_syslog, require_root, sandbox_works, SystemUser};
use std::net::Ipv4Addr;

const PRIMARY: &str = "Primary-Pass-42!";

/// The contract's stack, with `until` as primary_until's value.
fn stack(until: &str) -> String {
    format!(
        "auth [success=done ignore=ignore default=die] @MODULE@ db=@DB@ primary_until={until}
auth required pam_unix.so try_first_pass
account sufficient @MODULE@ db=@DB@
account required pam_unix.so
"
    )
}

/// pam_authenticate alone, for the service imap.
fn auth(f: &Fixture, user: &str, token: &str) -> i32 {
    login(&f.confdir, "imap", user, token.as_bytes()).0
}

/// authenticate, then acct_mgmt as a service does.
fn full_login(f: &Fixture, service: &str, user: &str, password: &str) -> i32 {
    full_login_from(f, service, user, password, None)
}

/// [`full_login`] from the client `rhost`.
fn full_login_from(
    f: &Fixture,
    service: &str,
    user: &str,
    password: &str,
    rhost: Option<&str>,
) -> i32 {
    let mut p = Pam::start(&f.confdir, service, user.as_bytes(), &[password.as_bytes()]);
    if let Some(r) = rhost {
        p.set_item(PAM_RHOST, r);
    }
    match p.authenticate() {
        PAM_SUCCESS => p.acct_mgmt(),
        rc => rc,
    }
}

#[test]
fn before_the_date_the_primary_password_passes_on_and_is_logged_and_from_it_is_refused() {
    if !require_root(
        "before_the_date_the_primary_password_passes_on_and_is_logged_and_from_it_is_refused",
    ) {
        return;
    }
    let f = Fixture::new();
    let u = SystemUser::new(PRIMARY);
    let app = f.issue(&[&u.name, "--service", "imap", "--label", "Phone"]);
    f.service("imap", &stack("2999-01-01"));
    assert_eq!(full_login(&f, "imap", &u.name, PRIMARY), PAM_SUCCESS);
    assert_eq!(full_login(&f, "imap", &u.name, &app), PAM_SUCCESS);
    assert_eq!(
        full_login(&f, "imap", &u.name, "Wrong-Primary-1!"),
        PAM_AUTH_ERR
    );
    if sandbox_works(
        "before_the_date_the_primary_password_passes_on_and_is_logged_and_from_it_is_refused",
    ) {
        syslog_lines_of_the_grace_period(&f, &u.name, &app);
    }

    // The date has come: the primary password is refused, app passwords work.
    f.service("imap", &stack("2020-01-01"));
    assert_eq!(auth(&f, &u.name, PRIMARY), PAM_AUTH_ERR);
    assert_eq!(full_login(&f, "imap", &u.name, &app), PAM_SUCCESS);
    // The right secret of a revoked password is refused before and after.
    let out = f.apppass(&["revoke", &u.name, "--label", "Phone"]);
    assert!(out.status.success());
    f.service("imap", &stack("2999-01-01"));
    assert_eq!(auth(&f, &u.name, &app), PAM_AUTH_ERR);
}

#[test]
fn enrolled_refuses_the_primary_password_once_the_user_has_an_app_password() {
    if !require_root("enrolled_refuses_the_primary_password_once_the_user_has_an_app_password") {
        return;
    }
    let f = Fixture::new();
    let u = SystemUser::new(PRIMARY);
    f.service("imap", &stack("enrolled"));
    assert_eq!(full_login(&f, "imap", &u.name, PRIMARY), PAM_SUCCESS);
    let app = f.issue(&[&u.name, "--service", "imap", "--label", "Phone"]);
    assert_eq!(auth(&f, &u.name, PRIMARY), PAM_AUTH_ERR);
    assert_eq!(full_login(&f, "imap", &u.name, &app), PAM_SUCCESS);
    // An app password for another service only counts as enrolled too.
    let v = SystemUser::new(PRIMARY);
    f.issue(&[&v.name, "--service", "sieve", "--label", "Filters"]);
    assert_eq!(auth(&f, &v.name, PRIMARY), PAM_AUTH_ERR);
}

#[test]
fn a_store_that_cannot_be_read_fails_closed_and_a_bad_date_is_a_service_error() {
    if !require_root("a_store_that_cannot_be_read_fails_closed_and_a_bad_date_is_a_service_error") {
        return;
    }
    let f = Fixture::new();
    let u = SystemUser::new(PRIMARY);
    f.service(
        "imap",
        &stack("2999-01-01").replace("db=@DB@", "db=/nonexistent/apppass.db"),
    );
    assert_eq!(auth(&f, &u.name, PRIMARY), PAM_AUTHINFO_UNAVAIL);
    f.service("imap", &stack("2027-02-30"));
    assert_ne!(auth(&f, &u.name, PRIMARY), PAM_SUCCESS);
}

#[test]
fn dovecot_takes_the_primary_password_over_imap_until_the_date() {
    if !require_root("dovecot_takes_the_primary_password_over_imap_until_the_date") {
        return;
    }
    let f = Fixture::new();
    let u = SystemUser::new(PRIMARY);
    let dc = Dovecot::start(
        &f,
        Options {
            passdb: Passdb::PerProtocol,
            cache: false,
            stack: stack("2999-01-01"),
            files_for: vec!["imap"],
        },
    );
    let svc = dc.service("imap");
    let app = f.issue(&[&u.name, "--service", &svc, "--label", "Phone"]);
    let home = Ipv4Addr::new(127, 0, 0, 1);
    assert!(imap_login(dc.imap, home, &u.name, PRIMARY));
    assert!(imap_login(dc.imap, home, &u.name, &app));
    // The date has come (Dovecot's PAM file, in /etc/pam.d, rewritten).
    std::fs::write(
        std::path::Path::new("/etc/pam.d").join(&svc),
        f.expand(&stack("2020-01-01")),
    )
    .unwrap();
    assert!(!imap_login(dc.imap, home, &u.name, PRIMARY));
    assert!(imap_login(dc.imap, home, &u.name, &app));
}

/// What one login of `user` with `token` (then `extra`'s arguments, and
/// pam_acct_mgmt) through the imap stack logs, /dev/log captured.
fn logged(f: &Fixture, user: &str, token: &str, extra: &[String]) -> Vec<String> {
    let mut args = vec![
        f.confdir.display().to_string(),
        "imap".into(),
        user.to_owned(),
        token.to_owned(),
        "1".into(),
        "1".into(),
    ];
    args.extend(extra.iter().cloned());
    args.push("account".into());
    capture_syslog(f.dir.path(), &pam_host_bin(), &args)
}

/// What the module logs during the grace period.
fn syslog_lines_of_the_grace_period(f: &Fixture, user: &str, app: &str) {
    // The primary password's use is logged in the account phase, at
    // LOG_NOTICE (<85> is authpriv.notice), with the date.
    let lines = logged(f, user, PRIMARY, &["rhost=198.51.100.7".into()]);
    let used: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("primary password used;"))
        .collect();
    assert_eq!(used.len(), 1, "{lines:?}");
    assert!(used[0].starts_with("<85>"), "{used:?}");
    assert!(
        used[0].ends_with(&format!(
            "primary password used; user={} service=imap rhost=198.51.100.7; app passwords required from 2999-01-01"
        , user)),
        "{used:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("authentication failure")),
        "a passed-on primary password is no failure for fail2ban: {lines:?}"
    );
    // An app password's login says nothing of the primary password.
    let lines = logged(f, user, app, &[]);
    assert!(
        !lines.iter().any(|l| l.contains("primary password used")),
        "{lines:?}"
    );
    // The primary password passed on, then an app password on the same
    // handle (a host that authenticates twice): the account hook sees the
    // second login only.
    let lines = logged(f, user, PRIMARY, &[format!("again={app}")]);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("authentication success;") && l.contains("label=\"Phone\"")),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("primary password used")),
        "{lines:?}"
    );
}

/// Who has yet to move over, per user and service, as the module counted
/// it in the account phase: `apppass report primary-use` (table, JSON,
/// one service) and `apppass list USER`.
fn the_report_names_who_still_uses_the_primary_password(f: &Fixture, test: &str) {
    let u = SystemUser::new(PRIMARY);
    let other = SystemUser::new(PRIMARY);
    let app = f.issue(&[&u.name, "--service", "imap", "--label", "Phone"]);
    f.service("imap", &stack("2999-01-01"));
    f.service("smtp", &stack("2999-01-01"));
    let from = |service, user: &SystemUser, password, rhost| {
        full_login_from(f, service, &user.name, password, Some(rhost))
    };
    assert_eq!(from("imap", &u, PRIMARY, "198.51.100.7"), PAM_SUCCESS);
    assert_eq!(from("imap", &u, PRIMARY, "198.51.100.8"), PAM_SUCCESS);
    assert_eq!(from("smtp", &u, PRIMARY, "198.51.100.9"), PAM_SUCCESS);
    // Neither an app password nor a wrong primary password counts.
    assert_eq!(from("imap", &u, &app, "198.51.100.10"), PAM_SUCCESS);
    assert_eq!(
        from("imap", &u, "Wrong-Primary-1!", "198.51.100.11"),
        PAM_AUTH_ERR
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(from("imap", &other, PRIMARY, "203.0.113.5"), PAM_SUCCESS);

    let out = f.apppass(&["report", "primary-use", "--json"]);
    assert!(out.status.success(), "{test}: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rows: Vec<(String, String, i64, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["user"].as_str().unwrap().to_owned(),
                r["service"].as_str().unwrap().to_owned(),
                r["count"].as_i64().unwrap(),
                r["last_rhost"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let row = |user: &SystemUser, service: &str, count, rhost: &str| {
        (
            user.name.clone(),
            service.to_owned(),
            count,
            rhost.to_owned(),
        )
    };
    assert_eq!(
        rows[0],
        row(&other, "imap", 1, "203.0.113.5"),
        "{test}: the most recent first: {v}"
    );
    let mut rest = rows[1..].to_vec();
    rest.sort();
    assert_eq!(
        rest,
        [
            row(&u, "imap", 2, "198.51.100.8"),
            row(&u, "smtp", 1, "198.51.100.9")
        ],
        "{test}: {v}"
    );
    for r in v.as_array().unwrap() {
        assert!(r["first_at"].as_str().unwrap().ends_with('Z'), "{r}");
        assert!(r["last_at"].as_str().unwrap() >= r["first_at"].as_str().unwrap());
    }

    let out = f.apppass(&["report", "primary-use", "--service", "smtp"]);
    assert!(out.status.success(), "{test}: {}", stderr(&out));
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{test}: {table}");
    assert!(lines[0].starts_with("USER"), "{table}");
    assert!(
        lines[1].starts_with(&u.name)
            && lines[1].contains("smtp")
            && lines[1].ends_with("198.51.100.9"),
        "{test}: {table}"
    );
    let out = f.apppass(&["report", "primary-use", "--service", "pop3"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("no login with the primary password recorded for pop3"));

    let out = f.apppass(&["list", &u.name]);
    assert!(out.status.success(), "{test}: {}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains(&format!(
            "{} logged in to imap with the primary password 2 times since",
            u.name
        )) && said.contains("from 198.51.100.8: an app password for imap replaces it there"),
        "{test}: {said}"
    );
    assert!(
        said.contains("to smtp with the primary password 1 time since"),
        "{said}"
    );
}

#[test]
fn the_report_names_who_still_uses_the_primary_password_on_sqlite() {
    let test = "the_report_names_who_still_uses_the_primary_password_on_sqlite";
    if !require_root(test) {
        return;
    }
    the_report_names_who_still_uses_the_primary_password(&Fixture::new(), test);
}

/// On PostgreSQL the module counts with the login role's rights.
#[test]
fn the_report_names_who_still_uses_the_primary_password_on_postgresql() {
    let test = "the_report_names_who_still_uses_the_primary_password_on_postgresql";
    if !require_root(test) {
        return;
    }
    let cluster = postgres::shared();
    let db = postgres::fresh_database();
    let (_keys, key) = postgres::key_dir();
    let f = Fixture::postgres(
        &cluster.login_conninfo(&db),
        &cluster.admin_conninfo(&db),
        &key,
    );
    the_report_names_who_still_uses_the_primary_password(&f, test);
}
