//! Who still logs in with the primary password where `primary_until=`
//! lets it through: counted per user and service by the module's account
//! hook, reported by `apppass report primary-use` and `apppass list USER`.

use crate::store::{PrimaryUse, Store, StoreError};

/// The longest client name kept: a host name as a service may give it.
pub const MAX_RHOST: usize = 255;

/// Counts a login of `user` to `service` with the primary password, from
/// `rhost` (cut to [`MAX_RHOST`] bytes). Best effort for the caller: a
/// login never waits long for it, nor fails because of it.
pub fn record(
    store: &mut dyn Store,
    user: &str,
    service: &str,
    at: i64,
    rhost: Option<&str>,
) -> Result<(), StoreError> {
    let rhost = rhost.filter(|r| !r.is_empty()).map(|r| {
        let mut end = r.len().min(MAX_RHOST);
        while !r.is_char_boundary(end) {
            end -= 1;
        }
        &r[..end]
    });
    store.record_primary_use(user, service, at, rhost)
}

/// The primary-password logins recorded, of `user` or of everyone, for
/// `service` or every service: the most recent first, then by user and
/// service.
pub fn report(
    store: &mut dyn Store,
    user: Option<&str>,
    service: Option<&str>,
) -> Result<Vec<PrimaryUse>, StoreError> {
    let mut uses = store.primary_uses(user)?;
    if let Some(service) = service {
        uses.retain(|u| u.service == service);
    }
    uses.sort_by(|a, b| {
        b.last_at
            .cmp(&a.last_at)
            .then_with(|| a.user.cmp(&b.user))
            .then_with(|| a.service.cmp(&b.service))
    });
    Ok(uses)
}
