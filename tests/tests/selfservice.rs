//! Users managing their own app passwords: a real apppassd, real system
//! users whose primary passwords pam_unix checks, the real `apppass` run as
//! those users.

use apppass_e2e::apppassd::Daemon;
use apppass_e2e::fixture::{stderr, stdout, Fixture};
use apppass_e2e::pam::{login, PAM_AUTH_ERR, PAM_SUCCESS};
use apppass_e2e::system::{require_root, SystemUser};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

const PRIMARY: &str = "Primary-Pass-42!";
const UNIX: &str = "auth required pam_unix.so\naccount required pam_unix.so\n";

/// A store where users may choose `services` ("" leaves self-service off).
fn store_allowing(services: &str) -> Fixture {
    let f = Fixture::new();
    if !services.is_empty() {
        let out = f.apppass(&["config", "self-service-services", services]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    f
}

fn setup(services: &str) -> (Fixture, Daemon) {
    let f = store_allowing(services);
    let d = Daemon::start(&f, UNIX);
    (f, d)
}

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn a_user_makes_lists_and_revokes_their_own_password_and_it_logs_in() {
    if !require_root("a_user_makes_lists_and_revokes_their_own_password_and_it_logs_in") {
        return;
    }
    let f = Fixture::new();
    let u = SystemUser::new(PRIMARY);
    let d = Daemon::start(&f, UNIX);
    let dc = apppass_e2e::dovecot::Dovecot::start(
        &f,
        apppass_e2e::dovecot::Options {
            passdb: apppass_e2e::dovecot::Passdb::PerProtocol,
            cache: false,
            stack: "auth sufficient @MODULE@ db=@DB@\nauth requisite pam_deny.so\naccount sufficient @MODULE@ db=@DB@\naccount required pam_unix.so\n".into(),
            files_for: vec!["imap"],
        },
    );
    let svc = dc.service("imap");
    let out = f.apppass(&["config", "self-service-services", &format!("imap,{svc}")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = d.apppass_as(
        &u.name,
        &["generate", "--service", "imap", "--label", "Phone"],
        &format!("{PRIMARY}\n"),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let pw = stdout(&out).trim().to_string();
    assert_eq!(pw.len(), 19, "{pw}");
    assert!(
        stderr(&out).contains("It is shown only this once"),
        "{}",
        stderr(&out)
    );
    f.simple_service("imap");
    assert_eq!(
        login(&f.confdir, "imap", &u.name, pw.as_bytes()).0,
        PAM_SUCCESS
    );
    // And through a real Dovecot, over IMAP.
    let pw2 = d.apppass_as(
        &u.name,
        &["generate", "--service", &svc, "--label", "Dovecot"],
        &format!("{PRIMARY}\n"),
    );
    assert_eq!(code(&pw2), 0, "{}", stderr(&pw2));
    assert!(
        apppass_e2e::clients::imap_login(
            dc.imap,
            std::net::Ipv4Addr::new(127, 0, 0, 1),
            &u.name,
            stdout(&pw2).trim()
        ),
        "IMAP with a self-made password\n{}",
        dc.log()
    );
    let out = d.apppass_as(
        &u.name,
        &["revoke", "--label", "Dovecot"],
        &format!("{PRIMARY}\n"),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let listed = d.apppass_as(&u.name, &["list", "--json"], &format!("{PRIMARY}\n"));
    assert_eq!(code(&listed), 0, "{}", stderr(&listed));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["label"], "Phone");
    assert_eq!(rows[0]["user"], u.name.as_str());
    let id = rows[0]["id"].as_i64().unwrap().to_string();
    let revoked = d.apppass_as(&u.name, &["revoke", &id], &format!("{PRIMARY}\n"));
    assert_eq!(code(&revoked), 0, "{}", stderr(&revoked));
    assert_eq!(
        login(&f.confdir, "imap", &u.name, pw.as_bytes()).0,
        PAM_AUTH_ERR
    );
    let h = d.apppass_as(&u.name, &["history", "--json"], &format!("{PRIMARY}\n"));
    let events: serde_json::Value = serde_json::from_str(&stdout(&h)).unwrap();
    let all = events.as_array().unwrap();
    assert_eq!(all.len(), 5, "{events}");
    // The revoked password tried at login: the tripwire's line, by the module.
    let (tripwire, own): (Vec<_>, Vec<_>) =
        all.iter().partition(|e| e["event"] == "used-after-revoke");
    assert_eq!(tripwire.len(), 1, "{events}");
    assert_eq!(tripwire[0]["by"], "module", "{events}");
    assert!(own.iter().all(|e| e["by"] == "self"), "{events}");
    let generated = all.iter().filter(|e| e["event"] == "generated").count();
    assert_eq!(generated, 2, "{events}");
    // The administrator sees the same, as root.
    assert_eq!(f.history_json(&u.name), events);
}

#[test]
fn a_wrong_primary_password_is_refused_and_the_sixth_try_does_not_reach_pam() {
    if !require_root("a_wrong_primary_password_is_refused_and_the_sixth_try_does_not_reach_pam") {
        return;
    }
    let (f, d) = setup("imap");
    let u = SystemUser::new(PRIMARY);
    for i in 0..5 {
        let out = d.apppass_as(
            &u.name,
            &["generate", "--service", "imap", "--label", "Phone"],
            "wrong\n",
        );
        assert_eq!(code(&out), 4, "try {i}: {}", stderr(&out));
        assert!(stdout(&out).is_empty());
    }
    assert!(
        f.list_json(&["--all"]).as_array().unwrap().is_empty(),
        "nothing created"
    );
    // The right password now: refused all the same, PAM is not asked.
    let out = d.apppass_as(&u.name, &["list"], &format!("{PRIMARY}\n"));
    assert_eq!(code(&out), 4);
    assert!(
        stderr(&out).contains("too many failed sign-ins"),
        "{}",
        stderr(&out)
    );
    // Another user is not affected.
    let v = SystemUser::new(PRIMARY);
    assert_eq!(
        code(&d.apppass_as(&v.name, &["list"], &format!("{PRIMARY}\n"))),
        0
    );
}

#[test]
fn an_app_password_never_signs_in_to_self_service() {
    if !require_root("an_app_password_never_signs_in_to_self_service") {
        return;
    }
    let f = store_allowing("imap");
    // A stack that would take an app password if the module allowed it.
    let d = Daemon::start(
        &f,
        "auth sufficient @MODULE@ db=@DB@\nauth required pam_unix.so try_first_pass\naccount required pam_unix.so\n",
    );
    let u = SystemUser::new(PRIMARY);
    for svc in ["apppass", "imap"] {
        let out = f.apppass(&[
            "generate",
            &u.name,
            "--service",
            if svc == "apppass" { "imap" } else { svc },
            "--label",
            svc,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let any = f.issue(&[&u.name, "--any-service", "--label", "Any"]);
    let named = f.apppass(&[
        "generate",
        &u.name,
        "--service",
        "apppass",
        "--label",
        "Named",
    ]);
    assert_eq!(
        code(&named),
        2,
        "a password for apppass itself is refused at generate"
    );
    let out = d.apppass_as(&u.name, &["list"], &format!("{any}\n"));
    assert_eq!(
        code(&out),
        4,
        "an any-service app password is not a primary password: {}",
        stderr(&out)
    );
}

#[test]
fn users_only_ever_touch_their_own_passwords() {
    if !require_root("users_only_ever_touch_their_own_passwords") {
        return;
    }
    let (f, d) = setup("imap");
    let a = SystemUser::new(PRIMARY);
    let b = SystemUser::new(PRIMARY);
    let a_pw = f.issue(&[&a.name, "--service", "imap", "--label", "A's phone"]);
    let a_id = f.row(&a.name, "A's phone")["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let p = format!("{PRIMARY}\n");
    // b names a: needs root.
    for args in [
        vec!["list", a.name.as_str()],
        vec!["history", a.name.as_str()],
        vec!["revoke", a.name.as_str(), &a_id],
        vec![
            "generate",
            a.name.as_str(),
            "--service",
            "imap",
            "--label",
            "X",
        ],
    ] {
        let out = d.apppass_as(&b.name, &args, &p);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
    }
    // b revokes a's ID as if it were b's: not found, nothing happens.
    let out = d.apppass_as(&b.name, &["revoke", &a_id], &p);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let out = d.apppass_as(&b.name, &["list", "--all", "--json"], &p);
    assert_eq!(stdout(&out).trim(), "[]");
    f.simple_service("imap");
    assert_eq!(
        login(&f.confdir, "imap", &a.name, a_pw.as_bytes()).0,
        PAM_SUCCESS
    );
    // Hand-crafted requests straight to the socket, as root would send them
    // for b: a user field, a uid, an unknown operation, garbage.
    for req in [
        format!(r#"{{"v":2,"op":"list","user":"{}"}}"#, a.name),
        r#"{"v":2,"op":"revoke","id":1,"uid":0}"#.to_string(),
        r#"{"v":2,"op":"export"}"#.to_string(),
        r#"{"op":"list"}"#.to_string(),
        "\u{0}\u{1}garbage".to_string(),
    ] {
        let reply = raw(&d, req.as_bytes());
        assert!(reply.contains(r#""reply":"failed""#), "{req}: {reply}");
        assert!(
            !reply.contains("prompt"),
            "refused before any sign-in: {reply}"
        );
    }
    assert_eq!(f.row(&a.name, "A's phone")["status"], "active");
}

/// Sends `bytes` and a newline as the test process (root), returns the reply.
fn raw(d: &Daemon, bytes: &[u8]) -> String {
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let _ = s.write_all(bytes);
    let _ = s.write_all(b"\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn self_service_off_any_service_and_services_outside_the_list_are_refused() {
    if !require_root("self_service_off_any_service_and_services_outside_the_list_are_refused") {
        return;
    }
    let (_f, d) = setup("");
    let u = SystemUser::new(PRIMARY);
    let p = format!("{PRIMARY}\n");
    let out = d.apppass_as(&u.name, &["list"], &p);
    assert_eq!(code(&out), 4);
    assert!(stderr(&out).contains("turned off"), "{}", stderr(&out));
    let (_f, d) = setup("imap");
    for args in [
        vec!["generate", "--service", "pop3", "--label", "X"],
        vec!["generate", "--service", "sudo", "--label", "X"],
        vec!["generate", "--any-service", "--label", "X"],
    ] {
        let out = d.apppass_as(&u.name, &args, &p);
        assert_eq!(code(&out), 4, "{args:?}: {}", stderr(&out));
    }
    for root_only in [
        vec!["init"],
        vec!["config"],
        vec!["export", "/tmp/x.json"],
        vec!["backup", "/tmp/x.db"],
    ] {
        let out = d.apppass_as(&u.name, &root_only, "");
        assert_eq!(code(&out), 2, "{root_only:?}");
        assert!(stderr(&out).contains("needs root"), "{}", stderr(&out));
    }
}

#[test]
fn without_a_daemon_users_are_told_self_service_is_not_available() {
    if !require_root("without_a_daemon_users_are_told_self_service_is_not_available") {
        return;
    }
    let (_f, mut d) = setup("imap");
    let u = SystemUser::new(PRIMARY);
    d.stop();
    let out = d.apppass_as(&u.name, &["list"], "");
    assert_eq!(code(&out), 3);
    assert!(
        stderr(&out)
            .contains("self-service is not available on this host: apppassd.socket is not active"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_daemon_survives_garbage_slow_and_many_clients_with_flat_descriptors() {
    if !require_root("the_daemon_survives_garbage_slow_and_many_clients_with_flat_descriptors") {
        return;
    }
    let (_f, d) = setup("imap");
    let before = d.fds();
    // Oversized, truncated and silent clients.
    let _ = raw(&d, &vec![b'{'; 100_000]);
    {
        let mut s = UnixStream::connect(&d.socket).unwrap();
        let _ = s.write_all(br#"{"v":2,"op":"li"#);
    }
    let silent: Vec<_> = (0..5)
        .map(|_| UnixStream::connect(&d.socket).unwrap())
        .collect();
    // 200 clients at once, each sending a request it may not make.
    let handles: Vec<_> = (0..200)
        .map(|_| {
            let socket = d.socket.clone();
            std::thread::spawn(move || {
                let mut s = UnixStream::connect(&socket).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let _ = s.write_all(b"{\"v\":2,\"op\":\"list\"}\n");
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                out
            })
        })
        .collect();
    let replies: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    // Root is told to manage directly, or a busy daemon says so: never a crash.
    assert!(
        replies.iter().all(|r| r.contains(r#""reply":"failed""#)),
        "{:?}",
        replies.iter().find(|r| !r.contains(r#""reply":"failed""#))
    );
    drop(silent);
    // The slow clients time out; the daemon is still serving.
    std::thread::sleep(Duration::from_secs(11));
    let reply = raw(&d, br#"{"v":2,"op":"list"}"#);
    assert!(
        reply.contains("root manages app passwords directly"),
        "{reply}"
    );
    assert_eq!(d.fds(), before, "descriptors are back where they were");
}

#[test]
fn a_second_factor_stacked_into_the_pam_file_is_relayed_and_a_wrong_code_refuses() {
    if !require_root(
        "a_second_factor_stacked_into_the_pam_file_is_relayed_and_a_wrong_code_refuses",
    ) {
        return;
    }
    let f = store_allowing("imap");
    let u = SystemUser::new(PRIMARY);
    let secret = "00112233445566778899";
    let users = f.dir.path().join("users.oath");
    std::fs::write(&users, format!("HOTP {} - {secret}\n", u.name)).unwrap();
    let d = Daemon::start(
        &f,
        &format!(
            "auth required pam_unix.so\nauth required pam_oath.so usersfile={} window=5\naccount required pam_unix.so\n",
            users.display()
        ),
    );
    let code_for = |counter: u32| {
        let out = std::process::Command::new("oathtool")
            .args(["-c", &counter.to_string(), secret])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    // The primary password, then the code: one line of stdin each.
    let out = d.apppass_as(&u.name, &["list"], &format!("{PRIMARY}\n{}\n", code_for(0)));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // A wrong code after the right password refuses.
    let out = d.apppass_as(&u.name, &["list"], &format!("{PRIMARY}\n000000\n"));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    // The next code works again (pam_oath moved its counter on).
    let out = d.apppass_as(
        &u.name,
        &["generate", "--service", "imap", "--label", "Phone"],
        &format!("{PRIMARY}\n{}\n", code_for(1)),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(f.row(&u.name, "Phone")["status"], "active");
}

#[test]
fn a_client_of_another_protocol_version_is_told_to_upgrade() {
    if !require_root("a_client_of_another_protocol_version_is_told_to_upgrade") {
        return;
    }
    let (_f, d) = setup("imap");
    // What apppass 0.2.0 sent.
    let reply = raw(&d, br#"{"v":1,"op":"list","all":false,"json":false}"#);
    assert!(reply.contains(r#""reply":"failed""#), "{reply}");
    assert!(reply.contains("upgrade apppass"), "{reply}");
}

#[test]
fn the_daemon_leaves_when_idle() {
    if !require_root("the_daemon_leaves_when_idle") {
        return;
    }
    let f = Fixture::new();
    let mut d = Daemon::start_with(&f, UNIX, &["--idle-exit", "1"]);
    let reply = raw(&d, br#"{"v":2,"op":"list"}"#);
    assert!(reply.contains(r#""reply":"failed""#), "{reply}");
    let start = std::time::Instant::now();
    while !d.exited() {
        assert!(start.elapsed() < Duration::from_secs(10), "still running");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_daemon_logs_sign_ins_and_changes_with_the_user_and_never_a_secret() {
    let test = "the_daemon_logs_sign_ins_and_changes_with_the_user_and_never_a_secret";
    if !require_root(test) {
        return;
    }
    let sandbox = std::process::Command::new("bwrap")
        .args(["--bind", "/", "/", "--dev", "/dev", "true"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !sandbox {
        // Straight to stderr: the test harness captures eprintln!.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED {test}: bubblewrap cannot create a mount namespace here ***\n"
        );
        return;
    }
    let f = store_allowing("imap");
    let log = f.dir.path().join("log.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&log).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let d = Daemon::start_logged(&f, UNIX, &log);
    let u = SystemUser::new(PRIMARY);
    let wrong = "Not-The-Primary-7";
    assert_eq!(
        code(&d.apppass_as(&u.name, &["list"], &format!("{wrong}\n"))),
        4
    );
    let out = d.apppass_as(
        &u.name,
        &["generate", "--service", "imap", "--label", "Phone"],
        &format!("{PRIMARY}\n"),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let pw = stdout(&out).trim().to_string();
    let mut lines = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let all = lines.join("\n");
    assert!(
        lines.iter().any(|l| l.contains("apppassd")
            && l.contains(&format!("sign-in failed for user={}", u.name))),
        "{all}"
    );
    assert!(
        lines.iter().any(|l| l.contains("generated app password")
            && l.contains(&format!("by user={} (self-service)", u.name))),
        "{all}"
    );
    for secret in [PRIMARY, wrong, pw.as_str(), &pw.replace('-', "")] {
        assert!(!all.contains(secret), "{secret:?} reached the log: {all}");
    }
}

#[test]
fn a_full_daemon_serves_the_clients_waiting_for_it_in_the_order_they_came() {
    if !require_root("a_full_daemon_serves_the_clients_waiting_for_it_in_the_order_they_came") {
        return;
    }
    let f = store_allowing("imap");
    let d = Daemon::start_with(&f, UNIX, &["--max-clients", "1"]);
    let u = SystemUser::new(PRIMARY);
    // A silent client takes the only place.
    let holder = UnixStream::connect(&d.socket).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let served = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for i in 0..3u64 {
            let (d, u, served) = (&d, &u, &served);
            s.spawn(move || {
                // Three requests come in that order, a moment apart.
                std::thread::sleep(Duration::from_millis(400 * i));
                let out = d.apppass_as(&u.name, &["list"], &format!("{PRIMARY}\n"));
                assert_eq!(code(&out), 0, "{}", stderr(&out));
                served.lock().unwrap().push(i);
            });
        }
        std::thread::sleep(Duration::from_millis(1600));
        drop(holder);
    });
    // One at a time, first come first served: none lost a race to a later
    // one, none was told to go away.
    assert_eq!(served.into_inner().unwrap(), [0, 1, 2]);
}
