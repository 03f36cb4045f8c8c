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

/// The longest a watcher waits between looks at the history. A store that
/// announces changes (PostgreSQL's `NOTIFY`) wakes it at once; the look
/// every second holds the 2 s promise where announcements do not arrive:
/// a pooler in transaction mode lends `LISTEN` to whichever server session
/// is free, and the notifications go to that session, not to the watcher.
pub const LOOK_EVERY_SECS: u64 = 1;

/// How often a watcher looks for passwords whose fixed expiry passed (the
/// contract: their sessions end within a minute); no history entry
/// announces those.
pub const EXPIRY_EVERY_SECS: i64 = 5;

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

/// How long a history ID a read skipped is looked for again. A store may
/// give an entry its ID when the entry is written and commit it after a
/// later one (PostgreSQL does), so a reader that moved past the ID would
/// never see the entry; an ID whose change was rolled back stays missing
/// for good, and is forgotten after this.
pub const HOLE_PATIENCE_SECS: i64 = 120;

/// At most this many skipped IDs are looked for (memory stays bounded; a
/// jump in the IDs, such as a sequence's after a crash, leaves only the
/// IDs just below the new one, where a change still under way would be).
pub const MAX_HOLES: usize = 64;

/// History IDs below the watcher's position that it has not seen yet:
/// each with the time it was first missed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holes(BTreeMap<i64, i64>);

impl Holes {
    /// Notes the IDs that a read of the entries after `after`, which gave
    /// `events` (in ID order), skipped.
    pub fn note(&mut self, after: i64, events: &[LoggedEvent], now: i64) {
        let mut next = after.saturating_add(1);
        for e in events {
            let from = next.max(e.id.saturating_sub(MAX_HOLES as i64));
            for id in from..e.id {
                self.0.insert(id, now);
            }
            next = e.id.saturating_add(1);
        }
        while self.0.len() > MAX_HOLES {
            self.0.pop_first();
        }
    }

    /// Forgets the IDs missed for longer than [`HOLE_PATIENCE_SECS`].
    pub fn expire(&mut self, now: i64) {
        self.0
            .retain(|_, since| now.saturating_sub(*since) <= HOLE_PATIENCE_SECS);
    }

    /// The IDs still looked for, lowest first.
    pub fn ids(&self) -> Vec<i64> {
        self.0.keys().copied().collect()
    }

    /// Takes `e` if it is one of the IDs looked for: whether it was.
    pub fn fill(&mut self, e: &LoggedEvent) -> bool {
        self.0.remove(&e.id).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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

    fn logged(id: i64) -> LoggedEvent {
        LoggedEvent {
            id,
            user: "u".into(),
            event: crate::store::Event {
                at: 0,
                kind: EventKind::Revoked,
                password_id: Some(1),
                label: None,
                reason: None,
                by: crate::store::Actor::Module,
            },
        }
    }

    #[test]
    fn ids_a_read_skipped_are_looked_for_until_they_come_or_time_runs_out() {
        let mut h = Holes::default();
        h.note(3, &[logged(4), logged(6), logged(9)], 100);
        assert_eq!(h.ids(), [5, 7, 8]);
        assert!(h.fill(&logged(7)));
        assert!(!h.fill(&logged(7)), "taken once");
        assert_eq!(h.ids(), [5, 8]);
        h.note(9, &[logged(11)], 150);
        assert_eq!(h.ids(), [5, 8, 10]);
        h.expire(100 + HOLE_PATIENCE_SECS + 1);
        assert_eq!(h.ids(), [10], "missed at 150, kept");
        h.expire(150 + HOLE_PATIENCE_SECS + 1);
        assert!(h.is_empty());
    }

    #[test]
    fn a_jump_in_the_ids_leaves_only_the_ones_just_below_bounded() {
        let mut h = Holes::default();
        h.note(0, &[logged(1_000_000_000)], 1);
        let ids = h.ids();
        assert_eq!(ids.len(), MAX_HOLES);
        assert_eq!(ids.first(), Some(&(1_000_000_000 - MAX_HOLES as i64)));
        assert_eq!(ids.last(), Some(&999_999_999));
        h.note(1_000_000_000, &[logged(1_000_000_003)], 2);
        assert_eq!(h.ids().len(), MAX_HOLES, "the oldest forgotten first");
        assert_eq!(h.ids().last(), Some(&1_000_000_002));
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
