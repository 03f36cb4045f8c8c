//! `apppass check-primary`: the fingerprint comparison a login makes,
//! made for every user with a live app password, so that a reset of a
//! primary password revokes even the passwords nobody tries (the shipped
//! timer runs it every 15 minutes). A user without a fingerprint gets one
//! when the source gives one. Nothing is revoked because a source could
//! not be asked, and never "user removed": on a store shared by several
//! hosts, this host's /etc/shadow not knowing a user proves nothing.

use crate::admin::AdminError;
use crate::effects::{Effect, Effects};
use crate::fingerprint::{self, Check};
use crate::primary::{Observed, PrimarySource};
use crate::store::{Actor, FingerprintSource, Store};

/// What the sweep found for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The primary password is the one the fingerprint was taken from.
    Unchanged,
    /// It changed: every app password of the user was revoked.
    Wiped(usize),
    /// No fingerprint was recorded; one was taken now.
    Taken(FingerprintSource),
    /// The fingerprint was taken again: the source changed, or a first
    /// primary password was set.
    Retaken(FingerprintSource),
    /// No fingerprint, and the source gives nothing for the user (why).
    NoFingerprint(String),
    /// The account is locked (`passwd -l`): nothing revoked.
    Locked,
    /// /etc/shadow no longer knows the account: nothing revoked here.
    Gone,
    /// The source could not say anything (why): nothing revoked.
    NotChecked(String),
}

/// The sweep's findings, user by user, and what is to be done on this host
/// for the wipes (cache flushes, sessions ended).
pub struct Report {
    pub found: Vec<(String, Found)>,
    pub effects: Effects,
}

/// Checks `user`, or every user with an active or suspended password.
/// With `retake`, every fingerprint is taken again from what the source
/// gives now and nothing is revoked: after the administrator moved users
/// from a directory to /etc/shadow (without it they are not checked), or
/// changed what a directory's fingerprint is taken over (`ldap_attribute`,
/// `ldap_filter`, `dovecot_primary_field`), which would otherwise look
/// like every user's primary password changed.
pub fn sweep(
    store: &mut dyn Store,
    user: Option<&str>,
    primary: &dyn PrimarySource,
    now: i64,
    by: Actor,
    retake: bool,
) -> Result<Report, AdminError> {
    let mut users: Vec<String> = match user {
        Some(u) => vec![u.to_string()],
        None => store
            .passwords(None)?
            .into_iter()
            .filter(|p| p.is_live(now))
            .map(|p| p.user)
            .collect(),
    };
    users.sort();
    users.dedup();
    let mut report = Report {
        found: Vec::new(),
        effects: Effects::default(),
    };
    for u in users {
        let found = one(store, &u, primary, (now, by, retake), &mut report.effects)?;
        report.found.push((u, found));
    }
    Ok(report)
}

fn one(
    store: &mut dyn Store,
    user: &str,
    primary: &dyn PrimarySource,
    (now, by, retake): (i64, Actor, bool),
    effects: &mut Effects,
) -> Result<Found, AdminError> {
    let observed = primary.observe(user);
    let key = store.key().clone();
    let Some(recorded) = store.fingerprint(user)? else {
        return Ok(match fingerprint::take(&key[..], user, &observed) {
            Some(fp) => {
                fingerprint::record(store, user, &fp, now)?;
                Found::Taken(fp.source)
            }
            None => match observed {
                Observed::Unavailable { why, .. } => Found::NotChecked(why),
                other => Found::NoFingerprint(nothing_because(&other)),
            },
        });
    };
    Ok(
        match fingerprint::compare(&key[..], user, &recorded, &observed) {
            Check::NotTaken | Check::Unchanged => Found::Unchanged,
            // The administrator changed what is fingerprinted (another
            // attribute, field or filter) and says the values now are
            // the ones to keep: taken again, nothing revoked.
            Check::Changed if retake => match fingerprint::take(&key[..], user, &observed) {
                Some(fp) => {
                    fingerprint::record(store, user, &fp, now)?;
                    Found::Retaken(fp.source)
                }
                None => Found::NotChecked("nothing to take the fingerprint from".into()),
            },
            Check::Changed => {
                let retired = crate::revocation::wipe(store, user, now, by)?;
                effects.push(Effect::revoked_all(
                    retired.len(),
                    user,
                    fingerprint::REASON_PRIMARY_CHANGED,
                    "wiped",
                ));
                crate::revocation::sign_out(effects, user, &retired);
                Found::Wiped(retired.len())
            }
            Check::FirstPasswordSet(fp) => {
                fingerprint::record(store, user, &fingerprint::shadow(fp), now)?;
                Found::Retaken(FingerprintSource::Shadow)
            }
            Check::Retake(fp) => {
                fingerprint::record(store, user, &fp, now)?;
                Found::Retaken(fp.source)
            }
            Check::Locked => Found::Locked,
            Check::UserRemoved => Found::Gone,
            Check::Unavailable(why) => {
                let moved = fingerprint::take(&key[..], user, &observed)
                    .filter(|fp| retake && fp.source != recorded.source);
                match moved {
                    Some(fp) => {
                        fingerprint::record(store, user, &fp, now)?;
                        Found::Retaken(fp.source)
                    }
                    None => Found::NotChecked(why),
                }
            }
        },
    )
}

/// Why `observed` gave nothing to fingerprint, for the report.
fn nothing_because(observed: &Observed) -> String {
    match observed {
        Observed::Shadow(crate::fingerprint::Shadow::NoAccount) => {
            "no account in /etc/shadow (a virtual user)".into()
        }
        Observed::Shadow(crate::fingerprint::Shadow::NoEntry) => {
            "no shadow entry (the account is in LDAP or SSSD)".into()
        }
        Observed::Shadow(_) => "/etc/shadow is not readable".into(),
        Observed::Nothing(source) => format!(
            "{} gives nothing to fingerprint",
            fingerprint::name(*source)
        ),
        Observed::Unknown(source) => format!(
            "neither {} nor /etc/shadow knows the user",
            fingerprint::name(*source)
        ),
        Observed::Value { .. } | Observed::Unavailable { .. } => String::new(),
    }
}
