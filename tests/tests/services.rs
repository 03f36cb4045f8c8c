//! Real services end to end: a private Dovecot (IMAP, POP3, submission) and
//! a private sshd on 127.0.0.1, each loading the built module through its
//! own PAM file. Root only: Dovecot reads PAM files from /etc/pam.d.

use apppass_e2e::clients::*;
use apppass_e2e::dovecot::{Dovecot, Options, Passdb};
use apppass_e2e::fixture::{stderr, Fixture};
use apppass_e2e::sshd::Sshd;
use apppass_e2e::system::{require_root, SystemUser};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, Ordering};

/// App password, or the primary password handed to pam_unix unchanged.
const SUFFICIENT: &str = "\
auth     sufficient  @MODULE@ db=@DB@
auth     required    pam_unix.so try_first_pass
account  sufficient  @MODULE@ db=@DB@
account  required    pam_unix.so
";

/// App passwords only.
const ONLY_APPPASS: &str = "\
auth     required    @MODULE@ db=@DB@
account  sufficient  @MODULE@ db=@DB@
account  required    pam_unix.so
";

const SSHD_STACK: &str = "\
auth     sufficient  @MODULE@ db=@DB@
auth     required    pam_unix.so try_first_pass
account  required    pam_unix.so
session  required    pam_permit.so
";

const HOME: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const ALICE: &str = "alice@example.org";

/// A source address no other attempt used: Dovecot delays an address
/// after a failed login, which must not slow the next test step.
fn fresh_ip() -> Ipv4Addr {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst) + 2;
    Ipv4Addr::new(127, 1 + (n / 250) as u8, 0, (n % 250) as u8 + 2)
}

