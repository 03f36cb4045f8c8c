//! What `primary_until=` adds to a login with the primary password in the
//! grace period: the module asks the store, passes the token on to
//! pam_unix, and in the account phase logs the use and counts it in the
//! store. Measured in turns with pam_unix alone.

use crate::logins::{in_turns, Block};
use crate::report::Report;
use crate::PRIMARY;
use apppass_e2e::fixture::Fixture;
use apppass_e2e::pam::{Pam, PAM_RHOST, PAM_SUCCESS};
use apppass_e2e::system::SystemUser;
use std::time::Instant;

pub const SECTION: &str =
    "A login with the primary password (auth and account), in turns in one process";
pub const UNIX_ALONE: &str = "pam_unix alone";
pub const PASSED_ON: &str = "primary_until: passed on to pam_unix, logged and counted";

/// `n` logins (authenticate, then acct_mgmt) of `user` through `service`.
fn logins(f: &Fixture, service: &str, user: &str, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            let mut p = Pam::start(&f.confdir, service, user.as_bytes(), &[PRIMARY.as_bytes()]);
            p.set_item(PAM_RHOST, "198.51.100.7");
            assert_eq!(p.authenticate(), PAM_SUCCESS, "{service}");
            assert_eq!(p.acct_mgmt(), PAM_SUCCESS, "{service}");
            drop(p);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

pub fn run(r: &mut Report, f: &Fixture, store: &'static str, unix: &SystemUser) {
    f.service(
        "unix-account",
        "auth required pam_unix.so nodelay\naccount required pam_unix.so\n",
    );
    f.service(
        "grace",
        "auth [success=done ignore=ignore default=die] @MODULE@ db=@DB@ primary_until=2999-01-01
auth required pam_unix.so nodelay try_first_pass
account sufficient @MODULE@ db=@DB@
account required pam_unix.so
",
    );
    let user = unix.name.as_str();
    let blocks: Vec<Block<'_>> = vec![
        Box::new(|| logins(f, "unix-account", user, 11)),
        Box::new(|| logins(f, "grace", user, 11)),
    ];
    let turns = in_turns(6, blocks);
    r.add(SECTION, UNIX_ALONE, store, turns[0], "ms");
    r.add(SECTION, PASSED_ON, store, turns[1], "ms");
}
