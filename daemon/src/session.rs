//! One client connection, in a process of its own: who is asking (from the
//! kernel), is self-service on and the user not locked out, does PAM accept
//! them — and only then one operation for that user, through core. The web
//! page's requests go on in `web`.

use crate::pam::{self, Message};
use crate::protocol::{self, Request};
use apppass_cli::error::CliError;
use apppass_cli::render;
use apppass_core::admin::{self, GenerateRequest, RevokeTarget};
use apppass_core::config::{StoreChoice, WebSettings};
use apppass_core::escape::{field, for_message as esc};
use apppass_core::lifecycle::{self, Which};
use apppass_core::networks::Networks;
use apppass_core::policy::{self, Scope};
use apppass_core::selfservice::{self, Refusal};
use apppass_core::signin;
use apppass_core::store::{Actor, Opener, Store};
use apppass_core::sys::SystemShadow;
use serde_json::{json, Value};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

/// How long the client may take to send a whole message: its request, an
/// answer to a prompt (a person types it), and the confirmation that a new
/// password was printed (the store's write lock is held meanwhile, so a
/// client must never hold it for long: an administrator's revoke waits
/// 10 seconds for the lock).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(3);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// An answer to a PAM prompt is a password or a code.
const MAX_ANSWER: usize = 1024;

pub struct Settings {
    pub store: StoreChoice,
    /// The PAM service users sign in with.
    pub service: String,
    /// Replaces /etc/pam.d (tests).
    pub pam_dir: Option<PathBuf>,
    pub dovecot_config: Option<PathBuf>,
    /// Who the web page runs as and how it signs users in.
    pub web: WebSettings,
    /// Where web sessions are kept.
    pub session_dir: PathBuf,
}

/// How a request ended: the exit code for the client and one sentence.
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) text: String,
}

impl Failure {
    pub(crate) fn refused(r: Refusal) -> Self {
        Failure {
            code: 4,
            text: r.to_string(),
        }
    }
    pub(crate) fn store(e: impl Into<CliError>) -> Self {
        Failure::from(e.into())
    }
    pub(crate) fn usage(text: impl Into<String>) -> Self {
        Failure {
            code: 2,
            text: text.into(),
        }
    }
}

impl From<CliError> for Failure {
    fn from(e: CliError) -> Self {
        Failure {
            code: e.code(),
            text: e.to_string(),
        }
    }
}

pub(crate) fn audit(line: &str) {
    apppass_cli::audit::record_as("apppassd", line);
}

/// The uid of the process at the other end, from the kernel.
pub(crate) fn peer_uid(stream: &UnixStream) -> Option<u32> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: cred and len are valid for the call; the fd is the stream's.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0 && cred.uid != u32::MAX).then_some(cred.uid)
}

/// Serves one connection from `uid` to its end. Never panics on what a
/// client sends.
pub fn serve(mut stream: UnixStream, uid: u32, settings: &Settings) {
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let result = handle(&mut stream, uid, settings);
    let last = match result {
        Ok(()) => json!({"ok": true}),
        Err(f) => json!({"ok": false, "code": f.code, "error": f.text}),
    };
    let _ = protocol::write_message(&mut stream, &last);
}

pub(crate) fn send(stream: &mut UnixStream, msg: &Value) -> Result<(), Failure> {
    protocol::write_message(stream, msg).map_err(|_| Failure::usage("the client went away"))
}

