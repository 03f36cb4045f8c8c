//! Revocation reaches live sessions: real Dovecot instances with IMAP
//! clients left logged in (INBOX selected, idling, as a phone's mail app
//! is), real `apppass`, apppassd, apppass-web and `apppass watch`
//! processes, real PostgreSQL clusters restarted and failed over under
//! the watchers. A session counts as ended when the server closes it.

use apppass_e2e::apppassd::Daemon;
use apppass_e2e::clients::{imap_login, ImapSession};
use apppass_e2e::dovecot::{Dovecot, Options, Passdb};
use apppass_e2e::fixture::{stderr, stdout, Fixture};
use apppass_e2e::pam::{Pam, PAM_SUCCESS};
use apppass_e2e::postgres::{self, Cluster};
use apppass_e2e::system::{require_root, SystemUser};
use apppass_e2e::watcher::Watcher;
use serde_json::json;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

const USER: &str = "mail@example.org";
const STACK: &str = "auth sufficient @MODULE@ db=@DB@\nauth requisite pam_deny.so\naccount sufficient @MODULE@ db=@DB@\naccount required pam_deny.so\n";
const PRIMARY: &str = "Primary-Pass-42!";
/// For a real user: app passwords, then the primary password.
const UNIX_STACK: &str = "auth sufficient @MODULE@ db=@DB@\nauth requisite pam_deny.so\naccount sufficient @MODULE@ db=@DB@\naccount required pam_unix.so\n";
const UNIX: &str = "auth required pam_unix.so\naccount required pam_unix.so\n";

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

fn dovecot(f: &Fixture, stack: &str, cache: bool) -> Dovecot {
    Dovecot::start(
        f,
        Options {
            passdb: Passdb::PerProtocol,
            cache,
            stack: stack.into(),
            files_for: vec!["imap"],
        },
    )
}

/// Logs in from `from` and stays; the test fails if the login is refused.
fn stay(dc: &Dovecot, from: Ipv4Addr, user: &str, password: &str) -> ImapSession {
    ImapSession::open(dc.imap, from, user, password)
        .unwrap_or_else(|| panic!("IMAP login from {from} refused\n{}", dc.log()))
}

/// `apppass --dovecot-config CONF ARGS…` on `f`'s store, and how long it took.
fn apppass_on(f: &Fixture, dc: &Path, args: &[&str]) -> (Output, Duration) {
    let mut all = vec!["--dovecot-config", dc.to_str().unwrap()];
    all.extend_from_slice(args);
    let started = Instant::now();
    let out = f.apppass(&all);
    (out, started.elapsed())
}

/// The `addresses` `list --json` shows for USER's password `label`.
fn addresses(f: &Fixture, user: &str, label: &str) -> serde_json::Value {
    f.row(user, label)["addresses"].clone()
}

/// Waits on another thread for `s` to be closed by the server: the
/// instant it was, or `None` after `timeout`.
fn when_closed(
    mut s: ImapSession,
    timeout: Duration,
) -> std::thread::JoinHandle<Option<(Instant, Option<String>)>> {
    std::thread::spawn(move || s.closed_within(timeout).map(|c| (Instant::now(), c.bye)))
}

#[test]
fn a_revoke_ends_that_passwords_imap_connection_and_leaves_the_users_other_one() {
    if !require_root("a_revoke_ends_that_passwords_imap_connection_and_leaves_the_users_other_one")
    {
        return;
    }
    let f = Fixture::new();
    let dc = dovecot(&f, STACK, false);
    let svc = dc.service("imap");
    let phone = f.generate(USER, &[&svc], "Phone");
    let laptop = f.generate(USER, &[&svc], "Laptop");
    let mut on_phone = stay(&dc, ip(2), USER, &phone);
    let mut on_laptop = stay(&dc, ip(3), USER, &laptop);
    assert_eq!(addresses(&f, USER, "Phone"), json!(["127.0.0.2"]));
    assert_eq!(addresses(&f, USER, "Laptop"), json!(["127.0.0.3"]));

    let (out, took) = apppass_on(
        &f,
        &dc.conf,
        &["revoke", USER, "--label", "Phone", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains(&format!(
            "apppass: ended 1 session of {USER} (imap from 127.0.0.2)"
        )),
        "{said}"
    );
    assert!(!said.contains("warning"), "{said}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        v["sessions_ended"],
        json!([{"kind": "dovecot", "protocol": "imap", "address": "127.0.0.2"}]),
        "{v}"
    );
    // The server closed the phone's connection; the laptop's stays usable.
    let closed = on_phone
        .closed_within(Duration::from_secs(5))
        .unwrap_or_else(|| {
            panic!(
                "the revoked password's connection is still open\n{}",
                dc.log()
            )
        });
    eprintln!("revoke took {took:?}; the client saw {closed:?}");
    assert!(on_laptop.closed_within(Duration::from_secs(1)).is_none());
    assert!(
        on_laptop.noop(),
        "the other password's connection still answers"
    );
    // The addresses stay listed with the revoked password.
    assert_eq!(addresses(&f, USER, "Phone"), json!(["127.0.0.2"]));
    // The table list prints keeps its columns: addresses are for scripts.
    let table = stdout(&f.apppass(&["list", USER]));
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "USER", "LABEL", "SERVICES", "STATUS", "CREATED", "EXPIRES", "LAST", "USED"],
        "{table}"
    );
    assert!(!imap_login(dc.imap, ip(2), USER, &phone));
}