fn dovecot(
    f: &Fixture,
    passdb: Passdb,
    stack: &str,
    files_for: &[&'static str],
    cache: bool,
) -> Dovecot {
    Dovecot::start(
        f,
        Options {
            passdb,
            cache,
            stack: stack.into(),
            files_for: files_for.to_vec(),
        },
    )
}

fn generate(f: &Fixture, user: &str, service: &str, label: &str, extra: &[&str]) -> String {
    let mut args = vec![user, "--service", service, "--label", label];
    args.extend_from_slice(extra);
    f.issue(&args)
}

#[test]
fn dovecot_scopes_passwords_per_protocol_and_records_use() {
    if !require_root("dovecot_scopes_passwords_per_protocol_and_records_use") {
        return;
    }
    let f = Fixture::new();
    let dc = dovecot(
        &f,
        Passdb::PerProtocol,
        SUFFICIENT,
        &["imap", "pop3", "submission"],
        false,
    );
    let imap_pw = generate(&f, ALICE, &dc.service("imap"), "Phone", &["--virtual"]);
    let sub_pw = generate(
        &f,
        ALICE,
        &dc.service("submission"),
        "Laptop",
        &["--virtual"],
    );
    let ssh_pw = generate(&f, ALICE, "sshd", "Terminal", &["--virtual"]);

    assert!(
        imap_login(dc.imap, HOME, ALICE, &imap_pw),
        "IMAP password over IMAP\n{}",
        dc.log()
    );
    // The README's check through Dovecot: doveadm must be told the protocol.
    let test = |service: &str| {
        let out = std::process::Command::new("doveadm")
            .arg("-c")
            .arg(&dc.conf)
            .args([
                "auth",
                "test",
                "-x",
                &format!("service={service}"),
                ALICE,
                &imap_pw,
            ])
            .output()
            .unwrap();
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("auth succeeded")
    };
    assert!(test("imap"), "doveadm auth test -x service=imap");
    assert!(!test("pop3"), "the same password is not good for pop3");
    assert!(
        submission_login(dc.submission, HOME, ALICE, &sub_pw),
        "submission password over submission"
    );
    assert!(
        !pop3_login(dc.pop3, fresh_ip(), ALICE, &imap_pw),
        "IMAP password over POP3"
    );
    assert!(
        !submission_login(dc.submission, fresh_ip(), ALICE, &imap_pw),
        "IMAP password over submission"
    );
    assert!(
        !imap_login(dc.imap, fresh_ip(), ALICE, &ssh_pw),
        "sshd password over IMAP"
    );
    assert!(
        !imap_login(dc.imap, fresh_ip(), ALICE, "aaaa-bbbb-cccc-dddd"),
        "wrong password"
    );

    let phone = f.row(ALICE, "Phone");
    assert_eq!(phone["last_used_service"], dc.service("imap").as_str());
    assert_eq!(phone["last_used_rhost"], "127.0.0.1");

    f.revoke(ALICE, "Phone");
    assert!(!imap_login(dc.imap, fresh_ip(), ALICE, &imap_pw), "revoked");
    f.expire_at("Laptop", -1);
    assert!(
        !submission_login(dc.submission, fresh_ip(), ALICE, &sub_pw),
        "expired"
    );
}

#[test]
fn dovecot_with_one_fixed_service_name_serves_every_protocol() {
    if !require_root("dovecot_with_one_fixed_service_name_serves_every_protocol") {
        return;
    }
    let f = Fixture::new();
    let dc = dovecot(&f, Passdb::Fixed, SUFFICIENT, &[], false);
    let pw = generate(&f, ALICE, &dc.prefix, "Phone", &["--virtual"]);
    assert!(imap_login(dc.imap, HOME, ALICE, &pw), "{}", dc.log());
    assert!(pop3_login(dc.pop3, HOME, ALICE, &pw));
    assert!(submission_login(dc.submission, HOME, ALICE, &pw));
}

#[test]
fn dovecot_protocol_without_its_own_pam_service_does_not_fall_back_to_the_primary_password() {
    if !require_root(
        "dovecot_protocol_without_its_own_pam_service_does_not_fall_back_to_the_primary_password",
    ) {
        return;
    }
    let f = Fixture::new();
    let primary = "Dovecot-Primary-Pass-1!";
    let user = SystemUser::new(primary);
    // The documented fail-closed form: a passdb block per protocol served,
    // nothing for POP3 or submission.
    let dc = dovecot(
        &f,
        Passdb::Blocks(vec!["imap"]),
        SUFFICIENT,
        &["imap"],
        false,
    );
    let pw = f.issue(&[&user.name, "--any-service", "--label", "Everywhere"]);
    assert!(
        imap_login(dc.imap, HOME, &user.name, primary),
        "primary password over IMAP via pam_unix\n{}",
        dc.log()
    );
    assert!(
        imap_login(dc.imap, HOME, &user.name, &pw),
        "app password over IMAP"
    );
    assert!(
        !pop3_login(dc.pop3, fresh_ip(), &user.name, primary),
        "no fallback for POP3"
    );
    assert!(!pop3_login(dc.pop3, fresh_ip(), &user.name, &pw));
    assert!(
        !submission_login(dc.submission, fresh_ip(), &user.name, primary),
        "no fallback for submission"
    );
    // Services Dovecot cannot filter on (Postfix's smtp, managesieve's
    // sieve) reach only the global passdb, which matches nobody.
    for service in ["smtp", "sieve"] {
        assert!(!dovecot_sasl(
            &dc.auth_socket(),
            service,
            fresh_ip(),
            &user.name,
            primary
        ));
        assert!(!dovecot_sasl(
            &dc.auth_socket(),
            service,
            fresh_ip(),
            &user.name,
            &pw
        ));
    }
}

#[test]
fn postfix_smtp_auth_through_dovecot_sasl_uses_the_smtp_service() {
    if !require_root("postfix_smtp_auth_through_dovecot_sasl_uses_the_smtp_service") {
        return;
    }
    let f = Fixture::new();
    let dc = dovecot(
        &f,
        Passdb::PerProtocol,
        SUFFICIENT,
        &["imap", "smtp"],
        false,
    );
    let smtp_pw = generate(
        &f,
        ALICE,
        &dc.service("smtp"),
        "Mail app (sending)",
        &["--virtual"],
    );
    let imap_pw = generate(
        &f,
        ALICE,
        &dc.service("imap"),
        "Mail app (reading)",
        &["--virtual"],
    );
    let socket = dc.auth_socket();
    assert!(
        dovecot_sasl(&socket, "smtp", HOME, ALICE, &smtp_pw),
        "{}",
        dc.log()
    );
    assert!(
        !dovecot_sasl(&socket, "smtp", fresh_ip(), ALICE, &imap_pw),
        "IMAP password over SMTP AUTH"
    );
    assert!(
        !imap_login(dc.imap, fresh_ip(), ALICE, &smtp_pw),
        "SMTP password over IMAP"
    );
    let sending = f.row(ALICE, "Mail app (sending)");
    assert_eq!(sending["last_used_service"], dc.service("smtp").as_str());
}

#[test]
fn a_stack_with_only_the_module_refuses_the_primary_password() {
    if !require_root("a_stack_with_only_the_module_refuses_the_primary_password") {
        return;
    }
    let f = Fixture::new();
    let primary = "Only-Module-Primary-1!";
    let user = SystemUser::with_shell(primary, "/bin/sh");
    let dc = dovecot(&f, Passdb::Fixed, ONLY_APPPASS, &[], false);
    let pw = generate(&f, &user.name, &dc.prefix, "Phone", &[]);
    assert!(imap_login(dc.imap, HOME, &user.name, &pw), "{}", dc.log());
    assert!(!imap_login(dc.imap, fresh_ip(), &user.name, primary));

    let ssh = Sshd::start(
        &f,
        &ONLY_APPPASS.replace("account  sufficient  @MODULE@ db=@DB@\n", ""),
    );
    let ssh_pw = generate(&f, &user.name, &ssh.service, "Terminal", &[]);
    assert!(
        ssh_login(ssh.port, HOME, &user.name, &ssh_pw, SshMethod::Password),
        "{}",
        ssh.log()
    );
    assert!(!ssh_login(
        ssh.port,
        fresh_ip(),
        &user.name,
        primary,
        SshMethod::KeyboardInteractive
    ));
    assert!(!ssh_login(
        ssh.port,
        fresh_ip(),
        &user.name,
        primary,
        SshMethod::Password
    ));
}

#[test]
fn sshd_accepts_its_password_by_both_methods_with_one_prompt() {
    if !require_root("sshd_accepts_its_password_by_both_methods_with_one_prompt") {
        return;
    }
    let f = Fixture::new();
    let primary = "Ssh-Primary-Pass-1!";
    let user = SystemUser::with_shell(primary, "/bin/sh");
    let ssh = Sshd::start(&f, SSHD_STACK);
    let dc = dovecot(&f, Passdb::PerProtocol, SUFFICIENT, &["imap"], false);
    let ssh_pw = generate(&f, &user.name, &ssh.service, "Terminal", &[]);
    let imap_pw = generate(&f, &user.name, &dc.service("imap"), "Phone", &[]);

    assert!(
        ssh_login(ssh.port, HOME, &user.name, &ssh_pw, SshMethod::Password),
        "{}",
        ssh.log()
    );
    assert!(ssh_login(
        ssh.port,
        HOME,
        &user.name,
        &ssh_pw,
        SshMethod::KeyboardInteractive
    ));
    // The primary password through pam_unix with a single prompt: sshpass
    // answers once and fails on a second prompt.
    assert!(ssh_login(
        ssh.port,
        HOME,
        &user.name,
        primary,
        SshMethod::KeyboardInteractive
    ));
    assert!(ssh_login(
        ssh.port,
        HOME,
        &user.name,
        primary,
        SshMethod::Password
    ));
    assert!(!ssh_login(
        ssh.port,
        fresh_ip(),
        &user.name,
        &imap_pw,
        SshMethod::KeyboardInteractive
    ));
    assert!(!ssh_login(
        ssh.port,
        fresh_ip(),
        &user.name,
        "aaaa-bbbb-cccc-dddd",
        SshMethod::Password
    ));
    assert!(
        !imap_login(dc.imap, fresh_ip(), &user.name, &ssh_pw),
        "sshd password over IMAP"
    );
    assert!(imap_login(dc.imap, HOME, &user.name, &imap_pw));

    let term = f.row(&user.name, "Terminal");
    assert_eq!(term["last_used_service"], ssh.service.as_str());
    assert_eq!(term["last_used_rhost"], "127.0.0.1");

    f.revoke(&user.name, "terminal");
    assert!(
        !ssh_login(
            ssh.port,
            fresh_ip(),
            &user.name,
            &ssh_pw,
            SshMethod::Password
        ),
        "revoked"
    );
    f.expire_at("Phone", -1);
    assert!(
        !imap_login(dc.imap, fresh_ip(), &user.name, &imap_pw),
        "expired"
    );
}

#[test]
fn dovecot_auth_cache_is_flushed_by_revoke_and_generate() {
    if !require_root("dovecot_auth_cache_is_flushed_by_revoke_and_generate") {
        return;
    }
    let f = Fixture::new();
    let dc = dovecot(&f, Passdb::Fixed, SUFFICIENT, &[], true);
    let conf = dc.conf.to_str().unwrap().to_string();
    let with_flush = |args: &[&str]| {
        let mut a = vec!["--dovecot-config", conf.as_str()];
        a.extend_from_slice(args);
        let out = f.apppass(&a);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("flushed Dovecot's auth cache"),
            "{}",
            stderr(&out)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let svc = dc.prefix.clone();

    // A success is cached: a revoke that does not flush (as a wipe by
    // passwd does not) leaves the window open until auth_cache_ttl.
    let pw = generate(&f, ALICE, &svc, "One", &["--virtual"]);
    assert!(imap_login(dc.imap, HOME, ALICE, &pw), "{}", dc.log());
    f.sql("UPDATE passwords SET phc = NULL, tag = NULL, tag_salt = NULL, revoked_at = 1, revoked_reason = 'x' WHERE label = 'One'");
    assert!(
        imap_login(dc.imap, HOME, ALICE, &pw),
        "the cache still accepts it"
    );

    // apppass revoke flushes: refused at once, from the address whose
    // success was cached (the cache key holds the client's address).
    let pw2 = generate(&f, ALICE, &svc, "Two", &["--virtual"]);
    assert!(imap_login(dc.imap, HOME, ALICE, &pw2));
    with_flush(&["revoke", ALICE, "--label", "Two"]);
    assert!(
        !imap_login(dc.imap, HOME, ALICE, &pw2),
        "revoked and flushed"
    );
    assert!(
        !imap_login(dc.imap, HOME, ALICE, &pw),
        "the earlier window closed too"
    );

    // A refusal is cached too: a password generated afterwards is refused
    // from that address until auth_cache_negative_ttl, unless generate
    // flushes.
    let bob = "bob@example.org";
    let ip = fresh_ip();
    assert!(!imap_login(dc.imap, ip, bob, "aaaa-bbbb-cccc-dddd"));
    let unflushed = generate(&f, bob, &svc, "Phone", &["--virtual"]);
    let cached_refusal = !imap_login(dc.imap, ip, bob, &unflushed);
    let carol = "carol@example.org";
    let carols = fresh_ip();
    assert!(!imap_login(dc.imap, carols, carol, "aaaa-bbbb-cccc-dddd"));
    let flushed = with_flush(&[
        "generate",
        carol,
        "--virtual",
        "--service",
        &svc,
        "--label",
        "Phone",
    ]);
    assert!(
        imap_login(dc.imap, carols, carol, &flushed),
        "generate flushed the cached refusal\n{}",
        dc.log()
    );
    assert!(
        cached_refusal,
        "Dovecot caches refusals: without the flush the new password is refused"
    );
}

#[test]
fn imap_load_through_the_module_at_concurrency_1_and_8() {
    if !require_root("imap_load_through_the_module_at_concurrency_1_and_8") {
        return;
    }
    let f = Fixture::new();
    let primary = "Load-Primary-Pass-1!";
    let user = SystemUser::new(primary);
    let dc = dovecot(&f, Passdb::Fixed, SUFFICIENT, &[], false);
    let unix = dovecot(
        &f,
        Passdb::Fixed,
        "auth required pam_unix.so\naccount required pam_unix.so\n",
        &[],
        false,
    );
    let permit = dovecot(
        &f,
        Passdb::Fixed,
        "auth required pam_permit.so\naccount required pam_permit.so\n",
        &[],
        false,
    );
    let pw = generate(&f, ALICE, &dc.prefix, "Load", &["--virtual"]);

    let run = |port: u16, who: &str, password: &str, total: usize, threads: usize| {
        imap_logins_per_second(port, HOME, who, password, total, threads)
    };
    let apppass_1 = run(dc.imap, ALICE, &pw, 60, 1);
    let apppass_8 = run(dc.imap, ALICE, &pw, 320, 8);
    let unix_1 = run(unix.imap, &user.name, primary, 60, 1);
    let unix_8 = run(unix.imap, &user.name, primary, 320, 8);
    let permit_1 = run(permit.imap, ALICE, "x", 60, 1);
    let permit_8 = run(permit.imap, ALICE, "x", 320, 8);

    // Wrong passwords after the load, each from its own address, 8 at a time.
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let ip = fresh_ip();
                s.spawn(move || imap_login(dc.imap, ip, ALICE, "aaaa-bbbb-cccc-dddd"))
            })
            .collect();
        for h in handles {
            assert!(!h.join().unwrap(), "every wrong login fails");
        }
    });
    let line = format!(
        "IMAP logins/s: apppass {apppass_1:.1} (c=1) {apppass_8:.1} (c=8); pam_unix {unix_1:.1} (c=1) {unix_8:.1} (c=8); pam_permit {permit_1:.1} (c=1) {permit_8:.1} (c=8)"
    );
    eprintln!("{line}");
    let _ = std::fs::write(
        apppass_e2e::fixture::target_dir().join("imap-load.txt"),
        line + "\n",
    );
}

