//! After a change made for a user: the notifications it calls for are
//! queued and handed to the MTA, as the command does. Best effort: the
//! change stands, and what could not be sent is logged and sent later.

use crate::settings::{audit, Settings};
use apppass_core::notify;
use apppass_core::store::Store;

pub(crate) fn send(store: &mut dyn Store, settings: &Settings, now: i64) {
    match run(store, settings, now) {
        Ok(done) => {
            for (user, kind, why) in done.gave_up {
                audit(&format!(
                    "gave up mailing {} the {kind} notification: {why}",
                    apppass_core::escape::for_message(&user)
                ));
            }
        }
        Err(e) => audit(&format!("notifications not sent now: {e}")),
    }
}

fn run(
    store: &mut dyn Store,
    settings: &Settings,
    now: i64,
) -> Result<notify::outbox::Delivered, apppass_core::store::StoreError> {
    let run = apppass_effects::mail::send_due(store, &settings.sendmail, now, false)?;
    Ok(run.map(|r| r.done).unwrap_or_default())
}
