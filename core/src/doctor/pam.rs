//! The PAM stacks under /etc/pam.d: where pam_apppass is, and what follows it.

use super::{read, under, Finding, Severity};
use crate::policy::PRIVILEGED_SERVICES;
use crate::primary_until::PrimaryUntil;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Files every service includes on Debian (and their Red Hat peers): an
/// app password accepted there is accepted by login, su and sudo.
const SHARED_AUTH_FILES: &[&str] = &["common-auth", "system-auth", "password-auth"];

/// Privileged services where an app password is nevertheless meant to
/// work: SSH is wired on purpose (README, pam_apppass(8)).
const INTENDED: &[&str] = &["sshd"];

/// One `auth` line of a stack, with where it was written.
#[derive(Debug, Clone)]
struct AuthLine {
    file: PathBuf,
    line: usize,
    control: String,
    module: String,
    args: Vec<String>,
}

impl AuthLine {
    fn is(&self, module: &str) -> bool {
        Path::new(&self.module).file_name().and_then(|n| n.to_str()) == Some(module)
    }
}

/// A file's lines as (line number, words), comments and continuations handled.
fn logical_lines(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let mut pending = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if pending.is_empty() {
            start = i + 1;
        }
        let line = raw.split('#').next().unwrap_or("");
        if let Some(cont) = line.strip_suffix('\\') {
            pending.push_str(cont);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let words = split_words(&pending);
        if !words.is_empty() {
            out.push((start, words));
        }
        pending.clear();
    }
    out
}

/// Words, with a `[...]` control (which may hold spaces) kept as one.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let end = if rest.starts_with('[') {
            rest.find(']').map_or(rest.len(), |e| e + 1)
        } else {
            rest.find(char::is_whitespace).unwrap_or(rest.len())
        };
        words.push(rest[..end].to_string());
        rest = rest[end..].trim_start();
    }
    words
}

/// The `auth` stack of the file `name` in `host_dir` under `root`,
/// includes expanded; a file that is not a regular one is a finding.
fn auth_stack(
    root: &Path,
    host_dir: &Path,
    name: &str,
    depth: usize,
    found: &mut Vec<Finding>,
) -> Vec<AuthLine> {
    let mut out = Vec::new();
    if depth > 8 || name.contains('/') {
        return out;
    }
    let Some(text) = read::config(root, &host_dir.join(name), "libpam", found) else {
        return out;
    };
    for (line, words) in logical_lines(&text) {
        if words[0] == "@include" {
            if let Some(other) = words.get(1) {
                out.extend(auth_stack(root, host_dir, other, depth + 1, found));
            }
            continue;
        }
        if words[0].trim_start_matches('-') != "auth" || words.len() < 3 {
            continue;
        }
        if matches!(words[1].as_str(), "include" | "substack") {
            out.extend(auth_stack(root, host_dir, &words[2], depth + 1, found));
            continue;
        }
        out.push(AuthLine {
            file: host_dir.join(name),
            line,
            control: words[1].clone(),
            module: words[2].clone(),
            args: words[3..].to_vec(),
        });
    }
    out
}

