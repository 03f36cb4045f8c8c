//! Taking passwords out of service, in one place: a revoke (one, by label,
//! or all), a wipe when the primary password changed, a removed account,
//! a replaced key. Which passwords each takes is decided here, once, and
//! persisted by the store in one write transaction; what it asks of the
//! host (audit lines, a cache flush) comes back as effects. (`rotate`
//! revokes the password it replaces inside the transaction that issues
//! the new one: `admin::generate`.)

use crate::admin::AdminError;
use crate::effects::{Effect, Effects};
use crate::fingerprint::{REASON_PRIMARY_CHANGED, REASON_USER_REMOVED};
use crate::policy::{self, PolicyError};
use crate::store::{Actor, EventKind, Finish, Password, Store, StoreError, REASON_KEY_REPLACED};

/// The reason recorded when none is given.
pub const DEFAULT_REVOKE_REASON: &str = "revoked by administrator";

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

pub enum RevokeTarget<'a> {
    Id(i64),
    Label(&'a str),
    All,
}

/// What a revoke took.
pub struct Revoked {
    /// `(id, label)` of each password revoked.
    pub done: Vec<(i64, String)>,
    pub effects: Effects,
}

/// Revokes what `target` names among the unrevoked passwords of `user`;
/// `NotFound` when nothing matched.
pub fn revoke(
    store: &mut dyn Store,
    user: &str,
    target: &RevokeTarget<'_>,
    reason: Option<&str>,
    now: i64,
    by: Actor,
) -> Result<Revoked, AdminError> {
    use crate::escape::for_message as esc;
    let reason = reason.unwrap_or(DEFAULT_REVOKE_REASON);
    if reason.is_empty() || reason.chars().count() > 200 || reason.chars().any(char::is_control) {
        return Err(AdminError::Policy(PolicyError::Label(
            "the reason must be 1 to 200 characters without control characters".into(),
        )));
    }
    let chosen = |p: &Password| match target {
        RevokeTarget::Id(want) => p.id == *want,
        RevokeTarget::Label(want) => policy::label_key(&p.label) == policy::label_key(want),
        RevokeTarget::All => true,
    };
    let how = Revoke {
        reason,
        kind: EventKind::Revoked,
        forget_fingerprint: false,
        now,
        by,
    };
    let done = revoke_where(store, user, &chosen, &how)?;
    if done.is_empty() {
        let what = match target {
            RevokeTarget::Id(id) => {
                format!("{} has no unrevoked app password with ID {id}", esc(user))
            }
            RevokeTarget::Label(l) => format!(
                "{} has no unrevoked app password labelled '{}'",
                esc(user),
                esc(l)
            ),
            RevokeTarget::All => format!("{} has no unrevoked app passwords", esc(user)),
        };
        return Err(AdminError::NotFound(what));
    }
    let mut effects = Effects::default();
    for (id, label) in &done {
        effects.push(Effect::revoked(*id, user, label, reason));
    }
    effects.push(Effect::FlushAuthCache(user.into()));
    Ok(Revoked { done, effects })
}

/// Revokes all of a user's passwords because the primary password changed.
pub fn wipe(store: &mut dyn Store, user: &str, now: i64, by: Actor) -> Result<usize, StoreError> {
    let how = Revoke {
        reason: REASON_PRIMARY_CHANGED,
        kind: EventKind::Wiped,
        forget_fingerprint: true,
        now,
        by,
    };
    revoke_where(store, user, &|_| true, &how).map(|v| v.len())
}

/// Revokes all of a user's passwords because the account is gone.
pub fn remove_user(
    store: &mut dyn Store,
    user: &str,
    now: i64,
    by: Actor,
) -> Result<usize, StoreError> {
    let how = Revoke {
        reason: REASON_USER_REMOVED,
        kind: EventKind::Revoked,
        forget_fingerprint: true,
        now,
        by,
    };
    revoke_where(store, user, &|_| true, &how).map(|v| v.len())
}

/// After the key was replaced (`init --new-key`): every fingerprint was
/// made with the lost key and can no longer be checked, so the passwords
/// they protected are revoked (reason `key replaced`), user by user.
pub fn revoke_for_new_key(
    store: &mut dyn Store,
    now: i64,
    by: Actor,
) -> Result<(Vec<(String, usize)>, Effects), StoreError> {
    let mut revoked = Vec::new();
    let mut effects = Effects::default();
    let how = Revoke {
        reason: REASON_KEY_REPLACED,
        kind: EventKind::Revoked,
        forget_fingerprint: true,
        now,
        by,
    };
    for user in store.fingerprinted_users()? {
        let done = revoke_where(store, &user, &|_| true, &how)?;
        effects.push(Effect::revoked_all(
            done.len(),
            &user,
            REASON_KEY_REPLACED,
            "revoked",
        ));
        effects.push(Effect::FlushAuthCache(user.clone()));
        revoked.push((user, done.len()));
    }
    Ok((revoked, effects))
}