/// doveadm exits 0 when it cannot reach Dovecot; apppass must not claim a
/// flush that did not happen, and must say how to do it.
#[test]
fn a_flush_that_did_not_reach_dovecot_is_reported_with_the_command_to_run() {
    if !require_root("a_flush_that_did_not_reach_dovecot_is_reported_with_the_command_to_run") {
        return;
    }
    let f = Fixture::new();
    let dc = dovecot(&f, Passdb::Fixed, SUFFICIENT, &[], true);
    let pw = generate(&f, ALICE, &dc.prefix, "Phone", &["--virtual"]);
    assert!(imap_login(dc.imap, HOME, ALICE, &pw), "{}", dc.log());

    // No --dovecot-config: doveadm looks for the system instance, which is
    // not this one.
    let out = f.apppass(&["revoke", ALICE, "--label", "Phone"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains("flushed Dovecot's auth cache"), "{err}");
    assert!(err.contains("NOT flushed"), "{err}");
    assert!(
        err.contains(&format!("doveadm auth cache flush -- {ALICE}")),
        "the exact command: {err}"
    );
    assert!(
        imap_login(dc.imap, HOME, ALICE, &pw),
        "as reported, the cached login still works"
    );

    // The command it printed, with this instance's configuration, closes it.
    let flushed = std::process::Command::new("doveadm")
        .arg("-c")
        .arg(&dc.conf)
        .args(["auth", "cache", "flush", "--", ALICE])
        .output()
        .unwrap();
    assert!(flushed.status.success());
    assert!(!imap_login(dc.imap, fresh_ip(), ALICE, &pw));
}
