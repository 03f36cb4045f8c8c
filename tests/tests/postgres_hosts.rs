//! Several hosts on one PostgreSQL store, through the real module and CLI:
//! what one host changes, the next login on another sees; a failover is
//! survived without touching apppass; a long-lived host neither leaks nor
//! breaks across `fork`; Dovecot logs in through it.

use apppass_e2e::dovecot::{Dovecot, Options, Passdb};
use apppass_e2e::fixture::{pam_host, Fixture};
use apppass_e2e::pam::{login, PAM_AUTHINFO_UNAVAIL, PAM_AUTH_ERR, PAM_SUCCESS};
use apppass_e2e::postgres::{self, Cluster};
use apppass_e2e::system::require_root;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const USER: &str = "mail@example.org";

/// How many sessions `db` has had. The server counts a session when it
/// ends, and publishes its counts within a second.
fn sessions_so_far(cluster: &Cluster, db: &str) -> u64 {
    std::thread::sleep(Duration::from_millis(1500));
    cluster
        .psql_super(&format!(
            "SELECT sessions FROM pg_stat_database WHERE datname = '{db}'"
        ))
        .parse()
        .unwrap()
}

fn host(cluster: &Cluster, db: &str, key: &Path) -> Fixture {
    Fixture::postgres(
        &cluster.login_conninfo(db),
        &cluster.admin_conninfo(db),
        key,
    )
}

