//! What the `apppass` command does, minus parsing and printing.

use crate::effects::{Effect, Effects};
use crate::expiry::ExpiryError;
use crate::fingerprint::{self, Check, Primary, Shadow};
use crate::hashing::{make_credential, HashError};
use crate::networks::Networks;
use crate::policy::{self, PolicyError, Scope, DEFAULT_MAX_ACTIVE};
use crate::primary::{Observed, PrimarySource};
use crate::retention::{self, idle_deadline, REASON_IDLE};
use crate::revocation::{remove_user, sign_out, wipe, Retired};
use crate::secret::NormalizedSecret;
use crate::store::{
    Actor, Credential, Event, EventKind, FingerprintSource, Finish, NewPassword, Password, Status,
    Store, StoreError, WriteError,
};
use rand_core::{CryptoRng, RngCore};
use std::fmt;

/// The reason recorded for the password a `rotate` replaced.
pub const REASON_ROTATED: &str = "rotated";

#[derive(Debug)]
pub enum AdminError {
    Policy(PolicyError),
    Expiry(ExpiryError),
    LimitReached {
        user: String,
        limit: i64,
    },
    DuplicateLabel {
        user: String,
        label: String,
    },
    NotFound(String),
    /// The new password could not be handed over (stdout closed or full);
    /// it was not stored.
    Undelivered(std::io::Error),
    /// Handed over, then the commit failed: the password shown is void.
    NotStored(StoreError),
    Store(StoreError),
    Hash(HashError),
    /// A fingerprint was taken, or is to be taken, but the source of the
    /// primary password cannot say anything now. `why` holds no secret.
    PrimaryUnavailable {
        user: String,
        why: String,
    },
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::escape::for_message as esc;
        match self {
            AdminError::Policy(e) => e.fmt(f),
            AdminError::Expiry(e) => e.fmt(f),
            AdminError::LimitReached { user, limit } => write!(
                f,
                "{} already has {limit} active app passwords, the limit; revoke one first or raise it with 'apppass config max-active N'",
                esc(user)
            ),
            AdminError::DuplicateLabel { user, label } => write!(
                f,
                "{} already has an active app password labelled '{}' (labels ignore case); choose another label or revoke that one",
                esc(user),
                esc(label)
            ),
            AdminError::NotFound(what) => f.write_str(what),
            AdminError::Undelivered(e) => write!(
                f,
                "could not write the new password to standard output ({e}); nothing was stored, run the command again with a working output"
            ),
            AdminError::NotStored(e) => write!(
                f,
                "the password printed above was NOT stored and will not work: {e}"
            ),
            AdminError::Store(e) => e.fmt(f),
            AdminError::Hash(e) => e.fmt(f),
            AdminError::PrimaryUnavailable { user, why } => write!(
                f,
                "cannot check the primary-password fingerprint of {}: {why}; nothing was changed",
                esc(user)
            ),
        }
    }
}

impl std::error::Error for AdminError {}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        AdminError::Store(e)
    }
}

impl From<PolicyError> for AdminError {
    fn from(e: PolicyError) -> Self {
        AdminError::Policy(e)
    }
}

