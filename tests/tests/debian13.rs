//! Debian 13: Dovecot 2.4, OpenSSH 10 and Linux-PAM 1.7, in a trixie root
//! with this host's build copied in. The shipped 2.4 snippets are included
//! as they are and the PAM files are the README's.

use apppass_e2e::clients::*;
use apppass_e2e::debian13::{snippet, Debian13, Dovecot24, Sshd10};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, Ordering};

const SUFFICIENT: &str = "\
auth     sufficient  pam_apppass.so
auth     required    pam_unix.so try_first_pass
account  sufficient  pam_apppass.so
account  required    pam_unix.so
";

const HOME: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const WRONG: &str = "aaaa-bbbb-cccc-dddd";

/// A source address no other attempt used (Dovecot slows down an address
/// that failed).
fn fresh_ip() -> Ipv4Addr {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    Ipv4Addr::new(127, 13, (n / 250) as u8, (n % 250) as u8 + 2)
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn debian13_runs_dovecot_2_4_openssh_10_and_linux_pam_1_7() {
    let Some((_turn, root)) =
        Debian13::enter("debian13_runs_dovecot_2_4_openssh_10_and_linux_pam_1_7")
    else {
        return;
    };
    let versions = root.ok(&[
        "dpkg-query",
        "-W",
        "-f",
        "${Package} ${Version}\\n",
        "dovecot-core",
        "openssh-server",
        "libpam0g",
    ]);
    assert!(versions.contains("dovecot-core 1:2.4"), "{versions}");
    assert!(versions.contains("openssh-server 1:10."), "{versions}");
    assert!(versions.contains("libpam0g 1.7"), "{versions}");
}

#[test]
fn debian13_doveconf_accepts_every_2_4_snippet_and_refuses_the_2_3_ones() {
    let Some((_turn, root)) =
        Debian13::enter("debian13_doveconf_accepts_every_2_4_snippet_and_refuses_the_2_3_ones")
    else {
        return;
    };
    let scratch = root.scratch();
    let dir = snippet("").parent().unwrap().to_path_buf();
    let mut seen = 0;
    for version in ["2.4", "2.3"] {
        for entry in std::fs::read_dir(dir.join(version)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            std::fs::copy(&path, scratch.dir.path().join(&name)).unwrap();
            std::fs::write(
                scratch.dir.path().join("dovecot.conf"),
                format!(
                    "dovecot_config_version = 2.4.1\ndovecot_storage_version = 2.4.1\n\
                     protocols = imap pop3 submission\nbase_dir = {}\nssl = no\n!include {}\n",
                    scratch.inside("run"),
                    scratch.inside(&name)
                ),
            )
            .unwrap();
            let out = root.run(&["doveconf", "-n", "-c", &scratch.inside("dovecot.conf")]);
            if version == "2.4" {
                assert!(out.status.success(), "{name}: {}", stderr(&out));
                seen += 1;
            } else if name.starts_with("auth-") {
                assert!(!out.status.success(), "2.4 refuses the 2.3 {name}");
            }
        }
    }
    assert_eq!(seen, 4, "four 2.4 snippets");
}

#[test]
fn debian13_dovecot_scopes_per_protocol_and_passes_the_primary_password_to_pam_unix() {
    let Some((_turn, root)) = Debian13::enter(
        "debian13_dovecot_scopes_per_protocol_and_passes_the_primary_password_to_pam_unix",
    ) else {
        return;
    };
    let primary = "Trixie-Primary-Pass-1!";
    let user = root.user(primary);
    let u = user.name.as_str();
    let dc = Dovecot24::start(
        root,
        "auth-apppass-service.conf.ext",
        &["imap", "pop3", "submission"],
        SUFFICIENT,
        false,
    );
    let imap_pw = root.issue(&[u, "--service", "imap", "--label", "Phone"]);
    let pop3_pw = root.issue(&[u, "--service", "pop3", "--label", "Old client"]);
    assert!(imap_login(dc.imap, HOME, u, &imap_pw), "{}", dc.log());
    assert!(pop3_login(dc.pop3, HOME, u, &pop3_pw), "{}", dc.log());
    assert!(
        !pop3_login(dc.pop3, fresh_ip(), u, &imap_pw),
        "IMAP password over POP3"
    );
    assert!(
        !imap_login(dc.imap, fresh_ip(), u, &pop3_pw),
        "POP3 password over IMAP"
    );
    assert!(!submission_login(dc.submission, fresh_ip(), u, &imap_pw));
    // The primary password is handed on as typed: one prompt, pam_unix.
    assert!(imap_login(dc.imap, HOME, u, primary), "{}", dc.log());
    assert!(pop3_login(dc.pop3, HOME, u, primary));
    assert!(!imap_login(dc.imap, fresh_ip(), u, WRONG));
    let row = root.ok(&["apppass", "list", u, "--json"]);
    assert!(row.contains("\"last_used_service\":\"imap\""), "{row}");
    assert!(row.contains("\"last_used_rhost\":\"127.0.0.1\""), "{row}");
}

#[test]
fn debian13_dovecot_fail_closed_form_refuses_a_protocol_without_its_block() {
    let Some((_turn, root)) =
        Debian13::enter("debian13_dovecot_fail_closed_form_refuses_a_protocol_without_its_block")
    else {
        return;
    };
    let primary = "Trixie-Closed-Pass-1!";
    let user = root.user(primary);
    let u = user.name.as_str();
    let dc = Dovecot24::start(
        root,
        "auth-apppass-protocols.conf.ext",
        &["imap", "pop3", "submission"],
        SUFFICIENT,
        false,
    );
    let imap_pw = root.issue(&[u, "--service", "imap", "--label", "Phone"]);
    let smtp_pw = root.issue(&[u, "--service", "smtp", "--label", "Sender"]);
    assert!(imap_login(dc.imap, HOME, u, &imap_pw), "{}", dc.log());
    assert!(imap_login(dc.imap, HOME, u, primary));
    assert!(!pop3_login(dc.pop3, fresh_ip(), u, &imap_pw));
    // Postfix's smtp has no block: refused without reaching PAM, although
    // Debian 13's /etc/pam.d/other (common-auth) would take the primary
    // password.
    let other = std::fs::read_to_string(root.host("/etc/pam.d/other")).unwrap();
    assert!(other.contains("common-auth"), "{other}");
    let sock = dc.auth_socket();
    assert!(
        !dovecot_sasl(&sock, "smtp", fresh_ip(), u, primary),
        "{}",
        dc.log()
    );
    assert!(!dovecot_sasl(&sock, "smtp", fresh_ip(), u, &smtp_pw));
    assert!(
        dovecot_sasl(&sock, "imap", fresh_ip(), u, &imap_pw),
        "{}",
        dc.log()
    );
}

#[test]
fn debian13_a_revoked_password_is_refused_once_the_2_4_cache_is_flushed() {
    let Some((_turn, root)) =
        Debian13::enter("debian13_a_revoked_password_is_refused_once_the_2_4_cache_is_flushed")
    else {
        return;
    };
    let user = root.user("Trixie-Cache-Pass-1!");
    let u = user.name.as_str();
    let dc = Dovecot24::start(
        root,
        "auth-apppass-service.conf.ext",
        &["imap", "pop3", "submission"],
        SUFFICIENT,
        true,
    );
    let pw = root.issue(&[u, "--service", "imap", "--label", "Phone"]);
    assert!(imap_login(dc.imap, HOME, u, &pw), "{}", dc.log());
    // 2.4 keys the cache by user and PAM service: an IMAP success is not
    // a POP3 one.
    assert!(!pop3_login(dc.pop3, fresh_ip(), u, &pw));
    // Revoked without reaching this Dovecot, the cached success still logs in.
    let out = root.apppass(&["revoke", u, "--label", "Phone"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("NOT flushed"),
        "without --dovecot-config the private instance is not reached: {}",
        stderr(&out)
    );
    assert!(
        imap_login(dc.imap, HOME, u, &pw),
        "the cache still accepts it"
    );
    // A second password, revoked with the configuration: refused at once.
    let pw2 = root.issue(&[u, "--service", "imap", "--label", "Laptop"]);
    let out = root.apppass(&[
        "--dovecot-config",
        &dc.conf,
        "revoke",
        u,
        "--label",
        "Laptop",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("flushed Dovecot's auth cache"),
        "{}",
        stderr(&out)
    );
    assert!(!imap_login(dc.imap, fresh_ip(), u, &pw2));
    assert!(
        !imap_login(dc.imap, fresh_ip(), u, &pw),
        "the earlier window closed too"
    );
}

#[test]
fn debian13_sshd_10_takes_an_app_password_by_both_methods_with_one_prompt() {
    let Some((_turn, root)) =
        Debian13::enter("debian13_sshd_10_takes_an_app_password_by_both_methods_with_one_prompt")
    else {
        return;
    };
    // The README's change to the stock file: common-auth replaced.
    let stock = std::fs::read_to_string(root.host("/etc/pam.d/sshd")).unwrap();
    if !stock.contains("pam_apppass.so") {
        assert!(stock.contains("@include common-auth"), "{stock}");
        let ours = stock.replace(
            "@include common-auth",
            "auth       sufficient   pam_apppass.so\nauth       required     pam_unix.so try_first_pass",
        );
        std::fs::write(root.host("/etc/pam.d/sshd"), ours).unwrap();
    }
    let primary = "Trixie-Ssh-Pass-1!";
    let user = root.user(primary);
    let u = user.name.as_str();
    let sshd = Sshd10::start(root);
    let pw = root.issue(&[u, "--service", "sshd", "--label", "Laptop"]);
    let imap_only = root.issue(&[u, "--service", "imap", "--label", "Phone"]);
    for method in [SshMethod::Password, SshMethod::KeyboardInteractive] {
        assert!(
            ssh_login(sshd.port, HOME, u, &pw, method),
            "{method:?}\n{}",
            sshd.log()
        );
        assert!(
            ssh_login(sshd.port, HOME, u, primary, method),
            "{method:?} primary"
        );
        assert!(
            !ssh_login(sshd.port, HOME, u, &imap_only, method),
            "{method:?}"
        );
    }
}

#[test]
fn debian13_passwd_through_the_password_stack_wipes_that_users_app_passwords() {
    let Some((_turn, root)) = Debian13::enter(
        "debian13_passwd_through_the_password_stack_wipes_that_users_app_passwords",
    ) else {
        return;
    };
    // pam-auth-update put the profile's line where the README says.
    let common = std::fs::read_to_string(root.host("/etc/pam.d/common-password")).unwrap();
    let ours = common
        .lines()
        .position(|l| l.contains("pam_apppass.so"))
        .expect(&common);
    let permit = common
        .lines()
        .position(|l| l.contains("pam_permit.so"))
        .expect(&common);
    assert!(ours > permit, "after pam_permit:\n{common}");

    let user = root.user("Trixie-Old-Primary-1!");
    let other = root.user("Trixie-Other-Primary-1!");
    root.issue(&[&user.name, "--service", "imap", "--label", "Phone"]);
    root.issue(&[&other.name, "--service", "imap", "--label", "Phone"]);
    let before = user.shadow_field();
    let new = "Trixie-New-Primary-2!";
    let out = root.run_stdin(&["passwd", &user.name], &format!("{new}\n{new}\n"));
    assert!(out.status.success(), "passwd: {}", stderr(&out));
    assert_ne!(user.shadow_field(), before, "the primary password changed");
    let all = root.ok(&["apppass", "list", "--all", "--json", &user.name]);
    assert!(all.contains("\"status\":\"revoked\""), "{all}");
    assert!(all.contains("primary password changed"), "{all}");
    let history = root.ok(&["apppass", "history", &user.name, "--json"]);
    assert!(history.contains("\"event\":\"wiped\""), "{history}");
    let theirs = root.ok(&["apppass", "list", "--json", &other.name]);
    assert!(
        theirs.contains("\"status\":\"active\""),
        "others keep theirs: {theirs}"
    );

    // A failed change (mismatched retype) wipes nothing.
    root.issue(&[&user.name, "--service", "imap", "--label", "New phone"]);
    let out = root.run_stdin(
        &["passwd", &user.name],
        "Trixie-Third-3!\nSomething-Else-3!\n",
    );
    assert!(!out.status.success());
    let active = root.ok(&["apppass", "list", "--json", &user.name]);
    assert!(active.contains("New phone"), "{active}");
}

/// The package `make deb` built on Debian 12 installs on Debian 13 (its
/// dependencies exist there), its module logs in by name, and purge
/// leaves the root as it found it.
#[test]
fn debian13_the_package_built_on_debian_12_installs_logs_in_and_purges() {
    let test = "debian13_the_package_built_on_debian_12_installs_logs_in_and_purges";
    let Some((_turn, root)) = Debian13::enter(test) else {
        return;
    };
    let debs: Vec<_> = std::fs::read_dir(apppass_e2e::fixture::target_dir().join("../deb"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("libpam-apppass_"))
                        && p.extension().is_some_and(|x| x == "deb")
                })
                .collect()
        })
        .unwrap_or_default();
    let Some(deb) = debs.first() else {
        eprintln!(
            "\n*** SKIPPED {test}: no package in target/deb; make check builds it (make deb) ***\n"
        );
        return;
    };
    let scratch = root.scratch();
    std::fs::copy(deb, scratch.dir.path().join("apppass.deb")).unwrap();
    let _ = root.run(&["dpkg", "--purge", "libpam-apppass"]);
    let _ = std::fs::remove_file(root.host(&format!(
        "{}/pam_apppass.so",
        apppass_e2e::debian13::SECURITY_DIR
    )));
    let _ = std::fs::remove_file(root.host("/usr/sbin/apppass"));
    let _ = std::fs::remove_dir_all(root.host("/var/lib/apppass"));
    let _ = root.run(&["pam-auth-update", "--package", "--remove", "apppass"]);
    let _ = std::fs::remove_file(root.host("/usr/share/pam-configs/apppass"));
    let before = snapshot(root);
    let out = root.run(&["dpkg", "-i", &scratch.inside("apppass.deb")]);
    assert!(
        out.status.success(),
        "dpkg -i: {}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    assert!(
        root.host("/var/lib/apppass/key").exists(),
        "postinst ran apppass init"
    );
    assert!(root.host("/etc/apppass/apppass.conf").exists());
    let web_user = root.run(&["getent", "passwd", "apppass-web"]);
    assert!(
        String::from_utf8_lossy(&web_user.stdout).contains(":/nonexistent:/usr/sbin/nologin"),
        "postinst made the system user apppass-web"
    );
    let enabled = root.host("/etc/systemd/system/sockets.target.wants/apppassd.socket");
    assert!(
        enabled.symlink_metadata().is_ok(),
        "apppassd.socket is enabled"
    );
    assert!(
        root.host("/etc/systemd/system/multi-user.target.wants/apppass-web.service")
            .symlink_metadata()
            .is_err(),
        "apppass-web.service stays disabled"
    );
    let user = root.user("Trixie-Package-Pass-1!");
    let dc = Dovecot24::start(
        root,
        "auth-apppass-single.conf.ext",
        &["dovecot"],
        SUFFICIENT,
        false,
    );
    let pw = root.issue(&[&user.name, "--service", "dovecot", "--label", "Phone"]);
    assert!(imap_login(dc.imap, HOME, &user.name, &pw), "{}", dc.log());
    drop(dc);
    let out = root.run(&["dpkg", "--purge", "libpam-apppass"]);
    assert!(out.status.success(), "purge: {}", stderr(&out));
    assert!(
        !root.host("/var/lib/apppass").exists(),
        "purge removes the store"
    );
    assert!(!root.host("/usr/sbin/apppass").exists());
    let common = std::fs::read_to_string(root.host("/etc/pam.d/common-password")).unwrap();
    assert!(!common.contains("pam_apppass"), "{common}");
    // Nothing is left but the system user (Debian keeps those).
    let after = snapshot(root);
    let left: Vec<_> = after.difference(&before).collect();
    let gone: Vec<_> = before.difference(&after).collect();
    assert!(
        left.is_empty() && gone.is_empty(),
        "purge left {left:#?} and took {gone:#?}"
    );
    // Back to this build for the other tests.
    root.install_build();
}

