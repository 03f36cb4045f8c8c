//! `apppass` run by a user: the same commands on their own app passwords,
//! asked of apppassd through the protocol's client. The daemon signs the
//! user in through PAM; its prompts are shown here, on the terminal, or
//! answered by one line of standard input each when that is not a
//! terminal. What it sends back is printed as the command prints it as
//! root.

use crate::cli::{Cli, Command, GenerateArgs};
use crate::error::CliError;
use crate::output;
use crate::profile_file::ProfileFile;
use crate::render;
use apppass_protocol::client::{Client, ClientError};
use apppass_protocol::records::Named;
use apppass_protocol::{Envelope, Reply, Request, Status};
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;
use zeroize::Zeroizing;

/// How long a client waits for its turn when apppassd is busy: queued
/// behind others (apppassd serves connections in order), or told to try
/// again (when this user's share of its places is taken).
const PATIENCE: Duration = Duration::from_secs(20);
/// After the first reply, prompts wait for a person.
const EACH_REPLY: Duration = Duration::from_secs(600);

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
fn own(user: &Option<String>, id: Option<i64>) -> Result<Option<i64>, CliError> {
    let (user, id) = match (user, id) {
        (Some(u), None) if u.parse::<i64>().is_ok() => (None, u.parse::<i64>().ok()),
        (u, id) => (u.clone(), id),
    };
    only_self(&user)?;
    Ok(id)
}

fn output_kept() -> Result<(), CliError> {
    if output::stdout_discarded() {
        return Err(CliError::Usage(
            "standard output is closed or /dev/null, so the new password would be lost; nothing was stored, run the command again with a working output".into(),
        ));
    }
    Ok(())
}

