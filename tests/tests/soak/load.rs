//! Logins under load: 8 loops logging in with right passwords (and, in
//! between, wrong and revoked ones) while writers generate and revoke on
//! the same users: first the CLI, then the self-service daemon serving 50
//! clients at once. Not one right login may fail, not one wrong succeed.

use super::generate_args;
use super::{reported_id, scale, Host, Kind};
use apppass_e2e::apppassd::Daemon;
use apppass_e2e::draw::Rng;
use apppass_e2e::pam::{login, PAM_SUCCESS};
use apppass_e2e::postgres;
use apppass_e2e::system::{is_root, SystemUser};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::Instant;

const LOOPS: usize = 8;
const CLIENTS: usize = 50;

fn user(k: usize) -> String {
    format!("load{k}@example.org")
}

#[derive(Default)]
struct Tally {
    right_ok: AtomicUsize,
    wrong_refused: AtomicUsize,
    wrong_accepted: AtomicUsize,
    /// The PAM code of each right login that failed, so that a failure
    /// says whether the store was out of reach or the password refused.
    right_failed_codes: Mutex<Vec<i32>>,
    /// The slowest right login, in microseconds: how far from the store's
    /// timeouts (5 s to connect, 5 s per round trip) the load came.
    right_slowest_us: AtomicU64,
}

/// The 8 login loops, until `stop`; wrong tries alternate between a
/// random token and a secret a writer revoked.
fn login_loops(
    host: &Host,
    rights: &[String],
    revoked: &Mutex<Vec<(usize, String)>>,
    stop: &AtomicBool,
    tally: &Tally,
) {
    let f = host.f();
    std::thread::scope(|s| {
        for (k, right) in rights.iter().enumerate() {
            s.spawn(move || {
                let mut rng = Rng(0x5eed + k as u64);
                while !stop.load(SeqCst) {
                    let started = Instant::now();
                    let rc = login(&f.confdir, "mail", &user(k), right.as_bytes()).0;
                    let us = started.elapsed().as_micros() as u64;
                    tally.right_slowest_us.fetch_max(us, SeqCst);
                    if rc == PAM_SUCCESS {
                        tally.right_ok.fetch_add(1, SeqCst);
                    } else {
                        tally.right_failed_codes.lock().unwrap().push(rc);
                    }
                    let old = revoked.lock().unwrap().last().cloned();
                    let (who, wrong) = match old {
                        Some((owner, secret)) if rng.below(2) == 0 => (user(owner), secret),
                        _ => (user(k), format!("{:016x}", rng.draw())),
                    };
                    let ok = login(&f.confdir, "mail", &who, wrong.as_bytes()).0 == PAM_SUCCESS;
                    let t = if ok {
                        &tally.wrong_accepted
                    } else {
                        &tally.wrong_refused
                    };
                    t.fetch_add(1, SeqCst);
                }
            });
        }
    });
}

fn check(kind: Kind, what: &str, tally: &Tally, writes: usize) {
    let codes = tally.right_failed_codes.lock().unwrap();
    let (ok, failed) = (tally.right_ok.load(SeqCst), codes.len());
    let (refused, accepted) = (
        tally.wrong_refused.load(SeqCst),
        tally.wrong_accepted.load(SeqCst),
    );
    let slowest = tally.right_slowest_us.load(SeqCst) as f64 / 1e6;
    eprintln!("soak {kind:?} {what}: {ok} right logins ({failed} failed, slowest {slowest:.2} s), {refused} wrong refused ({accepted} accepted), {writes} writes");
    if failed > 0 && kind == Kind::Postgres {
        eprintln!("the server's log:\n{}", postgres::shared().log_tail(30));
    }
    assert_eq!(
        failed, 0,
        "right logins failed under load, the module's codes {codes:?} (9: store out of reach, 7: refused)"
    );
    assert_eq!(accepted, 0, "wrong logins succeeded under load");
    assert!(ok > 0 && refused > 0 && writes > 0);
}

fn setup(host: &Host) -> Vec<String> {
    let f = host.f();
    // The module alone, so that a failed login reports its own code (with
    // pam_deny after it, every failure would read PAM_AUTH_ERR).
    f.service(
        "mail",
        "auth required @MODULE@ db=@DB@\naccount required @MODULE@ db=@DB@\n",
    );
    assert!(f
        .apppass(&["config", "max-active", "1000"])
        .status
        .success());
    (0..LOOPS)
        .map(|k| f.generate(&user(k), &["mail"], "Right"))
        .collect()
}

