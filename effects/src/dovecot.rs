//! Dovecot, told about a change so it takes effect at once: its auth cache
//! flushed, and the connections of a password taken out of service ended
//! (`doveadm kick USER ADDRESS`). Every call to doveadm is bounded in time:
//! a Dovecot that does not answer never holds a change.

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long doveadm may take to answer.
const DOVEADM_TIMEOUT: Duration = Duration::from_secs(5);

fn doveadm() -> Option<&'static str> {
    ["/usr/bin/doveadm", "/usr/local/bin/doveadm"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

/// doveadm's arguments, after `-c FILE` when a configuration is named.
fn args(dovecot_config: Option<&Path>, rest: &[&str]) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    if let Some(conf) = dovecot_config {
        args.push("-c".into());
        args.push(conf.into());
    }
    args.extend(rest.iter().map(OsString::from));
    args
}

/// Runs `program args`, killed if it has not finished within `timeout`.
pub(crate) fn run_bounded(
    program: &str,
    args: &[OsString],
    timeout: Duration,
) -> std::io::Result<std::process::Output> {
    use std::io::Read;
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let give_up = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= give_up {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("it did not answer within {} s", timeout.as_secs()),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_end(&mut stdout);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_end(&mut stderr);
    }
    Ok(std::process::Output {
        status,
        stdout,
        stderr,
    })
}

/// A connection `doveadm who -1` lists: protocol and client address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub protocol: String,
    pub address: String,
}

/// Whether Dovecot still answers within [`DOVEADM_TIMEOUT`]: once a call
/// went unanswered, the calls the same change would make next are not
/// made (each would wait as long again, and a Dovecot that does not answer
/// must hold a change for one timeout, not one per command); their
/// commands are named in warnings instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Answering {
    gave_up: bool,
}

impl Answering {
    fn note(&mut self, result: &std::io::Result<std::process::Output>) {
        if matches!(result, Err(e) if e.kind() == std::io::ErrorKind::TimedOut) {
            self.gave_up = true;
        }
    }
}

/// Ends the connections of `user` from `addresses` (`doveadm kick USER
/// ADDRESS` for each address it is connected from). Returns the
/// connections ended and, for a kick that could not be done, a warning
/// naming the command to run.
pub fn kick(
    dovecot_config: Option<&Path>,
    user: &str,
    addresses: &[String],
    answering: &mut Answering,
) -> (Vec<Connection>, Vec<String>) {
    let mut warnings = Vec::new();
    if addresses.is_empty() {
        return (Vec::new(), warnings);
    }
    let Some(doveadm) = doveadm() else {
        if dovecot_config.is_some() {
            warnings.push(
                "--dovecot-config given but doveadm is not installed; no session was ended".into(),
            );
        }
        return (Vec::new(), warnings);
    };
    if dovecot_config.is_none() && !dovecot_running() {
        return (Vec::new(), warnings);
    }
    let shown = apppass_core::escape::for_message(user);
    if answering.gave_up {
        warnings.push(format!(
            "Dovecot's connections of {shown} were NOT ended (Dovecot did not answer); run\n  {}",
            kick_commands(doveadm, dovecot_config, user, addresses)
        ));
        return (Vec::new(), warnings);
    }
    let who_args = args(dovecot_config, &["who", "-1", "--", user]);
    let who = run_bounded(doveadm, &who_args, DOVEADM_TIMEOUT);
    answering.note(&who);
    let listed = match who {
        Ok(out) if out.status.success() && problem(&out).is_none() => {
            match connections(&String::from_utf8_lossy(&out.stdout), user) {
                Some(listed) => listed,
                None => {
                    warnings.push(format!(
                        "Dovecot's connections of {shown} were NOT ended (doveadm who printed a table this apppass cannot read); run\n  {}",
                        kick_commands(doveadm, dovecot_config, user, addresses)
                    ));
                    return (Vec::new(), warnings);
                }
            }
        }
        Ok(out) => {
            let why =
                problem(&out).unwrap_or_else(|| format!("doveadm exited with {}", out.status));
            warnings.push(format!(
                "Dovecot's connections of {shown} were NOT ended ({why}); run\n  {}",
                kick_commands(doveadm, dovecot_config, user, addresses)
            ));
            return (Vec::new(), warnings);
        }
        Err(e) => {
            warnings.push(format!(
                "Dovecot's connections of {shown} were NOT ended (doveadm: {e}); run\n  {}",
                kick_commands(doveadm, dovecot_config, user, addresses)
            ));
            return (Vec::new(), warnings);
        }
    };
    let mut ended = Vec::new();
    for address in addresses {
        let here: Vec<Connection> = listed
            .iter()
            .filter(|c| &c.address == address)
            .cloned()
            .collect();
        if here.is_empty() {
            continue;
        }
        let kick_args = args(dovecot_config, &["kick", "--", user, address]);
        if answering.gave_up {
            warnings.push(format!(
                "Dovecot's connections of {shown} from {address} were NOT ended (Dovecot did not answer); run\n  {}",
                shell_words(doveadm, &kick_args)
            ));
            continue;
        }
        let kicked = run_bounded(doveadm, &kick_args, DOVEADM_TIMEOUT);
        answering.note(&kicked);
        match kicked {
            // 68: "no users kicked": they had gone already.
            Ok(out) if problem(&out).is_none() && matches!(out.status.code(), Some(0 | 68)) => {
                ended.extend(here)
            }
            Ok(out) => warnings.push(format!(
                "Dovecot's connections of {shown} from {address} were NOT ended ({}); run\n  {}",
                problem(&out).unwrap_or_else(|| format!("doveadm exited with {}", out.status)),
                shell_words(doveadm, &kick_args)
            )),
            Err(e) => warnings.push(format!(
                "Dovecot's connections of {shown} from {address} were NOT ended (doveadm: {e}); run\n  {}",
                shell_words(doveadm, &kick_args)
            )),
        }
    }
    (ended, warnings)
}