pub(super) fn check(root: &Path, found: &mut Vec<Finding>) {
    let host_dir = Path::new("/etc/pam.d");
    let pam_d = under(root, host_dir);
    let Ok(entries) = std::fs::read_dir(&pam_d) else {
        return;
    };
    // Links and FIFOs too: libpam opens whatever bears a service's name.
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.') && !n.ends_with(".dpkg-old") && !n.ends_with('~'))
        .collect();
    names.sort();
    let shared = |n: &str| SHARED_AUTH_FILES.contains(&n);
    for name in names.iter().filter(|n| shared(n)) {
        for l in auth_stack(root, host_dir, name, 0, found) {
            if l.is("pam_apppass.so") && l.file == host_dir.join(name) {
                found.push(Finding {
                    check: "pam-common-auth",
                    severity: Severity::Critical,
                    file: Some(l.file.clone()),
                    line: Some(l.line),
                    problem: format!(
                        "pam_apppass is in {name}, which login, su, sudo and every other service include: an app password (meant for one mail client) opens them all"
                    ),
                    fix: format!(
                        "remove the pam_apppass line from {}; put it in the PAM file of each service that should accept app passwords (see pam_apppass(8)); the package installs no auth profile on purpose",
                        l.file.display()
                    ),
                });
            }
        }
    }
    // pam_unix lines without try_first_pass that follow a pam_apppass line,
    // and the services that reach them that way.
    let mut unix_after: BTreeMap<(PathBuf, usize), Vec<String>> = BTreeMap::new();
    for name in names
        .iter()
        .filter(|n| !shared(n) && !n.starts_with("common-"))
    {
        let stack = auth_stack(root, host_dir, name, 0, found);
        let privileged = (PRIVILEGED_SERVICES.contains(&name.as_str()) || name == "other")
            && !INTENDED.contains(&name.as_str());
        for l in stack.iter().filter(|l| l.is("pam_apppass.so")) {
            let from_shared = l
                .file
                .file_name()
                .and_then(|f| f.to_str())
                .is_some_and(shared);
            if privileged && !from_shared {
                found.push(Finding {
                    check: "pam-privileged-service",
                    severity: Severity::Critical,
                    file: Some(l.file.clone()),
                    line: Some(l.line),
                    problem: format!(
                        "the PAM stack of '{name}' accepts app passwords{}: '{name}' gives root, a shell or a desktop, or changes the account, and an app password must not",
                        if l.file == host_dir.join(name) {
                            String::new()
                        } else {
                            format!(" (through {})", l.file.display())
                        }
                    ),
                    fix: format!(
                        "remove pam_apppass from the auth stack of '{name}'; app passwords are for mail, files and other client services"
                    ),
                });
            }
        }
        primary_until(name, &stack, found);
        let first = stack.iter().position(|l| l.is("pam_apppass.so"));
        if let Some(at) = first {
            let apppass = &stack[at];
            let passes_on = apppass.control == "sufficient" || apppass.control.starts_with('[');
            let next_unix = stack[at + 1..].iter().find(|l| l.is("pam_unix.so"));
            if let (true, Some(unix)) = (passes_on, next_unix) {
                let reuses = unix
                    .args
                    .iter()
                    .any(|a| a == "try_first_pass" || a == "use_first_pass");
                if !reuses {
                    unix_after
                        .entry((unix.file.clone(), unix.line))
                        .or_default()
                        .push(name.clone());
                }
            }
        }
    }
    for ((file, line), services) in unix_after {
        found.push(Finding {
            check: "pam-unix-without-try-first-pass",
            severity: Severity::Warning,
            file: Some(file.clone()),
            line: Some(line),
            problem: format!(
                "in the stack of {} pam_unix follows pam_apppass without try_first_pass: a primary password already typed is not reused, so a mail client (which cannot answer a second prompt) is refused with its primary password, and a terminal user is asked twice",
                services.join(", ")
            ),
            fix: format!(
                "add try_first_pass to the pam_unix line at {}:{line}, or, where that is the shared common-auth, replace '@include common-auth' in {} by 'auth [success=1 default=ignore] pam_unix.so nullok try_first_pass' followed by 'auth requisite pam_deny.so' and 'auth required pam_permit.so'",
                file.display(),
                services
                    .iter()
                    .map(|s| format!("/etc/pam.d/{s}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
}

/// A `primary_until=` line that does not do what it says: pam_unix
/// reachable with the primary password although the date has come (a
/// pam_unix line before it, or a control that goes on after a refusal),
/// or a control that does not end the stack on success (app passwords
/// would then be asked of pam_unix too, and refused).
fn primary_until(name: &str, stack: &[AuthLine], found: &mut Vec<Finding>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    for (at, l) in stack.iter().enumerate() {
        let Some(until) = l
            .args
            .iter()
            .find_map(|a| a.strip_prefix("primary_until="))
            .filter(|_| l.is("pam_apppass.so"))
            .and_then(|v| PrimaryUntil::parse(v).ok())
        else {
            continue;
        };
        let words: Vec<&str> = l
            .control
            .trim_matches(['[', ']'])
            .split_whitespace()
            .collect();
        let bracket = l.control.starts_with('[');
        let stops_on_refusal = l.control == "requisite"
            || (bracket
                && words
                    .iter()
                    .any(|w| *w == "default=die" || *w == "default=bad"));
        let ends_on_success = bracket && words.contains(&"success=done");
        let unix_before = stack[..at].iter().any(|l| l.is("pam_unix.so"));
        let unix_after = stack[at + 1..].iter().any(|l| l.is("pam_unix.so"));
        let in_force = matches!(until, PrimaryUntil::Enrolled) || until.passed(now);
        let lets_primary_through = unix_before || (unix_after && !stops_on_refusal);
        let (severity, problem) = if in_force && lets_primary_through {
            (
                Severity::Critical,
                format!(
                    "the stack of '{name}' still accepts the primary password although primary_until says app passwords are required {}: {}",
                    until.describe(),
                    if unix_before {
                        "a pam_unix line comes before pam_apppass"
                    } else {
                        "its control goes on to pam_unix after a refusal"
                    }
                ),
            )
        } else if !ends_on_success || !stops_on_refusal || unix_before {
            (
                Severity::Warning,
                format!(
                    "the primary_until line of '{name}' is not in the form that works: app passwords may be refused, or the primary password accepted after the date"
                ),
            )
        } else {
            continue;
        };
        found.push(Finding {
            check: "pam-primary-until",
            severity,
            file: Some(l.file.clone()),
            line: Some(l.line),
            problem,
            fix: "make it the first auth line, as 'auth [success=done ignore=ignore default=die] pam_apppass.so primary_until=...', followed by 'auth required pam_unix.so try_first_pass' (see pam_apppass(8))".into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_continuations() {
        let lines = logical_lines(
            "# comment\nauth [success=1 default=ignore] pam_unix.so nullok\n\nauth sufficient \\\n  pam_apppass.so debug # why\n",
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].0, 2);
        assert_eq!(lines[0].1[1], "[success=1 default=ignore]");
        assert_eq!(lines[1].0, 4);
        assert_eq!(
            lines[1].1,
            ["auth", "sufficient", "pam_apppass.so", "debug"]
        );
    }
}