/// Every path under the root's /etc, /usr and /var, except what dpkg, apt
/// and the user database change by design.
fn snapshot(root: &Debian13) -> std::collections::BTreeSet<String> {
    let skip = [
        "/var/lib/dpkg",
        "/var/cache",
        "/var/log",
        "/var/lib/apt",
        "/var/lib/pam",
        "/var/tmp",
        "/var/mail",
        "/var/lib/systemd/deb-systemd-helper-enabled",
        "/var/lib/systemd/deb-systemd-user-helper-enabled",
        "/etc/passwd",
        "/etc/group",
        "/etc/shadow",
        "/etc/gshadow",
        "/etc/subuid",
        "/etc/subgid",
        "/etc/ld.so.cache",
    ];
    let mut all = std::collections::BTreeSet::new();
    let mut todo: Vec<String> = vec!["/etc".into(), "/usr".into(), "/var".into()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(root.host(&dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let inside = format!("{dir}/{}", e.file_name().to_string_lossy());
            if skip
                .iter()
                .any(|s| inside == *s || inside.starts_with(&format!("{s}-")))
                || skip.iter().any(|s| inside.starts_with(&format!("{s}/")))
            {
                continue;
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(inside.clone());
            }
            all.insert(inside);
        }
    }
    all
}

#[test]
fn debian13_a_revoke_ends_that_passwords_imap_connection_on_dovecot_2_4() {
    let Some((_turn, root)) =
        Debian13::enter("debian13_a_revoke_ends_that_passwords_imap_connection_on_dovecot_2_4")
    else {
        return;
    };
    let user = root.user("Trixie-Kick-Pass-1!");
    let u = user.name.as_str();
    let dc = Dovecot24::start(
        root,
        "auth-apppass-service.conf.ext",
        &["imap", "pop3", "submission"],
        SUFFICIENT,
        true,
    );
    let phone = root.issue(&[u, "--service", "imap", "--label", "Phone"]);
    let laptop = root.issue(&[u, "--service", "imap", "--label", "Laptop"]);
    let (from_phone, from_laptop) = (fresh_ip(), fresh_ip());
    let mut on_phone =
        ImapSession::open(dc.imap, from_phone, u, &phone).unwrap_or_else(|| panic!("{}", dc.log()));
    let mut on_laptop = ImapSession::open(dc.imap, from_laptop, u, &laptop)
        .unwrap_or_else(|| panic!("{}", dc.log()));
    let who = root.ok(&["doveadm", "-c", &dc.conf, "who", "-1"]);
    eprintln!("doveadm who -1 in 2.4:\n{who}");
    let out = root.apppass(&[
        "--dovecot-config",
        &dc.conf,
        "revoke",
        u,
        "--label",
        "Phone",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("ended 1 session of {u} (imap from {from_phone})")),
        "{}\ndoveadm who -1 said:\n{who}",
        stderr(&out)
    );
    assert!(
        on_phone
            .closed_within(std::time::Duration::from_secs(5))
            .is_some(),
        "{}",
        dc.log()
    );
    assert!(on_laptop.noop(), "the other password's connection stays");
    // 2.4 caches PAM logins by default: the flush that came with it holds.
    assert!(!imap_login(dc.imap, from_phone, u, &phone));
}

/// 2.4 caches every PAM passdb keyed by user and `service_name` only; the
/// shipped snippets add the remote IP to the key through a passdb field.
/// In each form, a password limited with --from that logged in from its
/// network is not let in from another address by the cached success.
#[test]
fn debian13_from_networks_hold_through_the_2_4_auth_cache_in_each_form() {
    let Some((_turn, root)) =
        Debian13::enter("debian13_from_networks_hold_through_the_2_4_auth_cache_in_each_form")
    else {
        return;
    };
    let forms = [
        ("auth-apppass-protocols.conf.ext", "imap"),
        ("auth-apppass-service.conf.ext", "imap"),
        ("auth-apppass-single.conf.ext", "dovecot"),
    ];
    for (n, (snippet_name, service)) in forms.into_iter().enumerate() {
        let user = root.user("Trixie-From-Pass-1!");
        let u = user.name.as_str();
        let dc = Dovecot24::start(
            root,
            snippet_name,
            &["imap", "pop3", "submission", "dovecot"],
            SUFFICIENT,
            true,
        );
        let office = root.issue(&[
            u,
            "--service",
            service,
            "--label",
            "Office",
            "--from",
            "127.0.0.2/32",
        ]);
        let from = Ipv4Addr::new(127, 0, 0, 2);
        // Outside 127.0.0.2/32, and new in each form: Dovecot slows down
        // an address that failed.
        let three = Ipv4Addr::new(127, 14, n as u8, 3);
        assert!(
            imap_login(dc.imap, from, u, &office),
            "{snippet_name}: from 127.0.0.2\n{}",
            dc.log()
        );
        assert!(
            !imap_login(dc.imap, three, u, &office),
            "{snippet_name}: from {three}, with the login from 127.0.0.2 cached\n{}",
            dc.log()
        );
        // The cache was on: revoked without reaching this Dovecot, the
        // password still logs in from 127.0.0.2.
        let out = root.apppass(&["revoke", u, "--label", "Office"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            imap_login(dc.imap, from, u, &office),
            "{snippet_name}: the cache is on, or the test proves nothing\n{}",
            dc.log()
        );
    }
}
