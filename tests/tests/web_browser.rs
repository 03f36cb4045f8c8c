//! The web page in a real headless Chromium, found by the accessible names
//! the contract lists: a system user makes a password and logs in to a
//! real Dovecot with it, revokes it, signs out; a password limited to a
//! network is suspended, resumed and replaced from the page; a virtual
//! mail user signs in through Dovecot's auth socket; a one-time code is a
//! further field.

use apppass_e2e::browser::{self, Chrome};
use apppass_e2e::clients::imap_login;
use apppass_e2e::dovecot::{Dovecot, Options as DovecotOptions, Passdb};
use apppass_e2e::fixture::{stderr, Fixture};
use apppass_e2e::system::{require_root, SystemUser};
use apppass_e2e::web::{Options, Web};
use std::net::Ipv4Addr;
use std::process::Command;

const PRIMARY: &str = "Primary-Browser-Pass-5!";
const UNIX: &str = "auth required pam_unix.so nodelay\naccount required pam_unix.so\n";
const APP_STACK: &str = "auth sufficient @MODULE@ db=@DB@\nauth requisite pam_deny.so\naccount sufficient @MODULE@ db=@DB@\naccount required pam_unix.so\n";

fn ready(test: &str) -> bool {
    if !require_root(test) {
        return false;
    }
    if !browser::available() {
        eprintln!(
            "\n*** SKIPPED {test}: chromium and chromium-driver are not installed (make check installs them) ***\n"
        );
        return false;
    }
    true
}

fn run<F: std::future::Future<Output = ()>>(f: F) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f);
}

fn allow(f: &Fixture, services: &str) {
    let out = f.apppass(&["config", "self-service-services", services]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A private Dovecot whose IMAP goes through the module, and the web page
/// signing system users in with pam_unix; users may choose its IMAP
/// service (PREFIX-imap) and `more`.
fn dovecot_and_web(f: &Fixture, more: &str) -> (Dovecot, String, Web) {
    let dc = Dovecot::start(
        f,
        DovecotOptions {
            passdb: Passdb::PerProtocol,
            cache: false,
            stack: APP_STACK.into(),
            files_for: vec!["imap"],
        },
    );
    let imap = dc.service("imap");
    allow(f, [imap.as_str(), more].join(",").trim_end_matches(','));
    let web = Web::start_with(
        f,
        Options {
            stack: UNIX,
            daemon_args: vec!["--dovecot-config".into(), dc.conf.display().to_string()],
            tls: None,
            web_args: Vec::new(),
        },
    );
    (dc, imap, web)
}

async fn sign_in(c: &Chrome, url: &str, user: &str, password: &str) {
    c.goto(&format!("{url}/sign-in")).await;
    c.fill("User name", user).await;
    c.fill("Password", password).await;
    c.click("Sign in").await;
}

#[test]
fn a_user_makes_a_password_in_the_browser_logs_in_to_imap_and_revokes_it() {
    if !ready("a_user_makes_a_password_in_the_browser_logs_in_to_imap_and_revokes_it") {
        return;
    }
    let f = Fixture::new();
    let u = SystemUser::new(PRIMARY);
    let (dc, imap, web) = dovecot_and_web(&f, "submission");
    run(async {
        let c = Chrome::phone().await;
        c.goto(&web.url).await;
        c.named("input", "User name").await;
        c.screenshot("web-phone-sign-in").await;
        sign_in(&c, &web.url, &u.name, PRIMARY).await;
        c.named("input", "Label").await;
        c.fill("Label", "iPhone Mail").await;
        c.click(&imap).await;
        c.fill("Expires", "90d").await;
        c.screenshot("web-phone-create").await;
        c.click("Create app password").await;
        let shown = c.new_password().await;
        let groups: Vec<&str> = shown.trim().split('-').collect();
        assert_eq!(groups.len(), 4, "{shown}");
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_lowercase())),
            "{shown}"
        );
        c.screenshot("web-phone-new-password").await;
        assert!(
            imap_login(dc.imap, Ipv4Addr::LOCALHOST, &u.name, shown.trim()),
            "IMAP with the new password: {}",
            dc.log()
        );

        c.goto(&web.url).await;
        c.screenshot("web-phone-list").await;
        let desktop = Chrome::desktop().await;
        sign_in(&desktop, &web.url, &u.name, PRIMARY).await;
        desktop.named("button", "Create app password").await;
        desktop.screenshot("web-desktop-list").await;
        desktop.close().await;
        // Revoke, confirm, and IMAP refuses it.
        assert_eq!(c.all_named("button", "Revoke").await.len(), 1);
        c.click("Revoke").await;
        c.wait_text("Revoke “iPhone Mail”?").await;
        assert_eq!(f.row(&u.name, "iPhone Mail")["status"], "active");
        c.click("Revoke").await;
        c.named("button", "Create app password").await;
        assert_eq!(f.row(&u.name, "iPhone Mail")["status"], "revoked");
        assert!(!imap_login(
            dc.imap,
            Ipv4Addr::LOCALHOST,
            &u.name,
            shown.trim()
        ));

        // Revoke all, with its own confirmation.
        c.fill("Label", "Laptop").await;
        c.click(&imap).await;
        c.click("Create app password").await;
        c.new_password().await;
        c.goto(&web.url).await;
        c.click("Revoke all").await;
        c.click("Revoke all").await;
        c.named("button", "Create app password").await;
        assert_eq!(f.row(&u.name, "Laptop")["status"], "revoked");

        // Sign out; going back shows no password and no signed-in page.
        c.click("Sign out").await;
        c.named("input", "User name").await;
        for _ in 0..4 {
            c.client.back().await.unwrap();
            let page = c.source().await;
            assert!(
                !page.contains(shown.trim()),
                "the password after sign-out: {page}"
            );
            assert!(
                !page.contains("Signed in as"),
                "a signed-in page after sign-out: {page}"
            );
        }
        c.close().await;
    });
    assert!(!web.log().contains(PRIMARY));
}

