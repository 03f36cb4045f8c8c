//! `make bench`: the login path measured side by side in one run, with the
//! targets as ratios of figures from that run (absolute times vary between
//! machines). Prints as it goes and writes `target/bench/report.json`,
//! `report.md` and `chart.svg` (the README embeds a copy of the last two).
//!
//! 1. argon2id: the block reused vs a fresh mapping per verify, and RSS;
//! 2. one long-lived process, per pam_start/pam_authenticate/pam_end:
//!    pam_permit (the floor), apppass wrong/right/user with none, with 1
//!    and 25 passwords and with 25 revoked ones the tripwire keeps, on
//!    SQLite and PostgreSQL; pam_unix, pam_pwdfile and pam_userdb;
//! 3. the same as whole processes (pamtester);
//! 4. store size: 10, 10^4 and 10^6 users (filler rows written directly);
//! 5. a private Dovecot: IMAP logins/s at concurrency 1 and 8, with
//!    Dovecot's auth cache off and on;
//! 6. RSS and open descriptors over 10,000 logins in one process;
//! 7. what revoking's sign-out adds to a login (a new client address
//!    recorded, a session registered), and how soon a revoke on one host
//!    closes an IMAP connection on another (PostgreSQL, apppass watch);
//! 8. a login with the primary password read from LDAP or Dovecot's
//!    passdb beside /etc/shadow.
//!
//! Parts that need root or PostgreSQL say SKIPPED when they cannot run.

mod chart;
mod grace;
mod imap;
mod logins;
mod peers;
mod primary;
mod report;
mod revoke_reach;
mod store_size;
mod whole_process;

use apppass_core::hashing::{make_credential, Argon2Memory, HeapMemory, StoredHash};
use apppass_core::scratch::MappedMemory;
use apppass_core::secret::NormalizedSecret;
use apppass_e2e::fixture::{target_dir, Fixture};
use apppass_e2e::system::{is_root, SystemUser};
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use report::{Report, POSTGRES, SQLITE, SYSTEM};
use std::time::Instant;

pub const WRONG: &[u8] = b"aaaa-bbbb-cccc-dddd";
/// The primary password of the system user pam_unix and the peers check.
pub const PRIMARY: &str = "Bench-Primary-Pass-1!";

pub fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

const ARGON2: &str = "argon2id m=19456 KiB t=2 p=1, one verify (median of 60, in turns)";
const ARGON2_RSS: &str = "RSS over 30 verifies in one process";

/// Each of `n` verifies' time (ms), in `mem`.
fn verify_times<M: Argon2Memory>(
    stored: &StoredHash,
    secret: &NormalizedSecret,
    mem: &mut M,
    n: usize,
) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            assert!(stored.verify(secret, mem).unwrap());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

