//! Figures for the README and the issue notes (not assertions):
//!   1. argon2id verify: heap block reused vs a fresh mapping per verify;
//!   2. RSS after repeated verifies: the crate's own allocation vs a mapping;
//!   3. logins through libpam in one process: apppass right/wrong next to
//!      pam_unix (root only) and pam_permit;
//!   4. the same on PostgreSQL (a private cluster on loopback, TLS and
//!      SCRAM), and a connection per login against one kept per process;
//!   5. on both stores, a user with 25 active passwords and 25 revoked
//!      ones the tripwire keeps, and RSS and open descriptors over 10,000
//!      logins in the same process.
//!
//! make bench

use apppass_core::hashing::{make_credential, Argon2Memory, HeapMemory, StoredHash};
use apppass_core::scratch::MappedMemory;
use apppass_core::secret::NormalizedSecret;
use apppass_e2e::fixture::Fixture;
use apppass_e2e::pam::{login, PAM_SUCCESS};
use apppass_e2e::system::{is_root, SystemUser};
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use std::time::Instant;

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

fn time_verifies<M: Argon2Memory>(
    stored: &StoredHash,
    s: &NormalizedSecret,
    mem: &mut M,
    n: usize,
) -> f64 {
    let runs = (0..n)
        .map(|_| {
            let t = Instant::now();
            assert!(stored.verify(s, mem).unwrap());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    median_ms(runs)
}

fn time_logins(f: &Fixture, service: &str, user: &str, pw: &[u8], n: usize, want: bool) -> f64 {
    let runs = (0..n)
        .map(|_| {
            let t = Instant::now();
            let (rc, _) = login(&f.confdir, service, user, pw);
            assert_eq!(rc == PAM_SUCCESS, want, "{service} {user}");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    median_ms(runs)
}

/// A user with 25 active and 25 revoked passwords (their hashes kept 30
/// days for the tripwire): wrong and right logins next to the floor.
fn with_revoked(f: &Fixture, wrong: &[u8]) {
    let user = "many@example.org";
    let out = f.apppass(&["config", "max-active", "100"]);
    assert!(out.status.success());
    let right = f.generate(user, &["bench"], "Active 0");
    for i in 1..25 {
        f.generate(user, &["bench"], &format!("Active {i}"));
    }
    for i in 0..25 {
        let label = format!("Revoked {i}");
        f.generate(user, &["bench"], &label);
        f.revoke(user, &label);
    }
    println!("-- 25 active and 25 revoked passwords for one user");
    floor_and_apppass(f, user, wrong, &right, false);
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// RSS and open descriptors of this process before and after 10,000 wrong
/// logins (and 20 right ones) through the module: nothing may pile up.
fn steady(f: &Fixture, user: &str, wrong: &[u8], right: &str) {
    let (rss, fds) = (rss_kib(), open_fds());
    for i in 0..10_000 {
        let (token, want) = if i % 500 == 0 {
            (right.as_bytes(), true)
        } else {
            (wrong, false)
        };
        let (rc, _) = login(&f.confdir, "bench", user, token);
        assert_eq!(rc == PAM_SUCCESS, want);
    }
    println!(
        "10,000 logins in this process: RSS {rss} -> {} KiB, open fds {fds} -> {}",
        rss_kib(),
        open_fds()
    );
}

/// The PAM floor and apppass's wrong and right logins (and, with `none`,
/// a user without passwords) on `f`'s store (services `permit`, `bench`).
fn floor_and_apppass(f: &Fixture, user: &str, wrong: &[u8], right: &str, none: bool) {
    println!(
        "pam_permit (floor)                {:7.3} ms",
        time_logins(f, "permit", user, wrong, 400, true)
    );
    println!(
        "apppass, wrong password           {:7.3} ms",
        time_logins(f, "bench", user, wrong, 400, false)
    );
    if none {
        println!(
            "apppass, user with none           {:7.3} ms",
            time_logins(f, "bench", "nobody@x", wrong, 400, false)
        );
    }
    println!(
        "apppass, right password           {:7.3} ms",
        time_logins(f, "bench", user, right.as_bytes(), 60, true)
    );
}

fn main() {
    let mut rng = rand_core_os();
    let secret = NormalizedSecret::generate(&mut rng);
    let cred = make_credential(&secret, &mut rng).unwrap();
    let stored = StoredHash::parse(&cred.phc).unwrap();

    println!("== argon2id m=19456 KiB t=2 p=1, one verify (median of 40)");
    let mut heap = HeapMemory::default();
    time_verifies(&stored, &secret, &mut heap, 3);
    println!(
        "heap block, reused and wiped      {:7.2} ms",
        time_verifies(&stored, &secret, &mut heap, 40)
    );
    println!(
        "fresh mapping per verify (module) {:7.2} ms",
        time_verifies(&stored, &secret, &mut MappedMemory::default(), 40)
    );

    println!("\n== RSS over 30 verifies in one process");
    let start = rss_kib();
    let mut mapped = MappedMemory::default();
    for _ in 0..30 {
        stored.verify(&secret, &mut mapped).unwrap();
    }
    println!("fresh mapping per verify: {start} KiB -> {} KiB", rss_kib());
    let parsed = PasswordHash::new(&cred.phc).unwrap();
    let before = rss_kib();
    for _ in 0..30 {
        argon2::Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .unwrap();
    }
    println!(
        "argon2 crate's own allocation: {before} KiB -> {} KiB",
        rss_kib()
    );

    println!("\n== one pam_start/pam_authenticate/pam_end in one process (median)");
    let f = Fixture::new();
    let user = "bench@example.org";
    let pw = f.generate(user, &["bench"], "Bench");
    f.service("bench", "auth required @MODULE@ db=@DB@\n");
    f.service("permit", "auth required pam_permit.so\n");
    f.service("unix", "auth required pam_unix.so nodelay\n");
    let wrong = b"aaaa-bbbb-cccc-dddd";
    floor_and_apppass(&f, user, wrong, &pw, true);
    with_revoked(&f, wrong);
    steady(&f, user, wrong, &pw);
    if is_root() {
        let primary = "Bench-Primary-Pass-1!";
        let sys = SystemUser::new(primary);
        println!(
            "pam_unix nodelay, wrong password  {:7.3} ms",
            time_logins(&f, "unix", &sys.name, wrong, 60, false)
        );
        println!(
            "pam_unix, right password          {:7.3} ms",
            time_logins(&f, "unix", &sys.name, primary.as_bytes(), 60, true)
        );
    } else {
        println!("pam_unix: SKIPPED (needs root for a system user)");
    }
    if is_root() && apppass_e2e::postgres::available() {
        postgres(user, wrong);
    } else {
        println!("\nPostgreSQL: SKIPPED (needs root and postgresql-15)");
    }
}

/// Logins through the module on PostgreSQL, and what keeping the
/// connection saves over connecting for every login.
fn postgres(user: &str, wrong: &[u8]) {
    use apppass_core::config::Conninfo;
    use apppass_core::store::{Opener, Store};
    use apppass_e2e::postgres;
    use apppass_store_postgres::PgStore;
    let cluster = postgres::shared();
    let db = postgres::fresh_database();
    let keydir = tempfile::tempdir().unwrap();
    let key = keydir.path().join("key");
    let f = Fixture::postgres(
        &cluster.login_conninfo(&db),
        &cluster.admin_conninfo(&db),
        &key,
    );
    let pw = f.generate(user, &["bench"], "Bench");
    f.service("bench", "auth required @MODULE@ db=@DB@\n");
    f.service("permit", "auth required pam_permit.so\n");
    println!(
        "\n== PostgreSQL 15 on 127.0.0.1 (TLS verify-full, SCRAM), module in one process (median)"
    );
    floor_and_apppass(&f, user, wrong, &pw, true);
    with_revoked(&f, wrong);
    steady(&f, user, wrong, &pw);
    let login_ci = Conninfo::new(&cluster.login_conninfo(&db));
    let euid = apppass_core::sys::euid();
    let time_reads = |opener: Opener, n: usize| {
        median_ms(
            (0..n)
                .map(|_| {
                    let t = Instant::now();
                    let mut s = PgStore::open(&login_ci, &key, euid, opener).unwrap();
                    s.candidates(user).unwrap();
                    drop(s);
                    t.elapsed().as_secs_f64() * 1e3
                })
                .collect(),
        )
    };
    println!("\n== open + candidates + close on PostgreSQL (median)");
    println!(
        "a new connection per login        {:7.3} ms",
        time_reads(Opener::Admin, 60)
    );
    println!(
        "the connection kept per process   {:7.3} ms",
        time_reads(Opener::Module, 400)
    );
}

fn rand_core_os() -> impl rand_core_06::RngCore + rand_core_06::CryptoRng {
    rand_core_06::OsRng
}