#[test]
fn a_password_for_one_network_is_suspended_resumed_and_replaced_from_the_page() {
    if !ready("a_password_for_one_network_is_suspended_resumed_and_replaced_from_the_page") {
        return;
    }
    let f = Fixture::new();
    let u = SystemUser::new(PRIMARY);
    let (dc, _, web) = dovecot_and_web(&f, "");
    let office = Ipv4Addr::new(127, 0, 0, 2);
    let elsewhere = Ipv4Addr::new(127, 0, 0, 3);
    let imap_from = |from: Ipv4Addr, secret: &str| imap_login(dc.imap, from, &u.name, secret);
    run(async {
        let c = Chrome::phone().await;
        sign_in(&c, &web.url, &u.name, PRIMARY).await;

        // A network with host bits set is refused with the fix, and the
        // form keeps what was typed.
        c.fill("Label", "Office PC").await;
        c.fill("Allowed networks", "127.0.0.2/8").await;
        c.click("Create app password").await;
        c.wait_text("127.0.0.0/8").await;
        assert_eq!(
            c.all_named("input", "Label").await.len(),
            1,
            "the form is shown again"
        );
        assert!(f
            .list_json(&["--all", &u.name])
            .as_array()
            .unwrap()
            .is_empty());

        c.fill("Label", "Office PC").await;
        c.fill("Allowed networks", "127.0.0.2/32").await;
        c.click("Create app password").await;
        let first = c.new_password().await;
        assert_eq!(
            f.row(&u.name, "Office PC")["networks"],
            serde_json::json!(["127.0.0.2/32"])
        );
        assert!(
            imap_from(office, &first),
            "IMAP from the office: {}",
            dc.log()
        );
        assert!(!imap_from(elsewhere, &first), "IMAP from elsewhere");

        c.goto(&web.url).await;
        c.wait_text("127.0.0.2/32").await;
        c.screenshot("web-phone-card-with-network").await;
        c.click("Suspend").await;
        c.wait_text("The app password was suspended.").await;
        assert_eq!(f.row(&u.name, "Office PC")["status"], "suspended");
        assert!(!imap_from(office, &first), "IMAP with a suspended password");
        assert!(c.all_named("button", "Suspend").await.is_empty());
        assert!(c.all_named("button", "Replace password").await.is_empty());

        c.click("Resume").await;
        c.wait_text("The app password was resumed.").await;
        assert_eq!(f.row(&u.name, "Office PC")["status"], "active");
        assert!(imap_from(office, &first), "IMAP after resume: {}", dc.log());

        c.click("Replace password").await;
        let second = c.new_password().await;
        assert_ne!(first, second);
        assert!(
            imap_from(office, &second),
            "IMAP with the replacement: {}",
            dc.log()
        );
        assert!(
            !imap_from(elsewhere, &second),
            "the replacement keeps the network"
        );
        assert!(
            !imap_from(office, &first),
            "the replaced password still works"
        );

        // The old phone that still uses the replaced password shows up on
        // its card.
        c.goto(&web.url).await;
        c.wait_text("Tried after it stopped").await;
        c.wait_text("(rotated)").await;
        c.close().await;
    });
    let rows = f.list_json(&["--all", &u.name]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let old = rows.iter().find(|r| r["status"] == "revoked").unwrap();
    let new = rows.iter().find(|r| r["status"] == "active").unwrap();
    assert_eq!(old["revoked_reason"], "rotated");
    assert!(old["last_tried_at"].is_string(), "{old}");
    assert_eq!(new["label"], "Office PC");
    assert_eq!(new["networks"], serde_json::json!(["127.0.0.2/32"]));
    assert!(!web.log().contains(PRIMARY));
}

#[test]
fn a_virtual_mail_user_signs_in_through_dovecots_auth_socket() {
    if !ready("a_virtual_mail_user_signs_in_through_dovecots_auth_socket") {
        return;
    }
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    std::fs::write(&users, "ann@example.org:{PLAIN}Ann-Mail-Pass-1::::::\n").unwrap();
    let dc = Dovecot::start(
        &f,
        DovecotOptions {
            passdb: Passdb::FirstThenPerProtocol(format!(
                "passdb {{\n  driver = passwd-file\n  args = {}\n}}",
                users.display()
            )),
            cache: false,
            stack: APP_STACK.into(),
            files_for: vec!["imap"],
        },
    );
    let imap = dc.service("imap");
    allow(&f, &format!("{imap},submission"));
    let socket = dc.dir.path().join("run/auth-client");
    let web = Web::start_with(
        &f,
        Options {
            stack: "auth required pam_deny.so\naccount required pam_deny.so\n",
            daemon_args: vec!["--web-auth".into(), format!("dovecot:{}", socket.display())],
            tls: None,
            web_args: Vec::new(),
        },
    );
    run(async {
        let c = Chrome::phone().await;
        sign_in(&c, &web.url, "ann@example.org", "wrong").await;
        c.wait_text("The user name or password is not right.").await;
        sign_in(&c, &web.url, "ann@example.org", "Ann-Mail-Pass-1").await;
        c.fill("Label", "Thunderbird").await;
        c.click(&imap).await;
        c.click("Create app password").await;
        let shown = c.new_password().await;
        assert_eq!(shown.trim().len(), 19);
        c.close().await;
    });
    assert_eq!(f.row("ann@example.org", "Thunderbird")["status"], "active");
}

#[test]
fn a_one_time_code_is_asked_as_a_further_field_and_a_wrong_one_refuses() {
    if !ready("a_one_time_code_is_asked_as_a_further_field_and_a_wrong_one_refuses") {
        return;
    }
    let f = Fixture::new();
    allow(&f, "imap");
    let u = SystemUser::new(PRIMARY);
    let dir = tempfile::tempdir().unwrap();
    let key = "3132333435363738393031323334353637383930";
    let other = "0102030405060708090a0b0c0d0e0f1011121314";
    let users = dir.path().join("users.oath");
    std::fs::write(&users, format!("HOTP/T30/6 {} - {key}\n", u.name)).unwrap();
    let stack = format!(
        "auth requisite pam_unix.so nodelay\nauth required pam_oath.so usersfile={} window=4 digits=6\naccount required pam_unix.so\n",
        users.display()
    );
    let web = Web::start(&f, &stack);
    let code = |k: &str| {
        let out = Command::new("oathtool")
            .args(["--totp", k])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    run(async {
        let c = Chrome::phone().await;
        sign_in(&c, &web.url, &u.name, PRIMARY).await;
        let prompt = format!("One-time password (OATH) for `{}'", u.name);
        c.named("input", &prompt).await;
        c.screenshot("web-phone-one-time-code").await;
        c.fill(&prompt, &code(other)).await;
        c.click("Continue").await;
        c.wait_text("The user name or password is not right.").await;
        sign_in(&c, &web.url, &u.name, PRIMARY).await;
        c.fill(&prompt, &code(key)).await;
        c.click("Continue").await;
        c.named("button", "Create app password").await;
        c.close().await;
    });
}
