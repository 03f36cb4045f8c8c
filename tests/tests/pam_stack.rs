//! The module in real PAM stacks, loaded by libpam from a private
//! configuration directory.

use apppass_e2e::fixture::{stderr, Fixture};
use apppass_e2e::pam::*;
use std::os::unix::fs::PermissionsExt;

const USER: &str = "alice@example.org";

fn with_password(services: &[&str]) -> (Fixture, String) {
    let f = Fixture::new();
    let pw = f.generate(USER, services, "Phone");
    (f, pw)
}

#[test]
fn right_password_succeeds_and_wrong_one_fails() {
    let (f, pw) = with_password(&["mail"]);
    f.simple_service("mail");
    assert_eq!(
        login(&f.confdir, "mail", USER, pw.as_bytes()),
        (PAM_SUCCESS, 1)
    );
    assert_eq!(
        login(&f.confdir, "mail", USER, b"aaaa-bbbb-cccc-dddd").0,
        PAM_AUTH_ERR
    );
}

#[test]
fn upper_case_and_space_separated_input_is_accepted() {
    let (f, pw) = with_password(&["mail"]);
    f.simple_service("mail");
    let spaced = pw.to_uppercase().replace('-', " ");
    assert_eq!(
        login(&f.confdir, "mail", USER, spaced.as_bytes()).0,
        PAM_SUCCESS
    );
    let run_together = pw.replace('-', "");
    assert_eq!(
        login(&f.confdir, "mail", USER, run_together.as_bytes()).0,
        PAM_SUCCESS
    );
}

#[test]
fn another_users_password_is_refused() {
    let f = Fixture::new();
    let _alice = f.generate(USER, &["mail"], "Phone");
    let bob = f.generate("bob@example.org", &["mail"], "Phone");
    f.simple_service("mail");
    assert_eq!(
        login(&f.confdir, "mail", USER, bob.as_bytes()).0,
        PAM_AUTH_ERR
    );
    assert_eq!(
        login(&f.confdir, "mail", "bob@example.org", bob.as_bytes()).0,
        PAM_SUCCESS
    );
}

#[test]
fn another_services_password_is_refused() {
    let (f, pw) = with_password(&["imap"]);
    f.simple_service("imap");
    f.simple_service("pop3");
    assert_eq!(
        login(&f.confdir, "imap", USER, pw.as_bytes()).0,
        PAM_SUCCESS
    );
    assert_eq!(
        login(&f.confdir, "pop3", USER, pw.as_bytes()).0,
        PAM_AUTH_ERR
    );
}

/// `--any-service` is for clients: it never reaches a shell, root, a
/// desktop, a screen locker or the self-service sign-in.
#[test]
fn any_service_password_never_reaches_a_shell_root_or_a_desktop() {
    let (f, pw) = with_password(&["*"]);
    let allowed = ["imap", "submission", "sieve"];
    let refused = [
        "sshd",
        "sudo",
        "su",
        "doas",
        "remote",
        "login",
        "gdm-password",
        "lightdm",
        "sddm",
        "xrdp-sesman",
        "cockpit",
        "vlock",
        "xscreensaver",
        "apppass",
        "apppass-web",
    ];
    for svc in allowed.iter().chain(&refused) {
        f.simple_service(svc);
    }
    for svc in allowed {
        assert_eq!(
            login(&f.confdir, svc, USER, pw.as_bytes()).0,
            PAM_SUCCESS,
            "{svc}"
        );
    }
    for svc in refused {
        assert_eq!(
            login(&f.confdir, svc, USER, pw.as_bytes()).0,
            PAM_AUTH_ERR,
            "{svc}"
        );
    }
}

