//! The README's walk-through shows what the real `apppass` prints: each
//! `# apppass ...` line of its console blocks is run on a fresh store, and
//! what it prints must have the README's columns, in the README's order,
//! with rows laid out as the tool lays them out. Times and the secret
//! differ from run to run and are compared by their shape.

use apppass_e2e::fixture::{stderr, stdout, Fixture};
use apppass_e2e::pam::{Pam, PAM_RHOST, PAM_SUCCESS};

/// One `# command` of a console block and the lines shown after it.
struct Shown {
    command: String,
    output: Vec<String>,
}

fn console_blocks(text: &str) -> Vec<Shown> {
    let mut shown: Vec<Shown> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("```console\n") {
        let body = &rest[start + "```console\n".len()..];
        let end = body.find("```").expect("a console block ends");
        for line in body[..end].lines() {
            match line.strip_prefix("# ") {
                Some(command) => shown.push(Shown {
                    command: command.to_string(),
                    output: Vec::new(),
                }),
                None => shown
                    .last_mut()
                    .expect("a console block starts with a command")
                    .output
                    .push(line.to_string()),
            }
        }
        rest = &body[end + 3..];
    }
    shown
}

/// A command line split as the shell would: at blanks, "..." kept whole.
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    for c in command.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            ' ' if !quoted => out.extend(word.take()),
            _ => word.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(word);
    out
}

/// A line of output as cells: the tool pads columns with two or more
/// spaces and never puts two inside a cell.
fn cells(line: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut start = None;
    let chars: Vec<char> = line.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let gap = c == ' ' && (chars.get(i + 1) == Some(&' ') || i > 0 && chars[i - 1] == ' ');
        match (start, gap) {
            (None, false) => start = Some(i),
            (Some(s), true) => {
                out.push((s, chars[s..i].iter().collect()));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, chars[s..].iter().collect()));
    }
    out
}

