//! The web page's only way to anything: apppassd, through the protocol's
//! one client. Blocking; the handlers call it on tokio's blocking pool.

use apppass_protocol::client::{Client, ClientError, Conversation};
use apppass_protocol::records::{EventRecord, NewPasswordRecord, PasswordRecord};
use apppass_protocol::{Envelope, Refused, Reply, Request, Status};
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

/// A store or PAM may be slow, never this slow.
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct Daemon {
    client: Client,
}

/// apppassd could not be asked at all, or broke off.
#[derive(Debug)]
pub struct Unreachable(pub String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who a session belongs to and what they may choose.
#[derive(Debug, Clone)]
pub struct Info {
    pub user: String,
    pub services: Vec<String>,
    /// What devices are set up with (apppass.conf's imap_host…).
    pub setup: apppass_core::setup::DeviceSetup,
}

/// What a request in a session brought back.
#[derive(Default)]
pub struct Received {
    pub passwords: Option<Vec<PasswordRecord>>,
    pub events: Option<Vec<EventRecord>>,
    pub new_password: Option<NewPasswordRecord>,
    pub info: Option<Info>,
}

/// How a request ended.
pub enum Outcome {
    Done(Box<Received>),
    Failed {
        status: Status,
        error: String,
        refused: Option<Refused>,
    },
}

impl Daemon {
    pub fn new(socket: PathBuf) -> Daemon {
        Daemon {
            client: Client {
                socket,
                patience: TIMEOUT,
                each_reply: TIMEOUT,
            },
        }
    }

    fn start(&self, envelope: &Envelope) -> Result<Conversation, Unreachable> {
        self.client.start(envelope).map_err(|e| match e {
            ClientError::Unreachable(e) => Unreachable(format!(
                "cannot reach apppassd at {} ({e})",
                self.client.socket.display()
            )),
            other => Unreachable(other.to_string()),
        })
    }

    /// One request in the session `session`.
    pub fn call(&self, session: &str, request: Request) -> Result<Outcome, Unreachable> {
        let mut conv = self.start(&Envelope::in_session(request, session))?;
        let mut got = Received::default();
        loop {
            match conv.reply().map_err(lost)? {
                Reply::Passwords { passwords } => got.passwords = Some(passwords),
                Reply::History { events, .. } => got.events = Some(events),
                Reply::WebInfo {
                    user,
                    services,
                    setup,
                } => {
                    got.info = Some(Info {
                        user,
                        services,
                        setup: setup.setup(),
                    })
                }
                Reply::NewPassword { password } => {
                    // In hand: it is shown on the page next.
                    conv.delivered(true).map_err(lost)?;
                    got.new_password = Some(password);
                }
                Reply::Done => return Ok(Outcome::Done(Box::new(got))),
                Reply::Failed {
                    status,
                    error,
                    refused,
                } => {
                    return Ok(Outcome::Failed {
                        status,
                        error,
                        refused,
                    })
                }
                Reply::Prompt { .. } => {
                    return Err(Unreachable(
                        "apppassd asked for a password inside a session".into(),
                    ))
                }
                Reply::Notice { .. }
                | Reply::Issued { .. }
                | Reply::Revoked { .. }
                | Reply::Suspended { .. }
                | Reply::SignedOut { .. }
                | Reply::Info { .. }
                | Reply::Error { .. }
                | Reply::Busy
                | Reply::Session { .. }
                | Reply::Setup { .. }
                | Reply::Accepted { .. }
                | Reply::Rejected { .. } => {}
            }
        }
    }
}

impl Daemon {
    /// What devices are set up with: public, asked without a session.
    pub fn setup(&self) -> Result<apppass_core::setup::DeviceSetup, Unreachable> {
        let mut conv = self.start(&Envelope::new(Request::Setup {}))?;
        let mut setup = None;
        loop {
            match conv.reply().map_err(lost)? {
                Reply::Setup { setup: s } => setup = Some(s.setup()),
                Reply::Done => {
                    return setup.ok_or_else(|| Unreachable("apppassd sent no setup".into()))
                }
                Reply::Failed { error, .. } => return Err(Unreachable(error)),
                _ => {}
            }
        }
    }
}

fn lost(e: ClientError) -> Unreachable {
    Unreachable(e.to_string())
}

/// A sign-in under way: a connection whose apppassd process waits in PAM
/// for the next answer.
pub struct SignIn {
    conv: Conversation,
}

/// Where a sign-in stands.
pub enum Step {
    /// PAM asks something; `notes` are its messages before the question.
    Prompt {
        text: String,
        echo: bool,
        notes: Vec<String>,
    },
    /// Signed in: the session token and the user name as PAM or Dovecot
    /// have it.
    Done {
        session: Zeroizing<String>,
        user: String,
    },
    /// Not accepted, refused, or failed.
    Failed {
        status: Status,
        error: String,
        refused: Option<Refused>,
    },
}

impl SignIn {
    pub fn start(daemon: &Daemon, user: &str, rhost: &str) -> Result<(SignIn, Step), Unreachable> {
        let request = Request::WebSignIn {
            user: user.to_owned(),
            rhost: Some(rhost.to_owned()),
        };
        let conv = daemon.start(&Envelope::new(request))?;
        let mut s = SignIn { conv };
        let step = s.next()?;
        Ok((s, step))
    }

    /// Answers the question asked last.
    pub fn answer(&mut self, answer: &str) -> Result<Step, Unreachable> {
        self.conv.answer(answer).map_err(lost)?;
        self.next()
    }

    fn next(&mut self) -> Result<Step, Unreachable> {
        let mut notes = Vec::new();
        let mut session = None;
        loop {
            match self.conv.reply().map_err(lost)? {
                Reply::Prompt { text, echo } => return Ok(Step::Prompt { text, echo, notes }),
                Reply::Info { text } | Reply::Error { text } => notes.push(text),
                Reply::Session { token, user } => session = Some((token, user)),
                Reply::Done => {
                    return Ok(match session {
                        Some((session, user)) => Step::Done { session, user },
                        None => Step::Failed {
                            status: Status::Unavailable,
                            error: "apppassd made no session".into(),
                            refused: None,
                        },
                    })
                }
                Reply::Failed {
                    status,
                    error,
                    refused,
                } => {
                    return Ok(Step::Failed {
                        status,
                        error,
                        refused,
                    })
                }
                _ => {}
            }
        }
    }
}
