//! The login decision, shared by the PAM module and `apppass verify`.

use crate::fingerprint::{self, Check, ShadowSource, REASON_PRIMARY_CHANGED, REASON_USER_REMOVED};
use crate::hashing::{tag, Argon2Memory, HashError, StoredHash};
use crate::revocation::{revoke_where, Revoke};
use crate::secret::NormalizedSecret;
use crate::store::{Actor, EventKind, LastUse, Store, StoreError};
use std::fmt;

/// Last-used is written at most once a minute per password.
pub const LAST_USED_THROTTLE_SECS: i64 = 60;

pub struct LoginRequest<'a> {
    pub user: &'a str,
    pub service: &'a str,
    pub rhost: Option<&'a str>,
    pub now: i64,
    /// The module records last use and wipes on a changed primary password;
    /// `apppass verify` does neither.
    pub side_effects: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success { id: i64, label: String },
    Refused(Refusal),
}

/// Why a login was refused: for syslog only, never for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NoPasswords,
    NoneForService,
    NoMatch,
    AccountLocked,
    PrimaryChanged { wiped: usize },
    UserRemoved { revoked: usize },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoPasswords => f.write_str("user has no active app passwords"),
            Refusal::NoneForService => f.write_str("no active app password for this service"),
            Refusal::NoMatch => f.write_str("no matching app password"),
            Refusal::AccountLocked => f.write_str("account is locked (passwd -l)"),
            Refusal::UserRemoved { revoked } => write!(
                f,
                "the account no longer exists; {revoked} app passwords revoked"
            ),
            Refusal::PrimaryChanged { wiped } => {
                write!(f, "primary password changed; {wiped} app passwords revoked")
            }
        }
    }
}

#[derive(Debug)]
pub enum LoginError {
    Store(StoreError),
    /// A stored hash that matched the tag could not be used.
    BadHash {
        id: i64,
        err: HashError,
    },
    /// A fingerprint was taken but the shadow entry cannot be read now.
    ShadowUnavailable,
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginError::Store(e) => e.fmt(f),
            LoginError::BadHash { id, err } => write!(f, "app password {id}: {err}"),
            LoginError::ShadowUnavailable => f.write_str(
                "the primary password's fingerprint cannot be checked: the shadow entry is unreadable",
            ),
        }
    }
}

impl LoginError {
    /// A damaged store or hash: someone must look at the machine (LOG_ALERT).
    pub fn is_corruption(&self) -> bool {
        match self {
            LoginError::BadHash { .. } => true,
            LoginError::Store(e) => e.is_corruption(),
            LoginError::ShadowUnavailable => false,
        }
    }
}

impl From<StoreError> for LoginError {
    fn from(e: StoreError) -> Self {
        LoginError::Store(e)
    }
}

pub fn authenticate<M: Argon2Memory>(
    store: &mut dyn Store,
    req: &LoginRequest<'_>,
    secret: &NormalizedSecret,
    memory: &mut M,
    shadow: &dyn ShadowSource,
) -> Result<Outcome, LoginError> {
    let rows = store.candidates(req.user)?;
    if rows.is_empty() {
        return Ok(Outcome::Refused(Refusal::NoPasswords));
    }
    let mut usable = rows
        .into_iter()
        .filter(|r| r.expires_at.is_none_or(|e| e >= req.now))
        .filter(|r| r.scope.allows(req.service))
        .peekable();
    if usable.peek().is_none() {
        return Ok(Outcome::Refused(Refusal::NoneForService));
    }
    let mut matched = None;
    for row in usable {
        let cred = &row.credential;
        if tag(&cred.tag_salt, secret) != cred.tag {
            continue;
        }
        let stored =
            StoredHash::parse(&cred.phc).map_err(|err| LoginError::BadHash { id: row.id, err })?;
        if stored
            .verify(secret, memory)
            .map_err(|err| LoginError::BadHash { id: row.id, err })?
        {
            matched = Some(row);
            break;
        }
    }
    let Some(row) = matched else {
        return Ok(Outcome::Refused(Refusal::NoMatch));
    };
    match fingerprint::check(store, req.user, shadow)? {
        Check::NotTaken | Check::Unchanged => {}
        Check::FirstPasswordSet(fp) => {
            if req.side_effects {
                // Best effort: the next login records it otherwise.
                let _ = fingerprint::record(store, req.user, &fp, req.now);
            }
        }
        Check::UserRemoved => {
            let revoked = if req.side_effects {
                remove_user(store, req.user, req.now, Actor::Module)?
            } else {
                0
            };
            return Ok(Outcome::Refused(Refusal::UserRemoved { revoked }));
        }
        Check::Locked => return Ok(Outcome::Refused(Refusal::AccountLocked)),
        Check::Unavailable => return Err(LoginError::ShadowUnavailable),
        Check::Changed => {
            let wiped = if req.side_effects {
                wipe(store, req.user, req.now, Actor::Module)?
            } else {
                0
            };
            return Ok(Outcome::Refused(Refusal::PrimaryChanged { wiped }));
        }
    }
    if req.side_effects
        && row
            .last_used_at
            .is_none_or(|t| req.now - t >= LAST_USED_THROTTLE_SECS)
    {
        // Best effort: a login never fails because it could not be recorded.
        let used = LastUse {
            at: req.now,
            service: Some(req.service.to_owned()),
            rhost: req.rhost.map(str::to_owned),
        };
        let _ = store.record_use(row.id, &used);
    }
    Ok(Outcome::Success {
        id: row.id,
        label: row.label,
    })
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
