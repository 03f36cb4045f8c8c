//! The module under random input through real libpam, in one long-lived
//! process: thousands of pam_start → pam_authenticate → pam_end cycles with
//! user names, PAM services, remote hosts and tokens drawn from a fixed
//! pseudo-random sequence (the same every run, so a failure replays). An
//! oracle computed here says which few must succeed; every other one must
//! fail, none may crash, and no descriptor on the store may stay open.

use apppass_core::policy::PRIVILEGED_SERVICES;
use apppass_e2e::draw::Rng;
use apppass_e2e::fixture::Fixture;
use apppass_e2e::pam::{Pam, PAM_RHOST, PAM_SUCCESS};

const USER: &str = "fuzz@example.org";

/// Descriptors this process holds on files under `dir`. The other tests
/// run in this process too, on their own directories, so counting every
/// descriptor would race with them.
fn fds_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut open: Vec<_> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|t| t.starts_with(dir))
        .collect();
    open.sort();
    open
}

#[test]
fn random_users_services_hosts_and_tokens_never_let_the_wrong_one_in() {
    let f = Fixture::new();
    // One password for imap from 127.0.0.0/8, one for any service from
    // anywhere, and a revoked one (kept for the tripwire).
    let imap = f.issue(&[
        USER,
        "--virtual",
        "--label",
        "Office",
        "--service",
        "imap",
        "--from",
        "127.0.0.0/8",
    ]);
    let any = f.generate(USER, &["*"], "Anywhere");
    let revoked = f.generate(USER, &["imap"], "Old");
    f.revoke(USER, "Old");
    let stack = "auth required @MODULE@ db=@DB@\naccount required pam_permit.so\n";
    for service in ["imap", "smtp", "other"] {
        f.service(service, stack);
    }

    let upper = |s: &str| s.to_ascii_uppercase();
    let spaced = |s: &str| s.replace('-', " ");
    let users: Vec<Vec<u8>> = vec![
        USER.into(),
        USER.into(),
        "FUZZ@example.org".into(),
        "fuzz@example.org ".into(),
        "fuzz".into(),
        "root".into(),
        "".into(),
        "../../etc/passwd".into(),
        "a".repeat(300).into_bytes(),
        vec![0xff, 0xfe, b'@', b'x'],
        "fuzz@example.org\n".into(),
    ];
    // An unknown service reads the `other` file, as libpam does.
    let services = [
        "imap",
        "imap",
        "smtp",
        "other",
        "pop3",
        "IMAP",
        "x".repeat(200).leak(),
    ];
    let hosts = [
        Some("127.0.0.1"),
        Some("127.9.9.9"),
        Some("::1"),
        Some("::ffff:127.0.0.1"),
        Some("192.0.2.7"),
        Some("localhost"),
        Some("127.0.0.1%lo"),
        Some(""),
        Some("999.1.1.1"),
        None,
    ];
    let tokens: Vec<Vec<u8>> = vec![
        imap.clone().into_bytes(),
        upper(&imap).into_bytes(),
        spaced(&imap).into_bytes(),
        any.clone().into_bytes(),
        upper(&any).into_bytes(),
        revoked.clone().into_bytes(),
        b"aaaa-bbbb-cccc-dddd".to_vec(),
        imap.as_bytes()[..18].to_vec(),
        format!("{imap}a").into_bytes(),
        Vec::new(),
        vec![b'a'; 5000],
        [0xc3, 0xa9].repeat(8),
        "ａｂｃｄ-ｅｆｇｈ-ｉｊｋｌ-ｍｎｏｐ".as_bytes().to_vec(),
    ];

    let mut rng = Rng(0x005e_ed0f_a9b1_c3d5);
    let (mut successes, mut runs, mut tripped) = (0, 0, false);
    let store_dir = f.db.parent().unwrap().to_path_buf();
    for _ in 0..3000 {
        let user = rng.pick(&users).clone();
        let service = *rng.pick(&services);
        let host = *rng.pick(&hosts);
        let token = rng.pick(&tokens).clone();
        // The oracle: the exact user; the imap password only for imap
        // from a 127.0.0.0/8 address given as an IP; the any-service one
        // for every service from anywhere; the revoked one never; a token
        // compared after dropping spaces and dashes and lower-casing ASCII.
        let secret = String::from_utf8(token.clone())
            .ok()
            .map(|t| t.replace([' ', '-'], "").to_ascii_lowercase());
        let is = |pw: &str| secret.as_deref() == Some(&pw.replace('-', "")[..]);
        let from_loopback = matches!(
            host,
            Some("127.0.0.1") | Some("127.9.9.9") | Some("::ffff:127.0.0.1")
        );
        // Service names are compared lower-cased; --any-service never
        // covers a privileged one (su, sudo, login, …).
        let lower = service.to_ascii_lowercase();
        let privileged = PRIVILEGED_SERVICES.contains(&lower.as_str());
        let want = user == USER.as_bytes()
            && ((is(&imap) && lower == "imap" && from_loopback) || (is(&any) && !privileged));

        tripped |= user == USER.as_bytes() && token == revoked.as_bytes();
        let Ok(mut pam) = Pam::try_start(&f.confdir, service, &user, &[&token]) else {
            // libpam refuses some names before the module runs.
            assert!(!want, "pam_start refused a login that should work");
            continue;
        };
        if let Some(h) = host {
            pam.set_item(PAM_RHOST, h);
        }
        let rc = pam.authenticate();
        drop(pam);
        runs += 1;
        assert_eq!(
            rc == PAM_SUCCESS,
            want,
            "user {:?} service {service:?} rhost {host:?} token {:?}: rc {rc}",
            String::from_utf8_lossy(&user),
            String::from_utf8_lossy(&token),
        );
        successes += usize::from(want);
    }
    assert!(runs > 2500, "{runs} cycles ran");
    assert!(successes > 20, "only {successes} right logins were drawn");
    // The module keeps one connection per process between logins: at
    // most the store, its -wal and its -shm, once each (fewer when another
    // test's login took the slot since).
    let open = fds_under(&store_dir);
    let db = f.db.display().to_string();
    let allowed = [db.clone(), format!("{db}-shm"), format!("{db}-wal")];
    let mut seen = std::collections::BTreeSet::new();
    for p in &open {
        let p = p.display().to_string();
        assert!(
            allowed.contains(&p),
            "a descriptor on {p} left open: {open:?}"
        );
        assert!(seen.insert(p), "descriptors piled up: {open:?}");
    }
    // The revoked password was presented: the tripwire noticed.
    assert!(tripped);
    let old = f.row(USER, "Old");
    assert_eq!(old["status"], "revoked");
    assert!(old["last_tried_at"].is_string(), "{old}");
}