/// Something the administrator should be told, on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Wiped {
        user: String,
        count: usize,
    },
    AccountLocked {
        user: String,
    },
    UserRemoved {
        user: String,
        count: usize,
    },
    FirstPrimaryPassword {
        user: String,
    },
    NoPrimaryPassword {
        user: String,
    },
    NoFingerprint {
        user: String,
    },
    /// A directory knows the user but gives nothing to fingerprint.
    NothingToFingerprint {
        user: String,
        source: FingerprintSource,
    },
    /// Neither the directory nor /etc/shadow knows the user.
    UnknownToDirectory {
        user: String,
        source: FingerprintSource,
    },
    /// The fingerprint was taken again from the source configured now.
    Retaken {
        user: String,
        source: FingerprintSource,
    },
    /// The user logged in with the primary password where `primary_until=`
    /// still lets it through.
    PrimaryUsed(crate::store::PrimaryUse),
    /// `list` could not compare the user's fingerprint: its source did
    /// not answer.
    NotChecked {
        user: String,
        why: String,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::escape::for_message as esc;
        match self {
            Notice::Wiped { user, count } => write!(
                f,
                "the primary password of {} changed since its app passwords were issued: revoked {count} of them",
                esc(user)
            ),
            Notice::AccountLocked { user } => write!(
                f,
                "the account {} is locked (passwd -l): its app passwords will not log in until it is unlocked",
                esc(user)
            ),
            Notice::UserRemoved { user, count } => write!(
                f,
                "the account {} no longer exists: revoked its {count} app passwords (reason '{}')",
                esc(user),
                crate::fingerprint::REASON_USER_REMOVED
            ),
            Notice::FirstPrimaryPassword { user } => write!(
                f,
                "{} now has a primary password where it had none; its app passwords are kept, and changing that password later revokes them",
                esc(user)
            ),
            Notice::NoPrimaryPassword { user } => write!(
                f,
                "note: {} has no primary password (shadow field empty, '!' or '*'): app passwords are its only way in; setting a first primary password later keeps them, changing it afterwards revokes them",
                esc(user)
            ),
            Notice::NoFingerprint { user } => write!(
                f,
                "warning: /etc/shadow is not readable here, so no primary-password fingerprint was recorded for {}: a primary-password change made outside the PAM password stack (chpasswd, usermod -p) will not revoke this password; run apppass as root",
                esc(user)
            ),
            Notice::NothingToFingerprint { user, source } => write!(
                f,
                "warning: {} gives nothing to fingerprint for {}, so no primary-password fingerprint was recorded: a reset of its primary password will not revoke this password; {}, then run apppass check-primary {}",
                fingerprint::name(*source),
                esc(user),
                match source {
                    FingerprintSource::Dovecot => "add the passdb field the README shows (doveadm auth lookup -x service=apppass USER must show it)",
                    _ => "let the bind DN read the attribute (ldap_attribute)",
                },
                esc(user)
            ),
            Notice::UnknownToDirectory { user, source } => write!(
                f,
                "warning: neither {} nor /etc/shadow knows {}, so no primary-password fingerprint was recorded; check the user name",
                fingerprint::name(*source),
                esc(user)
            ),
            Notice::PrimaryUsed(u) => write!(
                f,
                "{} logged in to {} with the primary password {} time{} since {}, last at {}{}: an app password for {} replaces it there",
                esc(&u.user),
                esc(&u.service),
                u.count,
                if u.count == 1 { "" } else { "s" },
                crate::time::short(u.first_at),
                crate::time::short(u.last_at),
                match &u.last_rhost {
                    Some(r) => format!(" from {}", esc(r)),
                    None => String::new(),
                },
                esc(&u.service)
            ),
            Notice::NotChecked { user, why } => write!(
                f,
                "warning: cannot check the primary-password fingerprint of {}: {why}; nothing was changed, and its app passwords do not log in until the source answers",
                esc(user)
            ),
            Notice::Retaken { user, source } => write!(
                f,
                "note: the primary-password fingerprint of {} was taken again from {} (the source apppass.conf names now)",
                esc(user),
                fingerprint::name(*source)
            ),
        }
    }
}

/// Runs the fingerprint comparison before `generate` and `list`, so a new
/// password is never issued, nor an old one shown as active, against a stale
/// primary password.
pub fn reconcile(
    store: &mut dyn Store,
    user: &str,
    primary: &dyn PrimarySource,
    now: i64,
    effects: &mut Effects,
    by: Actor,
) -> Result<Option<Notice>, AdminError> {
    expire_idle(store, user, now)?;
    let check = fingerprint::check(store, user, primary)?;
    settle(store, user, check, now, effects, by)
}

