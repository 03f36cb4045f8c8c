//! Logins through libpam in this one long-lived process, as Dovecot's auth
//! worker makes them, on one store.

use crate::chart::SECTION;
use crate::report::Report;
use crate::{median_ms, PRIMARY, WRONG};
use apppass_e2e::fixture::{pam_host, Fixture};
use apppass_e2e::pam::{login, Pam, PAM_RHOST, PAM_SUCCESS};
use apppass_e2e::system::SystemUser;
use std::time::Instant;

pub const FLOOR: &str = "pam_permit (floor)";
pub const WRONG_1: &str = "apppass wrong, 1 password";
pub const RIGHT_1: &str = "apppass right, 1 password";
const NONE: &str = "apppass, user with none";
const WRONG_25: &str = "apppass wrong, 25 passwords";
const RIGHT_25: &str = "apppass right, 25 passwords";
const WRONG_REVOKED: &str = "apppass wrong, 25 + 25 revoked";
const RIGHT_REVOKED: &str = "apppass right, 25 + 25 revoked";

/// Each of `n` logins' time (ms) of `user` with `pw` on `service`; each
/// must end as `want` says.
pub fn login_times(
    f: &Fixture,
    service: &str,
    user: &str,
    pw: &[u8],
    n: usize,
    want: bool,
) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            let (rc, _) = login(&f.confdir, service, user, pw);
            assert_eq!(rc == PAM_SUCCESS, want, "{service} {user}");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

/// Median of `n` logins (see [`login_times`]).
pub fn time_logins(f: &Fixture, service: &str, user: &str, pw: &[u8], n: usize, want: bool) -> f64 {
    median_ms(login_times(f, service, user, pw, n, want))
}

/// One block of logins of a measurement taken in turns.
pub type Block<'a> = Box<dyn FnMut() -> Vec<f64> + 'a>;

/// The medians of measurements taken in turns, `rounds` blocks of each:
/// a busy machine's drift falls on all of them alike, so their ratios
/// hold. A block's first login is left out (it may reopen a store).
pub fn in_turns(rounds: usize, mut blocks: Vec<Block<'_>>) -> Vec<f64> {
    let mut all = vec![Vec::new(); blocks.len()];
    for _ in 0..rounds {
        for (i, b) in blocks.iter_mut().enumerate() {
            all[i].extend(b().into_iter().skip(1));
        }
    }
    all.into_iter().map(median_ms).collect()
}

/// A user with `active` passwords (the first one's secret returned) and
/// `revoked` revoked ones, whose hashes the tripwire keeps 30 days.
pub fn user_with(f: &Fixture, user: &str, active: usize, revoked: usize) -> String {
    let right = f.generate(user, &["bench"], "Active 0");
    for i in 1..active {
        f.generate(user, &["bench"], &format!("Active {i}"));
    }
    for i in 0..revoked {
        let label = format!("Revoked {i}");
        f.generate(user, &["bench"], &label);
        f.revoke(user, &label);
    }
    right
}

/// pam_unix's right password, measured in turns with apppass's.
pub const UNIX_RIGHT_IN_TURNS: &str = "pam_unix right (in turns with apppass right)";

