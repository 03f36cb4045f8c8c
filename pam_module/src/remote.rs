//! Where the module runs without the rights to open the store (nginx's
//! `auth_pam` runs the PAM stack in its worker, as www-data), apppassd
//! decides the login: one `check` request on its socket, one answer, all
//! within [`DEADLINE`], and only to a socket root listens on. apppassd
//! answers only for the users apppass.conf names in a `login_checker`
//! line, for the services named there. No
//! thread is started and nothing is kept between calls, so a host that
//! forks is safe.

use crate::auth::{Decision, Undecided};
use crate::ffi::LOG_ERR;
use apppass_core::login::LoginRequest;
use apppass_core::module_args::ModuleArgs;
use apppass_core::secret::NormalizedSecret;
use apppass_protocol::client::{Client, ClientError};
use apppass_protocol::messages::Password;
use apppass_protocol::{Envelope, Reply, Request, DEFAULT_SOCKET};
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

/// How long a login may wait for apppassd, busy retries included: the
/// host (an nginx worker) serves nobody else meanwhile.
pub const DEADLINE: Duration = Duration::from_secs(5);

pub fn decide(
    opts: &ModuleArgs,
    req: &LoginRequest<'_>,
    secret: &NormalizedSecret,
) -> Result<Decision, Undecided> {
    let socket = opts
        .socket
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
    let client = Client {
        socket,
        patience: DEADLINE,
        each_reply: DEADLINE,
    };
    // Sixteen ASCII letters: always UTF-8.
    let letters = std::str::from_utf8(secret.as_bytes()).unwrap_or_default();
    let request = Envelope::new(Request::Check {
        user: req.user.to_owned(),
        service: req.service.to_owned(),
        password: Password(Zeroizing::new(letters.to_owned())),
        rhost: req.rhost.map(str::to_owned),
    });
    let undecided = |why: String| Undecided {
        priority: LOG_ERR,
        message: format!(
            "cannot open the store as uid {}, and apppassd could not decide: {why}",
            apppass_core::sys::euid()
        ),
    };
    let mut conv = client
        .start_root_only(&request)
        .map_err(|e| undecided(said(&e)))?;
    match conv.reply().map_err(|e| undecided(said(&e)))? {
        Reply::Accepted { id, label } => Ok(Decision::Accepted { id, label }),
        // apppassd tells no reason (it logs it itself), only the record of
        // a password that stopped working, for the tripwire line.
        Reply::Rejected { tripwire, .. } => Ok(Decision::Refused {
            reason: "refused by apppassd, whose own log line says why".to_owned(),
            tripwire: tripwire.map(|t| t.to_tripwire()),
            // primary_until= is decided with the store in hand only: a
            // token refused by apppassd is refused.
            refusal: None,
        }),
        Reply::Failed { error, .. } => Err(undecided(apppass_core::escape::for_message(&error))),
        other => Err(undecided(format!(
            "it answered {other:?}; use pam_apppass.so and apppassd of the same release"
        ))),
    }
}

/// The client's error, with what to do where that helps.
fn said(e: &ClientError) -> String {
    match e {
        ClientError::Unreachable(_) => format!(
            "{e}; start apppassd.socket (systemctl enable --now apppassd.socket), or point socket= at where it listens"
        ),
        ClientError::Busy => format!(
            "{e} for {} s; raise apppassd --max-clients",
            DEADLINE.as_secs()
        ),
        ClientError::Broken(_) => e.to_string(),
    }
}
