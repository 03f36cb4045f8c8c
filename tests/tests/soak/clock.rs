//! The clock stepped back and forward (libfaketime, in the login's own
//! process): a fixed expiry never moves, the last use never moves back, an
//! idle expiry is recorded at the instant it was reached, and back at the
//! true time no login is refused that should work.
//!
//! A login during a forward step records that (future) time as the last
//! use, so an idle limit counts from it afterwards: a forward step can
//! lengthen an idle password's life by at most the step. Nothing in the
//! store can tell a wrong clock from a right one.

use super::{Host, Kind};
use apppass_e2e::fixture::pam_host_bin;
use std::process::Command;

const USER: &str = "clock@example.org";

fn login_at(host: &Host, offset: Option<&str>, pw: &str) -> bool {
    let mut cmd = match offset {
        Some(o) => {
            let mut c = Command::new("faketime");
            c.args(["-f", o]).arg(pam_host_bin());
            c
        }
        None => Command::new(pam_host_bin()),
    };
    let out = cmd
        .arg(&host.f().confdir)
        .args(["mail", USER, pw, "1", "1"])
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("pam-host: {}", String::from_utf8_lossy(&out.stderr)));
    r["right_ok"] == 1
}

fn field(host: &Host, label: &str, column: &str) -> String {
    host.query(&format!(
        "SELECT coalesce(CAST({column} AS TEXT), '') FROM passwords WHERE label = '{label}'"
    ))[0]
        .clone()
}

fn stepped_clock(kind: Kind) {
    if Command::new("faketime").arg("--version").output().is_err() {
        eprintln!("\n*** SKIPPED stepped_clock: faketime is not installed (apt-get install faketime) ***\n");
        return;
    }
    let Some(host) = Host::new(kind, "stepped_clock") else {
        return;
    };
    let f = host.f();
    f.simple_service("mail");
    assert!(f.apppass(&["config", "idle-expiry", "1d"]).status.success());
    let fixed = f.issue(&[
        USER,
        "--virtual",
        "--service",
        "mail",
        "--label",
        "Fixed",
        "--expires",
        "12h",
    ]);
    let idle = f.generate(USER, &["mail"], "Idle");
    let fixed_expiry = field(&host, "Fixed", "expires_at");
    assert!(login_at(&host, None, &idle));
    let used = field(&host, "Idle", "last_used_at");

    // Three days back: both work, nothing moves back.
    assert!(login_at(&host, Some("-3d"), &fixed));
    assert!(login_at(&host, Some("-3d"), &idle));
    assert_eq!(field(&host, "Fixed", "expires_at"), fixed_expiry);
    assert_eq!(
        field(&host, "Idle", "last_used_at"),
        used,
        "the last use moved back"
    );
    // Back at the true time: still both.
    assert!(login_at(&host, None, &fixed) && login_at(&host, None, &idle));

    // Thirteen hours on: the fixed expiry has passed, the idle one not.
    assert!(!login_at(&host, Some("+13h"), &fixed));
    assert!(login_at(&host, Some("+13h"), &idle));
    assert_eq!(
        field(&host, "Fixed", "expires_at"),
        fixed_expiry,
        "an expiry moved"
    );

    // Three days on: idle for more than a day, refused; the expiry is
    // recorded at the instant the limit was reached (last use + 1 day).
    let last = field(&host, "Idle", "last_used_at").parse::<i64>().unwrap();
    assert!(!login_at(&host, Some("+4d"), &idle));
    assert_eq!(
        field(&host, "Idle", "expires_at"),
        (last + 86_400).to_string()
    );

    // Back at the true time: neither limit has really been reached.
    assert!(
        login_at(&host, None, &fixed),
        "refused wrongly after the clock came back"
    );
    assert!(
        login_at(&host, None, &idle),
        "refused wrongly after the clock came back"
    );
    assert_eq!(field(&host, "Fixed", "expires_at"), fixed_expiry);
    host.consistent();
}

#[test]
fn a_stepped_clock_extends_no_expiry_on_sqlite() {
    stepped_clock(Kind::Sqlite);
}

#[test]
fn a_stepped_clock_extends_no_expiry_on_postgresql() {
    stepped_clock(Kind::Postgres);
}
