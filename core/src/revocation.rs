//! Which passwords a revoke, a wipe or a removed account takes — decided
//! here, once, and persisted by the store in one write transaction.

use crate::store::{Actor, EventKind, Finish, Password, Store, StoreError};

/// How a revocation is recorded.
pub struct Revoke<'a> {
    pub reason: &'a str,
    /// `Revoked`, or `Wiped` for a changed primary password.
    pub kind: EventKind,
    /// The user's fingerprint goes too (a wipe, a removed account), so the
    /// next `generate` takes a fresh one.
    pub forget_fingerprint: bool,
    pub now: i64,
    pub by: Actor,
}

/// Revokes the unrevoked passwords of `user` that `chosen` selects, in one
/// transaction; returns `(id, label)` of each, in ID order.
pub fn revoke_where(
    store: &mut dyn Store,
    user: &str,
    chosen: &dyn Fn(&Password) -> bool,
    how: &Revoke<'_>,
) -> Result<Vec<(i64, String)>, StoreError> {
    let mut done = Vec::new();
    crate::retention::write(store, Some(user), how.now, &mut |w| {
        done.clear();
        let mut rows = w.unrevoked(user)?;
        rows.sort_by_key(|p| p.id);
        for p in rows.iter().filter(|p| chosen(p)) {
            w.revoke(user, p.id, how.now, how.reason, how.kind, how.by)?;
            done.push((p.id, p.label.clone()));
        }
        if how.forget_fingerprint {
            w.forget_fingerprint(user)?;
        }
        Ok(Finish::Commit)
    })
    .map_err(|e| e.into_store_error())?;
    Ok(done)
}
