//! The module inside one long-lived process, as in Dovecot's auth worker.

use apppass_e2e::fixture::{pam_host_bin, Fixture};
use std::process::Command;

const USER: &str = "worker@example.org";

fn host(f: &Fixture, password: &str, cycles: usize, every: usize, fork: bool) -> serde_json::Value {
    let mut cmd = Command::new(pam_host_bin());
    cmd.arg(&f.confdir).args([
        "mail",
        USER,
        password,
        &cycles.to_string(),
        &every.to_string(),
    ]);
    if fork {
        cmd.arg("fork");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "pam-host: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn five_thousand_logins_in_one_process_leak_nothing() {
    let f = Fixture::new();
    let pw = f.generate(USER, &["mail"], "Worker");
    f.simple_service("mail");
    let r = host(&f, &pw, 5000, 10, true);
    eprintln!("long-lived host: {r}");
    assert_eq!(r["right_ok"], 500, "every right login succeeds");
    assert_eq!(r["right_bad"], 0);
    assert_eq!(r["wrong_ok"], 0, "no wrong login succeeds");
    assert_eq!(r["wrong_bad"], 4500);
    assert_eq!(r["fds_end"], r["fds_baseline"], "no file descriptor leaks");
    assert_eq!(r["threads_end"], 1, "the module starts no threads");
    assert_eq!(r["threads_baseline"], 1);
    let (base, end) = (
        r["rss_kib_baseline"].as_f64().unwrap(),
        r["rss_kib_end"].as_f64().unwrap(),
    );
    assert!(end <= base * 1.5, "RSS grew from {base} KiB to {end} KiB");
    assert_eq!(r["fork_ok"], true, "a login in a forked child works");
}
