//! What reading the primary password costs a right login, by source, in
//! turns in one long-lived process: /etc/shadow (a system user), an LDAP
//! directory (a private slapd over ldaps, the connection kept by the
//! process as Dovecot's auth worker keeps it) and Dovecot's passdb (a
//! private Dovecot with an SQLite passdb, through its auth-master socket).
//! A wrong password asks no source: its cost is shown beside.

use crate::logins::{in_turns, login_times};
use crate::report::Report;
use crate::WRONG;
use apppass_e2e::dovecot::{Dovecot, Options, Passdb};
use apppass_e2e::fixture::{stderr, Fixture};
use apppass_e2e::slapd::{Slapd, BASE, BIND_DN};
use apppass_e2e::sqlpassdb::SqlPassdb;
use apppass_e2e::system::SystemUser;

pub const SECTION: &str = "A login by where the primary password is read, in turns in one process";
pub const SHADOW_RIGHT: &str = "right, primary = shadow (a system user)";
pub const LDAP_RIGHT: &str = "right, primary = ldap (ldaps, connection kept)";
pub const DOVECOT_RIGHT: &str = "right, primary = dovecot (auth-master, SQLite passdb)";
pub const SHADOW_WRONG: &str = "wrong, primary = shadow";
pub const LDAP_WRONG: &str = "wrong, primary = ldap";
pub const DOVECOT_WRONG: &str = "wrong, primary = dovecot";

const STACK: &str = "auth required @MODULE@ db=@DB@\n";

fn issue(f: &Fixture, user: &str, virtual_user: bool) -> String {
    let mut args = vec!["generate", user, "--service", "bench", "--label", "Bench"];
    if virtual_user {
        args.push("--virtual");
    }
    let out = f.apppass(&args);
    assert!(out.status.success(), "generate: {}", stderr(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

pub fn run(r: &mut Report, unix: &SystemUser) {
    let mut shadow = Fixture::new();
    shadow.configure("");
    shadow.service("bench", STACK);
    let sys_pw = issue(&shadow, &unix.name, false);

    let slapd = Slapd::start(&[("benchldap", "Bench-Ldap-1!")]);
    let mut ldap = Fixture::new();
    ldap.configure(&format!(
        "primary = ldap\nldap_uri = {}\nldap_ca_file = {}\nldap_base = {BASE}\nldap_bind_dn = {BIND_DN}\nldap_bind_password_file = {}\n",
        slapd.ldaps_uri(),
        slapd.ca().display(),
        slapd.bind_secret_file().display()
    ));
    ldap.service("bench", STACK);
    let ldap_pw = issue(&ldap, "benchldap", true);

    let mut dovecot = Fixture::new();
    dovecot.configure("");
    let sql = SqlPassdb::create();
    sql.set_password("bench@example.org", "Bench-Dovecot-1!");
    let dc = Dovecot::start(
        &dovecot,
        Options {
            passdb: Passdb::FirstThenPerProtocol(sql.passdbs(true)),
            cache: false,
            stack: STACK.into(),
            files_for: vec![],
        },
    );
    dovecot.configure(&format!(
        "primary = dovecot\ndovecot_auth_master = {}\n",
        dc.auth_master().display()
    ));
    dovecot.service("bench", STACK);
    let dovecot_pw = issue(&dovecot, "bench@example.org", true);

    let user = unix.name.as_str();
    let right = in_turns(
        6,
        vec![
            Box::new(|| login_times(&shadow, "bench", user, sys_pw.as_bytes(), 11, true)),
            Box::new(|| login_times(&ldap, "bench", "benchldap", ldap_pw.as_bytes(), 11, true)),
            Box::new(|| {
                login_times(
                    &dovecot,
                    "bench",
                    "bench@example.org",
                    dovecot_pw.as_bytes(),
                    11,
                    true,
                )
            }),
        ],
    );
    let wrong = in_turns(
        6,
        vec![
            Box::new(|| login_times(&shadow, "bench", user, WRONG, 51, false)),
            Box::new(|| login_times(&ldap, "bench", "benchldap", WRONG, 51, false)),
            Box::new(|| login_times(&dovecot, "bench", "bench@example.org", WRONG, 51, false)),
        ],
    );
    let store = crate::report::SQLITE;
    r.add(SECTION, SHADOW_RIGHT, store, right[0], "ms");
    r.add(SECTION, LDAP_RIGHT, store, right[1], "ms");
    r.add(SECTION, DOVECOT_RIGHT, store, right[2], "ms");
    r.add(SECTION, SHADOW_WRONG, store, wrong[0], "ms");
    r.add(SECTION, LDAP_WRONG, store, wrong[1], "ms");
    r.add(SECTION, DOVECOT_WRONG, store, wrong[2], "ms");
    drop(dc);
}
