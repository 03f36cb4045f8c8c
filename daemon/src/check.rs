//! `check`: a login decided for pam_apppass.so where it runs without the
//! rights to open the store (nginx's worker, as www-data). Only the uids
//! of apppass.conf's `login_checker` users get an answer, and only for the
//! services named there. The decision is core's login, the very one the
//! module makes with the store in hand, side effects included (last use,
//! the tripwire's record, a wipe after a primary-password change), then,
//! for a system user, the service's own account lines, which the
//! checker's process cannot run (pam_unix cannot read /etc/shadow there).
//! A refusal is answered with no reason: the checker (a web server, or
//! whatever else runs as its user) would otherwise learn who has app
//! passwords and that a password is right for another service. apppassd
//! logs the reason itself; the module logs the refusal as it logs its own,
//! and the tripwire from the record sent when a password that stopped
//! working was presented (the caller typed that very password).

use crate::conn::Conn;
use crate::failure::Failure;
use crate::settings::{audit, now, Settings};
use apppass_core::escape::field;
use apppass_core::login::{authenticate, LoginRequest, Outcome, Refusal};
use apppass_core::scratch::MappedMemory;
use apppass_core::secret::NormalizedSecret;
use apppass_core::store::Opener;
use apppass_protocol::messages::Password;
use apppass_protocol::records::TripwireRecord;
use apppass_protocol::{Refused, Reply, Status};

/// What a `check` request carries.
pub(crate) struct Asked {
    pub(crate) user: String,
    pub(crate) service: String,
    pub(crate) password: Password,
    pub(crate) rhost: Option<String>,
}

pub(crate) fn serve(
    conn: &mut Conn,
    uid: u32,
    settings: &Settings,
    asked: Asked,
) -> Result<(), Failure> {
    let who = format!(
        "uid={uid} user={} service={} rhost={}",
        field(&asked.user),
        field(&asked.service),
        field(asked.rhost.as_deref().unwrap_or_default())
    );
    let allowed = settings
        .login_checker(uid)
        .is_some_and(|c| c.allows(&asked.service));
    if !allowed {
        audit(&format!(
            "refused a login check from {who}: not a login_checker for that service in apppass.conf"
        ));
        return Err(Failure {
            status: Status::Refused,
            text: format!(
                "uid {uid} may not have logins checked for the service {}; name its user and the service in apppass.conf (login_checker = USER SERVICE)",
                field(&asked.service)
            ),
            refused: Some(Refused::NotAllowed),
        });
    }
    // What the module refuses before it looks at the store, refused the
    // same way here.
    let Some(secret) = NormalizedSecret::from_candidate(asked.password.0.as_bytes()) else {
        return conn.send(&rejected(&who, &Refusal::NoMatch));
    };
    if apppass_core::policy::check_user(&asked.user).is_err() {
        return conn.send(&rejected(&who, &Refusal::NoPasswords));
    }
    let mut store =
        apppass_stores::open(&settings.store, apppass_core::sys::euid(), Opener::Module)?;
    let primary = apppass_stores::primary(&settings.primary);
    let req = LoginRequest {
        user: &asked.user,
        service: &asked.service,
        rhost: asked.rhost.as_deref(),
        now: now(),
        side_effects: true,
    };
    let outcome = authenticate(
        store.as_mut(),
        &req,
        &secret,
        &mut MappedMemory::default(),
        &primary,
    );
    drop(store);
    match outcome {
        Ok(Outcome::Success { id, label }) => {
            match account(settings, &asked)? {
                None => conn.send(&Reply::Accepted { id, label }),
                Some(why) => {
                    log_refusal(
                    &who,
                    &format!("app password {id} is right, but the account lines refuse the user: {why}"),
                );
                    conn.send(&coarse(None))
                }
            }
        }
        Ok(Outcome::Refused(r)) => conn.send(&rejected(&who, &r)),
        Err(e) => {
            if e.is_corruption() {
                audit(&format!("login check for {who}: {e}"));
            }
            Err(Failure::unavailable(e.to_string()))
        }
    }
}

/// The service's account lines, run here as root for a user with a passwd
/// entry, as the checker's process could not run them (pam_unix there
/// cannot read /etc/shadow): `Some(why)` when they refuse. A user without
/// one (a virtual mail user) passes, as pam_apppass.so's account hook lets
/// them pass after an app-password login.
fn account(settings: &Settings, asked: &Asked) -> Result<Option<String>, Failure> {
    if apppass_core::sys::passwd_uid(&asked.user) == Ok(None) {
        return Ok(None);
    }
    crate::pam::account(
        &asked.service,
        &asked.user,
        asked.rhost.as_deref(),
        settings.pam_dir.as_deref(),
    )
    .map_err(|e| Failure::unavailable(format!("the account lines could not run: {e}")))
}

/// `r` logged here, and the answer that does not say it.
fn rejected(who: &str, r: &Refusal) -> Reply {
    log_refusal(who, &r.to_string());
    coarse(match r {
        Refusal::Retired(t) => Some(TripwireRecord::of(t)),
        _ => None,
    })
}

fn coarse(tripwire: Option<TripwireRecord>) -> Reply {
    Reply::Rejected {
        reason: REFUSED.to_owned(),
        tripwire,
    }
}

/// The only reason a refusal carries.
const REFUSED: &str = "refused";

fn log_refusal(who: &str, reason: &str) {
    audit(&format!("login check from {who} refused: {reason}"));
}