/// Acts on what the fingerprint comparison found for `user`.
fn settle(
    store: &mut dyn Store,
    user: &str,
    check: Check,
    now: i64,
    effects: &mut Effects,
    by: Actor,
) -> Result<Option<Notice>, AdminError> {
    match check {
        Check::NotTaken | Check::Unchanged => Ok(None),
        Check::FirstPasswordSet(fp) => {
            fingerprint::record(store, user, &fingerprint::shadow(fp), now)?;
            Ok(Some(Notice::FirstPrimaryPassword { user: user.into() }))
        }
        Check::Retake(fp) => {
            fingerprint::record(store, user, &fp, now)?;
            Ok(Some(Notice::Retaken {
                user: user.into(),
                source: fp.source,
            }))
        }
        Check::UserRemoved => {
            let retired = remove_user(store, user, now, by)?;
            let count = retired.len();
            effects.push(Effect::revoked_all(
                count,
                user,
                fingerprint::REASON_USER_REMOVED,
                "revoked",
            ));
            sign_out(effects, user, &retired);
            Ok(Some(Notice::UserRemoved {
                user: user.into(),
                count,
            }))
        }
        Check::Locked => Ok(Some(Notice::AccountLocked { user: user.into() })),
        Check::Unavailable(why) => Err(AdminError::PrimaryUnavailable {
            user: user.into(),
            why,
        }),
        Check::Changed => {
            let retired = wipe(store, user, now, by)?;
            let count = retired.len();
            effects.push(Effect::revoked_all(
                count,
                user,
                fingerprint::REASON_PRIMARY_CHANGED,
                "wiped",
            ));
            sign_out(effects, user, &retired);
            Ok(Some(Notice::Wiped {
                user: user.into(),
                count,
            }))
        }
    }
}

/// Records idle expiry for the passwords of `user` that reached the idle
/// limit (dated when they reached it), so lists, limits and labels see them
/// expired. The login path decides the same on its own.
pub fn expire_idle(store: &mut dyn Store, user: &str, now: i64) -> Result<(), StoreError> {
    let Some(idle) = crate::settings::idle_expiry(store)? else {
        return Ok(());
    };
    for p in store.passwords(Some(user))? {
        if p.revoked.is_some() || p.expires_at.is_some_and(|e| e < now) {
            continue;
        }
        let deadline = idle_deadline(p.created_at, p.last_used.as_ref().map(|u| u.at), idle);
        if deadline < now {
            store.expire(user, p.id, deadline, REASON_IDLE)?;
        }
    }
    Ok(())
}

pub struct GenerateRequest<'a> {
    pub user: &'a str,
    pub scope: Scope,
    /// Where it may log in from; anywhere when empty.
    pub networks: Networks,
    pub label: &'a str,
    pub expires_at: Option<i64>,
    /// Who asks: recorded in the history.
    pub by: Actor,
    /// `rotate`: the active password this one replaces, revoked (reason
    /// `rotated`) in the same transaction.
    pub replaces: Option<i64>,
}

pub struct Generated {
    pub id: i64,
    pub user: String,
    pub label: String,
    pub services: Vec<String>,
    pub networks: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub secret: NormalizedSecret,
    /// The password this one replaced (`rotate`).
    pub replaced: Option<i64>,
    pub notices: Vec<Notice>,
    pub effects: Effects,
}

/// Why `generate` stored nothing, decided inside its transaction.
enum Refused {
    Limit(i64),
    DuplicateLabel,
    Undelivered(std::io::Error),
    /// The password to replace is no longer active.
    Gone(i64),
}

