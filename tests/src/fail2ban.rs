//! The shipped fail2ban filter run by `fail2ban-regex` over captured
//! syslog lines, as a jail would read them from a log file.

use std::path::Path;
use std::process::Command;

/// Syslog datagrams (`<PRI>Mmm dd hh:mm:ss ident: text`) as a log file
/// would hold them.
pub fn as_log_file(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| {
            let body = l.split_once('>').map_or(l.as_str(), |(_, b)| b);
            let (stamp, rest) = body.split_at(15.min(body.len()));
            format!("{stamp} mail{rest}\n")
        })
        .collect()
}

/// fail2ban-regex over `log`, written under `dir`, with `filter` (the
/// shipped `apppass` with its options, or one of fail2ban's own) and
/// `extra` arguments; its standard output.
fn run(dir: &Path, log: &str, filter: &str, extra: &[&str]) -> String {
    let conf = dir.join("fail2ban");
    std::fs::create_dir_all(conf.join("filter.d")).unwrap();
    for own in ["common.conf", "pam-generic.conf"] {
        std::fs::copy(
            Path::new("/etc/fail2ban/filter.d").join(own),
            conf.join("filter.d").join(own),
        )
        .expect("fail2ban is installed (make check's apt step)");
    }
    let shipped =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/fail2ban/filter.d/apppass.conf");
    std::fs::copy(shipped, conf.join("filter.d/apppass.conf")).unwrap();
    let log_file = dir.join("auth.log");
    std::fs::write(&log_file, log).unwrap();
    let out = Command::new("fail2ban-regex")
        .arg("--config")
        .arg(&conf)
        .args(extra)
        .arg(&log_file)
        .arg(filter)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "fail2ban-regex: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// How many lines the filter in `mode` matched, and those lines as
/// fail2ban-regex reports them.
pub fn matches(dir: &Path, log: &str, mode: &str) -> (usize, String) {
    let text = run(
        dir,
        log,
        &format!("apppass[mode={mode}]"),
        &["--print-all-matched"],
    );
    // "Lines: 12 lines, 0 ignored, 3 matched, 9 missed"
    let matched = text
        .lines()
        .find_map(|l| l.strip_prefix("Lines: "))
        .and_then(|l| l.split(", ").find_map(|p| p.strip_suffix(" matched")))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary in fail2ban-regex's output:\n{text}"));
    let section = text
        .split("|- Matched line(s):")
        .nth(1)
        .and_then(|s| s.split("|- Missed line(s):").next())
        .unwrap_or("")
        .to_string();
    (matched, section)
}

/// The address `filter` (as for fail2ban-regex: `apppass`,
/// `apppass[mode=aggressive]`, `pam-generic`) takes from each matched line,
/// in order: what a jail would count and ban.
pub fn addresses(dir: &Path, log: &str, filter: &str) -> Vec<String> {
    run(dir, log, filter, &["--out", "ip"])
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}
