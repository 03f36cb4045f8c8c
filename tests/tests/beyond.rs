//! Beyond the anchors, end to end: networks through a private Dovecot and
//! real libpam, suspend, rotate and idle expiry through the CLI and the
//! module, the tripwire's syslog line read by the shipped fail2ban filter.

use apppass_e2e::clients::imap_login;
use apppass_e2e::dovecot::{Dovecot, Options, Passdb};
use apppass_e2e::fail2ban;
use apppass_e2e::fixture::{pam_host_bin, stderr, stdout, Fixture};
use apppass_e2e::pam::{Pam, PAM_RHOST, PAM_SUCCESS};
use apppass_e2e::system::{capture_syslog, require_root, sandbox_works};
use std::net::Ipv4Addr;

const ONLY_APPPASS: &str = "\
auth     required    @MODULE@ db=@DB@
account  sufficient  @MODULE@ db=@DB@
account  required    pam_unix.so
";

const ALICE: &str = "alice@example.org";

/// A login to the fixture's `mail` service from `rhost` (none: unset).
fn login_from(f: &Fixture, user: &str, password: &str, rhost: Option<&str>) -> bool {
    let mut p = Pam::start(&f.confdir, "mail", user.as_bytes(), &[password.as_bytes()]);
    if let Some(r) = rhost {
        p.set_item(PAM_RHOST, r);
    }
    p.authenticate() == PAM_SUCCESS
}

