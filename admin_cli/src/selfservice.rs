//! `apppass` run by a user: the same commands on their own app passwords,
//! asked of apppassd over its socket (protocol in `apppassd`'s
//! `protocol` module). The daemon signs the user in through PAM; its
//! prompts are shown here, on the terminal, or answered by one line of
//! standard input each when that is not a terminal.

use crate::cli::{Cli, Command};
use crate::error::CliError;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, ErrorKind, IsTerminal, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;
use zeroize::Zeroizing;

/// No message from the daemon comes near this.
const MAX_LINE: usize = 64 * 1024;

fn own_name() -> Result<String, CliError> {
    match apppass_core::sys::user_name(apppass_core::sys::uid()) {
        Ok(Some(n)) => Ok(n),
        _ => Err(CliError::Refused(
            "your uid has no passwd entry, so there is no account to manage".into(),
        )),
    }
}

/// Another user named on the command line needs root.
fn only_self(user: &Option<String>) -> Result<(), CliError> {
    match user {
        Some(u) if *u != own_name()? => Err(CliError::Usage(format!(
            "managing the app passwords of {} needs root; without a USER you manage your own",
            apppass_core::escape::for_message(u)
        ))),
        _ => Ok(()),
    }
}

/// `apppass suspend 3`: without a USER, the one number is the ID.
fn own_which(a: &crate::cli::WhichArgs) -> Result<(Option<i64>, Option<String>), CliError> {
    let (user, id) = match (&a.user, a.id) {
        (Some(u), None) if u.parse::<i64>().is_ok() => (None, u.parse::<i64>().ok()),
        (u, id) => (u.clone(), id),
    };
    only_self(&user)?;
    Ok((id, a.label.clone()))
}

fn request(cli: &Cli) -> Result<Value, CliError> {
    Ok(match &cli.command {
        Command::Generate(a) => {
            only_self(&a.user)?;
            if a.any_service {
                return Err(CliError::Refused(
                    "--any-service is for administrators; name the services with --service".into(),
                ));
            }
            if crate::commands::stdout_discarded() {
                return Err(CliError::Usage(
                    "standard output is closed or /dev/null, so the new password would be lost; nothing was stored, run the command again with a working output".into(),
                ));
            }
            json!({"v": 1, "op": "generate", "services": a.services, "label": a.label,
                   "expires": a.expires, "from": a.from, "json": a.json})
        }
        Command::List(a) => {
            only_self(&a.user)?;
            json!({"v": 1, "op": "list", "all": a.all, "json": a.json})
        }
        Command::Revoke(a) => {
            // `apppass revoke 3`: without a USER, the one number is the ID.
            let (user, id) = match (&a.user, a.id) {
                (Some(u), None) if u.parse::<i64>().is_ok() => (None, u.parse::<i64>().ok()),
                (u, id) => (u.clone(), id),
            };
            only_self(&user)?;
            json!({"v": 1, "op": "revoke", "id": id, "label": a.label, "all": a.all,
                   "reason": a.reason})
        }
        Command::History(a) => {
            only_self(&a.user)?;
            json!({"v": 1, "op": "history", "json": a.json})
        }
        Command::Suspend(a) | Command::Resume(a) => {
            let op = if matches!(cli.command, Command::Suspend(_)) {
                "suspend"
            } else {
                "resume"
            };
            let (id, label) = own_which(a)?;
            json!({"v": 1, "op": op, "id": id, "label": label})
        }
        Command::Rotate(a) => {
            if crate::commands::stdout_discarded() {
                return Err(CliError::Usage(
                    "standard output is closed or /dev/null, so the new password would be lost; nothing was changed, run the command again with a working output".into(),
                ));
            }
            let (id, label) = own_which(&a.which)?;
            json!({"v": 1, "op": "rotate", "id": id, "label": label, "json": a.json})
        }
        _ => {
            return Err(CliError::Usage(
                "this command needs root; users may generate, list, revoke, suspend, resume and rotate their own app passwords and see their history".into(),
            ))
        }
    })
}

fn connect(cli: &Cli) -> Result<UnixStream, CliError> {
    UnixStream::connect(&cli.socket).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                "apppassd.socket is not active".to_string()
            }
            _ => format!("cannot reach {} ({e})", cli.socket.display()),
        };
        CliError::Store(format!(
            "self-service is not available on this host: {why}; ask your administrator"
        ))
    })
}

fn answer(prompt: &str, echo: bool) -> Result<Zeroizing<String>, CliError> {
    let fail = |e: std::io::Error| CliError::Usage(format!("cannot read an answer: {e}"));
    if std::io::stdin().is_terminal() {
        if echo {
            eprint!("{prompt}");
            let _ = std::io::stderr().flush();
        } else {
            return rpassword::prompt_password(prompt)
                .map(Zeroizing::new)
                .map_err(fail);
        }
    }
    let mut line = Zeroizing::new(String::new());
    std::io::stdin().lock().read_line(&mut line).map_err(fail)?;
    let trimmed = Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_string());
    Ok(trimmed)
}

