//! A user in a shell, through `apppass`: who they are comes from the
//! kernel; they sign in with the PAM service `apppass`, then one
//! operation on their own passwords.

use crate::conn::Conn;
use crate::failure::Failure;
use crate::operations::{self, Acting};
use crate::pam;
use crate::settings::{audit, now, Settings};
use apppass_core::escape::field;
use apppass_core::selfservice::{self, Refusal};
use apppass_core::signin::{self, SignInError, Via};
use apppass_core::store::Actor;
use apppass_protocol::Request;

pub(crate) fn serve(
    conn: &mut Conn,
    uid: u32,
    settings: &Settings,
    request: Request,
) -> Result<(), Failure> {
    let user = match apppass_core::sys::user_name(uid) {
        Ok(Some(u)) => u,
        _ => return Err(Refusal::NotAccepted.into()),
    };
    let now = now();
    let mut store = settings.open_store()?;
    let allowed = selfservice::require_on(store.as_mut())??;
    let operation = operations::check(request, &allowed, now)?;
    let signed_in = {
        let mut relay = conn.relay();
        let mut check = || {
            pam::authenticate(
                &settings.service,
                &user,
                Some(&user),
                Some("localhost"),
                settings.pam_dir.as_deref(),
                &mut relay,
            )
        };
        signin::sign_in(
            store.as_mut(),
            &user,
            Via::Shell,
            now,
            &mut signin::patiently(),
            &mut check,
        )
    };
    match signed_in {
        Err(SignInError::Store(e)) => return Err(e.into()),
        Err(SignInError::CouldNotRun(e)) => return Err(could_not_run(e)),
        Ok(Err(r)) => {
            log_refusal(&r, "self-service", &format!("user={}", field(&user)));
            return Err(r.into());
        }
        Ok(Ok(_)) => {}
    }
    let actor = format!(" by user={} (self-service)", field(&user));
    operations::perform(
        conn,
        store.as_mut(),
        &user,
        operation,
        now,
        settings,
        Acting {
            by: Actor::SelfService,
            actor: &actor,
        },
    )
}

pub(crate) fn could_not_run(e: String) -> Failure {
    Failure::unavailable(format!("the sign-in could not run: {e}"))
}

/// The audit line of a refused sign-in: `kind` of sign-in, `who`
/// (`user=… rhost=…`).
pub(crate) fn log_refusal(r: &Refusal, kind: &str, who: &str) {
    match r {
        Refusal::LockedOut { .. } => audit(&format!(
            "refused {kind} sign-in of {who}: too many failures"
        )),
        Refusal::HostBusy => audit(&format!(
            "refused {kind} sign-in of {who}: too many failures on this host"
        )),
        Refusal::Root => {}
        _ => audit(&format!("{kind} sign-in failed for {who}")),
    }
}
