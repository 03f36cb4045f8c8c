//! What to tell account holders, read from what the store records anyway:
//! the history after the last entry collected (new passwords, a revoke of
//! all, a wipe, the tripwire, a first login from a new network), passwords ending within a week, and the
//! primary password's use where app passwords become required. Each is
//! queued under a key naming what it is about, so hosts collecting at the
//! same time queue it once.

use super::message::Notification;
use super::{settings, CURSOR};
use crate::fingerprint::REASON_USER_REMOVED;
use crate::store::{EventKind, Finish, LoggedEvent, NewOutboxEntry, Store, StoreError, WriteError};

/// How far ahead a fixed expiry is announced.
pub const EXPIRY_NOTICE_SECS: i64 = 7 * 86_400;
/// The primary password's use is told at most once a week per service.
pub const WEEK_SECS: i64 = 7 * 86_400;
/// History entries read per collection.
const BATCH: usize = 1000;

/// One notification to queue.
struct Queued {
    user: String,
    key: String,
    at: i64,
    n: Notification,
}

/// Queues what is new; returns how many were queued. Nothing when
/// notifications are off.
pub fn collect(store: &mut dyn Store, now: i64) -> Result<usize, StoreError> {
    if !settings(store)?.mail {
        return Ok(0);
    }
    let cursor = store.setting(CURSOR)?.unwrap_or(0);
    let events = store.events_after(cursor, BATCH)?;
    let last = events.last().map_or(cursor, |e| e.id);
    let mut queue = from_history(store, &events)?;
    for p in store.expiring(now, now + EXPIRY_NOTICE_SECS)? {
        let Some(expires_at) = p.expires_at else {
            continue;
        };
        queue.push(Queued {
            key: format!("expiring:{}:{expires_at}", p.id),
            user: p.user,
            at: now,
            n: Notification::Expiring {
                id: p.id,
                label: p.label,
                expires_at,
            },
        });
    }
    for u in store.primary_uses(None)? {
        if u.last_at <= now - WEEK_SECS {
            continue;
        }
        queue.push(Queued {
            key: format!(
                "primary:{}:{}:{}",
                u.user,
                u.service,
                u.last_at.div_euclid(WEEK_SECS)
            ),
            user: u.user,
            at: u.last_at,
            n: Notification::PrimaryUsed {
                service: u.service,
                count: u.count,
                last_at: u.last_at,
                last_rhost: u.last_rhost,
            },
        });
    }
    let mut queued = 0;
    store
        .write(None, &mut |w| {
            queued = 0;
            for q in &queue {
                let entry = NewOutboxEntry {
                    user: q.user.clone(),
                    key: q.key.clone(),
                    kind: q.n.kind().into(),
                    facts: q.n.facts(),
                    at: q.at,
                    queued_at: now,
                };
                if w.enqueue(&entry)? {
                    queued += 1;
                }
            }
            if w.setting(CURSOR)?.unwrap_or(0) < last {
                w.set_setting(CURSOR, last)?;
            }
            Ok(Finish::Commit)
        })
        .map_err(WriteError::into_store_error)?;
    Ok(queued)
}

/// Queues `n` for `user` now, whatever the settings say of the rest
/// (`config notify-test`).
pub fn queue_now(
    store: &mut dyn Store,
    user: &str,
    n: &Notification,
    key: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let entry = NewOutboxEntry {
        user: user.into(),
        key: key.into(),
        kind: n.kind().into(),
        facts: n.facts(),
        at: now,
        queued_at: now,
    };
    let mut queued = false;
    store
        .write(None, &mut |w| {
            queued = w.enqueue(&entry)?;
            Ok(Finish::Commit)
        })
        .map_err(WriteError::into_store_error)?;
    Ok(queued)
}

/// The notifications the history entries `events` (in ID order) call for.
/// The revocations of one change share user, kind, time, actor and
/// reason: a revoke of all or a wipe is one mail, named after its first
/// entry.
fn from_history(store: &mut dyn Store, events: &[LoggedEvent]) -> Result<Vec<Queued>, StoreError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let first = &events[i];
        let e = &first.event;
        let grouped = matches!(e.kind, EventKind::Revoked | EventKind::Wiped);
        let same_change = |o: &LoggedEvent| {
            grouped
                && o.user == first.user
                && o.event.kind == e.kind
                && o.event.at == e.at
                && o.event.by == e.by
                && o.event.reason == e.reason
        };
        let mut end = i + 1;
        while end < events.len() && same_change(&events[end]) {
            end += 1;
        }
        let count = (end - i) as i64;
        let key = format!("event:{}", first.id);
        let label = e.label.clone().unwrap_or_default();
        let n = match e.kind {
            EventKind::Generated => Some(Notification::Created {
                id: e.password_id.unwrap_or(0),
                label,
                by: e.by.name().into(),
            }),
            EventKind::Wiped => Some(Notification::Wiped { count }),
            EventKind::NewNetwork => Some(Notification::NewNetwork {
                id: e.password_id.unwrap_or(0),
                label,
                address: e.reason.clone().unwrap_or_default(),
            }),
            EventKind::UsedAfterRevoke => Some(Notification::Tripwire {
                id: e.password_id.unwrap_or(0),
                label,
                why: e.reason.clone().unwrap_or_default(),
            }),
            EventKind::Revoked
                if e.reason.as_deref() != Some(REASON_USER_REMOVED)
                    && none_left(store, &first.user, e.at)? =>
            {
                Some(Notification::RevokedAll {
                    count,
                    by: e.by.name().into(),
                    reason: e.reason.clone().unwrap_or_default(),
                })
            }
            _ => None,
        };
        if let Some(n) = n {
            out.push(Queued {
                user: first.user.clone(),
                key,
                at: e.at,
                n,
            });
        }
        i = end;
    }
    Ok(out)
}

/// Whether `user` had no unrevoked password made at or before `at` left:
/// a revoke at `at` took all of them.
fn none_left(store: &mut dyn Store, user: &str, at: i64) -> Result<bool, StoreError> {
    Ok(!store
        .passwords(Some(user))?
        .iter()
        .any(|p| p.created_at <= at && p.revoked.as_ref().is_none_or(|r| r.at > at)))
}