/// How long a client waits for its turn when apppassd is busy: queued
/// behind others (apppassd serves connections in order), or told to try
/// again (when this user's share of its places is taken).
const BUSY_PATIENCE: Duration = Duration::from_secs(20);

fn busy() -> CliError {
    CliError::Relayed(
        3,
        "apppassd stayed busy for 20 seconds; try again in a moment".into(),
    )
}

pub fn dispatch(cli: &Cli) -> Result<(), CliError> {
    let req = request(cli)?;
    let give_up = std::time::Instant::now() + BUSY_PATIENCE;
    // A little jitter per process, so waiting clients do not return in step.
    let mut wait = Duration::from_millis(40 + u64::from(std::process::id() % 40));
    loop {
        match converse(cli, &req)? {
            Some(()) => return Ok(()),
            None if std::time::Instant::now() + wait < give_up => {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(1));
            }
            None => return Err(busy()),
        }
    }
}

/// One conversation with apppassd; `None` when it was too busy to start
/// one (nothing was read or done: ask again).
fn converse(cli: &Cli, req: &Value) -> Result<Option<()>, CliError> {
    let stream = connect(cli)?;
    // The first message comes as soon as apppassd takes the connection,
    // which it may queue behind others; after that, prompts wait for a
    // person and everything else is quick.
    let _ = stream.set_read_timeout(Some(BUSY_PATIENCE));
    let mut writer = stream
        .try_clone()
        .map_err(|e| CliError::Store(format!("socket: {e}")))?;
    let mut reader = BufReader::new(stream);
    let send = |w: &mut UnixStream, v: &Value| -> Result<(), CliError> {
        let mut text = serde_json::to_vec(v).unwrap_or_default();
        text.push(b'\n');
        w.write_all(&text)
            .map_err(|e| CliError::Store(format!("apppassd went away ({e})")))
    };
    // A busy daemon answers and hangs up without reading: its answer is
    // still there to read when sending failed.
    let sent = send(&mut writer, req);
    let mut first = true;
    loop {
        let mut line = Zeroizing::new(Vec::new());
        let n = match Read::by_ref(&mut reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
        {
            Ok(n) => n,
            Err(e) if first && matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(busy())
            }
            Err(e) => return Err(CliError::Store(format!("apppassd did not answer ({e})"))),
        };
        if first {
            let _ = reader
                .get_ref()
                .set_read_timeout(Some(Duration::from_secs(600)));
        }
        if n == 0 {
            sent?;
            return Err(CliError::Store("apppassd ended the conversation".into()));
        }
        let msg: Value = serde_json::from_slice(&line)
            .map_err(|_| CliError::Store("apppassd sent something unreadable".into()))?;
        if std::mem::take(&mut first) && msg.get("busy") == Some(&Value::Bool(true)) {
            return Ok(None);
        }
        sent.as_ref().map_err(|e| CliError::Store(e.to_string()))?;
        if let Some(prompt) = msg.get("prompt").and_then(Value::as_str) {
            let echo = msg.get("echo").and_then(Value::as_bool).unwrap_or(false);
            let a = answer(prompt, echo)?;
            let reply = Zeroizing::new(json!({"answer": a.as_str()}).to_string() + "\n");
            writer
                .write_all(reply.as_bytes())
                .map_err(|e| CliError::Store(format!("apppassd went away ({e})")))?;
        } else if let Some(t) = msg
            .get("info")
            .or(msg.get("error_text"))
            .and_then(Value::as_str)
        {
            eprintln!("{t}");
        } else if let Some(t) = msg.get("stderr").and_then(Value::as_str) {
            eprintln!("{t}");
        } else if let Some(t) = msg.get("stdout").and_then(Value::as_str) {
            let t = Zeroizing::new(t.to_string());
            let mut out = std::io::stdout().lock();
            let printed = out.write_all(t.as_bytes()).and_then(|()| out.flush());
            if msg.get("confirm") == Some(&Value::Bool(true)) {
                // Only a password that reached its reader is kept.
                send(&mut writer, &json!({"delivered": printed.is_ok()}))?;
            }
        } else if let Some(ok) = msg.get("ok").and_then(Value::as_bool) {
            if ok {
                return Ok(Some(()));
            }
            let code = msg.get("code").and_then(Value::as_u64).unwrap_or(3);
            let text = msg
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("apppassd refused the request");
            return Err(CliError::Relayed(
                u8::try_from(code).unwrap_or(3),
                apppass_core::escape::for_message(text),
            ));
        }
    }
}