/// Issues a password. `deliver` hands it to its reader (prints it) inside
/// the write transaction; the store keeps it only if that succeeded.
pub fn generate<R: RngCore + CryptoRng>(
    store: &mut dyn Store,
    req: &GenerateRequest<'_>,
    now: i64,
    rng: &mut R,
    primary: &dyn PrimarySource,
    deliver: &mut dyn FnMut(&Generated) -> std::io::Result<()>,
) -> Result<Generated, AdminError> {
    policy::check_user(req.user)?;
    policy::check_label(req.label)?;
    crate::settings::require_entitled(store, req.user)?;
    let mut effects = Effects::default();
    expire_idle(store, req.user, now)?;
    // The source is asked once: a directory lookup costs milliseconds.
    let observed = primary.observe(req.user);
    if let Observed::Unavailable { why, .. } = &observed {
        // Issued without a fingerprint, a password would outlive the next
        // reset of the primary password.
        return Err(AdminError::PrimaryUnavailable {
            user: req.user.into(),
            why: why.clone(),
        });
    }
    let check = match store.fingerprint(req.user)? {
        Some(recorded) => fingerprint::compare(&store.key()[..], req.user, &recorded, &observed),
        None => Check::NotTaken,
    };
    let mut notices: Vec<Notice> = settle(store, req.user, check, now, &mut effects, req.by)?
        .into_iter()
        .collect();
    match &observed {
        Observed::Shadow(Shadow::Hash(field)) => match Primary::of(field) {
            Primary::NotSet => notices.push(Notice::NoPrimaryPassword {
                user: req.user.into(),
            }),
            Primary::Locked(_) if notices.is_empty() => notices.push(Notice::AccountLocked {
                user: req.user.into(),
            }),
            _ => {}
        },
        Observed::Shadow(Shadow::Unavailable) => notices.push(Notice::NoFingerprint {
            user: req.user.into(),
        }),
        Observed::Nothing(source) => notices.push(Notice::NothingToFingerprint {
            user: req.user.into(),
            source: *source,
        }),
        Observed::Unknown(source) => notices.push(Notice::UnknownToDirectory {
            user: req.user.into(),
            source: *source,
        }),
        _ => {}
    }
    let fp = fingerprint::take(&store.key()[..], req.user, &observed);
    let secret = NormalizedSecret::generate(rng);
    // Hash before the write transaction so the lock is held for microseconds.
    let cred = make_credential(&secret, rng).map_err(AdminError::Hash)?;
    let new = NewPassword {
        user: req.user.into(),
        label: req.label.into(),
        scope: req.scope.clone(),
        networks: req.networks.clone(),
        created_at: now,
        expires_at: req.expires_at,
        credential: Credential {
            phc: cred.phc.clone(),
            tag: cred.tag,
            tag_salt: cred.tag_salt.to_vec(),
        },
    };
    let mut generated = Generated {
        id: 0,
        user: req.user.into(),
        label: req.label.into(),
        services: req.scope.names(),
        networks: req.networks.names(),
        created_at: now,
        expires_at: req.expires_at,
        secret,
        replaced: None,
        notices,
        effects: Effects::default(),
    };
    let label_key = policy::label_key(req.label);
    let mut refused = None;
    let mut replaced = None;
    let written = retention::write(store, Some(req.user), now, &mut |w| {
        refused = None;
        replaced = None;
        if let Some(old) = req.replaces {
            let found = w
                .unrevoked(req.user)?
                .into_iter()
                .find(|p| p.id == old && p.status(now) == Status::Active);
            let Some(found) = found else {
                refused = Some(Refused::Gone(old));
                return Ok(Finish::Rollback);
            };
            replaced = Some(Retired::of(&found));
            w.revoke(
                req.user,
                old,
                now,
                REASON_ROTATED,
                EventKind::Revoked,
                req.by,
            )?;
        }
        let limit = w
            .setting(crate::settings::MAX_ACTIVE)?
            .unwrap_or(i64::from(DEFAULT_MAX_ACTIVE));
        let active: Vec<Password> = w
            .unrevoked(req.user)?
            .into_iter()
            .filter(|p| p.is_live(now))
            .collect();
        if active.len() as i64 >= limit {
            refused = Some(Refused::Limit(limit));
            return Ok(Finish::Rollback);
        }
        if active
            .iter()
            .any(|p| policy::label_key(&p.label) == label_key)
        {
            refused = Some(Refused::DuplicateLabel);
            return Ok(Finish::Rollback);
        }
        let id = w.insert_password(&new)?;
        w.add_event(
            req.user,
            &Event {
                at: now,
                kind: EventKind::Generated,
                password_id: Some(id),
                label: Some(req.label.into()),
                reason: req.replaces.map(|old| format!("replaces ID {old}")),
                by: req.by,
            },
        )?;
        if let Some(fp) = &fp {
            // Only a user without one: an existing fingerprint was just
            // reconciled, and replacing it would hide a change.
            if w.fingerprint(req.user)?.is_none() {
                w.set_fingerprint(req.user, fp, now)?;
            }
        }
        generated.id = id;
        if let Err(e) = deliver(&generated) {
            refused = Some(Refused::Undelivered(e));
            return Ok(Finish::Rollback);
        }
        Ok(Finish::Commit)
    });
    match (written, refused) {
        (Ok(()), Some(Refused::Limit(limit))) => Err(AdminError::LimitReached {
            user: req.user.into(),
            limit,
        }),
        (Ok(()), Some(Refused::DuplicateLabel)) => Err(AdminError::DuplicateLabel {
            user: req.user.into(),
            label: req.label.into(),
        }),
        (Ok(()), Some(Refused::Undelivered(e))) => Err(AdminError::Undelivered(e)),
        (Ok(()), Some(Refused::Gone(old))) => Err(AdminError::NotFound(format!(
            "{} has no active app password with ID {old} any more",
            crate::escape::for_message(req.user)
        ))),
        (Ok(()), None) => {
            if let Some(old) = &replaced {
                effects.push(Effect::revoked(old.id, req.user, req.label, REASON_ROTATED));
                sign_out(&mut effects, req.user, std::slice::from_ref(old));
            }
            generated.replaced = req.replaces;
            effects.push(Effect::generated(
                generated.id,
                req.user,
                req.label,
                &generated.services.join(","),
            ));
            effects.push(Effect::FlushAuthCache(req.user.into()));
            generated.effects = effects;
            Ok(generated)
        }
        (Err(WriteError::Store(e)), _) => Err(AdminError::Store(e)),
        (Err(WriteError::Commit(e)), _) => Err(AdminError::NotStored(e)),
    }
}