/// Named explicitly, a shell service matches; the self-service sign-in
/// never does, and cannot even be named.
#[test]
fn a_named_shell_service_matches_but_the_self_service_sign_in_never_does() {
    let f = Fixture::new();
    let pw = f.generate(USER, &["sshd"], "Terminal");
    f.simple_service("sshd");
    assert_eq!(
        login(&f.confdir, "sshd", USER, pw.as_bytes()).0,
        PAM_SUCCESS
    );
    for svc in ["apppass", "apppass-web", "APPPASS"] {
        let out = f.apppass(&[
            "generate",
            USER,
            "--virtual",
            "--service",
            svc,
            "--label",
            "Mint",
        ]);
        assert_eq!(out.status.code(), Some(2), "{svc}");
        assert!(
            stderr(&out).contains("never accepted there"),
            "{}",
            stderr(&out)
        );
    }
    // Even a row written into the store by hand is not accepted there.
    f.sql("UPDATE passwords SET services = 'apppass sshd'");
    f.simple_service("apppass");
    assert_eq!(
        login(&f.confdir, "apppass", USER, pw.as_bytes()).0,
        PAM_AUTH_ERR
    );
    assert_eq!(
        login(&f.confdir, "sshd", USER, pw.as_bytes()).0,
        PAM_SUCCESS
    );
}

#[test]
fn revoked_password_is_refused() {
    let (f, pw) = with_password(&["mail"]);
    f.simple_service("mail");
    assert_eq!(
        login(&f.confdir, "mail", USER, pw.as_bytes()).0,
        PAM_SUCCESS
    );
    f.revoke(USER, "phone");
    assert_eq!(
        login(&f.confdir, "mail", USER, pw.as_bytes()).0,
        PAM_AUTH_ERR
    );
}

#[test]
fn expired_password_is_refused() {
    let (f, pw) = with_password(&["mail"]);
    f.simple_service("mail");
    f.expire_at("Phone", 3600);
    assert_eq!(
        login(&f.confdir, "mail", USER, pw.as_bytes()).0,
        PAM_SUCCESS
    );
    f.expire_at("Phone", -1);
    assert_eq!(
        login(&f.confdir, "mail", USER, pw.as_bytes()).0,
        PAM_AUTH_ERR
    );
}

#[test]
fn a_user_without_app_passwords_gets_auth_err() {
    let f = Fixture::new();
    f.simple_service("mail");
    assert_eq!(
        login(&f.confdir, "mail", "nobody-here", b"aaaa-bbbb-cccc-dddd").0,
        PAM_AUTH_ERR
    );
}

#[test]
fn odd_tokens_fail_without_crashing() {
    let (f, _) = with_password(&["mail"]);
    f.service("mail", "auth required @MODULE@ db=@DB@\n");
    let long = vec![b'a'; 5000];
    let non_utf8: &[u8] = &[0xff, 0xfe, 0xfd, b'a', b'b'];
    for token in [&long[..], b"", non_utf8, "abcd-efgh-ijkl-mnоp".as_bytes()] {
        assert_eq!(
            login(&f.confdir, "mail", USER, token).0,
            PAM_AUTH_ERR,
            "{token:?}"
        );
    }
}

#[test]
fn the_module_prompts_when_no_token_is_set() {
    let (f, pw) = with_password(&["mail"]);
    f.simple_service("mail");
    let mut p = Pam::start(&f.confdir, "mail", USER.as_bytes(), &[pw.as_bytes()]);
    assert_eq!(p.authenticate(), PAM_SUCCESS);
    assert_eq!(p.prompts(), vec!["Password: ".to_string()]);
}