pub fn one_process(r: &mut Report, f: &Fixture, store: &'static str, unix: Option<&SystemUser>) {
    let out = f.apppass(&["config", "max-active", "100"]);
    assert!(out.status.success());
    f.service("bench", "auth required @MODULE@ db=@DB@\n");
    f.service("permit", "auth required pam_permit.so\n");
    f.service("unix", "auth required pam_unix.so nodelay\n");
    let one = user_with(f, "one@example.org", 1, 0);
    let many = user_with(f, "many@example.org", 25, 0);
    let tripwire = user_with(f, "revoked@example.org", 25, 25);
    // Warm up: the module loaded, the store's pages in the page cache.
    time_logins(f, "bench", "one@example.org", WRONG, 50, false);

    let wrong = |user: &str| time_logins(f, "bench", user, WRONG, 400, false);
    let right = |user: &str, pw: &str| time_logins(f, "bench", user, pw.as_bytes(), 60, true);
    let one_user = "one@example.org";
    let turns = in_turns(
        8,
        vec![
            Box::new(|| login_times(f, "permit", one_user, WRONG, 51, true)),
            Box::new(|| login_times(f, "bench", one_user, WRONG, 51, false)),
        ],
    );
    r.add(SECTION, FLOOR, store, turns[0], "ms");
    r.add(SECTION, WRONG_1, store, turns[1], "ms");
    match unix {
        Some(u) => {
            let turns = in_turns(
                6,
                vec![
                    Box::new(|| login_times(f, "bench", one_user, one.as_bytes(), 11, true)),
                    Box::new(|| login_times(f, "unix", &u.name, PRIMARY.as_bytes(), 11, true)),
                ],
            );
            r.add(SECTION, RIGHT_1, store, turns[0], "ms");
            r.add(SECTION, UNIX_RIGHT_IN_TURNS, store, turns[1], "ms");
        }
        None => {
            r.add(SECTION, RIGHT_1, store, right(one_user, &one), "ms");
        }
    }
    r.add(SECTION, NONE, store, wrong("nobody@example.org"), "ms");
    r.add(SECTION, WRONG_25, store, wrong("many@example.org"), "ms");
    r.add(
        SECTION,
        RIGHT_25,
        store,
        right("many@example.org", &many),
        "ms",
    );
    r.add(
        SECTION,
        WRONG_REVOKED,
        store,
        wrong("revoked@example.org"),
        "ms",
    );
    let v = right("revoked@example.org", &tripwire);
    r.add(SECTION, RIGHT_REVOKED, store, v, "ms");
}

pub const SIGN_OUT: &str =
    "What revoking's sign-out adds to a right login (1 password), in turns in one process";
pub const RIGHT_SAME: &str = "right, from the address it used last";
pub const RIGHT_NEW: &str = "right, from a new address each time (recorded at once)";
pub const RIGHT_SESSION: &str = "right, then its session opened and closed (registered, removed)";

/// `n` right logins of `user` through `service` from `address(i)`, each
/// one's session opened and closed when `session` is set.
fn sign_out_times(
    f: &Fixture,
    service: &str,
    user: &str,
    pw: &[u8],
    n: usize,
    mut address: impl FnMut() -> String,
    session: bool,
) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let from = address();
            let t = Instant::now();
            let mut p = Pam::start(&f.confdir, service, user.as_bytes(), &[pw]);
            p.set_item(PAM_RHOST, &from);
            assert_eq!(p.authenticate(), PAM_SUCCESS, "{service} {user}");
            if session {
                assert_eq!(p.open_session(), PAM_SUCCESS);
                assert_eq!(p.close_session(), PAM_SUCCESS);
            }
            drop(p);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

/// A right login from the same address (nothing to record), from a new
/// address each time (the module writes it at once, as a revoke kicks by
/// address), and with the session hook registering the session and
/// removing it at close (as root: the registry is root's).
pub fn sign_out_costs(r: &mut Report, f: &Fixture, store: &'static str) {
    f.service(
        "bench-session",
        "auth required @MODULE@ db=@DB@\nsession optional @MODULE@ db=@DB@\n",
    );
    let user = "signout@example.org";
    let pw = f.generate(user, &["bench-session"], "Sign-out");
    let pw = pw.as_bytes();
    let mut next = 0u32;
    let turns = in_turns(
        6,
        vec![
            Box::new(|| {
                sign_out_times(
                    f,
                    "bench-session",
                    user,
                    pw,
                    11,
                    || "192.0.2.1".into(),
                    false,
                )
            }),
            Box::new(|| {
                sign_out_times(
                    f,
                    "bench-session",
                    user,
                    pw,
                    11,
                    || {
                        next += 1;
                        format!("10.{}.{}.{}", next >> 16 & 255, next >> 8 & 255, next & 255)
                    },
                    false,
                )
            }),
            Box::new(|| {
                sign_out_times(
                    f,
                    "bench-session",
                    user,
                    pw,
                    11,
                    || "192.0.2.1".into(),
                    true,
                )
            }),
        ],
    );
    r.add(SIGN_OUT, RIGHT_SAME, store, turns[0], "ms");
    r.add(SIGN_OUT, RIGHT_NEW, store, turns[1], "ms");
    r.add(SIGN_OUT, RIGHT_SESSION, store, turns[2], "ms");
}

