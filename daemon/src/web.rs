//! The web page's requests. Only the uid named by `web_user` gets here: it
//! signs a user in (PAM service `apppass-web`, or Dovecot's passdb for
//! virtual mail users), which makes a session, and then acts only through
//! that session — never for a user who has not signed in.

use crate::conn::Conn;
use crate::dovecot_auth;
use crate::failure::Failure;
use crate::local::{could_not_run, log_refusal};
use crate::operations::{self, Acting};
use crate::pam::{self, Message};
use crate::settings::{audit, now, Settings};
use crate::web_sessions::Sessions;
use apppass_core::config::WebAuth;
use apppass_core::escape::field;
use apppass_core::selfservice;
use apppass_core::signin::{self, SignInError, Via};
use apppass_core::store::Actor;
use apppass_protocol::records::SetupRecord;
use apppass_protocol::{Envelope, Reply, Request, Status};
use std::net::IpAddr;

/// The PAM service (and the Dovecot service name) of web sign-ins.
pub const WEB_SERVICE: &str = "apppass-web";

pub(crate) fn serve(
    conn: &mut Conn,
    settings: &Settings,
    envelope: Envelope,
) -> Result<(), Failure> {
    let sessions =
        Sessions::open(&settings.session_dir).map_err(|e| Failure::unavailable(e.to_string()))?;
    match (envelope.session, envelope.request) {
        (None, Request::WebSignIn { user, rhost }) => {
            sign_in(conn, settings, &sessions, &user, rhost.as_deref())
        }
        (Some(token), request) => in_session(conn, settings, &sessions, &token, request),
        (None, _) => Err(Failure::usage(
            "the web page acts only in a signed-in user's session: name it with \"session\"",
        )),
    }
}

fn sign_in(
    conn: &mut Conn,
    settings: &Settings,
    sessions: &Sessions,
    user: &str,
    rhost: Option<&str>,
) -> Result<(), Failure> {
    let rhost: Option<IpAddr> = rhost.and_then(|r| r.parse().ok());
    let from = rhost.map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
    let now = now();
    let mut store = settings.open_store()?;
    selfservice::require_on(store.as_mut())??;
    let signed_in = {
        let mut relay = conn.relay();
        let mut check = || match &settings.web.auth {
            WebAuth::Pam => pam::authenticate(
                WEB_SERVICE,
                user,
                None,
                rhost.map(|_| from.as_str()),
                settings.pam_dir.as_deref(),
                &mut relay,
            ),
            WebAuth::Dovecot(socket) => {
                let password = relay(Message::Prompt {
                    text: "Password: ",
                    echo: false,
                })
                .ok_or("the web page went away")?;
                dovecot_auth::authenticate(socket, WEB_SERVICE, user, &password, rhost)
            }
        };
        signin::sign_in(
            store.as_mut(),
            user,
            Via::Web,
            now,
            &mut signin::patiently(),
            &mut check,
        )
    };
    let name = match signed_in {
        Err(SignInError::Store(e)) => return Err(e.into()),
        Err(SignInError::CouldNotRun(e)) => return Err(could_not_run(e)),
        Ok(Err(r)) => {
            log_refusal(&r, "web", &format!("user={} rhost={from}", field(user)));
            return Err(r.into());
        }
        Ok(Ok(name)) => name,
    };
    let token = sessions
        .create(&name, now)
        .map_err(|e| Failure::unavailable(e.to_string()))?;
    audit(&format!(
        "web sign-in of user={} rhost={from}",
        field(&name)
    ));
    conn.send(&Reply::Session {
        token: token.into(),
        user: name,
    })
}

fn in_session(
    conn: &mut Conn,
    settings: &Settings,
    sessions: &Sessions,
    token: &str,
    request: Request,
) -> Result<(), Failure> {
    let now = now();
    let Some(user) = sessions.find(token, now) else {
        return Err(Failure::new(
            Status::NotSignedIn,
            "your session has ended; sign in again",
        ));
    };
    match request {
        Request::WebSignOut {} => {
            sessions.end(token);
            audit(&format!("web sign-out of user={}", field(&user)));
            Ok(())
        }
        Request::WebInfo {} => {
            let mut store = settings.open_store()?;
            let services = apppass_core::settings::self_service_services(store.as_mut())?;
            conn.send(&Reply::WebInfo {
                user,
                services,
                setup: SetupRecord::of(&settings.setup),
            })
        }
        Request::WebSignIn { .. } => Err(Failure::usage(
            "this session is signed in already; sign out first",
        )),
        request => {
            let mut store = settings.open_store()?;
            let allowed = selfservice::require_on(store.as_mut())??;
            let operation = operations::check(request, &allowed, now)?;
            let actor = format!(" by user={} (web)", field(&user));
            operations::perform(
                conn,
                store.as_mut(),
                &user,
                operation,
                now,
                settings,
                Acting {
                    by: Actor::Web,
                    actor: &actor,
                },
            )
        }
    }
}