/// A script for pam_exec that saves the token it is handed.
fn capture_script(f: &Fixture) -> (std::path::PathBuf, std::path::PathBuf) {
    let out = f.dir.path().join("seen-token");
    let script = f.dir.path().join("capture.sh");
    std::fs::write(&script, format!("#!/bin/sh\ncat > '{}'\n", out.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    (script, out)
}

fn seen(out: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(out).unwrap();
    // pam_exec writes the terminating NUL too.
    if bytes.last() == Some(&0) {
        bytes.pop();
    }
    bytes
}

#[test]
fn the_token_is_handed_on_exactly_as_typed_with_try_first_pass() {
    let (f, _) = with_password(&["mail"]);
    let (script, out) = capture_script(&f);
    f.service(
        "mail",
        &format!(
            "auth [success=done default=ignore] @MODULE@ db=@DB@ try_first_pass\nauth required pam_exec.so expose_authtok quiet {}\n",
            script.display()
        ),
    );
    // A primary password typed into the app-password box: not ours, so the
    // next module must see it unchanged, without a second prompt.
    let typed = "My Primary-Pass wörd";
    let mut p = Pam::start(&f.confdir, "mail", USER.as_bytes(), &[typed.as_bytes()]);
    assert_eq!(p.authenticate(), PAM_SUCCESS);
    assert_eq!(p.prompts().len(), 1, "one prompt for both modules");
    assert_eq!(seen(&out), typed.as_bytes());
    // An app password in odd case and spacing is also handed on as typed.
    let odd = "ABCD efgh-IJKL mnop";
    let mut p = Pam::start(&f.confdir, "mail", USER.as_bytes(), &[odd.as_bytes()]);
    assert_eq!(p.authenticate(), PAM_SUCCESS);
    assert_eq!(seen(&out), odd.as_bytes());
}

#[test]
fn use_first_pass_takes_the_earlier_token_and_never_prompts() {
    let (f, pw) = with_password(&["mail"]);
    let (script, _) = capture_script(&f);
    f.service(
        "mail",
        &format!(
            "auth optional pam_exec.so expose_authtok quiet {}\nauth sufficient @MODULE@ db=@DB@ use_first_pass\nauth requisite pam_deny.so\n",
            script.display()
        ),
    );
    let mut p = Pam::start(&f.confdir, "mail", USER.as_bytes(), &[pw.as_bytes()]);
    assert_eq!(p.authenticate(), PAM_SUCCESS);
    assert_eq!(p.prompts().len(), 1, "only pam_exec asked");

    // With no earlier module there is no token, and use_first_pass must not prompt.
    f.service("alone", "auth required @MODULE@ db=@DB@ use_first_pass\n");
    let mut p = Pam::start(&f.confdir, "alone", USER.as_bytes(), &[pw.as_bytes()]);
    assert_eq!(p.authenticate(), PAM_AUTH_ERR);
    assert!(p.prompts().is_empty());
}

fn assert_unavailable(f: &Fixture, pw: &str, why: &str) {
    let (rc, _) = login(&f.confdir, "mail", USER, pw.as_bytes());
    assert_eq!(rc, PAM_AUTHINFO_UNAVAIL, "{why}");
}

#[test]
fn a_missing_store_is_authinfo_unavail() {
    let f = Fixture::uninitialised();
    f.service("mail", "auth required @MODULE@ db=@DB@\n");
    assert_unavailable(&f, "abcd-efgh-ijkl-mnop", "no store");
    // A stray key without a store is no better.
    std::fs::create_dir(f.db.parent().unwrap()).unwrap();
    std::fs::set_permissions(
        f.db.parent().unwrap(),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    assert_unavailable(&f, "abcd-efgh-ijkl-mnop", "empty store directory");
}

#[test]
fn a_world_writable_store_or_key_is_refused() {
    let (f, pw) = with_password(&["mail"]);
    f.service("mail", "auth required @MODULE@ db=@DB@\n");
    let mode = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    mode(&f.db, 0o666);
    assert_unavailable(&f, &pw, "world-writable store");
    mode(&f.db, 0o600);
    mode(&f.key(), 0o606);
    assert_unavailable(&f, &pw, "world-writable key");
    mode(&f.key(), 0o600);
    let dir = f.db.parent().unwrap();
    mode(dir, 0o777);
    assert_unavailable(&f, &pw, "world-writable directory");
    mode(dir, 0o700);
    assert_eq!(
        login(&f.confdir, "mail", USER, pw.as_bytes()).0,
        PAM_SUCCESS
    );
}

#[test]
fn a_store_reached_through_a_symlink_is_refused() {
    let (f, pw) = with_password(&["mail"]);
    let link = f.db.parent().unwrap().join("link.db");
    std::os::unix::fs::symlink(&f.db, &link).unwrap();
    f.service(
        "mail",
        &format!("auth required @MODULE@ db={}\n", link.display()),
    );
    assert_unavailable(&f, &pw, "symlinked store");
    // A symlinked key is refused too.
    let key = f.key();
    let real = f.db.parent().unwrap().join("real-key");
    std::fs::rename(&key, &real).unwrap();
    std::os::unix::fs::symlink(&real, &key).unwrap();
    f.service("mail", "auth required @MODULE@ db=@DB@\n");
    assert_unavailable(&f, &pw, "symlinked key");
}

#[test]
fn a_corrupt_store_is_refused() {
    let (f, pw) = with_password(&["mail"]);
    f.service("mail", "auth required @MODULE@ db=@DB@\n");
    let len = std::fs::metadata(&f.db).unwrap().len().max(4096) as usize;
    std::fs::write(&f.db, vec![0x42u8; len]).unwrap();
    assert_unavailable(&f, &pw, "corrupt store");
}

#[test]
fn a_store_of_unknown_schema_version_is_refused() {
    let (f, pw) = with_password(&["mail"]);
    f.service("mail", "auth required @MODULE@ db=@DB@\n");
    f.sql("PRAGMA user_version = 99");
    assert_unavailable(&f, &pw, "schema 99");
}

/// A hash of the right password, but cheaper than apppass ever makes
/// (argon2id m=8 t=1, as a hand-edited store could hold): refused at the
/// login and by `apppass verify`, never let in.
#[test]
fn a_stored_hash_below_the_argon2_floor_fails_closed() {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let (f, pw) = with_password(&["mail"]);
    f.service("mail", "auth required @MODULE@ db=@DB@\n");
    let secret = apppass_core::secret::NormalizedSecret::from_candidate(pw.as_bytes()).unwrap();
    let cheap = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8, 1, 1, None).unwrap(),
    )
    .hash_password(
        secret.as_bytes(),
        &SaltString::encode_b64(&[3u8; 16]).unwrap(),
    )
    .unwrap()
    .to_string();
    // The tag stays: it is made from the secret and its own salt.
    f.sql(&format!("UPDATE passwords SET phc = '{cheap}'"));
    assert_unavailable(&f, &pw, "a hash below the floor");
    let out = f.apppass_stdin(&["verify", USER, "--service", "mail"], pw.as_bytes());
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let msg = stderr(&out);
    assert!(
        msg.contains("m=8 t=1 p=1 is below the floor") && !msg.contains(&cheap),
        "{msg}"
    );
}

#[test]
fn a_missing_key_is_refused() {
    let (f, pw) = with_password(&["mail"]);
    f.service("mail", "auth required @MODULE@ db=@DB@\n");
    std::fs::remove_file(f.key()).unwrap();
    assert_unavailable(&f, &pw, "no key");
}

#[test]
fn bad_module_arguments_are_a_service_error() {
    let (f, pw) = with_password(&["mail"]);
    for args in [
        "db=@DB@ nullok",
        "db=relative.db",
        "db=@DB@ db=@DB@",
        "DEBUG",
    ] {
        f.service("mail", &format!("auth required @MODULE@ {args}\n"));
        assert_eq!(
            login(&f.confdir, "mail", USER, pw.as_bytes()).0,
            PAM_SERVICE_ERR,
            "{args}"
        );
    }
}

#[test]
fn last_use_and_rhost_are_recorded() {
    let (f, pw) = with_password(&["mail"]);
    f.simple_service("mail");
    let mut p = Pam::start(&f.confdir, "mail", USER.as_bytes(), &[pw.as_bytes()]);
    p.set_item(PAM_RHOST, "198.51.100.23");
    assert_eq!(p.authenticate(), PAM_SUCCESS);
    drop(p);
    let list = f.list_json(&[USER]);
    let row = &list[0];
    assert_eq!(row["last_used_service"], "mail");
    assert_eq!(row["last_used_rhost"], "198.51.100.23");
    assert!(row["last_used_at"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn setcred_always_succeeds() {
    let (f, pw) = with_password(&["mail"]);
    f.service("mail", "auth required @MODULE@ db=@DB@\n");
    let mut p = Pam::start(&f.confdir, "mail", USER.as_bytes(), &[pw.as_bytes()]);
    assert_eq!(p.authenticate(), PAM_SUCCESS);
    assert_eq!(p.setcred(), PAM_SUCCESS);
    // On a handle with no frozen auth chain, libpam reports our own answer.
    let mut p = Pam::start(&f.confdir, "mail", b"somebody-else", &[]);
    assert_eq!(p.setcred(), PAM_SUCCESS);
}

#[test]
fn account_succeeds_only_for_a_virtual_user_this_handle_authenticated() {
    let (f, pw) = with_password(&["mail"]);
    // sufficient + pam_deny: the stack succeeds only if our module said PAM_SUCCESS.
    f.simple_service("mail");
    let mut p = Pam::start(&f.confdir, "mail", USER.as_bytes(), &[pw.as_bytes()]);
    assert_eq!(p.authenticate(), PAM_SUCCESS);
    assert_eq!(p.acct_mgmt(), PAM_SUCCESS);
    // Not authenticated by this handle: not vouched for.
    let mut p = Pam::start(&f.confdir, "mail", USER.as_bytes(), &[]);
    assert_ne!(p.acct_mgmt(), PAM_SUCCESS);
    let mut p = Pam::start(
        &f.confdir,
        "mail",
        USER.as_bytes(),
        &[b"aaaa-bbbb-cccc-dddd"],
    );
    assert_eq!(p.authenticate(), PAM_AUTH_ERR);
    assert_ne!(p.acct_mgmt(), PAM_SUCCESS);
}

#[test]
fn a_failed_second_authentication_leaves_nothing_for_the_account_hook() {
    let (f, pw) = with_password(&["mail"]);
    f.simple_service("mail");
    // libpam forgets the token after each pam_authenticate, so the second
    // one prompts again and gets the wrong password.
    let mut p = Pam::start(
        &f.confdir,
        "mail",
        USER.as_bytes(),
        &[pw.as_bytes(), b"aaaa-bbbb-cccc-dddd"],
    );
    assert_eq!(p.authenticate(), PAM_SUCCESS);
    assert_eq!(p.authenticate(), PAM_AUTH_ERR);
    assert_eq!(p.prompts().len(), 2);
    assert_ne!(p.acct_mgmt(), PAM_SUCCESS);
}

#[test]
fn account_ignores_users_with_a_passwd_entry() {
    let f = Fixture::new();
    // root exists everywhere; our module must step aside (PAM_IGNORE) so
    // pam_unix decides. [ignore=ignore default=die] + pam_permit succeeds
    // only on PAM_IGNORE.
    f.service(
        "acct",
        "account [ignore=ignore default=die] @MODULE@ db=@DB@\naccount required pam_permit.so\n",
    );
    let mut p = Pam::start(&f.confdir, "acct", b"root", &[]);
    assert_eq!(p.acct_mgmt(), PAM_SUCCESS);
    let mut p = Pam::start(&f.confdir, "acct", USER.as_bytes(), &[]);
    assert_eq!(
        p.acct_mgmt(),
        PAM_SUCCESS,
        "a virtual user not authenticated here: ignore too"
    );
}
