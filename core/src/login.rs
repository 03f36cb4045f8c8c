//! The login decision, shared by the PAM module and `apppass verify`.

use crate::fingerprint::{self, Check};
use crate::hashing::{tag, Argon2Memory, HashError, StoredHash};
use crate::primary::PrimarySource;
use crate::retention::{
    idle_deadline, KEEP_RETIRED_SECS, REASON_IDLE, TRIED_THROTTLE_SECS, TRIPWIRE_EVENT_EVERY_SECS,
};
use crate::revocation::{remove_user, wipe};
use crate::secret::NormalizedSecret;
use crate::settings::idle_expiry;
use crate::store::{Actor, Candidate, Event, EventKind, LastUse, NetworkCheck, Store, StoreError};
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

/// A password that stopped working, presented again: the tripwire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tripwire {
    pub id: i64,
    pub label: String,
    /// When it stopped working: revoked, wiped or expired.
    pub at: i64,
    /// Why: the revocation's reason, `expired` or `idle`.
    pub reason: String,
}

/// Why a login was refused: for syslog only, never for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NoPasswords,
    NoneForService,
    NoMatch,
    AccountLocked,
    PrimaryChanged {
        wiped: usize,
    },
    UserRemoved {
        revoked: usize,
    },
    /// The right secret of a revoked, wiped or expired password.
    Retired(Tripwire),
    /// The right secret of a suspended password.
    Suspended {
        id: i64,
    },
    /// The right secret, for another service.
    NotForService {
        id: i64,
    },
    /// The right secret, from outside the password's networks.
    OutsideNetworks {
        id: i64,
    },
    /// The right secret of a user outside `entitled-group`.
    NotEntitled {
        id: i64,
        group: String,
    },
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
            Refusal::Retired(t) => write!(
                f,
                "app password {} stopped working at {} ({})",
                t.id,
                crate::time::rfc3339(t.at),
                crate::escape::for_message(&t.reason)
            ),
            Refusal::Suspended { id } => write!(f, "app password {id} is suspended"),
            Refusal::NotForService { id } => {
                write!(f, "app password {id} is not for this service")
            }
            Refusal::OutsideNetworks { id } => write!(
                f,
                "app password {id} may not be used from this address (its --from networks)"
            ),
            Refusal::NotEntitled { id, group } => write!(
                f,
                "app password {id}: not entitled (not a member of the group {})",
                crate::escape::for_message(group)
            ),
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
    /// A fingerprint was taken but the source of the primary password
    /// (/etc/shadow, Dovecot's passdb, LDAP) cannot say anything now; `why`
    /// holds no secret.
    PrimaryUnavailable {
        why: String,
    },
    /// `entitled-group` is set and NSS cannot say whether the user is in it.
    GroupUnavailable {
        why: String,
    },
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginError::Store(e) => e.fmt(f),
            LoginError::BadHash { id, err } => write!(f, "app password {id}: {err}"),
            LoginError::PrimaryUnavailable { why } => write!(
                f,
                "the primary password's fingerprint cannot be checked: {why}"
            ),
            LoginError::GroupUnavailable { why } => {
                write!(f, "entitled-group cannot be checked: {why}")
            }
        }
    }
}

impl LoginError {
    /// A damaged store or hash: someone must look at the machine (LOG_ALERT).
    pub fn is_corruption(&self) -> bool {
        match self {
            LoginError::BadHash { .. } => true,
            LoginError::Store(e) => e.is_corruption(),
            LoginError::PrimaryUnavailable { .. } | LoginError::GroupUnavailable { .. } => false,
        }
    }
}

impl From<StoreError> for LoginError {
    fn from(e: StoreError) -> Self {
        LoginError::Store(e)
    }
}

/// Where a candidate stands for this login.
enum Standing {
    Usable,
    /// Stopped working; `record_idle` when idle expiry just ended it and
    /// the store does not know yet.
    Retired {
        /// When it stopped working.
        at: i64,
        /// Why, when it was not a revocation (whose reason the row holds).
        why: Option<&'static str>,
        record_idle: bool,
    },
    Suspended,
    NotForService,
    OutsideNetworks,
}

