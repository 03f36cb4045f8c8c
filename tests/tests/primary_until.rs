//! `primary_until=`: the primary password passed on to pam_unix until a
//! date and refused from it, or refused once a user has an app password
//! (`enrolled`); app passwords work throughout. Real libpam and pam_unix
//! with real users, and a real Dovecot over IMAP.

use apppass_e2e::clients::imap_login;
use apppass_e2e::dovecot::{Dovecot, Options, Passdb};
use apppass_e2e::fixture::{pam_host_bin, Fixture};
use apppass_e2e::pam::{login, Pam, PAM_AUTHINFO_UNAVAIL, PAM_AUTH_ERR, PAM_SUCCESS};
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
    let mut p = Pam::start(&f.confdir, service, user.as_bytes(), &[password.as_bytes()]);
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