#[test]
fn a_password_made_on_one_host_logs_in_on_another_and_a_revoke_stops_it_at_the_next_login() {
    let cluster = postgres::shared();
    let db = postgres::fresh_database();
    let (_k, key) = postgres::key_dir();
    let a = host(cluster, &db, &key);
    let b = host(cluster, &db, &key);
    let again = b.apppass(&["init"]);
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(
        again.status.success() && said.contains("up to date"),
        "{said}"
    );
    assert!(
        !said.contains("NOTICE"),
        "server notices stay out of the output: {said}"
    );
    b.simple_service("imap");
    let pw = a.generate(USER, &["imap"], "Phone");
    assert_eq!(
        login(&b.confdir, "imap", USER, pw.as_bytes()).0,
        PAM_SUCCESS
    );
    assert_eq!(
        login(&b.confdir, "imap", USER, b"aaaa-bbbb-cccc-dddd").0,
        PAM_AUTH_ERR
    );
    // Last use recorded by b's login role, seen from a.
    let row = a.row(USER, "Phone");
    assert_eq!(row["last_used_service"], "imap");
    let out = a.apppass(&["revoke", USER, "--label", "Phone"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        login(&b.confdir, "imap", USER, pw.as_bytes()).0,
        PAM_AUTH_ERR
    );
    // Same output and history as with SQLite.
    let h = b.history_json(USER);
    let kinds: Vec<_> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect();
    // The revoked password tried at the next login trips the tripwire.
    assert_eq!(kinds, ["generated", "revoked", "used-after-revoke"]);
}

#[test]
fn a_long_lived_host_keeps_one_connection_leaks_nothing_and_survives_fork() {
    let cluster = postgres::shared();
    let db = postgres::fresh_database();
    let (_k, key) = postgres::key_dir();
    let f = host(cluster, &db, &key);
    f.simple_service("mail");
    let pw = f.generate(USER, &["mail"], "Worker");
    let r = pam_host(&f.confdir, &["mail", USER, &pw, "5000", "10", "fork"]);
    eprintln!("long-lived host on PostgreSQL: {r}");
    assert_eq!(r["right_ok"], 500);
    assert_eq!(r["wrong_ok"], 0);
    assert_eq!(r["wrong_bad"], 4500);
    assert_eq!(r["fds_end"], r["fds_baseline"], "no file descriptor leaks");
    assert_eq!(r["threads_end"], 1, "no threads");
    let (base, end) = (
        r["rss_kib_baseline"].as_f64().unwrap(),
        r["rss_kib_end"].as_f64().unwrap(),
    );
    assert!(end <= base * 1.5, "RSS grew from {base} KiB to {end} KiB");
    assert_eq!(r["fork_ok"], true, "a login in a forked child works");
    assert_eq!(r["parent_after_fork_ok"], true, "and the parent's goes on");
    assert_eq!(r["libpq_mapped"], true);
    // One kept connection for 5000 logins (and one in the forked child),
    // not one per login.
    let sessions = sessions_so_far(cluster, &db);
    assert!(sessions < 50, "{sessions} sessions for 5000 logins");
}

#[test]
fn a_host_configured_for_sqlite_never_maps_libpq() {
    let f = Fixture::new();
    f.simple_service("mail");
    let pw = f.generate(USER, &["mail"], "Worker");
    let r = pam_host(&f.confdir, &["mail", USER, &pw, "20", "2"]);
    assert_eq!(r["right_ok"], 10);
    assert_eq!(r["libpq_mapped"], false, "{r}");
}

#[test]
fn a_failover_is_unavailable_in_bounded_time_then_works_on_the_promoted_standby() {
    if !require_root("a_failover_is_unavailable_in_bounded_time_then_works_on_the_promoted_standby")
    {
        return;
    }
    let t = Instant::now();
    let mut primary = Cluster::start();
    eprintln!("failover: primary {:?}", t.elapsed());
    let standby = primary.standby();
    eprintln!("failover: standby {:?}", t.elapsed());
    let both = |role: &str, pw: &str| {
        format!(
            "host=127.0.0.1,127.0.0.1 port={},{} dbname=apppass user={role} password={pw} sslmode=verify-full sslrootcert={} target_session_attrs=read-write connect_timeout=2",
            primary.port,
            standby.port,
            primary.ca.display()
        )
    };
    let (_k, key) = postgres::key_dir();
    let f = Fixture::postgres(
        &both("apppass_login", postgres::LOGIN_PASSWORD),
        &both("apppass_admin", postgres::ADMIN_PASSWORD),
        &key,
    );
    // The module alone decides, so its own code is what the host sees.
    f.service(
        "imap",
        "auth required @MODULE@ db=@DB@\naccount required pam_permit.so\n",
    );
    let t0 = Instant::now();
    let pw = f.generate(USER, &["imap"], "Phone");
    assert_eq!(
        login(&f.confdir, "imap", USER, pw.as_bytes()).0,
        PAM_SUCCESS
    );
    eprintln!("failover: store ready {:?}", t0.elapsed());
    // The standby has the password before the primary goes.
    let deadline = Instant::now() + Duration::from_secs(20);
    while standby
        .psql_db_try("apppass", "SELECT count(*) FROM apppass.passwords")
        .as_deref()
        != Some("1")
    {
        assert!(Instant::now() < deadline, "the standby never caught up");
        std::thread::sleep(Duration::from_millis(100));
    }
    primary.kill();
    let started = Instant::now();
    let (rc, _) = login(&f.confdir, "imap", USER, pw.as_bytes());
    let took = started.elapsed();
    assert_eq!(
        rc, PAM_AUTHINFO_UNAVAIL,
        "the read-only standby is not used for logins"
    );
    assert!(took < Duration::from_secs(2 * 2 + 5), "{took:?}");
    assert_eq!(
        login(&f.confdir, "imap", USER, b"aaaa-bbbb-cccc-dddd").0,
        PAM_AUTHINFO_UNAVAIL,
        "never success while the store is away"
    );
    eprintln!("failover: refused while away {:?}", t0.elapsed());
    standby.promote();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (rc, _) = login(&f.confdir, "imap", USER, pw.as_bytes());
        if rc == PAM_SUCCESS {
            break;
        }
        assert!(Instant::now() < deadline, "no login after promotion: {rc}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        login(&f.confdir, "imap", USER, b"aaaa-bbbb-cccc-dddd").0,
        PAM_AUTH_ERR
    );
}

#[test]
fn dovecot_logs_in_through_the_module_on_postgresql() {
    if !require_root("dovecot_logs_in_through_the_module_on_postgresql") {
        return;
    }
    let cluster = postgres::shared();
    let db = postgres::fresh_database();
    let (_k, key) = postgres::key_dir();
    let f = host(cluster, &db, &key);
    let dc = Dovecot::start(
        &f,
        Options {
            passdb: Passdb::PerProtocol,
            cache: false,
            stack: "auth sufficient @MODULE@ db=@DB@\nauth requisite pam_deny.so\naccount sufficient @MODULE@ db=@DB@\naccount required pam_deny.so\n".into(),
            files_for: vec!["imap", "pop3"],
        },
    );
    let imap_pw = f.generate(USER, &[&dc.service("imap")], "Phone");
    assert!(
        apppass_e2e::clients::imap_login(
            dc.imap,
            std::net::Ipv4Addr::new(127, 0, 0, 1),
            USER,
            &imap_pw
        ),
        "IMAP over PostgreSQL\n{}",
        dc.log()
    );
    assert!(
        !apppass_e2e::clients::pop3_login(
            dc.pop3,
            std::net::Ipv4Addr::new(127, 0, 0, 1),
            USER,
            &imap_pw
        ),
        "the IMAP password is not a POP3 one"
    );
    let row = f.row(USER, "Phone");
    assert_eq!(row["last_used_service"], dc.service("imap"));
}

#[test]
fn a_store_moves_from_sqlite_to_postgresql_with_export_key_and_import() {
    let old = Fixture::new();
    let pw = old.generate(USER, &["imap"], "Phone");
    let gone = old.generate(USER, &["imap"], "Old");
    let _ = gone;
    let out = old.apppass(&["revoke", USER, "--label", "Old", "--reason", "replaced"]);
    assert!(out.status.success());
    let export = old.dir.path().join("export.json");
    let out = old.apppass(&["export", export.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&export).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "hashes inside: private");
    let again = old.apppass(&["export", export.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2), "never overwrites");

    let cluster = postgres::shared();
    let db = postgres::fresh_database();
    let (_k, key) = postgres::key_dir();
    std::fs::copy(old.db.with_file_name("key"), &key).unwrap();
    let new = host(cluster, &db, &key);
    let out = new.apppass(&["import", export.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    new.simple_service("imap");
    assert_eq!(
        login(&new.confdir, "imap", USER, pw.as_bytes()).0,
        PAM_SUCCESS
    );
    assert_eq!(new.list_json(&["--all"]), {
        let mut rows = old.list_json(&["--all"]);
        // The login just recorded its use on the new store only.
        for r in rows.as_array_mut().unwrap() {
            if r["label"] == "Phone" {
                let now = new.row(USER, "Phone");
                r["last_used_at"] = now["last_used_at"].clone();
                r["last_used_service"] = now["last_used_service"].clone();
                r["last_used_rhost"] = now["last_used_rhost"].clone();
                r["addresses"] = now["addresses"].clone();
            }
        }
        rows
    });
    assert_eq!(new.history_json(USER), old.history_json(USER));
    // Into a store that is not empty: refused, nothing changed.
    let twice = new.apppass(&["import", export.to_str().unwrap()]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("not empty"));
    // backup and restore are for SQLite files and say what to do instead.
    let b = new.apppass(&["backup", "/tmp/x.db"]);
    assert_eq!(b.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&b.stderr).contains("pg_dump"));
}

/// One login through `pam-steps`, a host that stays up between logins.
fn step(
    stdin: &mut std::process::ChildStdin,
    stdout: &mut impl std::io::BufRead,
    password: &str,
) -> i32 {
    use std::io::Write;
    writeln!(stdin, "{password}").unwrap();
    stdin.flush().unwrap();
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    line.trim().parse().unwrap()
}

#[test]
fn a_long_lived_host_behind_a_transaction_mode_pooler_logs_in_when_moved_to_another_server_session()
{
    use apppass_e2e::pgbouncer::{self, Pooler};
    if !pgbouncer::available() {
        eprintln!("*** SKIPPED: PgBouncer is not installed (make test-deps installs it)");
        return;
    }
    let cluster = postgres::shared();
    let db = postgres::fresh_database();
    let pooler = Pooler::start(cluster, &db);
    let (_k, key) = postgres::key_dir();
    let f = Fixture::postgres(&pooler.login_conninfo(), &cluster.admin_conninfo(&db), &key);
    f.simple_service("mail");
    let pw = f.generate(USER, &["mail"], "Pooled");
    let mut host = Command::new(apppass_e2e::fixture::pam_steps_bin())
        .arg(&f.confdir)
        .args(["mail", USER])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = host.stdin.take().unwrap();
    let mut stdout = std::io::BufReader::new(host.stdout.take().unwrap());
    // The first login prepares the login's statements on the server
    // session the pooler lends it.
    assert_eq!(step(&mut stdin, &mut stdout, &pw), PAM_SUCCESS);
    // Another client takes that session (the pooler hands out the one
    // used last) and keeps it: the next login lands on another session,
    // which has never heard of those statements.
    let held = pooler.hold_a_session();
    assert_eq!(step(&mut stdin, &mut stdout, &pw), PAM_SUCCESS);
    assert_eq!(
        step(&mut stdin, &mut stdout, "aaaa-bbbb-cccc-dddd"),
        PAM_AUTH_ERR
    );
    assert_eq!(step(&mut stdin, &mut stdout, &pw), PAM_SUCCESS);
    drop(held);
    assert_eq!(step(&mut stdin, &mut stdout, &pw), PAM_SUCCESS);
    drop(stdin);
    assert!(host.wait().unwrap().success());
    // The move happened: the server was asked for a name it did not know.
    let log = std::fs::read_to_string(cluster.dir.join("server.log")).unwrap();
    assert!(
        log.contains("prepared statement \"apppass_check\" does not exist"),
        "the second login did not land on another server session: {}",
        pooler.log()
    );
}

#[test]
fn a_host_logging_in_on_eight_threads_keeps_a_connection_for_each_instead_of_connecting_per_login()
{
    let cluster = postgres::shared();
    let db = postgres::fresh_database();
    let (_k, key) = postgres::key_dir();
    let f = host(cluster, &db, &key);
    f.simple_service("mail");
    let pw = f.generate(USER, &["mail"], "Threads");
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for i in 0..150 {
                    let (token, want) = if i % 3 == 0 {
                        (pw.as_bytes(), PAM_SUCCESS)
                    } else {
                        (&b"aaaa-bbbb-cccc-dddd"[..], PAM_AUTH_ERR)
                    };
                    assert_eq!(login(&f.confdir, "mail", USER, token).0, want);
                }
            });
        }
    });
    // 1,200 logins: 8 sessions, a few more where another test of this
    // process logging in beside takes places in the same process. One
    // connection kept per process made about 120 here (every login that
    // found it taken connected afresh).
    let sessions = sessions_so_far(cluster, &db);
    eprintln!("8 threads, 1,200 logins: {sessions} sessions");
    assert!(sessions < 40, "{sessions} sessions for 1,200 logins");
}
