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

/// A password taken out of service, and where its sessions may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retired {
    pub id: i64,
    pub label: String,
    /// The client addresses it logged in from lately.
    pub addresses: Vec<String>,
}

impl Retired {
    pub fn of(p: &Password) -> Retired {
        Retired {
            id: p.id,
            label: p.label.clone(),
            addresses: p.addresses.clone(),
        }
    }
}

/// What taking `retired` of `user` out of service asks of every host: its
/// cached logins forgotten, then its sessions ended (in that order, so a
/// client that reconnects at once finds no cached login to come back on).
pub fn sign_out(effects: &mut Effects, user: &str, retired: &[Retired]) {
    if retired.is_empty() {
        return;
    }
    effects.push(Effect::FlushAuthCache(user.into()));
    effects.push(Effect::EndSessions {
        user: user.into(),
        passwords: retired.iter().map(|r| r.id).collect(),
        addresses: retired.iter().flat_map(|r| r.addresses.clone()).collect(),
    });
}

/// Revokes the unrevoked passwords of `user` that `chosen` selects, in one
/// transaction; returns each, in ID order.
pub fn revoke_where(
    store: &mut dyn Store,
    user: &str,
    chosen: &dyn Fn(&Password) -> bool,
    how: &Revoke<'_>,
) -> Result<Vec<Retired>, StoreError> {
    let mut done = Vec::new();
    crate::retention::write(store, Some(user), how.now, &mut |w| {
        done.clear();
        let mut rows = w.unrevoked(user)?;
        rows.sort_by_key(|p| p.id);
        for p in rows.iter().filter(|p| chosen(p)) {
            w.revoke(user, p.id, how.now, how.reason, how.kind, how.by)?;
            done.push(Retired::of(p));
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
    for r in &done {
        effects.push(Effect::revoked(r.id, user, &r.label, reason));
    }
    sign_out(&mut effects, user, &done);
    Ok(Revoked {
        done: done.into_iter().map(|r| (r.id, r.label)).collect(),
        effects,
    })
}

/// Revokes all of a user's passwords because the primary password changed.
pub fn wipe(
    store: &mut dyn Store,
    user: &str,
    now: i64,
    by: Actor,
) -> Result<Vec<Retired>, StoreError> {
    let how = Revoke {
        reason: REASON_PRIMARY_CHANGED,
        kind: EventKind::Wiped,
        forget_fingerprint: true,
        now,
        by,
    };
    revoke_where(store, user, &|_| true, &how)
}

/// Revokes all of a user's passwords because the account is gone.
pub fn remove_user(
    store: &mut dyn Store,
    user: &str,
    now: i64,
    by: Actor,
) -> Result<Vec<Retired>, StoreError> {
    let how = Revoke {
        reason: REASON_USER_REMOVED,
        kind: EventKind::Revoked,
        forget_fingerprint: true,
        now,
        by,
    };
    revoke_where(store, user, &|_| true, &how)
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
        sign_out(&mut effects, &user, &done);
        revoked.push((user, done.len()));
    }
    Ok((revoked, effects))
}