fn handle(stream: &mut UnixStream, uid: u32, settings: &Settings) -> Result<(), Failure> {
    let line = protocol::read_line_within(stream, REQUEST_TIMEOUT)
        .map_err(|e| Failure::usage(format!("no usable request ({e})")))?;
    let envelope = protocol::parse_request(&line).map_err(|e| Failure::usage(e.0))?;
    let web_uid = apppass_core::sys::passwd_uid(&settings.web.user)
        .ok()
        .flatten()
        .filter(|&u| u != 0);
    let web_request = matches!(
        envelope.request,
        Request::WebSignIn { .. } | Request::WebInfo {} | Request::WebSignOut {}
    );
    if web_uid == Some(uid) {
        return crate::web::serve(stream, settings, envelope);
    }
    if envelope.session.is_some() || web_request {
        return Err(Failure {
            code: 4,
            text: format!(
                "only the web page's user ({}) may sign users in and act in their web sessions",
                esc(&settings.web.user)
            ),
        });
    }
    if uid == 0 {
        return Err(Failure::usage(
            "root manages app passwords directly with apppass; self-service is for other users",
        ));
    }
    let user = match apppass_core::sys::user_name(uid) {
        Ok(Some(u)) => u,
        _ => {
            return Err(Failure::refused(Refusal::NotAccepted));
        }
    };
    let now = now();
    let mut store = open_store(settings)?;
    let allowed = allowed_services(store.as_mut())?;
    let operation = check(envelope.request, &allowed, now)?;
    let attempt = match signin::begin(store.as_mut(), &user, now, &mut signin::patiently())
        .map_err(Failure::store)?
    {
        Ok(a) => a,
        Err(r) => {
            audit(&format!(
                "refused self-service sign-in of user={}: {}",
                field(&user),
                refusal_cause(&r)
            ));
            return Err(Failure::refused(r));
        }
    };
    let signed_in = {
        let mut relay = relay(stream);
        pam::authenticate(
            &settings.service,
            &user,
            Some(&user),
            Some("localhost"),
            settings.pam_dir.as_deref(),
            &mut relay,
        )
    };
    match signed_in {
        Err(e) => {
            let _ = attempt.abandoned(store.as_mut());
            return Err(could_not_run(e));
        }
        Ok(false) => {
            attempt.refused();
            audit(&format!(
                "self-service sign-in failed for user={}",
                field(&user)
            ));
            return Err(Failure::refused(Refusal::NotAccepted));
        }
        Ok(true) => attempt.accepted(store.as_mut()).map_err(Failure::store)?,
    }
    let actor = format!(" by user={} (self-service)", field(&user));
    perform(
        stream,
        store.as_mut(),
        &user,
        operation,
        now,
        settings,
        (Actor::SelfService, &actor),
    )
}

/// Why a sign-in was refused before the password was asked, for the log.
pub(crate) fn refusal_cause(r: &Refusal) -> &'static str {
    match r {
        Refusal::HostBusy => "too many failures on this host",
        _ => "too many failures",
    }
}

pub(crate) fn open_store(settings: &Settings) -> Result<Box<dyn Store>, Failure> {
    apppass_stores::open(&settings.store, apppass_core::sys::euid(), Opener::Admin)
        .map_err(Failure::store)
}

/// The services users may choose; refused when self-service is off.
pub(crate) fn allowed_services(store: &mut dyn Store) -> Result<Vec<String>, Failure> {
    let allowed = selfservice::allowed_services(store).map_err(Failure::store)?;
    if allowed.is_empty() {
        return Err(Failure::refused(Refusal::Off));
    }
    Ok(allowed)
}

pub(crate) fn could_not_run(e: String) -> Failure {
    Failure {
        code: 3,
        text: format!("the sign-in could not run: {e}"),
    }
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A request with its arguments checked against policy and parsed: what
/// `perform` carries out.
pub(crate) enum Operation {
    Generate {
        scope: Scope,
        networks: Networks,
        label: String,
        expires_at: Option<i64>,
        json: bool,
    },
    Suspend {
        which: Pick,
        suspend: bool,
    },
    Rotate {
        which: Pick,
        json: bool,
    },
    List {
        all: bool,
        json: bool,
    },
    Revoke {
        target: Target,
        reason: String,
    },
    History {
        json: bool,
    },
}

/// One password, by ID or label (owned, unlike core's `Which`).
pub(crate) enum Pick {
    Id(i64),
    Label(String),
}

impl Pick {
    fn new(id: Option<i64>, label: Option<String>) -> Result<Self, Failure> {
        match (id, label) {
            (Some(id), None) => Ok(Pick::Id(id)),
            (None, Some(l)) => Ok(Pick::Label(l)),
            _ => Err(Failure::usage(
                "name the password by its ID or by --label TEXT",
            )),
        }
    }

    fn which(&self) -> Which<'_> {
        match self {
            Pick::Id(id) => Which::Id(*id),
            Pick::Label(l) => Which::Label(l),
        }
    }
}