/// What `list` found, and what reconciling the users on the way changed.
pub struct Listing {
    pub passwords: Vec<Password>,
    pub notices: Vec<Notice>,
    pub effects: Effects,
    /// The users listed whom `entitled-group` leaves out: their passwords
    /// are refused at login until they join.
    pub not_entitled: Vec<String>,
}

/// Passwords of one user or of everyone; only active and suspended ones
/// unless `all`.
pub fn list(
    store: &mut dyn Store,
    user: Option<&str>,
    all: bool,
    now: i64,
    primary: &dyn PrimarySource,
    by: Actor,
) -> Result<Listing, AdminError> {
    let mut notices = Vec::new();
    let mut effects = Effects::default();
    let mut users: Vec<String> = match user {
        Some(u) => vec![u.to_string()],
        None => store.passwords(None)?.into_iter().map(|r| r.user).collect(),
    };
    users.dedup();
    for u in &users {
        match reconcile(store, u, primary, now, &mut effects, by) {
            Ok(Some(n)) => notices.push(n),
            Ok(None) => {}
            // A listing is a read: a source that does not answer is said
            // of the user, whose passwords are listed as they stand (their
            // logins fail closed meanwhile, and nothing is revoked); one
            // directory down never hides everybody's passwords.
            Err(AdminError::PrimaryUnavailable { user, why }) => {
                notices.push(Notice::NotChecked { user, why })
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(u) = user {
        for used in crate::primary_use::report(store, Some(u), None)? {
            notices.push(Notice::PrimaryUsed(used));
        }
    }
    let mut passwords = store.passwords(user)?;
    if !all {
        passwords.retain(|r| r.is_live(now));
    }
    let mut not_entitled = Vec::new();
    if let Some(group) = crate::settings::entitled_group(store)? {
        for p in &passwords {
            if !not_entitled.contains(&p.user)
                && crate::groups::entitled(&p.user, &group) == Ok(false)
            {
                not_entitled.push(p.user.clone());
            }
        }
    }
    Ok(Listing {
        passwords,
        notices,
        effects,
        not_entitled,
    })
}

/// Lifecycle events of a user, oldest first. Expiry by date is not written
/// when it happens (nothing runs then); it is derived here, dated at
/// `expires_at`. Idle expiry is recorded when first seen, dated when the
/// idle limit was reached.
pub fn history(store: &mut dyn Store, user: &str, now: i64) -> Result<Vec<Event>, AdminError> {
    expire_idle(store, user, now)?;
    let mut events = store.events(user)?;
    let recorded: std::collections::HashSet<i64> = events
        .iter()
        .filter(|e| e.kind == EventKind::Expired)
        .filter_map(|e| e.password_id)
        .collect();
    for row in store.passwords(Some(user))? {
        if let Some(exp) = row.expires_at {
            let expired_before_revoke = row.revoked.as_ref().is_none_or(|r| r.at > exp);
            if exp < now && expired_before_revoke && !recorded.contains(&row.id) {
                events.push(Event {
                    at: exp,
                    kind: EventKind::Expired,
                    password_id: Some(row.id),
                    label: Some(row.label.clone()),
                    reason: None,
                    by: Actor::Module,
                });
            }
        }
    }
    events.sort_by_key(|e| e.at);
    Ok(events)
}
