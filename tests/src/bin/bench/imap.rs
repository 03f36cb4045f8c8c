//! A private Dovecot on 127.0.0.1: IMAP logins per second through the
//! floor (pam_permit), apppass and pam_unix, one client at a time and 8 at
//! once, in turns. Each login is a new connection, a LOGIN and a LOGOUT.
//! Dovecot's auth cache is off, so every login reaches PAM, except for one
//! more apppass Dovecot with the cache on and the shipped cache key (user,
//! protocol, client address), as the README recommends where `apppass
//! watch` runs: a client logging in again from its address costs no argon2.

use crate::report::{Report, SQLITE, SYSTEM};
use crate::{median_ms as median, PRIMARY};
use apppass_e2e::clients::imap_logins_per_second;
use apppass_e2e::dovecot::{Dovecot, Options, Passdb};
use apppass_e2e::fixture::Fixture;
use apppass_e2e::system::SystemUser;
use std::net::Ipv4Addr;

pub const SECTION: &str = "Dovecot IMAP logins per second";
pub const APPPASS_8: &str = "apppass, 8 clients";
pub const UNIX_8: &str = "pam_unix, 8 clients";
pub const CACHED_8: &str = "apppass, auth cache on, 8 clients";

fn start(f: &Fixture, stack: &str, cache: bool) -> Dovecot {
    Dovecot::start(
        f,
        Options {
            passdb: Passdb::Fixed,
            cache,
            stack: stack.into(),
            files_for: vec![],
        },
    )
}

pub fn run(r: &mut Report, f: &Fixture, user: &SystemUser) {
    let home = Ipv4Addr::LOCALHOST;
    let permit = start(
        f,
        "auth required pam_permit.so\naccount required pam_permit.so\n",
        false,
    );
    let stack = "auth required @MODULE@ db=@DB@\naccount required pam_permit.so\n";
    let apppass = start(f, stack, false);
    let cached = start(f, stack, true);
    let unix = start(
        f,
        "auth required pam_unix.so\naccount required pam_unix.so\n",
        false,
    );
    let who = "imap@example.org";
    let pw = f.generate(who, &[&apppass.prefix], "IMAP load");
    let cached_pw = f.generate(who, &[&cached.prefix], "IMAP load, cached");
    let cases: [(&str, &'static str, &Dovecot, &str, &str); 4] = [
        ("pam_permit (floor)", SYSTEM, &permit, who, "x"),
        ("apppass", SQLITE, &apppass, who, &pw),
        ("apppass, auth cache on", SQLITE, &cached, who, &cached_pw),
        ("pam_unix", SYSTEM, &unix, &user.name, PRIMARY),
    ];
    for (_, _, dc, login, password) in cases {
        // Warm up: the auth workers started, the module loaded.
        imap_logins_per_second(dc.imap, home, login, password, 8, 8);
    }
    // In turns, ROUNDS blocks of each, so that a busy machine's drift
    // falls on all of them alike; the figure is the median block's rate.
    let mut one = vec![Vec::new(); cases.len()];
    let mut eight = vec![Vec::new(); cases.len()];
    for _ in 0..ROUNDS {
        for (i, (_, _, dc, login, password)) in cases.iter().enumerate() {
            one[i].push(imap_logins_per_second(
                dc.imap, home, login, password, 20, 1,
            ));
        }
        for (i, (_, _, dc, login, password)) in cases.iter().enumerate() {
            eight[i].push(imap_logins_per_second(
                dc.imap, home, login, password, 96, 8,
            ));
        }
    }
    for (i, (name, store, ..)) in cases.iter().enumerate() {
        let rate = median(std::mem::take(&mut one[i]));
        r.add(
            SECTION,
            &format!("{name}, 1 client"),
            store,
            rate,
            "logins/s",
        );
    }
    for (i, (name, store, ..)) in cases.iter().enumerate() {
        let rate = median(std::mem::take(&mut eight[i]));
        r.add(
            SECTION,
            &format!("{name}, 8 clients"),
            store,
            rate,
            "logins/s",
        );
    }
}

/// Blocks of logins per case, taken in turns.
const ROUNDS: usize = 5;