/// The request a command line makes, and whether it wants JSON.
fn request(cli: &Cli) -> Result<(Request, bool), CliError> {
    Ok(match &cli.command {
        Command::Generate(a) => {
            only_self(&a.user)?;
            if a.any_service {
                return Err(CliError::Refused(
                    "--any-service is for administrators; name the services with --service".into(),
                ));
            }
            output_kept()?;
            let request = Request::Generate {
                services: a.services.clone(),
                label: a.label.clone(),
                expires: a.expires.clone(),
                from: a.from.clone(),
                profile: a.profile.is_some(),
            };
            (request, a.json)
        }
        Command::List(a) => {
            only_self(&a.user)?;
            (Request::List { all: a.all }, a.json)
        }
        Command::Revoke(a) => {
            let id = own(&a.user, a.id)?;
            let request = Request::Revoke {
                id,
                label: a.label.clone(),
                all: a.all,
                reason: a.reason.clone(),
            };
            (request, a.json)
        }
        Command::History(a) => {
            only_self(&a.user)?;
            (Request::History {}, a.json)
        }
        Command::Suspend(a) | Command::Resume(a) => {
            let id = own(&a.which.user, a.which.id)?;
            let label = a.which.label.clone();
            let request = if matches!(cli.command, Command::Suspend(_)) {
                Request::Suspend { id, label }
            } else {
                Request::Resume { id, label }
            };
            (request, a.json)
        }
        Command::Rotate(a) => {
            if output::stdout_discarded() {
                return Err(CliError::Usage(
                    "standard output is closed or /dev/null, so the new password would be lost; nothing was changed, run the command again with a working output".into(),
                ));
            }
            let id = own(&a.which.user, a.which.id)?;
            let request = Request::Rotate {
                id,
                label: a.which.label.clone(),
                profile: false,
            };
            (request, a.json)
        }
        _ => {
            return Err(CliError::Usage(
                "this command needs root; users may generate, list, revoke, suspend, resume and rotate their own app passwords and see their history".into(),
            ))
        }
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

/// A change whose JSON waits for the sessions it ended.
enum Changed {
    Revoked(String, Vec<Named>),
    Suspended(String, Named, bool),
}

fn client_error(cli: &Cli, e: ClientError) -> CliError {
    match e {
        ClientError::Unreachable(e) => {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    "apppassd.socket is not active".to_string()
                }
                _ => format!("cannot reach {} ({e})", cli.socket.display()),
            };
            CliError::Store(format!(
                "self-service is not available on this host: {why}; ask your administrator"
            ))
        }
        ClientError::Busy => CliError::Relayed(
            Status::Unavailable,
            "apppassd stayed busy for 20 seconds; try again in a moment".into(),
        ),
        ClientError::Broken(why) => CliError::Store(format!("apppassd did not answer ({why})")),
    }
}

pub fn dispatch(cli: &Cli) -> Result<(), CliError> {
    let (request, json) = request(cli)?;
    let all = matches!(request, Request::List { all: true });
    let client = Client {
        socket: cli.socket.clone(),
        patience: PATIENCE,
        each_reply: EACH_REPLY,
    };
    let fail = |e| client_error(cli, e);
    // The profile's file is made first: a password is never stored for a
    // profile that cannot be written.
    let mut profile = match &cli.command {
        Command::Generate(GenerateArgs {
            profile: Some(path),
            ..
        }) => Some(ProfileFile::create(path)?),
        _ => None,
    };
    let mut profile_problem = None;
    let mut conv = client.start(&Envelope::new(request)).map_err(fail)?;
    // What revoke and suspend print as JSON once everything is known.
    let mut changed: Option<Changed> = None;
    let mut ended = Vec::new();
    loop {
        match conv.reply().map_err(fail)? {
            Reply::Prompt { text, echo } => {
                let a = answer(&text, echo)?;
                conv.answer(&a).map_err(fail)?;
            }
            Reply::Info { text } | Reply::Error { text } => eprintln!("{text}"),
            Reply::Notice { text } => output::notice(&text),
            Reply::Passwords { passwords } => output::list(&passwords, all, json),
            Reply::History { user, events } => output::history(&user, &events, json),
            Reply::NewPassword { mut password } => {
                // Only a password that reached its reader (and its
                // profile, when one was asked for) is kept.
                let bytes = password.take_profile();
                let written = match (profile.as_mut(), bytes) {
                    (None, _) => true,
                    (Some(file), Some(bytes)) => file
                        .write(&bytes)
                        .map_err(|e| profile_problem = Some(e.to_string()))
                        .is_ok(),
                    (Some(_), None) => {
                        profile_problem = Some(password.profile_problem.take().unwrap_or_else(
                            || "apppassd sent no profile".into(),
                        ));
                        false
                    }
                };
                let shown = written && output::secret(&password, json).is_ok();
                conv.delivered(shown).map_err(fail)?;
            }
            Reply::Issued { password } => output::issued(&password),
            Reply::Revoked { user, passwords } => {
                output::revoked(&user, &passwords);
                changed = Some(Changed::Revoked(user, passwords));
            }
            Reply::Suspended {
                user,
                password,
                suspended,
            } => {
                output::suspended(&user, &password, suspended);
                changed = Some(Changed::Suspended(user, password, suspended));
            }
            Reply::SignedOut {
                user,
                ended: e,
                warnings,
            } => {
                output::signed_out(&output::SignedOut {
                    user,
                    ended: e.clone(),
                    warnings,
                });
                ended.extend(e);
            }
            Reply::Done => {
                if let Some(file) = profile.take() {
                    output::profile_written(&file.keep());
                }
                match changed.filter(|_| json) {
                    Some(Changed::Revoked(user, passwords)) => {
                        println!("{}", render::revoked_json(&user, &passwords, &ended))
                    }
                    Some(Changed::Suspended(user, p, suspended)) => println!(
                        "{}",
                        render::suspended_json(&user, &p, suspended, &ended)
                    ),
                    None => {}
                }
                return Ok(());
            }
            Reply::Failed { status, error, .. } => {
                if let Some(why) = profile_problem {
                    return Err(CliError::Usage(format!(
                        "{}; nothing was stored",
                        apppass_core::escape::for_message(&why)
                    )));
                }
                return Err(CliError::Relayed(
                    status,
                    apppass_core::escape::for_message(&error),
                ))
            }
            Reply::Busy
            | Reply::Session { .. }
            | Reply::WebInfo { .. }
            | Reply::Setup { .. }
            | Reply::Accepted { .. }
            | Reply::Rejected { .. } => {
                return Err(CliError::Store(
                    "apppassd sent something this apppass does not expect; use apppass and apppassd of the same release".into(),
                ))
            }
        }
    }
}
