//! A primary password change wipes the user's app passwords, however it
//! happens: through the password stack, chpasswd, usermod -p. Real system
//! users and real pam_unix; root only.

use apppass_e2e::fixture::{pam_host_bin, run_pam_host, stderr, Fixture};
use apppass_e2e::pam::*;
use apppass_e2e::system::{require_root, SystemUser};
use std::process::Command;

const NEW_PRIMARY: &str = "Fresh-Primary-Pass-2026!";

/// Debian's stock common-password with our line where pam-auth-update puts it.
const DEBIAN_LAYOUT: &str = "\
password [success=1 default=ignore] pam_unix.so obscure yescrypt
password requisite pam_deny.so
password required pam_permit.so
password optional @MODULE@ db=@DB@
";

const PLAIN_LAYOUT: &str = "\
password required pam_unix.so yescrypt
password optional @MODULE@ db=@DB@
";

fn setup() -> (Fixture, SystemUser, String) {
    let f = Fixture::new();
    let user = SystemUser::new("Old-Primary-Pass-1!");
    let pw = f.issue(&[&user.name, "--service", "mail", "--label", "Phone"]);
    f.simple_service("mail");
    (f, user, pw)
}

fn change(f: &Fixture, user: &SystemUser, layout: &str, answers: &[&str]) -> (i32, Vec<String>) {
    f.service("passwd", layout);
    let answers: Vec<&[u8]> = answers.iter().map(|a| a.as_bytes()).collect();
    let mut p = Pam::start(&f.confdir, "passwd", user.name.as_bytes(), &answers);
    let rc = p.chauthtok();
    (rc, p.prompts())
}

#[test]
fn passwd_through_the_debian_stack_wipes_that_users_passwords_only() {
    if !require_root("passwd_through_the_debian_stack_wipes_that_users_passwords_only") {
        return;
    }
    let (f, user, pw) = setup();
    let virt = f.generate("virtual@example.org", &["mail"], "Phone");
    let other = SystemUser::new("Other-Primary-Pass-1!");
    let other_pw = f.issue(&[&other.name, "--service", "mail", "--label", "Phone"]);
    assert_eq!(
        login(&f.confdir, "mail", &user.name, pw.as_bytes()).0,
        PAM_SUCCESS
    );

    let before = user.shadow_hash();
    let (rc, prompts) = change(&f, &user, DEBIAN_LAYOUT, &[NEW_PRIMARY, NEW_PRIMARY]);
    assert_eq!(
        rc, PAM_SUCCESS,
        "passwd itself succeeds; prompts {prompts:?}"
    );
    assert_ne!(
        user.shadow_hash(),
        before,
        "the primary password really changed"
    );
    // Wiped by the password hook itself, before any login could compare fingerprints.
    assert_eq!(f.active(&user.name), 0);
    assert_eq!(
        login(&f.confdir, "mail", &user.name, pw.as_bytes()).0,
        PAM_AUTH_ERR
    );
    let all = f.list_json(&["--all", &user.name]);
    assert_eq!(all[0]["status"], "revoked");
    let history = f.history_json(&user.name);
    let wiped = history
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "wiped")
        .unwrap();
    assert_eq!(wiped["reason"], "primary password changed");
    // Other users, system or virtual, keep theirs.
    assert_eq!(
        login(&f.confdir, "mail", &other.name, other_pw.as_bytes()).0,
        PAM_SUCCESS
    );
    assert_eq!(
        login(&f.confdir, "mail", "virtual@example.org", virt.as_bytes()).0,
        PAM_SUCCESS
    );
}