fn ok(f: &Fixture, args: &[&str]) -> String {
    let out = f.apppass(args);
    assert!(out.status.success(), "apppass {args:?}: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn from_networks_hold_through_dovecot_and_libpam() {
    if !require_root("from_networks_hold_through_dovecot_and_libpam") {
        return;
    }
    let f = Fixture::new();
    let dc = Dovecot::start(
        &f,
        Options {
            passdb: Passdb::PerProtocol,
            cache: false,
            stack: ONLY_APPPASS.into(),
            files_for: vec!["imap"],
        },
    );
    let office = f.issue(&[
        ALICE,
        "--virtual",
        "--service",
        &dc.service("imap"),
        "--label",
        "Office",
        "--from",
        "127.0.0.2/32",
    ]);
    let two = Ipv4Addr::new(127, 0, 0, 2);
    let three = Ipv4Addr::new(127, 0, 0, 3);
    assert!(
        imap_login(dc.imap, two, ALICE, &office),
        "from 127.0.0.2\n{}",
        dc.log()
    );
    assert!(
        !imap_login(dc.imap, three, ALICE, &office),
        "from 127.0.0.3"
    );
    let row = f.row(ALICE, "Office");
    assert_eq!(row["networks"], serde_json::json!(["127.0.0.2/32"]));
    assert_eq!(row["last_used_rhost"], "127.0.0.2");

    f.simple_service("mail");
    let six = f.issue(&[
        ALICE,
        "--virtual",
        "--service",
        "mail",
        "--label",
        "Six",
        "--from",
        "::1/128",
    ]);
    assert!(login_from(&f, ALICE, &six, Some("::1")));
    assert!(!login_from(&f, ALICE, &six, Some("::2")));
    assert!(!login_from(&f, ALICE, &six, Some("127.0.0.1")));
    assert!(
        !login_from(&f, ALICE, &six, Some("localhost")),
        "a host name"
    );
    assert!(!login_from(&f, ALICE, &six, None), "no rhost");
    let bad = f.apppass(&[
        "generate",
        ALICE,
        "--virtual",
        "--service",
        "mail",
        "--label",
        "Typo",
        "--from",
        "192.0.2.7/24",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("did you mean 192.0.2.0/24"),
        "{}",
        stderr(&bad)
    );
}

/// With Dovecot's auth cache on and the shipped cache key, a password
/// limited with --from that logged in from its network is not let in from
/// another address by the cached success: the key holds the remote IP.
/// With `cache_key=%u%s` it was, from anywhere, until the TTL ran out.
#[test]
fn from_networks_hold_through_dovecots_auth_cache() {
    if !require_root("from_networks_hold_through_dovecots_auth_cache") {
        return;
    }
    let f = Fixture::new();
    let dc = Dovecot::start(
        &f,
        Options {
            passdb: Passdb::PerProtocol,
            cache: true,
            stack: ONLY_APPPASS.into(),
            files_for: vec!["imap"],
        },
    );
    let office = f.issue(&[
        ALICE,
        "--virtual",
        "--service",
        &dc.service("imap"),
        "--label",
        "Office",
        "--from",
        "127.0.0.2/32",
    ]);
    let two = Ipv4Addr::new(127, 0, 0, 2);
    let three = Ipv4Addr::new(127, 0, 0, 3);
    assert!(
        imap_login(dc.imap, two, ALICE, &office),
        "from 127.0.0.2\n{}",
        dc.log()
    );
    assert!(
        !imap_login(dc.imap, three, ALICE, &office),
        "from 127.0.0.3, with the login from 127.0.0.2 cached\n{}",
        dc.log()
    );
    // The cache was on: revoked without reaching this Dovecot, the
    // password still logs in from 127.0.0.2, from the cache.
    ok(&f, &["revoke", ALICE, "--label", "Office"]);
    assert!(
        imap_login(dc.imap, two, ALICE, &office),
        "the cache is on, or the test proves nothing\n{}",
        dc.log()
    );
}

#[test]
fn suspend_rotate_and_idle_expiry_through_the_cli_and_the_module() {
    if !require_root("suspend_rotate_and_idle_expiry_through_the_cli_and_the_module") {
        return;
    }
    let f = Fixture::new();
    f.simple_service("mail");
    let pw = f.issue(&[ALICE, "--virtual", "--service", "mail", "--label", "Phone"]);
    assert!(login_from(&f, ALICE, &pw, Some("192.0.2.1")));

    ok(&f, &["suspend", ALICE, "--label", "phone"]);
    assert!(!login_from(&f, ALICE, &pw, Some("192.0.2.1")), "suspended");
    assert_eq!(f.row(ALICE, "Phone")["status"], "suspended");
    let again = f.apppass(&["suspend", ALICE, "--label", "Phone"]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    ok(&f, &["resume", ALICE, "--label", "Phone"]);
    assert!(login_from(&f, ALICE, &pw, Some("192.0.2.1")), "resumed");

    let old_id = f.row(ALICE, "Phone")["id"].as_i64().unwrap();
    let new = ok(&f, &["rotate", ALICE, &old_id.to_string()])
        .trim()
        .to_string();
    assert_ne!(new, pw);
    assert!(
        login_from(&f, ALICE, &new, Some("192.0.2.1")),
        "the new secret"
    );
    assert!(
        !login_from(&f, ALICE, &pw, Some("192.0.2.1")),
        "the old secret"
    );
    let events: Vec<(String, String)> = f
        .history_json(ALICE)
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let tail: Vec<_> = events.iter().rev().take(3).rev().cloned().collect();
    assert_eq!(tail[0].0, "revoked");
    assert_eq!(tail[0].1, "rotated");
    assert_eq!(tail[1].0, "generated");
    assert_eq!(
        tail[2].0, "used-after-revoke",
        "the old secret tried once: {events:?}"
    );

    // Idle expiry: a password created 40 days ago and never used.
    let idle = f.issue(&[ALICE, "--virtual", "--service", "mail", "--label", "Idle"]);
    f.sql("UPDATE passwords SET created_at = created_at - 40 * 86400 WHERE label = 'Idle'");
    assert!(
        login_from(&f, ALICE, &idle, None),
        "idle expiry is off by default"
    );
    f.sql("UPDATE passwords SET created_at = created_at - 40 * 86400, last_used_at = NULL WHERE label = 'Idle'");
    ok(&f, &["config", "idle-expiry", "30d"]);
    assert_eq!(ok(&f, &["config", "idle-expiry"]).trim(), "30d");
    assert!(!login_from(&f, ALICE, &idle, None), "idle for 80 days");
    let expired: Vec<_> = f
        .history_json(ALICE)
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "expired")
        .cloned()
        .collect();
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(expired[0]["reason"], "idle");
    assert_eq!(expired[0]["by"], "module");
    let all = f.list_json(&["--all"]);
    let row = all
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["label"] == "Idle")
        .unwrap()
        .clone();
    assert_eq!(row["status"], "expired");
    assert_eq!(row["expires_at"], expired[0]["at"]);
    assert!(
        login_from(&f, ALICE, &new, None),
        "the rotated one was used today"
    );
    let bad = f.apppass(&["config", "idle-expiry", "90m"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn the_tripwire_line_reaches_syslog_and_the_fail2ban_filter_counts_it() {
    let test = "the_tripwire_line_reaches_syslog_and_the_fail2ban_filter_counts_it";
    if !require_root(test) || !sandbox_works(test) {
        return;
    }
    let f = Fixture::new();
    f.simple_service("mail");
    let pw = f.issue(&[
        ALICE,
        "--virtual",
        "--service",
        "mail",
        "--label",
        "Old \"phone\" rhost=6.6.6.6",
    ]);
    let keep = f.issue(&[ALICE, "--virtual", "--service", "mail", "--label", "Keep"]);
    let out = f.apppass(&[
        "revoke",
        ALICE,
        "--label",
        "Old \"phone\" rhost=6.6.6.6",
        "--reason",
        "phone lost",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Three tries with the revoked password, one right and one wrong login.
    let lines = capture_syslog(
        f.dir.path(),
        &pam_host_bin(),
        &[
            f.confdir.display().to_string(),
            "mail".into(),
            ALICE.into(),
            pw.clone(),
            "3".into(),
            "1".into(),
            "rhost=203.0.113.9".into(),
        ],
    );
    let more = capture_syslog(
        f.dir.path(),
        &pam_host_bin(),
        &[
            f.confdir.display().to_string(),
            "mail".into(),
            ALICE.into(),
            keep.clone(),
            "2".into(),
            "2".into(),
            "wrong=aaaa-bbbb-cccc-dddd".into(),
            "rhost=198.51.100.4".into(),
        ],
    );
    let all: Vec<String> = lines.iter().chain(&more).cloned().collect();
    let tripwire: Vec<&String> = all
        .iter()
        .filter(|l| l.contains("revoked app password used"))
        .collect();
    assert_eq!(tripwire.len(), 3, "{all:#?}");
    // authpriv (10) * 8 + LOG_WARNING (4) = 84.
    assert!(tripwire[0].starts_with("<84>"), "{}", tripwire[0]);
    assert!(
        tripwire[0].contains(&format!(
            "pam_apppass(mail:auth): revoked app password used; user={ALICE} label=\"Old\\x20\\x22phone\\x22\\x20rhost\\x3d6.6.6.6\" id=1 revoked="
        )) && tripwire[0].contains("reason=\"phone\\x20lost\" rhost=203.0.113.9"),
        "{}",
        tripwire[0]
    );
    assert!(!all.join("\n").contains(&pw[..9]), "no secret in the log");
    // One history line for the day, and list --all shows the last try.
    let tried: Vec<_> = f
        .history_json(ALICE)
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "used-after-revoke")
        .cloned()
        .collect();
    assert_eq!(tried.len(), 1, "{tried:?}");
    let all_rows = f.list_json(&["--all"]);
    let old = all_rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == 1)
        .unwrap()
        .clone();
    assert!(old["last_tried_at"].is_string(), "{old}");

    let log = fail2ban::as_log_file(&all);
    let (n, matched) = fail2ban::matches(f.dir.path(), &log, "tripwire");
    assert_eq!(
        n, 3,
        "the default counts the tripwire only:\n{matched}\n{log}"
    );
    assert!(!matched.contains("authentication failure"), "{matched}");
    let (n, matched) = fail2ban::matches(f.dir.path(), &log, "aggressive");
    // 3 tripwire lines + their 3 failure lines + the wrong password's 1.
    assert_eq!(n, 7, "{matched}\n{log}");
    assert!(!matched.contains("authentication success"), "{matched}");
}