/// What a revoke names (owned, unlike core's `RevokeTarget`).
pub(crate) enum Target {
    Id(i64),
    Label(String),
    All,
}

/// Checks a request before the sign-in, so nobody types a password for
/// something that would be refused anyway.
pub(crate) fn check(request: Request, allowed: &[String], now: i64) -> Result<Operation, Failure> {
    Ok(match request {
        Request::Generate {
            services,
            label,
            expires,
            from,
            json,
        } => {
            if services.iter().any(|s| s == "*") {
                return Err(Failure::refused(Refusal::AnyService));
            }
            let scope = Scope::only(&services).map_err(|e| Failure::usage(e.to_string()))?;
            selfservice::check_scope(allowed, &scope).map_err(Failure::refused)?;
            policy::check_label(&label).map_err(|e| Failure::usage(e.to_string()))?;
            let expires_at = expires
                .as_deref()
                .map(|e| apppass_core::expiry::parse(e, now))
                .transpose()
                .map_err(|e| Failure::usage(e.to_string()))?;
            let networks = Networks::parse(&from).map_err(|e| Failure::usage(e.to_string()))?;
            Operation::Generate {
                scope,
                networks,
                label,
                expires_at,
                json,
            }
        }
        Request::Suspend { id, label } => Operation::Suspend {
            which: Pick::new(id, label)?,
            suspend: true,
        },
        Request::Resume { id, label } => Operation::Suspend {
            which: Pick::new(id, label)?,
            suspend: false,
        },
        Request::Rotate { id, label, json } => Operation::Rotate {
            which: Pick::new(id, label)?,
            json,
        },
        Request::List { all, json } => Operation::List { all, json },
        Request::Revoke {
            id,
            label,
            all,
            reason,
        } => {
            let target = match (id, label, all) {
                (Some(id), None, false) => Target::Id(id),
                (None, Some(l), false) => Target::Label(l),
                (None, None, true) => Target::All,
                _ => {
                    return Err(Failure::usage(
                        "name exactly one of an ID, --label TEXT or --all",
                    ))
                }
            };
            Operation::Revoke {
                target,
                reason: reason.unwrap_or_else(|| "revoked by its user".into()),
            }
        }
        Request::History { json } => Operation::History { json },
        Request::WebSignIn { .. } | Request::WebInfo {} | Request::WebSignOut {} => {
            return Err(Failure::usage("that request belongs to the web page"))
        }
    })
}

/// The PAM conversation: each message goes to the client, each prompt
/// waits for its answer.
pub(crate) fn relay(
    stream: &mut UnixStream,
) -> impl FnMut(Message<'_>) -> Option<Zeroizing<String>> + '_ {
    move |m: Message<'_>| {
        let msg = match m {
            Message::Prompt { text, echo } => json!({"prompt": text, "echo": echo}),
            Message::Info(t) => json!({"info": t}),
            Message::Error(t) => json!({"error_text": t}),
        };
        protocol::write_message(stream, &msg).ok()?;
        let Message::Prompt { .. } = m else {
            return Some(Zeroizing::new(String::new()));
        };
        let line = Zeroizing::new(protocol::read_line_within(stream, ANSWER_TIMEOUT).ok()?);
        let value: Value = serde_json::from_slice(&line).ok()?;
        let answer = value.get("answer")?.as_str()?;
        (answer.len() <= MAX_ANSWER).then(|| Zeroizing::new(answer.to_owned()))
    }
}

/// Hands a new password to the client inside the write transaction: kept
/// only once the client says it printed it, which it must say within
/// [`CONFIRM_TIMEOUT`].
fn deliver(stream: &mut UnixStream, g: &admin::Generated, json: bool) -> std::io::Result<()> {
    let text = if json {
        Zeroizing::new(render::generated_json(g))
    } else {
        g.secret.display()
    };
    protocol::write_message(
        stream,
        &json!({"stdout": format!("{}\n", text.as_str()), "confirm": true}),
    )?;
    let line = protocol::read_line_within(stream, CONFIRM_TIMEOUT)?;
    let ack: Value = serde_json::from_slice(&line).map_err(std::io::Error::other)?;
    if ack.get("delivered") == Some(&Value::Bool(true)) {
        Ok(())
    } else {
        Err(std::io::Error::other("the client did not confirm"))
    }
}