#[test]
fn a_failed_change_wipes_nothing_in_either_layout() {
    if !require_root("a_failed_change_wipes_nothing_in_either_layout") {
        return;
    }
    let (f, user, pw) = setup();
    for layout in [DEBIAN_LAYOUT, PLAIN_LAYOUT] {
        let before = user.shadow_hash();
        // Mismatched retype: pam_unix refuses the change.
        let (rc, _) = change(&f, &user, layout, &[NEW_PRIMARY, "Something-Else-2026!"]);
        assert_ne!(rc, PAM_SUCCESS);
        // No answer at all: the change is aborted.
        let (rc, _) = change(&f, &user, layout, &[]);
        assert_ne!(rc, PAM_SUCCESS);
        assert_eq!(user.shadow_hash(), before);
        assert_eq!(f.active(&user.name), 1, "nothing wiped");
        assert_eq!(
            login(&f.confdir, "mail", &user.name, pw.as_bytes()).0,
            PAM_SUCCESS
        );
    }
}

#[test]
fn the_preliminary_phase_alone_wipes_nothing() {
    if !require_root("the_preliminary_phase_alone_wipes_nothing") {
        return;
    }
    let (f, user, _) = setup();
    // Even with the shadow entry already different, a stack that stops
    // after the preliminary phase must not wipe.
    user.chpasswd("Changed-Behind-Our-Back-1!");
    let layout = "password optional @MODULE@ db=@DB@\npassword requisite pam_deny.so\n";
    let (rc, _) = change(&f, &user, layout, &[NEW_PRIMARY, NEW_PRIMARY]);
    assert_ne!(rc, PAM_SUCCESS);
    assert_eq!(f.active(&user.name), 1);
}

