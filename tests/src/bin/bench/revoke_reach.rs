//! How soon a revoke signs the app out on another host: two hosts, each
//! with its private Dovecot (auth cache on, the shipped cache key) and its
//! `apppass watch`, sharing one PostgreSQL store. An IMAP client stays
//! logged in on host B; the password is revoked with `apppass revoke` on
//! host A; the figure is the time from the start of that command to B's
//! server closing the connection. 20 times, one after the other.

use crate::report::{Report, POSTGRES};
use apppass_e2e::clients::ImapSession;
use apppass_e2e::dovecot::{Dovecot, Options, Passdb};
use apppass_e2e::fixture::{stderr, Fixture};
use apppass_e2e::postgres;
use apppass_e2e::watcher::Watcher;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

pub const SECTION: &str =
    "Revoke on host A to IMAP connection closed on host B (PostgreSQL, apppass watch on each)";
pub const MEDIAN: &str = "median of 20";
pub const WORST: &str = "worst of 20";

const USER: &str = "reach@example.org";
const STACK: &str = "auth sufficient @MODULE@ db=@DB@\nauth requisite pam_deny.so\n\
                     account sufficient @MODULE@ db=@DB@\naccount required pam_deny.so\n";
const TIMES: usize = 20;

struct Host {
    f: Fixture,
    dc: Dovecot,
}

impl Host {
    fn new(login: &str, admin: &str, key: &std::path::Path) -> Host {
        let f = Fixture::postgres(login, admin, key);
        let dc = Dovecot::start(
            &f,
            Options {
                passdb: Passdb::PerProtocol,
                cache: true,
                stack: STACK.into(),
                files_for: vec!["imap"],
            },
        );
        Host { f, dc }
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

pub fn run(r: &mut Report) {
    let pg = postgres::host();
    let admin = postgres::shared().admin_conninfo(&pg.db);
    let a = Host::new(&pg.login_conninfo, &admin, &pg.key);
    let b = Host::new(&pg.login_conninfo, &admin, &pg.key);
    let (_wa, wb) = (a.watch(), b.watch());
    let dovecot_config = a.dc.conf.to_str().unwrap().to_string();
    let mut times = Vec::with_capacity(TIMES);
    for i in 0..TIMES {
        let label = format!("Phone {i}");
        let pw = a.f.generate(USER, &[&b.dc.service("imap")], &label);
        // A new address each time: Dovecot's kick by address finds only
        // this connection.
        let from = Ipv4Addr::new(127, 0, 1, 10 + i as u8);
        let mut session = ImapSession::open(b.dc.imap, from, USER, &pw)
            .unwrap_or_else(|| panic!("IMAP login on host B refused\n{}", b.dc.log()));
        let closed = std::thread::spawn(move || {
            session
                .closed_within(Duration::from_secs(30))
                .map(|_| Instant::now())
        });
        let started = Instant::now();
        let out = a.f.apppass(&[
            "--dovecot-config",
            &dovecot_config,
            "revoke",
            USER,
            "--label",
            &label,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let at = closed.join().unwrap().unwrap_or_else(|| {
            panic!(
                "{label}: host B's connection still open after 30 s\n{}",
                wb.log()
            )
        });
        times.push((at - started).as_secs_f64());
    }
    times.sort_by(|x, y| x.partial_cmp(y).unwrap());
    r.add(SECTION, MEDIAN, POSTGRES, times[TIMES / 2], "s");
    r.add(SECTION, WORST, POSTGRES, times[TIMES - 1], "s");
}