fn standing(row: &Candidate, req: &LoginRequest<'_>, idle: Option<i64>) -> Option<Standing> {
    // Older than the tripwire's memory: as good as erased. Nothing is
    // copied here: this runs for every retired row at every login.
    let retired = |at: i64, why: Option<&'static str>, record_idle: bool| {
        (req.now - at <= KEEP_RETIRED_SECS).then_some(Standing::Retired {
            at,
            why,
            record_idle,
        })
    };
    if let Some(rev) = &row.revoked {
        return retired(rev.at, None, false);
    }
    if let Some(exp) = row.expires_at.filter(|e| *e < req.now) {
        let by_idle =
            idle.is_some_and(|i| idle_deadline(row.created_at, row.last_used_at, i) == exp);
        return retired(
            exp,
            Some(if by_idle { REASON_IDLE } else { "expired" }),
            false,
        );
    }
    if let Some(deadline) = idle
        .map(|i| idle_deadline(row.created_at, row.last_used_at, i))
        .filter(|d| *d < req.now)
    {
        return retired(deadline, Some(REASON_IDLE), true);
    }
    Some(if row.suspended {
        Standing::Suspended
    } else if !row.scope.allows(req.service) {
        Standing::NotForService
    } else if !row.networks.allows(req.rhost) {
        Standing::OutsideNetworks
    } else {
        Standing::Usable
    })
}

/// Whether `secret` is this candidate's: the 16-bit tag first (cheap, and
/// wrong for all but ~1/65536 of wrong guesses), argon2 only on a match.
fn matches<M: Argon2Memory>(
    row: &Candidate,
    secret: &NormalizedSecret,
    memory: &mut M,
) -> Result<bool, LoginError> {
    let cred = &row.credential;
    if tag(&cred.tag_salt, secret) != cred.tag {
        return Ok(false);
    }
    let stored =
        StoredHash::parse(&cred.phc).map_err(|err| LoginError::BadHash { id: row.id, err })?;
    stored
        .verify(secret, memory)
        .map_err(|err| LoginError::BadHash { id: row.id, err })
}

pub fn authenticate<M: Argon2Memory>(
    store: &mut dyn Store,
    req: &LoginRequest<'_>,
    secret: &NormalizedSecret,
    memory: &mut M,
    primary: &dyn PrimarySource,
) -> Result<Outcome, LoginError> {
    let rows = store.candidates(req.user)?;
    let idle = if rows.iter().any(|r| r.revoked.is_none()) {
        idle_expiry(store)?
    } else {
        None
    };
    let mut usable = Vec::new();
    let mut others = Vec::new();
    for row in rows {
        match standing(&row, req, idle) {
            None => {}
            Some(Standing::Usable) => usable.push(row),
            Some(other) => others.push((row, other)),
        }
    }
    if req.side_effects {
        for (row, s) in &others {
            if let Standing::Retired {
                at,
                record_idle: true,
                ..
            } = s
            {
                // Best effort: decided here whether or not it is recorded.
                let _ = store.expire(req.user, row.id, *at, REASON_IDLE);
            }
        }
    }
    let mut matched = None;
    for row in usable.iter() {
        if matches(row, secret, memory)? {
            matched = Some(row);
            break;
        }
    }
    let Some(row) = matched else {
        return refuse(store, req, secret, memory, !usable.is_empty(), others);
    };
    match fingerprint::check(store, req.user, primary)? {
        Check::NotTaken | Check::Unchanged => {}
        Check::FirstPasswordSet(fp) => {
            if req.side_effects {
                // Best effort: the next login records it otherwise.
                let _ = fingerprint::record(store, req.user, &fingerprint::shadow(fp), req.now);
            }
        }
        Check::Retake(fp) => {
            if req.side_effects {
                let _ = fingerprint::record(store, req.user, &fp, req.now);
            }
        }
        Check::UserRemoved => {
            let revoked = if req.side_effects {
                remove_user(store, req.user, req.now, Actor::Module)?.len()
            } else {
                0
            };
            return Ok(Outcome::Refused(Refusal::UserRemoved { revoked }));
        }
        Check::Locked => return Ok(Outcome::Refused(Refusal::AccountLocked)),
        Check::Unavailable(why) => return Err(LoginError::PrimaryUnavailable { why }),
        Check::Changed => {
            let wiped = if req.side_effects {
                wipe(store, req.user, req.now, Actor::Module)?.len()
            } else {
                0
            };
            return Ok(Outcome::Refused(Refusal::PrimaryChanged { wiped }));
        }
    }
    // Asked only once a password matched: a wrong one costs nothing more.
    if let Some(group) = crate::settings::entitled_group(store)? {
        match crate::groups::entitled(req.user, &group) {
            Ok(true) => {}
            Ok(false) => {
                return Ok(Outcome::Refused(Refusal::NotEntitled { id: row.id, group }));
            }
            Err(why) => return Err(LoginError::GroupUnavailable { why }),
        }
    }
    // Written at most once a minute per password, but at once from a new
    // address: where a password logs in from is where its sessions are.
    let moved = req.rhost.is_some() && req.rhost != row.last_used_rhost.as_deref();
    if req.side_effects
        && (moved
            || row
                .last_used_at
                .is_none_or(|t| req.now - t >= LAST_USED_THROTTLE_SECS))
    {
        // Best effort: a login never fails because it could not be recorded.
        let used = LastUse {
            at: req.now,
            service: Some(req.service.to_owned()),
            rhost: req.rhost.map(str::to_owned),
        };
        let network = used
            .address()
            .and_then(crate::networks::network_of)
            .map(|cidr| NetworkCheck {
                event: Event {
                    at: req.now,
                    kind: EventKind::NewNetwork,
                    password_id: Some(row.id),
                    label: Some(row.label.clone()),
                    reason: used.address().map(str::to_owned),
                    by: Actor::Module,
                },
                cidr,
                user: req.user.to_owned(),
            });
        let _ = store.record_use(row.id, &used, network.as_ref());
    }
    Ok(Outcome::Success {
        id: row.id,
        label: row.label.clone(),
    })
}

