//! `entitled-group`: only its members may be given app passwords, and a
//! password whose owner left the group is refused at login until they
//! rejoin. Real groups and users (groupadd, gpasswd), real libpam.

use apppass_e2e::apppassd::Daemon;
use apppass_e2e::fixture::{pam_host_bin, stderr, stdout, Fixture};
use apppass_e2e::pam::{login, PAM_AUTH_ERR, PAM_SUCCESS};
use apppass_e2e::system::{capture_syslog, require_root, sandbox_works, SystemGroup, SystemUser};

const PRIMARY: &str = "Primary-Pass-42!";

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn statuses(f: &Fixture, user: &str) -> Vec<String> {
    let out = f.apppass(&["list", user, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
    rows.iter()
        .map(|r| r["status"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn only_members_get_app_passwords_and_a_leaver_is_refused_until_they_rejoin() {
    if !require_root("only_members_get_app_passwords_and_a_leaver_is_refused_until_they_rejoin") {
        return;
    }
    let f = Fixture::new();
    f.simple_service("imap");
    let out = f.apppass(&["config", "entitled-group", "aptest-no-such-group"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("there is no group"),
        "{}",
        stderr(&out)
    );

    let g = SystemGroup::new();
    let u = SystemUser::new(PRIMARY);
    // An earlier password, issued before the rule.
    let early = f.issue(&[&u.name, "--service", "imap", "--label", "Early"]);
    let out = f.apppass(&["config", "entitled-group", &g.name]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = f.apppass(&["config", "entitled-group"]);
    assert_eq!(stdout(&out).trim(), g.name);

    // Not a member: nothing is issued, and the early password is refused.
    let out = f.apppass(&["generate", &u.name, "--service", "imap", "--label", "Phone"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not a member of the group"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
    assert_eq!(f.active(&u.name), 1);
    assert_eq!(
        login(&f.confdir, "imap", &u.name, early.as_bytes()).0,
        PAM_AUTH_ERR
    );
    assert_eq!(statuses(&f, &u.name), ["not-entitled"]);
    // The refusal's log line names the group (where /dev/log can be
    // captured).
    if sandbox_works("only_members_get_app_passwords_and_a_leaver_is_refused_until_they_rejoin") {
        let lines = capture_syslog(
            f.dir.path(),
            &pam_host_bin(),
            &[
                f.confdir.display().to_string(),
                "imap".into(),
                u.name.clone(),
                early.clone(),
                "1".into(),
                "1".into(),
            ],
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("not entitled") && l.contains(&g.name)),
            "{lines:?}"
        );
    }

    // A supplementary member: issued, and both work.
    g.set_member(&u.name, true);
    let pw = f.issue(&[&u.name, "--service", "imap", "--label", "Phone"]);
    assert_eq!(
        login(&f.confdir, "imap", &u.name, pw.as_bytes()).0,
        PAM_SUCCESS
    );
    assert_eq!(
        login(&f.confdir, "imap", &u.name, early.as_bytes()).0,
        PAM_SUCCESS
    );
    assert_eq!(statuses(&f, &u.name), ["active", "active"]);

    // Left the group between logins: refused; back again: works again.
    g.set_member(&u.name, false);
    assert_eq!(
        login(&f.confdir, "imap", &u.name, pw.as_bytes()).0,
        PAM_AUTH_ERR
    );
    assert_eq!(statuses(&f, &u.name), ["not-entitled", "not-entitled"]);
    g.set_member(&u.name, true);
    assert_eq!(
        login(&f.confdir, "imap", &u.name, pw.as_bytes()).0,
        PAM_SUCCESS
    );

    // A virtual user is not concerned.
    let v = f.issue(&[
        "vera@example.org",
        "--virtual",
        "--service",
        "imap",
        "--label",
        "Mail",
    ]);
    assert_eq!(
        login(&f.confdir, "imap", "vera@example.org", v.as_bytes()).0,
        PAM_SUCCESS
    );

    // Lifted: everyone again.
    g.set_member(&u.name, false);
    let out = f.apppass(&["config", "entitled-group", "none"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        login(&f.confdir, "imap", &u.name, pw.as_bytes()).0,
        PAM_SUCCESS
    );
}

#[test]
fn a_group_by_primary_gid_counts_and_self_service_follows_the_rule() {
    if !require_root("a_group_by_primary_gid_counts_and_self_service_follows_the_rule") {
        return;
    }
    let f = Fixture::new();
    let out = f.apppass(&["config", "self-service-services", "imap"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let g = SystemGroup::new();
    let out = f.apppass(&["config", "entitled-group", &g.name]);
    assert!(out.status.success(), "{}", stderr(&out));
    let u = SystemUser::new(PRIMARY);
    let d = Daemon::start(
        &f,
        "auth required pam_unix.so\naccount required pam_unix.so\n",
    );
    let ask = |label: &str| {
        d.apppass_as(
            &u.name,
            &["generate", "--service", "imap", "--label", label],
            &format!("{PRIMARY}\n"),
        )
    };
    let out = ask("Phone");
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("is not a member of the group"),
        "{}",
        stderr(&out)
    );
    assert_eq!(f.active(&u.name), 0);
    // Its primary group is the group: a member.
    let out = std::process::Command::new("usermod")
        .args(["-g", &g.name, &u.name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ask("Phone");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let pw = stdout(&out).trim().to_string();
    f.simple_service("imap");
    assert_eq!(
        login(&f.confdir, "imap", &u.name, pw.as_bytes()).0,
        PAM_SUCCESS
    );
    // Its own group back, so userdel removes both.
    let out = std::process::Command::new("usermod")
        .args(["-g", &u.name, &u.name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}