/// doveadm's error line, if it printed one.
fn problem(out: &std::process::Output) -> Option<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .find(|l| l.starts_with("Error:") || l.starts_with("Fatal:") || l.starts_with("Panic:"))
        .map(|l| apppass_core::escape::for_message(l.trim()))
}

/// The connections of `user` in `doveadm who -1`'s table: a header, then
/// one line per connection. Columns are found by their header: 2.3 prints
/// `username proto pid ip`, 2.4 `username service pid ip dest_ip` (its
/// last column empty for a connection that was not proxied). `None` for a
/// table without those columns: nothing is guessed.
fn connections(table: &str, user: &str) -> Option<Vec<Connection>> {
    let mut lines = table.lines().skip_while(|l| l.trim().is_empty());
    let Some(header) = lines.next() else {
        return Some(Vec::new());
    };
    let header: Vec<&str> = header.split_whitespace().collect();
    let column = |names: &[&str]| header.iter().position(|h| names.contains(h));
    let name_at = column(&["username"])?;
    let protocol_at = column(&["proto", "service"])?;
    let address_at = column(&["ip"])?;
    let listed = lines
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (name, protocol, address) = (
                words.get(name_at)?,
                words.get(protocol_at)?,
                words.get(address_at)?,
            );
            (*name == user).then(|| Connection {
                protocol: (*protocol).to_owned(),
                address: (*address).to_owned(),
            })
        })
        .collect();
    Some(listed)
}

fn kick_commands(
    doveadm: &str,
    dovecot_config: Option<&Path>,
    user: &str,
    addresses: &[String],
) -> String {
    addresses
        .iter()
        .map(|a| shell_words(doveadm, &args(dovecot_config, &["kick", "--", user, a])))
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// Tells Dovecot to forget cached logins of `user`, so a revoke or a new
/// password takes effect at once. Never fails the command. doveadm exits 0
/// even when it could not reach Dovecot (it prints an `Error:` line and
/// "0 cache entries flushed"), so success is read from its output: no
/// error line and the "N cache entries flushed" line.
pub fn flush(dovecot_config: Option<&Path>, user: &str, answering: &mut Answering) {
    let Some(doveadm) = doveadm() else {
        if dovecot_config.is_some() {
            eprintln!(
                "apppass: --dovecot-config given but doveadm is not installed; no cache flushed"
            );
        }
        return;
    };
    // No Dovecot running anywhere: there is no cache to flush. One that
    // runs with a configuration doveadm cannot find is reported below.
    if dovecot_config.is_none() && !dovecot_running() {
        return;
    }
    let args = args(dovecot_config, &["auth", "cache", "flush", "--", user]);
    let shown = apppass_core::escape::for_message(user);
    let output = if answering.gave_up {
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "Dovecot did not answer",
        ))
    } else {
        let output = run_bounded(doveadm, &args, DOVEADM_TIMEOUT);
        answering.note(&output);
        output
    };
    let why = match output.as_ref().map(flush_result) {
        Ok(Ok(count)) => {
            eprintln!("apppass: flushed Dovecot's auth cache for {shown} ({count} entries)");
            return;
        }
        Ok(Err(why)) => why,
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => format!("doveadm: {e}"),
        Err(e) => format!("could not run {doveadm}: {e}"),
    };
    eprintln!(
        "apppass: warning: Dovecot's auth cache was NOT flushed for {shown} ({why}); until you run\n  {}\na cached login of {shown} may keep working for up to auth_cache_ttl (give Dovecot's configuration with --dovecot-config FILE if it is not the default)",
        shell_words(doveadm, &args)
    );
}