/// The same hash with argon2 0.6, in its own (reused) heap block.
fn argon2_06_times(secret: &NormalizedSecret, n: usize) -> Vec<f64> {
    use argon2_06::{Algorithm, Argon2, Block, Params, Version};
    let params = Params::new(19456, 2, 1, Some(32)).unwrap();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut blocks = vec![Block::default(); 19456];
    let mut out = [0u8; 32];
    (0..n)
        .map(|_| {
            let t = Instant::now();
            argon
                .hash_password_into_with_memory(
                    secret.as_bytes(),
                    b"bench-salt-16byt",
                    &mut out,
                    &mut blocks,
                )
                .unwrap();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

/// argon2's memory, then its speed: RSS is read first, before the timed
/// verifies' heap blocks are in the process.
fn argon2(r: &mut Report) {
    let mut rng = rand_core_06::OsRng;
    let secret = NormalizedSecret::generate(&mut rng);
    let cred = make_credential(&secret, &mut rng).unwrap();
    let stored = StoredHash::parse(&cred.phc).unwrap();
    argon2_rss(r, &stored, &secret, &cred.phc);
    argon2_speed(r, &stored, &secret);
}

fn argon2_speed(r: &mut Report, stored: &StoredHash, secret: &NormalizedSecret) {
    let mut heap = HeapMemory::default();
    let mut mapped = MappedMemory::default();
    let turns = logins::in_turns(
        10,
        vec![
            Box::new(|| verify_times(stored, secret, &mut heap, 7)),
            Box::new(|| verify_times(stored, secret, &mut mapped, 7)),
            Box::new(|| argon2_06_times(secret, 7)),
        ],
    );
    r.add(
        ARGON2,
        "argon2 0.5.3, heap block reused and wiped",
        SYSTEM,
        turns[0],
        "ms",
    );
    r.add(
        ARGON2,
        "argon2 0.5.3, fresh 2 MiB-aligned mapping (the module)",
        SYSTEM,
        turns[1],
        "ms",
    );
    r.add(
        ARGON2,
        "argon2 0.6.0, heap block reused",
        SYSTEM,
        turns[2],
        "ms",
    );
}

fn argon2_rss(r: &mut Report, stored: &StoredHash, secret: &NormalizedSecret, phc: &str) {
    let start = rss_kib();
    let mut mapped = MappedMemory::default();
    for _ in 0..30 {
        stored.verify(secret, &mut mapped).unwrap();
    }
    let end = rss_kib();
    r.add(
        ARGON2_RSS,
        "fresh mapping: before",
        SYSTEM,
        start as f64,
        "KiB",
    );
    r.add(
        ARGON2_RSS,
        "fresh mapping: after",
        SYSTEM,
        end as f64,
        "KiB",
    );
    let parsed = PasswordHash::new(phc).unwrap();
    let before = rss_kib();
    for _ in 0..30 {
        argon2::Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .unwrap();
    }
    let after = rss_kib();
    r.add(
        ARGON2_RSS,
        "argon2 crate's own allocation: before",
        SYSTEM,
        before as f64,
        "KiB",
    );
    r.add(
        ARGON2_RSS,
        "argon2 crate's own allocation: after",
        SYSTEM,
        after as f64,
        "KiB",
    );
}

fn context() -> Vec<(String, String)> {
    let sh = |cmd: &str| {
        std::process::Command::new("sh")
            .args(["-c", cmd])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".into())
    };
    vec![
        ("date (UTC)".into(), sh("date -u '+%Y-%m-%d %H:%M'")),
        (
            "commit".into(),
            sh("git rev-parse --short HEAD 2>/dev/null"),
        ),
        (
            "CPU".into(),
            sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-"),
        ),
        ("cores".into(), sh("nproc")),
        ("kernel".into(), sh("uname -r")),
        (
            "libpam".into(),
            sh("dpkg-query -W -f '${Version}' libpam0g"),
        ),
        (
            "SQLite".into(),
            sh("dpkg-query -W -f '${Version}' libsqlite3-0"),
        ),
        (
            "PostgreSQL".into(),
            sh("dpkg-query -W -f '${Version}' postgresql-15 2>/dev/null"),
        ),
        (
            "Dovecot".into(),
            sh("dpkg-query -W -f '${Version}' dovecot-core 2>/dev/null"),
        ),
    ]
}

/// Which figure: section, case, store.
type Which<'a> = (&'a str, &'a str, &'a str);

fn targets(r: &mut Report) {
    use chart::SECTION as L;
    use store_size::SECTION as S;
    for store in [SQLITE, POSTGRES] {
        let per_store: [(&str, &str, Which, Which, f64); 4] = [
            (
                "wrong password vs the floor",
                "apppass wrong (1 password) / pam_permit, in turns in one long-lived process",
                (L, logins::WRONG_1, store),
                (L, logins::FLOOR, store),
                2.5,
            ),
            (
                "right password vs pam_unix's",
                "apppass right (1 password) / pam_unix right, in turns in one long-lived process",
                (L, logins::RIGHT_1, store),
                (L, logins::UNIX_RIGHT_IN_TURNS, store),
                0.5,
            ),
            (
                "10^6 users vs 10, wrong password",
                "per-login time with 10^6 users / with 10",
                (S, store_size::WRONG_BIG, store),
                (S, store_size::WRONG_SMALL, store),
                1.1,
            ),
            (
                "10^6 users vs 10, right password",
                "per-login time with 10^6 users / with 10",
                (S, store_size::RIGHT_BIG, store),
                (S, store_size::RIGHT_SMALL, store),
                1.1,
            ),
        ];
        for (name, formula, num, den, limit) in per_store {
            let (num, den) = (r.get(num.0, num.1, num.2), r.get(den.0, den.1, den.2));
            r.target(&format!("{name}, {store}"), formula, num, den, limit, false);
        }
    }
    r.target(
        "Dovecot IMAP at concurrency 8 vs pam_unix",
        "apppass (SQLite) logins/s / pam_unix logins/s, 8 clients",
        r.get(imap::SECTION, imap::APPPASS_8, SQLITE),
        r.get(imap::SECTION, imap::UNIX_8, SYSTEM),
        1.6,
        true,
    );
    r.target(
        "Dovecot IMAP at concurrency 8, auth cache on vs off",
        "apppass (SQLite) logins/s with the cache on / off, 8 clients logging in again from their address",
        r.get(imap::SECTION, imap::CACHED_8, SQLITE),
        r.get(imap::SECTION, imap::APPPASS_8, SQLITE),
        1.5,
        true,
    );
    for store in [SQLITE, POSTGRES] {
        let same = r.get(logins::SIGN_OUT, logins::RIGHT_SAME, store);
        for (name, case) in [
            ("a new client address recorded", logins::RIGHT_NEW),
            ("a session registered and removed", logins::RIGHT_SESSION),
        ] {
            r.target(
                &format!("right login with {name}, {store}"),
                "right login with it / right login from the address it used last, in turns",
                r.get(logins::SIGN_OUT, case, store),
                same,
                1.3,
                false,
            );
        }
    }
    for store in [SQLITE, POSTGRES] {
        r.target(
            &format!("primary password in the grace period vs pam_unix alone, {store}"),
            "a primary-password login through primary_until= (passed on, logged, counted) / through pam_unix alone, auth and account, in turns",
            r.get(grace::SECTION, grace::PASSED_ON, store),
            r.get(grace::SECTION, grace::UNIX_ALONE, store),
            1.1,
            false,
        );
    }
    let shadow = r.get(primary::SECTION, primary::SHADOW_RIGHT, SQLITE);
    for (name, case) in [
        ("primary = ldap", primary::LDAP_RIGHT),
        ("primary = dovecot", primary::DOVECOT_RIGHT),
    ] {
        let over = r
            .get(primary::SECTION, case, SQLITE)
            .zip(shadow)
            .map(|(v, s)| v - s);
        r.limit(
            &format!("right login, {name}, over primary = shadow"),
            "ms a right login takes with it, less with /etc/shadow, in turns",
            over,
            2.0,
            "ms",
        );
    }
    r.limit(
        "revoke to disconnect across hosts, median",
        "seconds from `apppass revoke` on host A to host B's IMAP connection closed, median of 20",
        r.get(revoke_reach::SECTION, revoke_reach::MEDIAN, POSTGRES),
        1.0,
        "s",
    );
    r.limit(
        "revoke to disconnect across hosts, worst",
        "the same, worst of 20",
        r.get(revoke_reach::SECTION, revoke_reach::WORST, POSTGRES),
        2.0,
        "s",
    );
}

/// The parts `make bench PARTS="…"` may name; all of them by default.
const PARTS: [&str; 9] = [
    "argon2",
    "logins",
    "postgres",
    "processes",
    "size",
    "dovecot",
    "steady",
    "revoke",
    "primary",
];

fn main() {
    let asked: Vec<String> = std::env::args().skip(1).collect();
    if let Some(bad) = asked.iter().find(|a| !PARTS.contains(&a.as_str())) {
        eprintln!(
            "bench: no part named {bad:?}; the parts are {}",
            PARTS.join(", ")
        );
        std::process::exit(2);
    }
    let wants = |part: &str| asked.is_empty() || asked.iter().any(|a| a == part);
    let mut r = Report::default();
    if !asked.is_empty() {
        r.note(format!("a partial run: {}", asked.join(", ")));
    }
    if wants("argon2") {
        argon2(&mut r);
    }

    let sqlite = Fixture::new();
    let sys = is_root().then(|| SystemUser::new(PRIMARY));
    if wants("logins") {
        logins::one_process(&mut r, &sqlite, SQLITE, sys.as_ref());
        match is_root() {
            true => logins::sign_out_costs(&mut r, &sqlite, SQLITE),
            false => r.skip("sign-out costs: need root (the session registry is root's)"),
        }
        match &sys {
            Some(u) => grace::run(&mut r, &sqlite, SQLITE, u),
            None => r.skip("primary_until's grace period: needs root for a system user"),
        }
        match &sys {
            Some(u) => peers::one_process(&mut r, u),
            None => r.skip("pam_unix, pam_pwdfile, pam_userdb: need root for a system user"),
        }
    }
    let pg_wanted = ["postgres", "processes", "size", "steady"]
        .iter()
        .any(|p| wants(p));
    let pg = if !pg_wanted {
        None
    } else if is_root() && apppass_e2e::postgres::available() {
        let pg = logins::postgres_fixture();
        if wants("postgres") {
            logins::one_process(&mut r, &pg.fixture, POSTGRES, sys.as_ref());
            logins::sign_out_costs(&mut r, &pg.fixture, POSTGRES);
            if let Some(u) = &sys {
                grace::run(&mut r, &pg.fixture, POSTGRES, u);
            }
            logins::postgres_connection(&mut r, &pg);
        }
        Some(pg)
    } else {
        r.skip("PostgreSQL: needs root and postgresql-15");
        None
    };

    if wants("processes") {
        match &sys {
            Some(u) => whole_process::run(&mut r, &sqlite, pg.as_ref().map(|p| &p.fixture), u),
            None => r.skip("whole processes (pamtester): need root for /etc/pam.d"),
        }
    }
    if wants("size") {
        store_size::run(&mut r, SQLITE);
        match &pg {
            Some(_) => store_size::run(&mut r, POSTGRES),
            None => r.skip("store size on PostgreSQL: needs root and postgresql-15"),
        }
    }
    if wants("dovecot") {
        match &sys {
            Some(u) => imap::run(&mut r, &sqlite, u),
            None => r.skip("Dovecot: needs root (PAM files in /etc/pam.d)"),
        }
    }
    if wants("steady") {
        logins::steady(&mut r, &sqlite, SQLITE);
        if let Some(pg) = &pg {
            logins::steady(&mut r, &pg.fixture, POSTGRES);
        }
    }

    if wants("primary") {
        match &sys {
            Some(u) if apppass_e2e::slapd::available() => primary::run(&mut r, u),
            Some(_) => r.skip("primary sources: needs slapd and ldap-utils (make test-deps)"),
            None => r.skip("primary sources: need root for a system user and Dovecot"),
        }
    }
    if wants("revoke") {
        if is_root() && apppass_e2e::postgres::available() {
            revoke_reach::run(&mut r);
        } else {
            r.skip("revoke across hosts: needs root and postgresql-15");
        }
    }

    println!();
    targets(&mut r);
    // Beside the build output: target/release holds this very binary.
    let dir = target_dir().join("../bench");
    r.write(&dir, &context()).expect("write the report");
    println!(
        "\nreport: {}/report.md, report.json, chart.svg",
        dir.display()
    );
}