/// No usable password matched: says why, as precisely as the secret allows.
/// The right secret of a password that may not be used here is named (for
/// syslog); one that stopped working trips the tripwire.
fn refuse<M: Argon2Memory>(
    store: &mut dyn Store,
    req: &LoginRequest<'_>,
    secret: &NormalizedSecret,
    memory: &mut M,
    any_usable: bool,
    others: Vec<(Candidate, Standing)>,
) -> Result<Outcome, LoginError> {
    let any_live = others
        .iter()
        .any(|(_, s)| !matches!(s, Standing::Retired { .. }));
    for (row, s) in others {
        if !matches(&row, secret, memory)? {
            continue;
        }
        let refusal = match s {
            Standing::Usable => continue,
            Standing::Suspended => Refusal::Suspended { id: row.id },
            Standing::NotForService => Refusal::NotForService { id: row.id },
            Standing::OutsideNetworks => Refusal::OutsideNetworks { id: row.id },
            Standing::Retired { at, why, .. } => {
                let tripwire = Tripwire {
                    id: row.id,
                    label: row.label.clone(),
                    at,
                    reason: match (why, &row.revoked) {
                        (Some(why), _) => why.to_owned(),
                        (None, Some(rev)) => rev.reason.clone().unwrap_or_else(|| "revoked".into()),
                        (None, None) => "revoked".into(),
                    },
                };
                if req.side_effects
                    && row
                        .last_tried_at
                        .is_none_or(|t| req.now - t >= TRIED_THROTTLE_SECS)
                {
                    let event = Event {
                        at: req.now,
                        kind: EventKind::UsedAfterRevoke,
                        password_id: Some(row.id),
                        label: Some(row.label.clone()),
                        reason: Some(tried_from(req)),
                        by: Actor::Module,
                    };
                    // Best effort, like last use.
                    let _ = store.record_tried(
                        req.user,
                        row.id,
                        req.now,
                        req.now - TRIPWIRE_EVENT_EVERY_SECS + 1,
                        &event,
                    );
                }
                Refusal::Retired(tripwire)
            }
        };
        return Ok(Outcome::Refused(refusal));
    }
    Ok(Outcome::Refused(if any_usable {
        Refusal::NoMatch
    } else if any_live {
        Refusal::NoneForService
    } else {
        Refusal::NoPasswords
    }))
}

/// The history's reason for a tripwire event: where the password came from.
fn tried_from(req: &LoginRequest<'_>) -> String {
    let mut text = format!("presented to {}", req.service);
    if let Some(rhost) = req.rhost.filter(|r| !r.is_empty()) {
        text.push_str(" from ");
        text.push_str(rhost);
    }
    text.chars().take(200).collect()
}