/// With Dovecot's auth cache on and the shipped cache key, a login from a
/// new address reaches the module, which records the address, so the
/// revoke kicks that connection too. With `cache_key=%u%s` the cached
/// success let the phone in from its new network unrecorded, and the
/// revoke left that connection open.
#[test]
fn a_revoke_ends_a_connection_from_a_new_address_with_the_auth_cache_on() {
    if !require_root("a_revoke_ends_a_connection_from_a_new_address_with_the_auth_cache_on") {
        return;
    }
    let f = Fixture::new();
    let dc = dovecot(&f, STACK, true);
    let phone = f.generate(USER, &[&dc.service("imap")], "Phone");
    assert!(imap_login(dc.imap, ip(2), USER, &phone), "{}", dc.log());
    // The phone moved to another network, with the login cached.
    let moved = stay(&dc, ip(3), USER, &phone);
    let seen = addresses(&f, USER, "Phone");
    assert!(
        seen.as_array().unwrap().contains(&json!("127.0.0.3")),
        "the login from 127.0.0.3 did not reach the module: {seen}"
    );
    let closed = when_closed(moved, Duration::from_secs(10));
    let (out, _) = apppass_on(&f, &dc.conf, &["revoke", USER, "--label", "Phone"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        closed.join().unwrap().is_some(),
        "the connection from 127.0.0.3 is still open: {}\n{}",
        stderr(&out),
        dc.log()
    );
}

#[test]
fn a_suspend_or_rotate_ends_that_passwords_imap_connection_and_a_resume_ends_nothing() {
    if !require_root(
        "a_suspend_or_rotate_ends_that_passwords_imap_connection_and_a_resume_ends_nothing",
    ) {
        return;
    }
    let f = Fixture::new();
    let dc = dovecot(&f, STACK, false);
    let svc = dc.service("imap");
    let phone = f.generate(USER, &[&svc], "Phone");
    let laptop = f.generate(USER, &[&svc], "Laptop");
    let mut on_phone = stay(&dc, ip(2), USER, &phone);
    let mut on_laptop = stay(&dc, ip(3), USER, &laptop);

    let (out, _) = apppass_on(
        &f,
        &dc.conf,
        &["suspend", USER, "--label", "Laptop", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "apppass: ended 1 session of {USER} (imap from 127.0.0.3)"
        )),
        "{}",
        stderr(&out)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["status"], "suspended", "{v}");
    assert_eq!(
        v["sessions_ended"],
        json!([{"kind": "dovecot", "protocol": "imap", "address": "127.0.0.3"}]),
        "{v}"
    );
    assert!(
        on_laptop.closed_within(Duration::from_secs(5)).is_some(),
        "the suspended password's connection is still open\n{}",
        dc.log()
    );
    assert!(on_phone.noop(), "the phone's connection still answers");

    let (out, _) = apppass_on(
        &f,
        &dc.conf,
        &["resume", USER, "--label", "Laptop", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("ended"), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["sessions_ended"], json!([]), "{v}");
    assert!(on_phone.noop(), "a resume ends nothing");
    let mut back = stay(&dc, ip(3), USER, &laptop);
    assert!(back.noop());

    // rotate revokes the password it replaces: its connection ends too.
    let (out, _) = apppass_on(&f, &dc.conf, &["rotate", USER, "--label", "Laptop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "apppass: ended 1 session of {USER} (imap from 127.0.0.3)"
        )),
        "{}",
        stderr(&out)
    );
    assert!(back.closed_within(Duration::from_secs(5)).is_some());
    let mut renewed = stay(&dc, ip(3), USER, stdout(&out).trim());
    assert!(renewed.noop());
    assert!(on_phone.noop(), "the phone's connection still answers");
}

#[test]
fn a_users_own_revoke_through_apppassd_ends_that_connection() {
    if !require_root("a_users_own_revoke_through_apppassd_ends_that_connection") {
        return;
    }
    let f = Fixture::new();
    let u = SystemUser::new(PRIMARY);
    let dc = dovecot(&f, UNIX_STACK, false);
    let svc = dc.service("imap");
    let out = f.apppass(&["config", "self-service-services", &svc]);
    assert!(out.status.success(), "{}", stderr(&out));
    let d = Daemon::start_with(&f, UNIX, &["--dovecot-config", dc.conf.to_str().unwrap()]);
    let phone = f.issue(&[&u.name, "--service", &svc, "--label", "Phone"]);
    let laptop = f.issue(&[&u.name, "--service", &svc, "--label", "Laptop"]);
    let on_phone = stay(&dc, ip(2), &u.name, &phone);
    let mut on_laptop = stay(&dc, ip(3), &u.name, &laptop);

    let closed = when_closed(on_phone, Duration::from_secs(20));
    let started = Instant::now();
    let out = d.apppass_as(
        &u.name,
        &["revoke", "--label", "Phone", "--json"],
        &format!("{PRIMARY}\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "apppass: ended 1 session of {} (imap from 127.0.0.2)",
            u.name
        )),
        "{}",
        stderr(&out)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        v["sessions_ended"],
        json!([{"kind": "dovecot", "protocol": "imap", "address": "127.0.0.2"}]),
        "{v}"
    );
    let (at, bye) = closed.join().unwrap().unwrap_or_else(|| {
        panic!(
            "the revoked password's connection is still open\n{}",
            dc.log()
        )
    });
    eprintln!(
        "self-service revoke: closed {:?} after the command started ({bye:?})",
        at - started
    );
    assert!(
        on_laptop.noop(),
        "the other password's connection still answers"
    );
}