const STEADY: &str = "10,000 logins in one process (9,980 wrong, 20 right)";

/// RSS and open descriptors of a fresh long-lived host (`pam-host`) after
/// 2, 1,001 and 10,000 logins through the module: nothing may pile up.
pub fn steady(r: &mut Report, f: &Fixture, store: &'static str) {
    f.service("bench", "auth required @MODULE@ db=@DB@\n");
    let user = "steady@example.org";
    let right = f.generate(user, &["bench"], "Steady");
    let v = pam_host(&f.confdir, &["bench", user, &right, "10000", "500"]);
    assert_eq!(
        (v["right_ok"].as_u64(), v["wrong_ok"].as_u64()),
        (Some(20), Some(0))
    );
    assert_eq!(v["baseline_after"], 1001);
    let n = |k: &str| v[k].as_f64().unwrap();
    r.add(
        STEADY,
        "RSS after 2 logins",
        store,
        n("rss_kib_after_2"),
        "KiB",
    );
    r.add(
        STEADY,
        "RSS after 1,001 logins",
        store,
        n("rss_kib_baseline"),
        "KiB",
    );
    r.add(
        STEADY,
        "RSS after 10,000 logins",
        store,
        n("rss_kib_end"),
        "KiB",
    );
    r.add(
        STEADY,
        "open descriptors after 2 logins",
        store,
        n("fds_after_2"),
        "fds",
    );
    r.add(
        STEADY,
        "open descriptors after 1,001 logins",
        store,
        n("fds_baseline"),
        "fds",
    );
    r.add(
        STEADY,
        "open descriptors after 10,000 logins",
        store,
        n("fds_end"),
        "fds",
    );
    r.add(
        STEADY,
        "threads after 10,000 logins",
        store,
        n("threads_end"),
        "threads",
    );
}

pub use apppass_e2e::postgres::{host as postgres_fixture, PgHost as Pg};

const PG_CONNECTION: &str =
    "PostgreSQL 15 on 127.0.0.1 (TLS verify-full, SCRAM): open + candidates + close";

/// What keeping the connection saves over connecting for every login.
pub fn postgres_connection(r: &mut Report, pg: &Pg) {
    use apppass_core::config::Conninfo;
    use apppass_core::store::{Opener, Store};
    use apppass_store_postgres::PgStore;
    let login_ci = Conninfo::new(&pg.login_conninfo);
    let euid = apppass_core::sys::euid();
    let time_reads = |opener: Opener, n: usize| {
        median_ms(
            (0..n)
                .map(|_| {
                    let t = Instant::now();
                    let mut s = PgStore::open(&login_ci, &pg.key, euid, opener).unwrap();
                    s.candidates("one@example.org").unwrap();
                    drop(s);
                    t.elapsed().as_secs_f64() * 1e3
                })
                .collect(),
        )
    };
    let new = time_reads(Opener::Admin, 60);
    r.add(
        PG_CONNECTION,
        "a new connection per login",
        crate::report::POSTGRES,
        new,
        "ms",
    );
    let kept = time_reads(Opener::Module, 400);
    r.add(
        PG_CONNECTION,
        "the connection kept per process",
        crate::report::POSTGRES,
        kept,
        "ms",
    );
}
