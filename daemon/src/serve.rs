//! One client connection, in a process of its own: a `check` goes to
//! `check`, which answers only apppass.conf's `login_checker` users;
//! otherwise who is asking (from the kernel) decides the way in — the web
//! page's user acts through `web`, anyone else through `local` — and the
//! last reply says how it ended.

use crate::conn::Conn;
use crate::failure::Failure;
use crate::settings::Settings;
use apppass_core::escape::for_message as esc;
use apppass_protocol::records::SetupRecord;
use apppass_protocol::{Envelope, Refused, Reply, Request, Status};
use std::os::unix::net::UnixStream;

/// Serves one connection from `uid` to its end. Never panics on what a
/// client sends.
pub fn serve(stream: UnixStream, uid: u32, settings: &Settings) {
    let mut conn = Conn::new(stream);
    let last = match handle(&mut conn, uid, settings) {
        Ok(()) => Reply::Done,
        Err(f) => f.into_reply(),
    };
    let _ = conn.send(&last);
}

fn handle(conn: &mut Conn, uid: u32, settings: &Settings) -> Result<(), Failure> {
    let envelope = match conn.request()? {
        Envelope {
            session: None,
            request:
                Request::Check {
                    user,
                    service,
                    password,
                    rhost,
                },
        } => {
            let asked = crate::check::Asked {
                user,
                service,
                password,
                rhost,
            };
            return crate::check::serve(conn, uid, settings, asked);
        }
        other => other,
    };
    if let Request::Setup {} = envelope.request {
        // Public: what anyone's device is set up with.
        return conn.send(&Reply::Setup {
            setup: SetupRecord::of(&settings.setup),
        });
    }
    if settings.web_uid() == Some(uid) {
        return crate::web::serve(conn, settings, envelope);
    }
    if envelope.session.is_some() || envelope.request.is_web() {
        return Err(Failure {
            status: Status::Refused,
            text: format!(
                "only the web page's user ({}) may sign users in and act in their web sessions",
                esc(&settings.web.user)
            ),
            refused: Some(Refused::NotAllowed),
        });
    }
    crate::local::serve(conn, uid, settings, envelope.request)
}
