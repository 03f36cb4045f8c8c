//! Notifications by mail through a real Postfix (a private instance under
//! /tmp): each change mails the account holder exactly once, with its facts
//! and never a secret; a sender killed right after the MTA took a mail does
//! not send it again; an MTA stopped then started delivers once; two hosts
//! sharing a PostgreSQL store send one mail, not two.

use apppass_e2e::fixture::{stderr, Fixture};
use apppass_e2e::pam::{Pam, PAM_AUTH_ERR, PAM_RHOST, PAM_SUCCESS};
use apppass_e2e::postfix::{self, body, header, Postfix, DOMAIN};
use apppass_e2e::postgres;
use apppass_e2e::system::require_root;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// Whether this test can run here: root, and Postfix installed.
fn can_run(test: &str) -> bool {
    if !require_root(test) {
        return false;
    }
    if !postfix::available() {
        eprintln!("*** SKIPPED {test}: Postfix is not installed (make test-deps installs it)");
        return false;
    }
    true
}

/// Notifications on, for users @DOMAIN, through `sendmail`.
fn notifying(f: &mut Fixture, sendmail: &Path) {
    f.configure(&format!("sendmail = {}\n", sendmail.display()));
    notify_on(f);
}

fn notify_on(f: &Fixture) {
    let settings: [[&str; 3]; 3] = [
        ["config", "notify", "mail"],
        ["config", "notify-domain", DOMAIN],
        ["config", "notify-from", "apppass@apppass.test"],
    ];
    for args in settings {
        let out = f.apppass(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
}

fn subjects(mails: &[String]) -> Vec<String> {
    mails
        .iter()
        .map(|m| header(m, "Subject").unwrap_or_default())
        .collect()
}

/// No mail beyond `n` arrives for `to` within two seconds.
fn no_more(pf: &Postfix, to: &str, n: usize) {
    std::thread::sleep(Duration::from_secs(2));
    let got = pf.mails(to);
    assert_eq!(got.len(), n, "{:?}", subjects(&got));
}

fn login(f: &Fixture, user: &str, password: &str, rhost: &str) -> i32 {
    let mut p = Pam::start(&f.confdir, "imap", user.as_bytes(), &[password.as_bytes()]);
    p.set_item(PAM_RHOST, rhost);
    p.authenticate()
}

#[test]
fn each_change_mails_the_account_holder_once_through_postfix() {
    let test = "each_change_mails_the_account_holder_once_through_postfix";
    if !can_run(test) {
        return;
    }
    let pf = Postfix::start();
    let mut f = Fixture::new();
    f.simple_service("imap");
    notifying(&mut f, &pf.sendmail());
    let to = format!("alice@{DOMAIN}");

    let secret = f.generate("alice", &["imap"], "iPhone Mail");
    let mails = pf.wait_for(&to, 1, WAIT);
    assert_eq!(
        subjects(&mails),
        ["New app password 'iPhone Mail' for alice"]
    );
    assert_eq!(
        header(&mails[0], "From").as_deref(),
        Some("apppass@apppass.test")
    );
    assert!(
        body(&mails[0]).contains("by an administrator of this server"),
        "{}",
        mails[0]
    );
    let other = f.generate("alice", &["imap"], "Laptop");

    // A login from one network, then from another.
    assert_eq!(login(&f, "alice", &other, "192.0.2.10"), PAM_SUCCESS);
    assert_eq!(login(&f, "alice", &other, "198.51.100.20"), PAM_SUCCESS);
    // Revoke all; the revoked secret presented twice (the tripwire).
    let out = f.apppass(&["revoke", "alice", "--all", "--reason", "phone lost"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(login(&f, "alice", &secret, "203.0.113.9"), PAM_AUTH_ERR);
    assert_eq!(login(&f, "alice", &secret, "203.0.113.9"), PAM_AUTH_ERR);
    let out = f.apppass(&["deliver"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = f.apppass(&["config", "notify-test", "alice"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let mails = pf.wait_for(&to, 6, WAIT);
    let mut got = subjects(&mails);
    got.sort();
    assert_eq!(
        got,
        [
            "All app passwords of alice were revoked",
            "App password 'Laptop' of alice used from a new network",
            "New app password 'Laptop' for alice",
            "New app password 'iPhone Mail' for alice",
            "Someone used a revoked app password of alice",
            "Test of app password notifications for alice",
        ]
    );
    for m in &mails {
        assert!(
            !m.contains(&secret) && !m.contains(&other),
            "a secret in {m}"
        );
        let squeezed: String = secret.chars().filter(|c| *c != '-').collect();
        assert!(!m.to_lowercase().contains(&squeezed), "a secret in {m}");
        assert!(!m.contains("$argon2"), "a hash in {m}");
        assert_eq!(
            header(m, "Auto-Submitted").as_deref(),
            Some("auto-generated")
        );
    }
    let all = mails
        .iter()
        .find(|m| header(m, "Subject").unwrap().starts_with("All"))
        .unwrap();
    assert!(body(all).contains("All 2 app passwords") && body(all).contains("phone lost"));
    let moved = mails
        .iter()
        .find(|m| header(m, "Subject").unwrap().contains("new network"))
        .unwrap();
    assert!(body(moved).contains("from 198.51.100.20"), "{moved}");

    // Nothing more, however often it runs.
    let out = f.apppass(&["deliver"]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("mailed 0 notifications"),
        "{}",
        stderr(&out)
    );
    no_more(&pf, &to, 6);
    let history = f.history_json("alice");
    let mailed = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "mailed")
        .count();
    assert_eq!(mailed, 6, "{history}");
}

/// A sendmail that hands the mail to Postfix and then kills apppass before
/// it hears the answer: the mail is sent, and never again.
#[test]
fn a_sender_killed_after_the_mta_took_the_mail_never_sends_it_twice() {
    let test = "a_sender_killed_after_the_mta_took_the_mail_never_sends_it_twice";
    if !can_run(test) {
        return;
    }
    let pf = Postfix::start();
    let mut f = Fixture::new();
    let killer = f.dir.path().join("sendmail-then-kill");
    std::fs::write(
        &killer,
        format!(
            "#!/bin/sh\n{} \"$@\"\nkill -9 $PPID\nexit 0\n",
            pf.sendmail().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&killer, std::fs::Permissions::from_mode(0o755)).unwrap();
    notifying(&mut f, &killer);
    let out = f.apppass(&[
        "generate",
        "bob",
        "--virtual",
        "--service",
        "imap",
        "--label",
        "Phone",
    ]);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        Some(9),
        "apppass was killed while sending: {}",
        stderr(&out)
    );
    let to = format!("bob@{DOMAIN}");
    assert_eq!(pf.wait_for(&to, 1, WAIT).len(), 1);
    // The next sender, with a sendmail that works: nothing to send again.
    notifying(&mut f, &pf.sendmail());
    let out = f.apppass(&["deliver"]);
    assert!(out.status.success(), "{}", stderr(&out));
    no_more(&pf, &to, 1);
    assert_eq!(
        f.row("bob", "Phone")["label"],
        "Phone",
        "the password was kept"
    );
}

/// Postfix stopped: the mail waits in its queue and arrives once it runs
/// again, once. A sendmail that refuses: tried again, not lost.
#[test]
fn a_stopped_or_refusing_mta_delivers_once_when_it_works_again() {
    let test = "a_stopped_or_refusing_mta_delivers_once_when_it_works_again";
    if !can_run(test) {
        return;
    }
    let pf = Postfix::start();
    let mut f = Fixture::new();
    notifying(&mut f, &pf.sendmail());
    let to = format!("carol@{DOMAIN}");
    pf.stop();
    f.generate("carol", &["imap"], "Phone");
    no_more(&pf, &to, 0);
    pf.start_again();
    assert_eq!(pf.wait_for(&to, 1, WAIT).len(), 1);

    let refusing = f.dir.path().join("sendmail-refusing");
    std::fs::write(
        &refusing,
        "#!/bin/sh\ncat >/dev/null\necho 'sendmail: fatal: queue file write error' >&2\nexit 75\n",
    )
    .unwrap();
    std::fs::set_permissions(&refusing, std::fs::Permissions::from_mode(0o755)).unwrap();
    notifying(&mut f, &refusing);
    let out = f.apppass(&[
        "generate",
        "carol",
        "--virtual",
        "--service",
        "imap",
        "--label",
        "Tablet",
    ]);
    assert!(out.status.success(), "the change stands: {}", stderr(&out));
    assert!(
        stderr(&out).contains("was not sent (")
            && stderr(&out).contains("queue file write error")
            && stderr(&out).contains("tried again later"),
        "{}",
        stderr(&out)
    );
    let history = f.history_json("carol");
    assert!(
        !history
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "not-mailed"),
        "not given up: {history}"
    );
    no_more(&pf, &to, 1);
}

/// Two hosts on one PostgreSQL store, both sending at once what a login
/// on one of them recorded: one mail.
#[test]
fn two_hosts_on_one_postgresql_store_send_one_mail() {
    let test = "two_hosts_on_one_postgresql_store_send_one_mail";
    if !can_run(test) {
        return;
    }
    let pf = Postfix::start();
    let cluster = postgres::shared();
    let db = postgres::fresh_database();
    let (_keys, key) = postgres::key_dir();
    let (login_ci, admin_ci) = (cluster.login_conninfo(&db), cluster.admin_conninfo(&db));
    let hosts: Vec<Fixture> = (0..2)
        .map(|_| {
            let f = Fixture::postgres(&login_ci, &admin_ci, &key);
            let conf = f.config.clone().unwrap();
            let text = std::fs::read_to_string(&conf).unwrap();
            std::fs::write(
                &conf,
                format!("{text}sendmail = {}\n", pf.sendmail().display()),
            )
            .unwrap();
            f
        })
        .collect();
    notify_on(&hosts[0]);
    hosts[0].simple_service("imap");
    let to = format!("dave@{DOMAIN}");
    let secret = hosts[0].generate("dave", &["imap"], "Phone");
    assert_eq!(pf.wait_for(&to, 1, WAIT).len(), 1);
    hosts[1].revoke("dave", "Phone");
    pf.wait_for(&to, 2, WAIT);
    // The tripwire at a login on host 0; both hosts send at once.
    assert_eq!(
        login(&hosts[0], "dave", &secret, "203.0.113.9"),
        PAM_AUTH_ERR
    );
    std::thread::scope(|s| {
        for h in &hosts {
            s.spawn(move || {
                let out = h.apppass(&["deliver"]);
                assert!(out.status.success(), "{}", stderr(&out));
            });
        }
    });
    let mails = pf.wait_for(&to, 3, WAIT);
    no_more(&pf, &to, 3);
    assert_eq!(
        subjects(&mails)[2],
        "Someone used a revoked app password of dave"
    );
}

/// Settings are checked before they are kept: a bad value is a usage
/// error naming what is wanted, and nothing changes.
#[test]
fn notification_settings_refuse_what_could_not_be_mailed() {
    let f = Fixture::new();
    for (args, says) in [
        (["config", "notify", "yes"], "notify takes mail or off"),
        (
            ["config", "notify-from", "a b@example.org"],
            "is not a mail address",
        ),
        (
            ["config", "notify-domain", "example..org"],
            "is not a domain name",
        ),
    ] {
        let out = f.apppass(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    let out = f.apppass(&["config"]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("notify off\nnotify-from none\nnotify-domain none\n"),
        "nothing changed"
    );
    let out = f.apppass(&["config", "notify-test"]);
    assert_eq!(out.status.code(), Some(2));
    // Off: deliver says so and sends nothing.
    let out = f.apppass(&["deliver"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("mailed 0 notifications (notifications are off: config notify mail)"),
        "{}",
        stderr(&out)
    );
}

/// A system user's mails: a password ending within a week (told once), the
/// primary password still used where app passwords become required (once a
/// week), and the wipe a primary password change makes.
#[test]
fn expiry_primary_use_and_a_wipe_each_mail_once_through_postfix() {
    let test = "expiry_primary_use_and_a_wipe_each_mail_once_through_postfix";
    if !can_run(test) {
        return;
    }
    const PRIMARY: &str = "Primary-Pass-42!";
    let pf = Postfix::start();
    let mut f = Fixture::new();
    notifying(&mut f, &pf.sendmail());
    let u = apppass_e2e::system::SystemUser::new(PRIMARY);
    let to = format!("{}@{DOMAIN}", u.name);
    f.issue(&[&u.name, "--service", "imap", "--label", "Phone"]);
    f.issue(&[
        &u.name,
        "--service",
        "imap",
        "--label",
        "Short",
        "--expires",
        "3d",
    ]);
    f.service(
        "imap",
        "auth [success=done ignore=ignore default=die] @MODULE@ db=@DB@ primary_until=2999-01-01
auth required pam_unix.so try_first_pass
account sufficient @MODULE@ db=@DB@
account required pam_unix.so
",
    );
    for _ in 0..2 {
        let mut p = Pam::start(&f.confdir, "imap", u.name.as_bytes(), &[PRIMARY.as_bytes()]);
        p.set_item(PAM_RHOST, "198.51.100.7");
        assert_eq!(p.authenticate(), PAM_SUCCESS);
        assert_eq!(p.acct_mgmt(), PAM_SUCCESS);
    }
    let out = f.apppass(&["deliver"]);
    assert!(out.status.success(), "{}", stderr(&out));
    u.chpasswd("Another-Primary-7!");
    let out = f.apppass(&["check-primary", &u.name]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = f.apppass(&["deliver"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let mails = pf.wait_for(&to, 5, WAIT);
    no_more(&pf, &to, 5);
    let mut got = subjects(&mails);
    got.sort();
    assert_eq!(
        got,
        [
            "App password 'Short' of ".to_string() + &u.name + " expires soon",
            format!("New app password 'Phone' for {}", u.name),
            format!("New app password 'Short' for {}", u.name),
            "Your primary password changed: app passwords of ".to_string() + &u.name + " revoked",
            "Your primary password was used for imap: set up an app password".to_string(),
        ]
    );
    let primary = mails
        .iter()
        .find(|m| {
            header(m, "Subject")
                .unwrap()
                .contains("primary password was used")
        })
        .unwrap();
    assert!(
        body(primary).contains("(2 times so far)") && body(primary).contains("from 198.51.100.7"),
        "{primary}"
    );
    assert!(
        !mails.iter().any(|m| m.contains(PRIMARY)),
        "a primary password in a mail"
    );
}