#[test]
fn a_revoke_on_the_web_page_ends_that_connection() {
    use apppass_e2e::web::{Browser, Web};
    if !require_root("a_revoke_on_the_web_page_ends_that_connection") {
        return;
    }
    let f = Fixture::new();
    let u = SystemUser::new(PRIMARY);
    let dc = dovecot(&f, UNIX_STACK, false);
    let svc = dc.service("imap");
    let out = f.apppass(&["config", "self-service-services", &svc]);
    assert!(out.status.success(), "{}", stderr(&out));
    let web = Web::start_with(
        &f,
        apppass_e2e::web::Options {
            stack: UNIX,
            daemon_args: vec!["--dovecot-config".into(), dc.conf.display().to_string()],
            tls: None,
            web_args: Vec::new(),
        },
    );
    let phone = f.issue(&[&u.name, "--service", &svc, "--label", "Phone"]);
    let laptop = f.issue(&[&u.name, "--service", &svc, "--label", "Laptop"]);
    let on_phone = stay(&dc, ip(2), &u.name, &phone);
    let mut on_laptop = stay(&dc, ip(3), &u.name, &laptop);

    let mut b = Browser::new(&web.url);
    assert_eq!(b.sign_in(&u.name, PRIMARY).status, 303);
    let csrf = b.csrf();
    let id = f.row(&u.name, "Phone")["id"].as_i64().unwrap().to_string();
    let closed = when_closed(on_phone, Duration::from_secs(20));
    let started = Instant::now();
    let done = b.post(
        "/revoke",
        &[("csrf", &csrf), ("id", &id), ("confirm", "yes")],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    let (at, _) = closed.join().unwrap().unwrap_or_else(|| {
        panic!(
            "the revoked password's connection is still open\n{}",
            dc.log()
        )
    });
    eprintln!(
        "web revoke: closed {:?} after the form was sent",
        at - started
    );
    assert_eq!(f.row(&u.name, "Phone")["status"], "revoked");
    assert!(
        on_laptop.noop(),
        "the other password's connection still answers"
    );
}

#[test]
fn a_fixed_expiry_passing_ends_the_connection_through_the_watcher() {
    if !require_root("a_fixed_expiry_passing_ends_the_connection_through_the_watcher") {
        return;
    }
    let f = Fixture::new();
    let dc = dovecot(&f, STACK, false);
    let svc = dc.service("imap");
    let phone = f.generate(USER, &[&svc], "Phone");
    let laptop = f.generate(USER, &[&svc], "Laptop");
    let on_phone = stay(&dc, ip(2), USER, &phone);
    let mut on_laptop = stay(&dc, ip(3), USER, &laptop);
    let w = Watcher::start(&f, Some(&dc.conf));
    assert!(
        w.wait_for(0, "watching", Duration::from_secs(20)),
        "{}",
        w.log()
    );
    let closed = when_closed(on_phone, Duration::from_secs(75));
    f.expire_at("Phone", 3);
    let expiry = Instant::now() + Duration::from_secs(3);
    let (at, _) = closed.join().unwrap().unwrap_or_else(|| {
        panic!(
            "the expired password's connection is still open\nwatcher:\n{}\n{}",
            w.log(),
            dc.log()
        )
    });
    let late = at.saturating_duration_since(expiry);
    eprintln!("fixed expiry: connection closed {late:?} after the expiry");
    assert!(late < Duration::from_secs(60), "{late:?}");
    assert!(
        w.wait_for(
            0,
            &format!("ended 1 session of {USER} (imap from 127.0.0.2)"),
            Duration::from_secs(10)
        ),
        "{}",
        w.log()
    );
    assert!(
        on_laptop.noop(),
        "the other password's connection still answers"
    );
}

/// One host of a store shared through PostgreSQL: its own PAM files, its
/// own Dovecot, its own watcher.
struct Host {
    f: Fixture,
    dc: Dovecot,
}

impl Host {
    fn new(login: &str, admin: &str, key: &Path, cache: bool) -> Host {
        let f = Fixture::postgres(login, admin, key);
        let dc = dovecot(&f, STACK, cache);
        Host { f, dc }
    }

    fn apppass(&self, args: &[&str]) -> (Output, Duration) {
        apppass_on(&self.f, &self.dc.conf, args)
    }

    fn watch(&self) -> Watcher {
        let w = Watcher::start(&self.f, Some(&self.dc.conf));
        assert!(
            w.wait_for(0, "watching", Duration::from_secs(30)),
            "{}",
            w.log()
        );
        w
    }
}

/// A revoke made on `a` of a password logged in on `b` from `from`:
/// how long after the command started `b`'s connection was closed. `b`'s
/// cache must no longer let the password in.
fn revoke_across(a: &Host, b: &Host, w: &Watcher, label: &str, from: Ipv4Addr) -> Duration {
    let pw = a.f.generate(USER, &[&b.dc.service("imap")], label);
    let session = stay(&b.dc, from, USER, &pw);
    let closed = when_closed(session, Duration::from_secs(30));
    let started = Instant::now();
    let (out, took) = a.apppass(&["revoke", USER, "--label", label]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (at, _) = closed.join().unwrap().unwrap_or_else(|| {
        panic!(
            "{label}: the connection on the other host is still open\nwatcher:\n{}\n{}",
            w.log(),
            b.dc.log()
        )
    });
    let across = at - started;
    eprintln!("{label}: revoke took {took:?} on host A; host B closed the connection {across:?} after it started");
    assert!(
        !imap_login(b.dc.imap, from, USER, &pw),
        "{label}: host B's cache still lets the revoked password in\n{}",
        b.dc.log()
    );
    across
}

/// Waits until `w` says it reached the store again after `mark`.
fn reconnected(w: &Watcher, mark: usize) {
    assert!(
        w.wait_for(mark, "reached ", Duration::from_secs(90)),
        "the watcher did not reach the store again:\n{}",
        w.log()
    );
}

#[test]
fn a_revoke_on_one_host_ends_the_connection_and_the_cached_login_on_another_across_restart_and_failover(
) {
    if !require_root("a_revoke_on_one_host_ends_the_connection_and_the_cached_login_on_another_across_restart_and_failover") {
        return;
    }
    let mut primary = Cluster::start();
    let standby = primary.standby();
    let both = |role: &str, pw: &str| {
        format!(
            "host=127.0.0.1,127.0.0.1 port={},{} dbname=apppass user={role} password={pw} sslmode=verify-full sslrootcert={} target_session_attrs=read-write connect_timeout=2",
            primary.port,
            standby.port,
            primary.ca.display()
        )
    };
    let login = both("apppass_login", postgres::LOGIN_PASSWORD);
    let admin = both("apppass_admin", postgres::ADMIN_PASSWORD);
    let (_k, key) = postgres::key_dir();
    let a = Host::new(&login, &admin, &key, true);
    let b = Host::new(&login, &admin, &key, true);

    // Without a watcher on B, B's cache keeps a revoked password working:
    // what the watcher is for.
    let pw = a.f.generate(USER, &[&b.dc.service("imap")], "Unwatched");
    assert!(imap_login(b.dc.imap, ip(9), USER, &pw), "{}", b.dc.log());
    let (out, _) = a.apppass(&["revoke", USER, "--label", "Unwatched"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        imap_login(b.dc.imap, ip(9), USER, &pw),
        "B's cache should still hold the login: the test would prove nothing"
    );

    let wa = a.watch();
    let wb = b.watch();
    let mut times = vec![revoke_across(&a, &b, &wb, "First", ip(2))];

    // PostgreSQL restarted under the watchers.
    let (ma, mb) = (wa.said(), wb.said());
    primary.stop();
    primary.start_again();
    reconnected(&wa, ma);
    reconnected(&wb, mb);
    times.push(revoke_across(&a, &b, &wb, "After restart", ip(4)));

    // The primary lost, the standby promoted: the watchers find it.
    let standby_has = |n: &str| {
        standby
            .psql_db_try(
                "apppass",
                "SELECT count(*) FROM apppass.passwords WHERE revoked_at IS NOT NULL",
            )
            .as_deref()
            == Some(n)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !standby_has("3") {
        assert!(Instant::now() < deadline, "the standby never caught up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (ma, mb) = (wa.said(), wb.said());
    primary.kill();
    standby.promote();
    reconnected(&wa, ma);
    reconnected(&wb, mb);
    times.push(revoke_across(&a, &b, &wb, "After failover", ip(5)));

    // A watcher stopped while a password was revoked catches up when it
    // starts again, from its saved position.
    let mut wb = wb;
    let pw = a.f.generate(USER, &[&b.dc.service("imap")], "Missed");
    let session = stay(&b.dc, ip(6), USER, &pw);
    wb.stop();
    let (out, _) = a.apppass(&["revoke", USER, "--label", "Missed"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let closed = when_closed(session, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    wb.restart();
    let (at, _) = closed
        .join()
        .unwrap()
        .unwrap_or_else(|| panic!("the restarted watcher did not catch up\n{}", wb.log()));
    eprintln!(
        "a restarted watcher ended the missed session {:?} after it started",
        at - started
    );
    assert!(!imap_login(b.dc.imap, ip(6), USER, &pw));

    eprintln!("revoke-to-disconnect across hosts: {times:?}");
    for t in &times {
        assert!(*t <= Duration::from_secs(2), "{times:?}");
    }
    // A's watcher found nothing to end on A, and said nothing was wrong.
    assert!(!wa.log().contains("warning"), "{}", wa.log());
    assert!(!wa.log().contains("ended"), "{}", wa.log());
    assert!(!wb.log().contains("warning"), "{}", wb.log());
}

/// The processes of `dc`: its master and the master's children.
fn dovecot_processes(dc: &Dovecot) -> Vec<i32> {
    let master: i32 = std::fs::read_to_string(dc.dir.path().join("run/master.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut all = vec![master];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid …: comm may hold spaces, so after ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(master) {
            all.push(pid);
        }
    }
    all
}

fn signal_all(pids: &[i32], sig: i32) {
    for p in pids {
        // SAFETY: kill with a PID of a Dovecot this test started.
        unsafe { libc::kill(*p, sig) };
    }
}

/// The command a warning names on its `run` line, for this address.
fn named_command(said: &str, address: &str) -> String {
    said.lines()
        .map(str::trim)
        .find(|l| l.contains(" kick ") && l.ends_with(address))
        .unwrap_or_else(|| panic!("no kick command for {address} in:\n{said}"))
        .to_string()
}

#[test]
fn a_dovecot_that_does_not_answer_holds_a_revoke_for_one_timeout_and_the_warning_names_the_kick() {
    if !require_root(
        "a_dovecot_that_does_not_answer_holds_a_revoke_for_one_timeout_and_the_warning_names_the_kick",
    ) {
        return;
    }
    let f = Fixture::new();
    let dc = dovecot(&f, STACK, false);
    let svc = dc.service("imap");
    let phone = f.generate(USER, &[&svc], "Phone");
    let on_phone = stay(&dc, ip(2), USER, &phone);
    let stopped = dovecot_processes(&dc);
    signal_all(&stopped, libc::SIGSTOP);
    let (out, took) = apppass_on(&f, &dc.conf, &["revoke", USER, "--label", "Phone"]);
    signal_all(&stopped, libc::SIGCONT);
    let said = stderr(&out);
    eprintln!("revoke with Dovecot stopped: {took:?}\n{said}");
    assert!(out.status.success(), "{said}");
    assert_eq!(
        f.row(USER, "Phone")["status"],
        "revoked",
        "the revoke stands"
    );
    // One wait for a Dovecot that does not answer, not one per doveadm call.
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert!(said.contains("were NOT ended"), "{said}");
    let command = named_command(&said, "127.0.0.2");
    assert!(
        command.contains(&format!(
            "-c {} kick -- {USER} 127.0.0.2",
            dc.conf.display()
        )),
        "{command}"
    );
    // The command it names, run once Dovecot answers again, does the job.
    let closed = when_closed(on_phone, Duration::from_secs(20));
    let run = std::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .output()
        .unwrap();
    assert!(run.status.success(), "{command}: {}", stderr(&run));
    assert!(closed.join().unwrap().is_some(), "{command} left it open");
}

#[test]
fn a_dovecot_configuration_whose_sockets_are_missing_is_a_warning_and_the_revoke_stands() {
    if !require_root(
        "a_dovecot_configuration_whose_sockets_are_missing_is_a_warning_and_the_revoke_stands",
    ) {
        return;
    }
    let f = Fixture::new();
    let dc = dovecot(&f, STACK, false);
    let svc = dc.service("imap");
    let phone = f.generate(USER, &[&svc], "Phone");
    let mut on_phone = stay(&dc, ip(2), USER, &phone);
    let elsewhere = dc.dir.path().join("elsewhere.conf");
    let conf = std::fs::read_to_string(&dc.conf).unwrap();
    let base = format!("base_dir = {}/run", dc.dir.path().display());
    assert!(conf.contains(&base));
    std::fs::write(
        &elsewhere,
        conf.replace(
            &base,
            &format!("base_dir = {}/nowhere", dc.dir.path().display()),
        ),
    )
    .unwrap();
    let (out, took) = apppass_on(
        &f,
        &elsewhere,
        &["revoke", USER, "--label", "Phone", "--json"],
    );
    let said = stderr(&out);
    eprintln!("revoke with no Dovecot behind the configuration: {took:?}\n{said}");
    assert!(out.status.success(), "{said}");
    assert_eq!(f.row(USER, "Phone")["status"], "revoked");
    assert!(took < Duration::from_secs(8), "{took:?}");
    let command = named_command(&said, "127.0.0.2");
    assert!(
        command.contains(&format!(
            "-c {} kick -- {USER} 127.0.0.2",
            elsewhere.display()
        )),
        "{command}"
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["sessions_ended"], json!([]), "{v}");
    assert!(on_phone.noop(), "nothing was ended");
}

#[test]
fn a_watcher_cut_off_from_its_database_keeps_trying_and_catches_up_when_it_is_back() {
    use apppass_e2e::tcp_proxy::Proxy;
    if !require_root(
        "a_watcher_cut_off_from_its_database_keeps_trying_and_catches_up_when_it_is_back",
    ) {
        return;
    }
    let cluster = postgres::shared();
    let db = postgres::fresh_database();
    let (_k, key) = postgres::key_dir();
    let login = cluster.login_conninfo(&db);
    let admin = cluster.admin_conninfo(&db);
    let a = Host::new(&login, &admin, &key, false);
    let b = Host::new(&login, &admin, &key, false);
    // B's watcher reaches the database through a road the test can cut.
    let proxy = Proxy::start(cluster.port);
    let through = |c: &str| {
        c.replace(
            &format!("port={}", cluster.port),
            &format!("port={}", proxy.port),
        )
    };
    let conf = b.f.dir.path().join("watch.conf");
    std::fs::write(
        &conf,
        format!(
            "store = postgresql\nconninfo = {}\nadmin_conninfo = {}\nkey = {}\n",
            through(&login),
            through(&admin),
            key.display()
        ),
    )
    .unwrap();
    apppass_e2e::debian13::set_mode(&conf, 0o600);
    let w = Watcher::start_with(
        &["--config".into(), conf.clone().into()],
        Some(&b.dc.conf),
        None,
    );
    assert!(
        w.wait_for(0, "watching", Duration::from_secs(30)),
        "{}",
        w.log()
    );

    let pw = a.f.generate(USER, &[&b.dc.service("imap")], "Phone");
    let mut session = stay(&b.dc, ip(2), USER, &pw);
    let mark = w.said();
    proxy.cut();
    assert!(
        w.wait_for(mark, "lost the store", Duration::from_secs(10)),
        "{}",
        w.log()
    );
    let (out, _) = a.apppass(&["revoke", USER, "--label", "Phone"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // It keeps trying, and cannot act while it cannot read.
    let deadline = Instant::now() + Duration::from_secs(20);
    while w.log()[mark..].matches("trying again").count() < 3 {
        assert!(Instant::now() < deadline, "{}", w.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        session.closed_within(Duration::from_millis(500)).is_none(),
        "closed while the watcher could not read the store?"
    );
    let closed = when_closed(session, Duration::from_secs(60));
    proxy.mend();
    let mended = Instant::now();
    let (at, _) = closed
        .join()
        .unwrap()
        .unwrap_or_else(|| panic!("the watcher did not catch up:\n{}", w.log()));
    eprintln!(
        "the watcher caught up {:?} after its database was back:\n{}",
        at - mended,
        w.log()
    );
    assert!(at - mended < Duration::from_secs(35), "{:?}", at - mended);
    assert!(!w.log().contains(&pw), "no secret in the log");
}

#[test]
fn a_fixed_expiry_passing_on_postgresql_ends_the_connection_within_a_minute() {
    if !require_root("a_fixed_expiry_passing_on_postgresql_ends_the_connection_within_a_minute") {
        return;
    }
    let cluster = postgres::shared();
    let db = postgres::fresh_database();
    let (_k, key) = postgres::key_dir();
    let h = Host::new(
        &cluster.login_conninfo(&db),
        &cluster.admin_conninfo(&db),
        &key,
        false,
    );
    let pw = h.f.generate(USER, &[&h.dc.service("imap")], "Phone");
    let session = stay(&h.dc, ip(2), USER, &pw);
    let w = h.watch();
    let closed = when_closed(session, Duration::from_secs(75));
    cluster.psql_db(
        &db,
        "UPDATE apppass.passwords SET expires_at = extract(epoch FROM now())::bigint + 3 WHERE label = 'Phone'",
    );
    let expiry = Instant::now() + Duration::from_secs(3);
    let (at, _) = closed
        .join()
        .unwrap()
        .unwrap_or_else(|| panic!("still open:\n{}\n{}", w.log(), h.dc.log()));
    let late = at.saturating_duration_since(expiry);
    eprintln!("fixed expiry on PostgreSQL: connection closed {late:?} after the expiry");
    assert!(late < Duration::from_secs(60), "{late:?}");
}

#[test]
fn doctor_reports_a_postgresql_host_whose_watcher_is_not_running() {
    if !require_root("doctor_reports_a_postgresql_host_whose_watcher_is_not_running") {
        return;
    }
    let cluster = postgres::shared();
    let db = postgres::fresh_database();
    let (_k, key) = postgres::key_dir();
    let login = cluster.login_conninfo(&db);
    let admin = cluster.admin_conninfo(&db);
    let f = Fixture::postgres(&login, &admin, &key);
    // The host as doctor --root sees it: its configuration and key.
    let root = tempfile::Builder::new()
        .prefix("apppass-doctor-")
        .tempdir()
        .unwrap();
    let etc = root.path().join("etc/apppass");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("apppass.conf"),
        format!("store = postgresql\nconninfo = {login}\nadmin_conninfo = {admin}\nkey = /etc/apppass/key\n"),
    )
    .unwrap();
    apppass_e2e::debian13::set_mode(&etc.join("apppass.conf"), 0o600);
    std::fs::copy(&key, etc.join("key")).unwrap();
    apppass_e2e::debian13::set_mode(&etc.join("key"), 0o600);
    std::fs::create_dir(root.path().join("run")).unwrap();
    let pid_file = root.path().join("run/apppass/watch.pid");
    let doctor = || -> Vec<String> {
        let out = std::process::Command::new(apppass_e2e::fixture::apppass_bin())
            .args(["doctor", "--json", "--root"])
            .arg(root.path())
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&stdout(&out))
            .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
        v.as_array()
            .unwrap()
            .iter()
            .map(|f| f["check"].as_str().unwrap().to_string())
            .collect()
    };
    let without = doctor();
    assert!(without.contains(&"watcher".to_string()), "{without:?}");

    let mut w = Watcher::start_with(
        &apppass_e2e::watcher::store_args(&f),
        None,
        Some(pid_file.clone()),
    );
    assert!(
        w.wait_for(0, "watching", Duration::from_secs(30)),
        "{}",
        w.log()
    );
    let with = doctor();
    assert!(!with.contains(&"watcher".to_string()), "{with:?}");
    assert_eq!(
        with,
        without
            .iter()
            .filter(|c| *c != "watcher")
            .cloned()
            .collect::<Vec<_>>()
    );
    // Stopped, it leaves its PID file behind: still reported.
    w.stop();
    assert!(pid_file.exists());
    assert!(doctor().contains(&"watcher".to_string()));
}

/// PostgreSQL gives a history entry its ID when the entry is written, and
/// a transaction may commit after a later one: a watcher that had read
/// past that ID still ends the sessions the late entry names.
#[test]
fn a_watcher_handles_a_history_entry_committed_after_a_later_one() {
    use std::io::{BufRead, Write};
    if !require_root("a_watcher_handles_a_history_entry_committed_after_a_later_one") {
        return;
    }
    let cluster = postgres::shared();
    let db = postgres::fresh_database();
    let (_k, key) = postgres::key_dir();
    let login = cluster.login_conninfo(&db);
    let admin = cluster.admin_conninfo(&db);
    let a = Host::new(&login, &admin, &key, false);
    let b = Host::new(&login, &admin, &key, false);
    let w = b.watch();
    let svc = b.dc.service("imap");
    let slow = a.f.generate(USER, &[&svc], "Slow");
    let quick = a.f.generate(USER, &[&svc], "Quick");
    let on_slow = stay(&b.dc, ip(2), USER, &slow);
    let on_quick = stay(&b.dc, ip(3), USER, &quick);
    let slow_id = a.f.row(USER, "Slow")["id"].as_i64().unwrap();

    // A change that takes its history entry's ID, then is slow to commit.
    let mut psql = cluster.psql_session(&db);
    let mut to = psql.stdin.take().unwrap();
    let mut from = std::io::BufReader::new(psql.stdout.take().unwrap());
    writeln!(
        to,
        "BEGIN;\nSELECT apppass.revoke('{USER}', {slow_id}, extract(epoch FROM now())::bigint, 'slow', 'revoked', 'admin');\n\\echo written"
    )
    .unwrap();
    let mut line = String::new();
    while line.trim() != "written" {
        line.clear();
        assert!(from.read_line(&mut line).unwrap() > 0, "psql left");
    }
    // Meanwhile another change commits, with the next ID, and is handled.
    let closed = when_closed(on_quick, Duration::from_secs(10));
    let (out, _) = a.apppass(&["revoke", USER, "--label", "Quick"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(closed.join().unwrap().is_some(), "{}", w.log());
    // Then the first commits.
    let closed = when_closed(on_slow, Duration::from_secs(10));
    writeln!(to, "COMMIT;").unwrap();
    drop(to);
    assert!(psql.wait().unwrap().success());
    let started = Instant::now();
    let (at, _) = closed
        .join()
        .unwrap()
        .unwrap_or_else(|| panic!("the entry committed late was never handled:\n{}", w.log()));
    eprintln!("late entry handled {:?} after its commit", at - started);
    assert!(at - started < Duration::from_secs(2), "{:?}", at - started);
}

/// A host whose conninfo goes through a pooler in transaction mode (which
/// the module supports): `LISTEN` there lands on whichever server session
/// the pooler lends, and the notifications go to it, not to the watcher.
/// The watcher still ends the session within the 2 s.
#[test]
fn a_watcher_behind_a_transaction_mode_pooler_still_ends_a_session_within_2_seconds() {
    use apppass_e2e::pgbouncer::{self, Pooler};
    if !require_root(
        "a_watcher_behind_a_transaction_mode_pooler_still_ends_a_session_within_2_seconds",
    ) {
        return;
    }
    if !pgbouncer::available() {
        eprintln!("*** SKIPPED: PgBouncer is not installed (make test-deps installs it)");
        return;
    }
    let cluster = postgres::shared();
    let db = postgres::fresh_database();
    let pooler = Pooler::start(cluster, &db);
    let (_k, key) = postgres::key_dir();
    let admin = cluster.admin_conninfo(&db);
    let a = Host::new(&cluster.login_conninfo(&db), &admin, &key, false);
    let b = Host::new(&pooler.login_conninfo(), &admin, &key, false);
    let w = b.watch();
    let mut times = Vec::new();
    for (n, from) in [(1, ip(2)), (2, ip(3))] {
        let label = format!("Phone {n}");
        let pw = a.f.generate(USER, &[&b.dc.service("imap")], &label);
        let session = stay(&b.dc, from, USER, &pw);
        let closed = when_closed(session, Duration::from_secs(40));
        let started = Instant::now();
        let (out, _) = a.apppass(&["revoke", USER, "--label", &label]);
        assert!(out.status.success(), "{}", stderr(&out));
        let (at, _) = closed
            .join()
            .unwrap()
            .unwrap_or_else(|| panic!("still open:\n{}", w.log()));
        times.push(at - started);
    }
    eprintln!("revoke-to-disconnect with the watcher behind a pooler: {times:?}");
    for t in &times {
        assert!(*t <= Duration::from_secs(2), "{times:?}");
    }
}

/// The password stack of `passwd`, with the module's wipe after pam_unix.
const PASSWD_STACK: &str =
    "password required pam_unix.so yescrypt\npassword optional @MODULE@ db=@DB@\n";

#[test]
fn a_primary_password_change_ends_every_session_of_that_users_app_passwords() {
    if !require_root("a_primary_password_change_ends_every_session_of_that_users_app_passwords") {
        return;
    }
    let f = Fixture::new();
    let u = SystemUser::new(PRIMARY);
    let other = SystemUser::new(PRIMARY);
    let dc = dovecot(&f, UNIX_STACK, false);
    let svc = dc.service("imap");
    let phone = f.issue(&[&u.name, "--service", &svc, "--label", "Phone"]);
    let laptop = f.issue(&[&u.name, "--service", &svc, "--label", "Laptop"]);
    let others = f.issue(&[&other.name, "--service", &svc, "--label", "Phone"]);
    let on_phone = stay(&dc, ip(2), &u.name, &phone);
    let on_laptop = stay(&dc, ip(3), &u.name, &laptop);
    let mut on_other = stay(&dc, ip(4), &other.name, &others);
    // The module never runs a command: the watcher carries its wipe out.
    let w = Watcher::start(&f, Some(&dc.conf));
    assert!(
        w.wait_for(0, "watching", Duration::from_secs(20)),
        "{}",
        w.log()
    );
    let phone_closed = when_closed(on_phone, Duration::from_secs(20));
    let laptop_closed = when_closed(on_laptop, Duration::from_secs(20));

    f.service("passwd", PASSWD_STACK);
    let new_primary = b"New-Primary-Pass-7!".as_slice();
    let started = Instant::now();
    let mut p = Pam::start(
        &f.confdir,
        "passwd",
        u.name.as_bytes(),
        &[new_primary, new_primary],
    );
    assert_eq!(p.chauthtok(), PAM_SUCCESS, "prompts {:?}", p.prompts());
    drop(p);
    for (label, closed) in [("Phone", phone_closed), ("Laptop", laptop_closed)] {
        let (at, _) = closed.join().unwrap().unwrap_or_else(|| {
            panic!(
                "{label}'s connection is still open after the wipe\nwatcher:\n{}\n{}",
                w.log(),
                dc.log()
            )
        });
        let took = at - started;
        eprintln!("wipe at passwd: {label}'s connection closed {took:?} after the change");
        assert!(took < Duration::from_secs(2), "{label}: {took:?}");
    }
    assert!(on_other.noop(), "another user's connection still answers");
    assert!(!imap_login(dc.imap, ip(2), &u.name, &phone));
}

#[test]
fn a_primary_password_changed_behind_apppass_s_back_ends_the_other_sessions_at_the_next_login() {
    if !require_root(
        "a_primary_password_changed_behind_apppass_s_back_ends_the_other_sessions_at_the_next_login",
    ) {
        return;
    }
    let f = Fixture::new();
    let u = SystemUser::new(PRIMARY);
    let dc = dovecot(&f, UNIX_STACK, false);
    let svc = dc.service("imap");
    let phone = f.issue(&[&u.name, "--service", &svc, "--label", "Phone"]);
    let laptop = f.issue(&[&u.name, "--service", &svc, "--label", "Laptop"]);
    let on_phone = stay(&dc, ip(2), &u.name, &phone);
    let w = Watcher::start(&f, Some(&dc.conf));
    assert!(
        w.wait_for(0, "watching", Duration::from_secs(20)),
        "{}",
        w.log()
    );
    let phone_closed = when_closed(on_phone, Duration::from_secs(20));
    // chpasswd writes /etc/shadow without the password stack: the module
    // learns of it from the fingerprint at the laptop's next login, which
    // fails and wipes; the phone, still connected, is signed out.
    u.chpasswd("Changed-Behind-Our-Back-7!");
    let started = Instant::now();
    assert!(!imap_login(dc.imap, ip(3), &u.name, &laptop));
    let (at, _) = phone_closed.join().unwrap().unwrap_or_else(|| {
        panic!(
            "the phone's connection is still open after the wipe\nwatcher:\n{}\n{}",
            w.log(),
            dc.log()
        )
    });
    let took = at - started;
    eprintln!("wipe at a login: the phone's connection closed {took:?} after the refused login");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(
        f.row(&u.name, "Phone")["revoked_reason"],
        "primary password changed"
    );
}

#[test]
fn check_primary_ends_the_sessions_of_the_passwords_a_reset_wipes_and_lists_them() {
    if !require_root(
        "check_primary_ends_the_sessions_of_the_passwords_a_reset_wipes_and_lists_them",
    ) {
        return;
    }
    let f = Fixture::new();
    let u = SystemUser::new(PRIMARY);
    let dc = dovecot(&f, UNIX_STACK, false);
    let svc = dc.service("imap");
    let phone = f.issue(&[&u.name, "--service", &svc, "--label", "Phone"]);
    let on_phone = stay(&dc, ip(2), &u.name, &phone);
    let phone_closed = when_closed(on_phone, Duration::from_secs(20));
    // A reset nobody logs in after: the sweep finds it, wipes, and signs
    // the phone out, with no watcher running.
    u.chpasswd("Reset-By-The-Helpdesk-9!");
    let (out, _) = apppass_on(&f, &dc.conf, &["check-primary", &u.name, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["result"], "wiped", "{rows}");
    assert_eq!(rows[0]["revoked"], 1, "{rows}");
    assert_eq!(
        rows[0]["sessions_ended"],
        serde_json::json!([{"kind": "dovecot", "protocol": "imap", "address": "127.0.0.2"}]),
        "{rows}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        phone_closed.join().unwrap().is_some(),
        "the phone's connection is still open after check-primary wiped\n{}",
        dc.log()
    );
    assert_eq!(
        f.row(&u.name, "Phone")["revoked_reason"],
        "primary password changed"
    );
}