/// The notices and the summary line after a password was issued.
fn tell_generated(stream: &mut UnixStream, g: &admin::Generated) -> Result<(), Failure> {
    for n in &g.notices {
        send(stream, &json!({"stderr": format!("apppass: {n}")}))?;
    }
    send(
        stream,
        &json!({"stderr": format!("apppass: {}", render::generated_summary(g))}),
    )
}

/// Carries out one checked operation for `user`; `(by, actor)` say who
/// acted, for the history and the audit line.
pub(crate) fn perform(
    stream: &mut UnixStream,
    store: &mut dyn Store,
    user: &str,
    operation: Operation,
    now: i64,
    settings: &Settings,
    (by, actor): (Actor, &str),
) -> Result<(), Failure> {
    let cli = |e: admin::AdminError| Failure::from(CliError::from(e));
    let effects = match operation {
        Operation::Generate {
            scope,
            networks,
            label,
            expires_at,
            json,
        } => {
            let req = GenerateRequest {
                networks,
                replaces: None,
                user,
                scope,
                label: &label,
                expires_at,
                by,
            };
            let g = admin::generate(
                store,
                &req,
                now,
                &mut rand::rngs::OsRng,
                &SystemShadow,
                &mut |g| deliver(stream, g, json),
            )
            .map_err(cli)?;
            tell_generated(stream, &g)?;
            g.effects
        }
        Operation::Rotate { which, json } => {
            let g = lifecycle::rotate(
                store,
                (user, which.which(), by),
                now,
                &mut rand::rngs::OsRng,
                &SystemShadow,
                &mut |g| deliver(stream, g, json),
            )
            .map_err(cli)?;
            tell_generated(stream, &g)?;
            g.effects
        }
        Operation::Suspend { which, suspend } => {
            let done = lifecycle::set_suspended(store, user, which.which(), suspend, now, by)
                .map_err(cli)?;
            send(
                stream,
                &json!({"stderr": format!(
                    "apppass: {} app password {} ('{}') of {}",
                    if suspend { "suspended" } else { "resumed" },
                    done.id,
                    esc(&done.label),
                    esc(user)
                )}),
            )?;
            done.effects
        }
        Operation::List { all, json } => {
            let listing =
                admin::list(store, Some(user), all, now, &SystemShadow, by).map_err(cli)?;
            for n in &listing.notices {
                send(stream, &json!({"stderr": format!("apppass: {n}")}))?;
            }
            let rows = &listing.passwords;
            if json {
                send(
                    stream,
                    &json!({"stdout": format!("{}\n", render::passwords_json(rows, now))}),
                )?;
            } else if rows.is_empty() {
                let what = if all { "" } else { "active " };
                send(
                    stream,
                    &json!({"stderr": format!("apppass: no {what}app passwords")}),
                )?;
            } else {
                send(
                    stream,
                    &json!({"stdout": render::passwords_table(rows, now, all)}),
                )?;
            }
            listing.effects
        }
        Operation::Revoke { target, reason } => {
            let target = match &target {
                Target::Id(id) => RevokeTarget::Id(*id),
                Target::Label(l) => RevokeTarget::Label(l),
                Target::All => RevokeTarget::All,
            };
            let revoked =
                admin::revoke(store, user, &target, Some(&reason), now, by).map_err(cli)?;
            for (id, label) in &revoked.done {
                send(
                    stream,
                    &json!({"stderr": format!("apppass: revoked app password {id} ('{}') of {}", esc(label), esc(user))}),
                )?;
            }
            revoked.effects
        }
        Operation::History { json } => {
            let events = admin::history(store, user, now).map_err(cli)?;
            if json {
                send(
                    stream,
                    &json!({"stdout": format!("{}\n", render::events_json(&events))}),
                )?;
            } else if events.is_empty() {
                send(
                    stream,
                    &json!({"stderr": format!("apppass: no history for {}", esc(user))}),
                )?;
            } else {
                send(stream, &json!({"stdout": render::events_table(&events)}))?;
            }
            Default::default()
        }
    };
    apppass_cli::effects::apply(
        &effects,
        settings.dovecot_config.as_deref(),
        "apppassd",
        actor,
    );
    Ok(())
}