fn with_cli_writer(kind: Kind) {
    let Some(host) = Host::new(kind, "logins_under_load") else {
        return;
    };
    let rights = setup(&host);
    let f = host.f();
    let (stop, tally, revoked) = (
        AtomicBool::new(false),
        Tally::default(),
        Mutex::new(Vec::new()),
    );
    let writes = AtomicUsize::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let start = Instant::now();
            let mut i = 0;
            while start.elapsed() < scale().load {
                let k = i % LOOPS;
                let out = f.apppass(&generate_args(&user(k), &format!("Churn {i}")));
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let secret = String::from_utf8_lossy(&out.stdout).trim().to_string();
                let id = reported_id(&String::from_utf8_lossy(&out.stderr)).unwrap();
                let out = f.apppass(&["revoke", &user(k), &id.to_string()]);
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                revoked.lock().unwrap().push((k, secret));
                writes.fetch_add(2, SeqCst);
                i += 1;
            }
            stop.store(true, SeqCst);
        });
        login_loops(&host, &rights, &revoked, &stop, &tally);
    });
    check(kind, "with the CLI writing", &tally, writes.load(SeqCst));
}

/// 50 clients of apppassd at once (5 each for 10 system users), each
/// signing in, generating and revoking its own passwords, beside the loops.
fn with_self_service(kind: Kind) {
    if !is_root() {
        eprintln!(
            "\n*** SKIPPED logins_under_self_service_load: needs root for system users ***\n"
        );
        return;
    }
    let Some(host) = Host::new(kind, "logins_under_self_service_load") else {
        return;
    };
    let rights = setup(&host);
    let f = host.f();
    assert!(f
        .apppass(&["config", "self-service-services", "mail"])
        .status
        .success());
    const PRIMARY: &str = "Soak-Primary-Pass-7!";
    // Five clients per user: one user's sign-ins under way fill at most
    // the account's places (signin::MAX_FAILURES). With more at once, the
    // rest wait up to signin::PATIENCE for a place by design, and on a
    // loaded machine some would be refused as locked out.
    let users: Vec<SystemUser> = (0..CLIENTS / apppass_core::signin::MAX_FAILURES)
        .map(|_| SystemUser::new(PRIMARY))
        .collect();
    let d = Daemon::start(
        f,
        "auth required pam_unix.so\naccount required pam_unix.so\n",
    );
    let (stop, tally, revoked) = (
        AtomicBool::new(false),
        Tally::default(),
        Mutex::new(Vec::new()),
    );
    let (writes, failures) = (AtomicUsize::new(0), Mutex::new(Vec::new()));
    std::thread::scope(|s| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (d, users, writes, failures) = (&d, &users, &writes, &failures);
                s.spawn(move || {
                    let name = &users[c % users.len()].name;
                    let start = Instant::now();
                    let mut i = 0;
                    while start.elapsed() < scale().load || i == 0 {
                        let label = format!("Client {c} {i}");
                        let stdin = format!("{PRIMARY}\n");
                        let out = d.apppass_as(
                            name,
                            &["generate", "--service", "mail", "--label", &label],
                            &stdin,
                        );
                        // Each failure is reported with the step that
                        // failed and that step's own stderr.
                        let failed = if !out.status.success() {
                            Some(("generate", out))
                        } else {
                            let out = d.apppass_as(name, &["revoke", "--label", &label], &stdin);
                            (!out.status.success()).then_some(("revoke", out))
                        };
                        match failed {
                            None => {
                                writes.fetch_add(2, SeqCst);
                            }
                            Some((step, out)) => failures.lock().unwrap().push(format!(
                                "{step} ({}): {}",
                                out.status,
                                String::from_utf8_lossy(&out.stderr)
                            )),
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        s.spawn(|| {
            for c in clients {
                c.join().unwrap();
            }
            stop.store(true, SeqCst);
        });
        login_loops(&host, &rights, &revoked, &stop, &tally);
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} self-service requests failed: {:?}",
        failures.len(),
        failures.first()
    );
    check(
        kind,
        "with 50 self-service clients",
        &tally,
        writes.load(SeqCst),
    );
}

#[test]
fn logins_under_load_on_sqlite() {
    with_cli_writer(Kind::Sqlite);
    with_self_service(Kind::Sqlite);
}

#[test]
fn logins_under_load_on_postgresql() {
    with_cli_writer(Kind::Postgres);
    with_self_service(Kind::Postgres);
}
