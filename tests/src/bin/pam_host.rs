//! A long-lived PAM host, like Dovecot's auth worker: many
//! pam_start -> pam_authenticate -> pam_end cycles in one process. Prints
//! what it saw as JSON: outcomes, fds, threads, RSS, and per-login times.
//!
//! pam-host CONFDIR SERVICE USER RIGHT_PASSWORD CYCLES RIGHT_EVERY [fork] [wrong=TOKEN] [rhost=ADDR]
//!     [ruser=NAME] [tty=NAME] [account] [again=TOKEN]
//!
//! `account`: pam_acct_mgmt after each successful pam_authenticate, as a
//! service does (its code then counts). `again=TOKEN`: a second
//! pam_authenticate on the same handle, answered with TOKEN, before
//! pam_acct_mgmt (its code then counts), as a host that retries does.

use apppass_e2e::pam::{Pam, PAM_RHOST, PAM_RUSER, PAM_SUCCESS, PAM_TTY};
use std::path::Path;
use std::time::Instant;

fn status_field(name: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 7 {
        eprintln!("usage: pam-host CONFDIR SERVICE USER RIGHT_PASSWORD CYCLES RIGHT_EVERY [fork]");
        std::process::exit(2);
    }
    let confdir = Path::new(&args[1]);
    let (service, user, right) = (&args[2], &args[3], args[4].as_bytes());
    let cycles: usize = args[5].parse().unwrap();
    let every: usize = args[6].parse().unwrap();
    let extra = &args[7..];
    let wrong_arg = extra
        .iter()
        .find_map(|a| a.strip_prefix("wrong="))
        .map(str::to_owned);
    let account = extra.iter().any(|a| a == "account");
    let again: Option<Vec<u8>> = extra
        .iter()
        .find_map(|a| a.strip_prefix("again="))
        .map(|t| t.as_bytes().to_vec());
    // The items a host sets before pam_authenticate, as given.
    let items: Vec<(i32, String)> = [
        ("rhost=", PAM_RHOST),
        ("ruser=", PAM_RUSER),
        ("tty=", PAM_TTY),
    ]
    .into_iter()
    .filter_map(|(prefix, item)| {
        extra
            .iter()
            .find_map(|a| a.strip_prefix(prefix))
            .map(|v| (item, v.to_owned()))
    })
    .collect();
    let login = |confdir: &Path, service: &str, user: &str, password: &[u8]| -> (i32, usize) {
        let tokens: Vec<&[u8]> = std::iter::once(password).chain(again.as_deref()).collect();
        let mut p = Pam::start(confdir, service, user.as_bytes(), &tokens);
        for (item, value) in &items {
            p.set_item(*item, value);
        }
        let mut rc = p.authenticate();
        if again.is_some() {
            rc = p.authenticate();
        }
        if rc == PAM_SUCCESS && account {
            return (p.acct_mgmt(), 0);
        }
        (rc, 0)
    };
    let wrong = wrong_arg
        .as_deref()
        .unwrap_or("aaaa-bbbb-cccc-dddd")
        .as_bytes();

    let (mut right_ok, mut right_bad, mut wrong_ok, mut wrong_bad) = (0, 0, 0, 0);
    let (mut right_ns, mut wrong_ns) = (0u128, 0u128);
    let mut baseline = None;
    let mut after_two = None;
    let mut last_rc = 0;
    for i in 0..cycles {
        let is_right = i % every == 0;
        let t = Instant::now();
        let (rc, _) = login(confdir, service, user, if is_right { right } else { wrong });
        let ns = t.elapsed().as_nanos();
        last_rc = rc;
        match (is_right, rc == PAM_SUCCESS) {
            (true, true) => right_ok += 1,
            (true, false) => right_bad += 1,
            (false, true) => wrong_ok += 1,
            (false, false) => wrong_bad += 1,
        }
        if is_right {
            right_ns += ns;
        } else {
            wrong_ns += ns;
        }
        if i + 1 == 2 {
            after_two = Some((fds(), status_field("VmRSS:")));
        }
        // After a few right logins (and the first log line, which opens
        // /dev/log for good) the process should be at its steady state.
        if i + 1 == 2 * every.min(cycles) + 1 {
            baseline = Some((fds(), status_field("Threads:"), status_field("VmRSS:")));
        }
    }
    let (fd0, th0, rss0) =
        baseline.unwrap_or((fds(), status_field("Threads:"), status_field("VmRSS:")));

    let fork_ok = if extra.iter().any(|a| a == "fork") {
        // SAFETY: this process is single-threaded; the child only logs in and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let (rc, _) = login(confdir, service, user, right);
            // SAFETY: _exit skips atexit handlers inherited from the parent.
            unsafe { libc::_exit(if rc == PAM_SUCCESS { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waiting for the child just forked.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        Some(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0)
    } else {
        None
    };
    // The parent goes on after its child logged in (a child must not end
    // a connection the parent keeps).
    let parent_after_fork_ok =
        fork_ok.map(|_| login(confdir, service, user, right).0 == PAM_SUCCESS);

    let rights = right_ok + right_bad;
    let wrongs = wrong_ok + wrong_bad;
    println!(
        "{}",
        serde_json::json!({
            "cycles": cycles,
            "right_ok": right_ok, "right_bad": right_bad,
            "wrong_ok": wrong_ok, "wrong_bad": wrong_bad,
            "fds_baseline": fd0, "fds_end": fds(),
            "threads_baseline": th0, "threads_end": status_field("Threads:"),
            "rss_kib_baseline": rss0, "rss_kib_end": status_field("VmRSS:"),
            "fds_after_2": after_two.map(|a| a.0), "rss_kib_after_2": after_two.map(|a| a.1),
            "baseline_after": (2 * every.min(cycles) + 1).min(cycles),
            "right_ms_mean": if rights > 0 { right_ns as f64 / rights as f64 / 1e6 } else { 0.0 },
            "wrong_ms_mean": if wrongs > 0 { wrong_ns as f64 / wrongs as f64 / 1e6 } else { 0.0 },
            "fork_ok": fork_ok,
            "parent_after_fork_ok": parent_after_fork_ok,
            "libpq_mapped": std::fs::read_to_string("/proc/self/maps")
                .unwrap_or_default()
                .contains("libpq.so"),
            "libldap_mapped": std::fs::read_to_string("/proc/self/maps")
                .unwrap_or_default()
                .contains("libldap"),
            "last_rc": last_rc,
        })
    );
}