/// A cell with what changes between runs replaced by its shape: a time
/// `2026-11-22 09:14` by `TIME`, a secret `abcd-efgh-ijkl-mnop` by
/// `SECRET`, a uid by `N`.
fn shape(cell: &str) -> String {
    let is_time = |s: &[u8]| {
        s.len() == 16
            && s.iter().enumerate().all(|(i, b)| match i {
                4 | 7 => *b == b'-',
                10 => *b == b' ',
                13 => *b == b':',
                _ => b.is_ascii_digit(),
            })
    };
    let is_secret = |s: &str| {
        s.len() == 19
            && s.split('-').count() == 4
            && s.split('-')
                .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_lowercase()))
    };
    if is_secret(cell) {
        return "SECRET".into();
    }
    let mut out = String::new();
    let mut i = 0;
    let b = cell.as_bytes();
    while i < b.len() {
        if b.len() - i >= 16 && is_time(&b[i..i + 16]) {
            out.push_str("TIME");
            i += 16;
        } else if cell[i..].starts_with("uid ") {
            out.push_str("uid N");
            i += 4;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        } else {
            let c = cell[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Every row's cells start where the header's do, as the tool pads them.
fn aligned(lines: &[String]) -> bool {
    let head: Vec<usize> = cells(&lines[0]).iter().map(|c| c.0).collect();
    lines[1..]
        .iter()
        .all(|l| cells(l).iter().map(|c| c.0).eq(head.iter().copied()))
}

/// Drops apppass's reports of a Dovecot auth cache flush and of ending
/// Dovecot connections: a private Dovecot of another test may be running
/// beside this one, and apppass then asks the default configuration's
/// Dovecot, which is not running, and says so.
fn without_dovecot_reports(text: &str) -> String {
    let mut out = String::new();
    let mut in_report = false;
    let mut in_kick = false;
    for line in text.lines() {
        if line.starts_with("apppass: flushed Dovecot's auth cache") {
            continue;
        }
        if line.starts_with("apppass: warning: Dovecot's connections of") {
            in_kick = true;
            continue;
        }
        if in_kick && line.starts_with("  ") {
            continue;
        }
        in_kick = false;
        if line.starts_with("apppass: warning: Dovecot's auth cache was NOT flushed") {
            in_report = true;
        }
        if !in_report {
            out.push_str(line);
            out.push('\n');
        }
        if line.starts_with("a cached login of") {
            in_report = false;
        }
    }
    out
}

#[test]
fn the_walk_through_shows_what_apppass_prints() {
    let walk = super::section(&super::readme(), "## Walk-through");
    let f = Fixture::new();
    f.simple_service("imap");
    let mut secret = String::new();
    let mut run = Vec::new();
    for shown in console_blocks(&walk) {
        let (echo, command) = match shown.command.split_once(" | ") {
            Some((echo, command)) => (echo.strip_prefix("echo "), command),
            None => (None, shown.command.as_str()),
        };
        let mut args = words(command);
        // doveadm is Dovecot's; the services tests run it on a real Dovecot.
        if args.first().map(String::as_str) != Some("apppass") {
            continue;
        }
        args.remove(0);
        let what = args[0].clone();
        if what == "generate" {
            // The walk-through's alice has an account; this host's need not.
            args.push("--virtual".into());
        }
        if what == "list" {
            // "Log in with the phone, then look", from the README's address.
            let mut p = Pam::start(&f.confdir, "imap", b"alice", &[secret.as_bytes()]);
            p.set_item(PAM_RHOST, "203.0.113.7");
            assert_eq!(p.authenticate(), PAM_SUCCESS);
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let input = match echo {
            Some(_) => format!("{secret}\n"),
            None => String::new(),
        };
        let out = f.apppass_stdin(&argv, input.as_bytes());
        assert!(out.status.success(), "{}: {}", shown.command, stderr(&out));
        if what == "generate" {
            secret = stdout(&out).trim().to_string();
        }
        let printed: Vec<String> = (stdout(&out) + &without_dovecot_reports(&stderr(&out)))
            .lines()
            .map(str::to_string)
            .collect();
        let shaped = |lines: &[String]| -> Vec<Vec<String>> {
            lines
                .iter()
                .map(|l| cells(l).into_iter().map(|(_, c)| shape(&c)).collect())
                .collect()
        };
        assert_eq!(
            shaped(&shown.output),
            shaped(&printed),
            "the README shows for `{}`:\n{}\nbut apppass prints:\n{}",
            shown.command,
            shown.output.join("\n"),
            printed.join("\n")
        );
        if cells(&printed[0]).len() > 2 {
            assert!(aligned(&printed), "{}", printed.join("\n"));
            assert!(
                aligned(&shown.output),
                "the README's columns for `{}` do not line up as apppass's do:\n{}",
                shown.command,
                shown.output.join("\n")
            );
        }
        run.push(what);
    }
    for what in ["generate", "verify", "list", "revoke", "history"] {
        assert!(
            run.iter().any(|r| r == what),
            "the walk-through no longer shows apppass {what}: {run:?}"
        );
    }
}

#[test]
fn cells_and_shapes_are_read_as_the_tool_writes_them() {
    assert_eq!(
        words(r#"apppass revoke alice --label "iPhone Mail" --reason "phone lost""#),
        [
            "apppass",
            "revoke",
            "alice",
            "--label",
            "iPhone Mail",
            "--reason",
            "phone lost"
        ]
    );
    let row = "1   alice  iPhone Mail  imap      active  2026-11-22 09:14  -";
    assert_eq!(
        cells(row).into_iter().map(|c| c.1).collect::<Vec<_>>(),
        [
            "1",
            "alice",
            "iPhone Mail",
            "imap",
            "active",
            "2026-11-22 09:14",
            "-"
        ]
    );
    assert_eq!(
        shape("2026-11-22 09:20 imap from 203.0.113.7"),
        "TIME imap from 203.0.113.7"
    );
    assert_eq!(shape("admin (uid 1000)"), "admin (uid N)");
    assert_eq!(shape("qzvx-mbtd-hwke-ralc"), "SECRET");
    assert_eq!(shape("iPhone Mail"), "iPhone Mail");
}
