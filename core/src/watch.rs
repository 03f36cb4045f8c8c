//! What `apppass watch` does on each host: it reads the history by ID
//! after the last entry it handled, and for each entry that took a
//! password out of service — wherever it was made — asks this host to
//! forget the user's cached logins and end the password's sessions; and
//! it does the same for passwords whose fixed expiry has passed, which no
//! history entry announces. Decided here; the command carries it out.

use crate::effects::Effects;
use crate::revocation::{sign_out, Retired};
use crate::store::{EventKind, LoggedEvent, Store, StoreError};
use std::collections::BTreeMap;

/// How many history entries are read at a time: a watcher's memory stays
/// bounded however far behind it is.
pub const BATCH: usize = 100;

/// Where a running watcher writes its PID.
pub const PID_FILE: &str = "/run/apppass/watch.pid";

/// The longest a watcher waits between looks for passwords whose fixed
/// expiry passed (the contract: their sessions end within a minute).
pub const EXPIRY_EVERY_SECS: u64 = 30;

/// Where a watcher stands: the last history entry it handled, and the time
/// up to which it handled fixed expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub event: i64,
    pub expiry: i64,
}

impl Position {
    /// `event=N expiry=T`, one per line.
    pub fn encode(&self) -> String {
        format!("event={}\nexpiry={}\n", self.event, self.expiry)
    }

    pub fn decode(text: &str) -> Option<Position> {
        let mut event = None;
        let mut expiry = None;
        for line in text.lines() {
            match line.split_once('=') {
                Some(("event", v)) => event = v.trim().parse().ok(),
                Some(("expiry", v)) => expiry = v.trim().parse().ok(),
                _ => return None,
            }
        }
        Some(Position {
            event: event?,
            expiry: expiry?,
        })
    }
}

/// Whether a history entry of this kind took a password out of service.
pub fn signs_out(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::Revoked | EventKind::Wiped | EventKind::Expired | EventKind::Suspended
    )
}

/// What `events` (read in ID order) ask of this host.
pub fn effects_of(store: &mut dyn Store, events: &[LoggedEvent]) -> Result<Effects, StoreError> {
    let mut by_user: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for e in events.iter().filter(|e| signs_out(e.event.kind)) {
        if let Some(id) = e.event.password_id {
            by_user.entry(&e.user).or_default().push(id);
        }
    }
    let mut effects = Effects::default();
    for (user, ids) in by_user {
        let retired: Vec<Retired> = store
            .passwords(Some(user))?
            .iter()
            .filter(|p| ids.contains(&p.id))
            .map(Retired::of)
            .collect();
        sign_out(&mut effects, user, &retired);
    }
    Ok(effects)
}

/// What the passwords whose fixed expiry fell in `(after, until]` ask of
/// this host.
pub fn expired_effects(
    store: &mut dyn Store,
    after: i64,
    until: i64,
) -> Result<Effects, StoreError> {
    let mut by_user: BTreeMap<String, Vec<Retired>> = BTreeMap::new();
    for p in store.expiring(after, until)? {
        by_user
            .entry(p.user.clone())
            .or_default()
            .push(Retired::of(&p));
    }
    let mut effects = Effects::default();
    for (user, retired) in by_user {
        sign_out(&mut effects, &user, &retired);
    }
    Ok(effects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_round_trips_and_junk_is_refused() {
        let p = Position {
            event: 42,
            expiry: 1_800_000_000,
        };
        assert_eq!(Position::decode(&p.encode()), Some(p));
        assert_eq!(Position::decode("event=1\n"), None);
        assert_eq!(Position::decode("event=x\nexpiry=1\n"), None);
        assert_eq!(Position::decode("rm -rf /\n"), None);
    }

    #[test]
    fn only_what_stops_a_password_signs_it_out() {
        assert!(signs_out(EventKind::Revoked));
        assert!(signs_out(EventKind::Wiped));
        assert!(signs_out(EventKind::Expired));
        assert!(signs_out(EventKind::Suspended));
        assert!(!signs_out(EventKind::Generated));
        assert!(!signs_out(EventKind::Resumed));
        assert!(!signs_out(EventKind::UsedAfterRevoke));
    }
}