/// The number of entries doveadm reports flushed, or why it did not flush.
fn flush_result(out: &std::process::Output) -> Result<u64, String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let problem = stderr
        .lines()
        .find(|l| l.starts_with("Error:") || l.starts_with("Fatal:") || l.starts_with("Panic:"));
    if let Some(line) = problem {
        return Err(apppass_core::escape::for_message(line.trim()));
    }
    if !out.status.success() {
        return Err(format!("doveadm exited with {}", out.status));
    }
    stdout
        .lines()
        .find_map(|l| {
            l.strip_suffix(" cache entries flushed")?
                .trim()
                .parse()
                .ok()
        })
        .ok_or_else(|| "doveadm did not confirm the flush".to_string())
}

/// A command line the administrator can paste: every argument quoted
/// where the shell would split or expand it.
fn shell_words(program: &str, args: &[OsString]) -> String {
    let quote = |w: &str| {
        if !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b))
        {
            w.to_string()
        } else {
            format!("'{}'", w.replace('\'', "'\\''"))
        }
    };
    std::iter::once(program.to_string())
        .chain(
            args.iter()
                .map(|a| quote(&apppass_core::escape::for_message(&a.to_string_lossy()))),
        )
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a Dovecot master process runs on this host.
fn dovecot_running() -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return true;
    };
    procs.flatten().any(|p| {
        std::fs::read_to_string(p.path().join("comm")).is_ok_and(|c| c.trim_end() == "dovecot")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_s_table_is_read_by_its_words() {
        let table = "username                          proto pid  ip       \n\
                     kuser                             imap  9592 127.0.0.2\n\
                     kuser                             pop3  9596 127.0.0.2\n\
                     other                             imap  9594 127.0.0.3\n";
        let c = connections(table, "kuser").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].protocol, "pop3");
        assert_eq!(c[0].address, "127.0.0.2");
        assert_eq!(
            connections("username proto pid ip\n", "kuser"),
            Some(vec![])
        );
        assert_eq!(connections("", "kuser"), Some(vec![]), "no one connected");
    }

    #[test]
    fn who_s_table_of_dovecot_2_4_is_read_by_its_header() {
        // As Dovecot 2.4.1 prints it, dest_ip empty.
        let table = "username                       service pid   ip         dest_ip\n\
                     kuser                          imap    10110 127.13.0.3        \n\
                     kuser                          pop3    10107 127.13.0.2 10.0.0.9\n";
        let c = connections(table, "kuser").unwrap();
        assert_eq!(
            c,
            [
                Connection {
                    protocol: "imap".into(),
                    address: "127.13.0.3".into()
                },
                Connection {
                    protocol: "pop3".into(),
                    address: "127.13.0.2".into()
                }
            ]
        );
        // A table whose columns it does not know: nothing is guessed.
        assert_eq!(connections("who what\nkuser imap\n", "kuser"), None);
    }

    #[test]
    fn a_command_that_does_not_answer_is_cut_off() {
        let start = Instant::now();
        let got = run_bounded("/bin/sleep", &["10".into()], Duration::from_millis(300));
        assert_eq!(got.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
        assert!(start.elapsed() < Duration::from_secs(3));
    }
}
