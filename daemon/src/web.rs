//! The web page's requests. Only the uid named by `web_user` gets here: it
//! signs a user in (PAM service `apppass-web`, or Dovecot's passdb for
//! virtual mail users), which makes a session, and then acts only through
//! that session — never for a user who has not signed in.

use crate::dovecot_auth::{self, Verdict};
use crate::pam::{self, Message};
use crate::protocol::{Envelope, Request};
use crate::session::{
    allowed_services, audit, check, could_not_run, now, open_store, perform, refusal_cause, relay,
    send, Failure, Settings,
};
use crate::web_sessions::Sessions;
use apppass_core::config::WebAuth;
use apppass_core::escape::field;
use apppass_core::policy;
use apppass_core::selfservice::{self, Refusal};
use apppass_core::signin;
use apppass_core::store::Actor;
use serde_json::json;
use std::net::IpAddr;
use std::os::unix::net::UnixStream;

/// The PAM service (and the Dovecot service name) of web sign-ins.
pub const WEB_SERVICE: &str = "apppass-web";
/// The exit code that tells the web page to sign the user in again.
const NOT_SIGNED_IN: u8 = 5;

pub(crate) fn serve(
    stream: &mut UnixStream,
    settings: &Settings,
    envelope: Envelope,
) -> Result<(), Failure> {
    let sessions = Sessions::open(&settings.session_dir).map_err(|e| Failure {
        code: 3,
        text: e.to_string(),
    })?;
    match (envelope.session, envelope.request) {
        (None, Request::WebSignIn { user, rhost }) => {
            sign_in(stream, settings, &sessions, &user, rhost.as_deref())
        }
        (Some(token), request) => in_session(stream, settings, &sessions, &token, request),
        (None, _) => Err(Failure::usage(
            "the web page acts only in a signed-in user's session: name it with \"session\"",
        )),
    }
}

fn sign_in(
    stream: &mut UnixStream,
    settings: &Settings,
    sessions: &Sessions,
    user: &str,
    rhost: Option<&str>,
) -> Result<(), Failure> {
    let rhost: Option<IpAddr> = rhost.and_then(|r| r.parse().ok());
    let from = rhost.map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
    let now = now();
    let mut store = open_store(settings)?;
    allowed_services(store.as_mut())?;
    let failed = || {
        audit(&format!(
            "web sign-in failed for user={} rhost={from}",
            field(user)
        ));
        Err(Failure::refused(Refusal::NotAccepted))
    };
    // A name no account can have gets the answer a wrong password gets,
    // and takes no room in the store.
    if policy::check_user(user).is_err() {
        return failed();
    }
    let attempt = match signin::begin(store.as_mut(), user, now, &mut signin::patiently())
        .map_err(Failure::store)?
    {
        Ok(a) => a,
        Err(r) => {
            audit(&format!(
                "refused web sign-in of user={} rhost={from}: {}",
                field(user),
                refusal_cause(&r)
            ));
            return Err(Failure::refused(r));
        }
    };
    if !signin::may_sign_in(user) {
        attempt.refused();
        return failed();
    }
    let verdict = match &settings.web.auth {
        WebAuth::Pam => {
            let mut relay = relay(stream);
            pam::authenticate(
                WEB_SERVICE,
                user,
                None,
                rhost.map(|_| from.as_str()),
                settings.pam_dir.as_deref(),
                &mut relay,
            )
            .map(|ok| {
                if ok {
                    Verdict::Accepted(user.to_owned())
                } else {
                    Verdict::Refused(None)
                }
            })
        }
        WebAuth::Dovecot(socket) => {
            let password = {
                let mut relay = relay(stream);
                relay(Message::Prompt {
                    text: "Password: ",
                    echo: false,
                })
            };
            match password {
                Some(p) => dovecot_auth::authenticate(socket, WEB_SERVICE, user, &p, rhost),
                None => Err("the web page went away".into()),
            }
        }
    };
    let name = match verdict {
        Err(e) => {
            let _ = attempt.abandoned(store.as_mut());
            return Err(could_not_run(e));
        }
        Ok(Verdict::Refused(looked_up)) => {
            attempt.refused();
            // Dovecot's name for the account shares its counter.
            if let Some(other) = looked_up.filter(|n| another_spelling(n, user)) {
                let _ = signin::count_failure_of(store.as_mut(), &other, now);
            }
            return failed();
        }
        Ok(Verdict::Accepted(name)) => name,
    };
    if !signin::may_sign_in(&name) {
        attempt.refused();
        return failed();
    }
    attempt.accepted(store.as_mut()).map_err(Failure::store)?;
    if another_spelling(&name, user) {
        if let Err(r) = signin::check_open(store.as_mut(), &name, now).map_err(Failure::store)? {
            audit(&format!(
                "refused web sign-in of user={} rhost={from}: too many failures",
                field(&name)
            ));
            return Err(Failure::refused(r));
        }
    }
    let token = sessions.create(&name, now).map_err(|e| Failure {
        code: 3,
        text: e.to_string(),
    })?;
    audit(&format!(
        "web sign-in of user={} rhost={from}",
        field(&name)
    ));
    send(stream, &json!({"session": token, "user": name}))
}

/// Whether the checker's name for the account counts under another key
/// than the name typed.
fn another_spelling(name: &str, typed: &str) -> bool {
    signin::account_key(name) != signin::account_key(typed)
}

fn in_session(
    stream: &mut UnixStream,
    settings: &Settings,
    sessions: &Sessions,
    token: &str,
    request: Request,
) -> Result<(), Failure> {
    let now = now();
    let Some(user) = sessions.find(token, now) else {
        return Err(Failure {
            code: NOT_SIGNED_IN,
            text: "your session has ended; sign in again".into(),
        });
    };
    match request {
        Request::WebSignOut {} => {
            sessions.end(token);
            audit(&format!("web sign-out of user={}", field(&user)));
            Ok(())
        }
        Request::WebInfo {} => {
            let mut store = open_store(settings)?;
            let allowed = selfservice::allowed_services(store.as_mut()).map_err(Failure::store)?;
            let info = json!({"user": user, "services": allowed});
            send(stream, &json!({"stdout": info.to_string()}))
        }
        Request::WebSignIn { .. } => Err(Failure::usage(
            "this session is signed in already; sign out first",
        )),
        request => {
            let mut store = open_store(settings)?;
            let allowed = allowed_services(store.as_mut())?;
            let operation = check(request, &allowed, now)?;
            let actor = format!(" by user={} (web)", field(&user));
            perform(
                stream,
                store.as_mut(),
                &user,
                operation,
                now,
                settings,
                (Actor::Web, &actor),
            )
        }
    }
}