#[test]
fn chpasswd_and_usermod_are_caught_by_the_fingerprint() {
    if !require_root("chpasswd_and_usermod_are_caught_by_the_fingerprint") {
        return;
    }
    let (f, user, pw) = setup();
    let second = f.issue(&[&user.name, "--service", "mail", "--label", "Laptop"]);
    user.chpasswd("Via-Chpasswd-2026!");
    assert_eq!(
        login(&f.confdir, "mail", &user.name, pw.as_bytes()).0,
        PAM_AUTH_ERR
    );
    assert_eq!(f.active(&user.name), 0, "both revoked at once");
    assert_eq!(
        login(&f.confdir, "mail", &user.name, second.as_bytes()).0,
        PAM_AUTH_ERR
    );

    let fresh = f.issue(&[&user.name, "--service", "mail", "--label", "New"]);
    assert_eq!(
        login(&f.confdir, "mail", &user.name, fresh.as_bytes()).0,
        PAM_SUCCESS
    );

    // usermod -p with a hash made elsewhere.
    let hash = Command::new("openssl")
        .args(["passwd", "-6", "Via-Usermod-2026!"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let hash = if hash.starts_with("$6$") {
        hash
    } else {
        "$6$abcdefgh$notarealhashbutdifferent".into()
    };
    user.run("usermod", &["-p", &hash]);
    assert_eq!(
        login(&f.confdir, "mail", &user.name, fresh.as_bytes()).0,
        PAM_AUTH_ERR
    );
    assert_eq!(f.active(&user.name), 0);
}

#[test]
fn a_locked_account_is_refused_without_wiping_and_unlocking_restores_it() {
    if !require_root("a_locked_account_is_refused_without_wiping_and_unlocking_restores_it") {
        return;
    }
    let (f, user, pw) = setup();
    user.run("passwd", &["-l"]);
    assert_eq!(
        login(&f.confdir, "mail", &user.name, pw.as_bytes()).0,
        PAM_AUTH_ERR
    );
    assert_eq!(f.active(&user.name), 1);
    user.run("passwd", &["-u"]);
    assert_eq!(
        login(&f.confdir, "mail", &user.name, pw.as_bytes()).0,
        PAM_SUCCESS
    );
}

#[test]
fn unreadable_shadow_or_missing_key_fails_closed_and_wipes_nothing() {
    if !require_root("unreadable_shadow_or_missing_key_fails_closed_and_wipes_nothing") {
        return;
    }
    let (f, user, pw) = setup();
    let virt = f.generate("virtual@example.org", &["mail"], "Phone");
    f.service("mail", "auth required @MODULE@ db=@DB@\n");
    // The module running as a non-root user that owns the store: it can
    // read the store but not /etc/shadow.
    let status = Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(f.dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let as_nobody = |who: &str, password: &str| {
        let mut setpriv = Command::new("setpriv");
        setpriv
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(pam_host_bin());
        let r = run_pam_host(setpriv, &f.confdir, &["mail", who, password, "1", "1"]);
        r["last_rc"].as_i64().unwrap() as i32
    };
    assert_eq!(
        as_nobody("virtual@example.org", &virt),
        PAM_SUCCESS,
        "the store itself is usable as nobody"
    );
    assert_eq!(as_nobody(&user.name, &pw), PAM_AUTHINFO_UNAVAIL);
    Command::new("chown")
        .args(["-R", "root:root"])
        .arg(f.dir.path())
        .status()
        .unwrap();
    assert_eq!(f.active(&user.name), 1);

    // Key gone and the primary password changed: still no wipe.
    user.chpasswd("Changed-While-Keyless-1!");
    let key = std::fs::read(f.key()).unwrap();
    std::fs::remove_file(f.key()).unwrap();
    assert_eq!(
        login(&f.confdir, "mail", &user.name, pw.as_bytes()).0,
        PAM_AUTHINFO_UNAVAIL
    );
    assert_eq!(f.active(&user.name), 1);
    std::fs::write(f.key(), key).unwrap();
}

#[test]
fn a_removed_user_is_cleaned_up_and_never_breaks_list_for_everyone() {
    if !require_root("a_removed_user_is_cleaned_up_and_never_breaks_list_for_everyone") {
        return;
    }
    let (f, user, pw) = setup();
    let gone = SystemUser::new("Gone-Primary-Pass-1!");
    f.issue(&[&gone.name, "--service", "mail", "--label", "Phone"]);
    let keeper = f.generate("keeper@example.org", &["mail"], "Phone");
    gone.run("userdel", &[]);

    let out = f.apppass(&["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "the account {} no longer exists: revoked its 1 app passwords",
            gone.name
        )),
        "{}",
        stderr(&out)
    );
    let row = f.row(&gone.name, "Phone");
    assert_eq!(row["status"], "revoked");
    assert_eq!(row["revoked_reason"], "user removed");
    assert!(f
        .history_json(&gone.name)
        .to_string()
        .contains("user removed"));
    // Everyone else is listed and logs in as before.
    assert_eq!(
        login(&f.confdir, "mail", &user.name, pw.as_bytes()).0,
        PAM_SUCCESS
    );
    assert_eq!(
        login(&f.confdir, "mail", "keeper@example.org", keeper.as_bytes()).0,
        PAM_SUCCESS
    );
    let all = f.apppass(&["list", "--all"]);
    assert_eq!(all.status.code(), Some(0), "{}", stderr(&all));
    // The name is now a typo for generate, or a virtual user on purpose.
    let out = f.apppass(&[
        "generate",
        &gone.name,
        "--service",
        "mail",
        "--label",
        "New",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = f.apppass(&[
        "generate",
        &gone.name,
        "--virtual",
        "--service",
        "mail",
        "--label",
        "New",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_removed_user_seen_first_at_login_is_refused_and_revoked() {
    if !require_root("a_removed_user_seen_first_at_login_is_refused_and_revoked") {
        return;
    }
    let (f, user, pw) = setup();
    user.run("userdel", &[]);
    assert_eq!(
        login(&f.confdir, "mail", &user.name, pw.as_bytes()).0,
        PAM_AUTH_ERR
    );
    let row = f.row(&user.name, "Phone");
    assert_eq!(row["status"], "revoked");
    assert_eq!(row["revoked_reason"], "user removed");
}

#[test]
fn an_account_without_a_primary_password_uses_app_passwords_and_keeps_them_when_one_is_set() {
    if !require_root(
        "an_account_without_a_primary_password_uses_app_passwords_and_keeps_them_when_one_is_set",
    ) {
        return;
    }
    let f = Fixture::new();
    f.simple_service("mail");
    let user = SystemUser::without_password();
    assert_eq!(user.shadow_hash(), "!", "useradd leaves no password");
    let out = f.apppass(&[
        "generate",
        &user.name,
        "--service",
        "mail",
        "--label",
        "Phone",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has no primary password"),
        "{}",
        stderr(&out)
    );
    let pw = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(
        login(&f.confdir, "mail", &user.name, pw.as_bytes()).0,
        PAM_SUCCESS
    );

    // adduser --disabled-password leaves `*`: the same state.
    user.run("usermod", &["-p", "*"]);
    assert_eq!(
        login(&f.confdir, "mail", &user.name, pw.as_bytes()).0,
        PAM_SUCCESS
    );

    // A first primary password is not a change of one: the passwords stay.
    user.chpasswd("First-Primary-Pass-1!");
    assert_eq!(
        login(&f.confdir, "mail", &user.name, pw.as_bytes()).0,
        PAM_SUCCESS
    );
    assert_eq!(f.active(&user.name), 1);
    // Locking that password is a lock, and changing it is a change.
    user.run("passwd", &["-l"]);
    assert_eq!(
        login(&f.confdir, "mail", &user.name, pw.as_bytes()).0,
        PAM_AUTH_ERR
    );
    assert_eq!(f.active(&user.name), 1);
    user.run("passwd", &["-u"]);
    assert_eq!(
        login(&f.confdir, "mail", &user.name, pw.as_bytes()).0,
        PAM_SUCCESS
    );
    user.chpasswd("Second-Primary-Pass-2!");
    assert_eq!(
        login(&f.confdir, "mail", &user.name, pw.as_bytes()).0,
        PAM_AUTH_ERR
    );
    assert_eq!(f.active(&user.name), 0);
}

#[test]
fn a_first_primary_password_set_through_the_password_stack_keeps_app_passwords() {
    if !require_root("a_first_primary_password_set_through_the_password_stack_keeps_app_passwords")
    {
        return;
    }
    let f = Fixture::new();
    f.simple_service("mail");
    let user = SystemUser::without_password();
    let pw = f.issue(&[&user.name, "--service", "mail", "--label", "Phone"]);
    let (rc, prompts) = change(&f, &user, PLAIN_LAYOUT, &[NEW_PRIMARY, NEW_PRIMARY]);
    assert_eq!(rc, PAM_SUCCESS, "{prompts:?}");
    assert_ne!(user.shadow_hash(), "!");
    assert_eq!(f.active(&user.name), 1);
    assert_eq!(
        login(&f.confdir, "mail", &user.name, pw.as_bytes()).0,
        PAM_SUCCESS
    );
    // The next change through the stack is a real change.
    let (rc, _) = change(
        &f,
        &user,
        PLAIN_LAYOUT,
        &["Another-Primary-3!", "Another-Primary-3!"],
    );
    assert_eq!(rc, PAM_SUCCESS);
    assert_eq!(f.active(&user.name), 0);
}

#[test]
fn generate_warns_when_it_cannot_take_a_fingerprint() {
    if !require_root("generate_warns_when_it_cannot_take_a_fingerprint") {
        return;
    }
    let f = Fixture::new();
    let user = SystemUser::new("Nobody-Run-Primary-1!");
    let status = Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(f.dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(apppass_e2e::fixture::apppass_bin())
        .arg("--db")
        .arg(&f.db)
        .args([
            "generate",
            &user.name,
            "--service",
            "mail",
            "--label",
            "Phone",
        ])
        .output()
        .unwrap();
    Command::new("chown")
        .args(["-R", "root:root"])
        .arg(f.dir.path())
        .status()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no primary-password fingerprint was recorded"),
        "{}",
        stderr(&out)
    );
}
