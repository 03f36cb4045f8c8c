//! Configuration profiles made with a new password, waiting to be fetched:
//! by the session that made them (the page's "Download profile" link) or
//! once by the QR code's link. In memory only, bounded in number, and
//! gone after ten minutes or as soon as that session leaves the page.
//!
//! Nothing here keeps a secret it does not need: a session is known by a
//! hash of its token, the QR link's token only by its hash, and the
//! profile's bytes (the password is inside) are zeroized when dropped.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// How long a profile can be fetched.
pub const TTL: Duration = Duration::from_secs(10 * 60);
/// Profiles kept at once (one per session at most).
pub const MAX_PROFILES: usize = 256;
/// Profiles kept at once for one user, however many sessions they hold:
/// one user cannot take every place.
pub const MAX_PER_USER: usize = 4;
/// How long a used or expired link is remembered, to say "gone" rather
/// than "not found".
const GONE_KEPT: Duration = Duration::from_secs(60 * 60);
const MAX_GONE: usize = 4096;
/// Ids and tokens are 32 random bytes, base64url without padding.
pub const KEY_LEN: usize = 43;

/// A profile as served.
#[derive(Clone)]
pub struct Profile {
    pub bytes: Zeroizing<Vec<u8>>,
    /// A safe file name ending in `.mobileconfig`.
    pub filename: String,
}

/// Where a kept profile is found: the session's link and the QR link.
pub struct Made {
    pub id: String,
    pub token: Zeroizing<String>,
}

/// What a link finds.
pub enum Found {
    Profile(Profile),
    /// Used already, expired, or its page left.
    Gone,
    /// Never made here, or not the asker's.
    Unknown,
}

struct Entry {
    session: [u8; 32],
    user: [u8; 32],
    token: [u8; 32],
    profile: Profile,
    since: Instant,
    qr_used: bool,
}

#[derive(Default)]
struct Store {
    entries: HashMap<String, Entry>,
    gone: HashMap<[u8; 32], Instant>,
}

#[derive(Default)]
pub struct Profiles {
    store: Mutex<Store>,
}

fn hash(kind: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"apppass-web profiles v1\0");
    h.update(kind);
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// A session as remembered: never its token.
fn session_key(session: &str) -> [u8; 32] {
    hash(b"session", &[session.as_bytes()])
}

fn token_key(token: &str) -> [u8; 32] {
    hash(b"token", &[token.as_bytes()])
}

fn id_key(session: &[u8; 32], id: &str) -> [u8; 32] {
    hash(b"id", &[session, id.as_bytes()])
}

/// Whether `key` could be an id or a token made here: checked before any
/// lookup, so odd paths cost nothing.
pub fn well_formed(key: &str) -> bool {
    key.len() == KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Store {
    /// Moves expired entries to `gone`, and forgets old `gone` ones.
    fn sweep(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.since) >= TTL)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.retire(&id, now);
        }
        self.gone
            .retain(|_, at| now.saturating_duration_since(*at) < GONE_KEPT);
    }

    fn retire(&mut self, id: &str, now: Instant) {
        let Some(e) = self.entries.remove(id) else {
            return;
        };
        if self.gone.len() + 2 > MAX_GONE {
            // The oldest go first; a forgotten link is then "not found".
            let mut by_age: Vec<([u8; 32], Instant)> =
                self.gone.iter().map(|(k, t)| (*k, *t)).collect();
            by_age.sort_by_key(|(_, t)| *t);
            for (k, _) in by_age.into_iter().take(MAX_GONE / 4) {
                self.gone.remove(&k);
            }
        }
        self.gone.insert(e.token, now);
        self.gone.insert(id_key(&e.session, id), now);
    }

    /// Retires every profile of the session known as `owner`.
    fn retire_session(&mut self, owner: &[u8; 32], now: Instant) {
        let own: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.session == *owner)
            .map(|(id, _)| id.clone())
            .collect();
        for id in own {
            self.retire(&id, now);
        }
    }

    fn is_gone(&self, key: &[u8; 32]) -> bool {
        self.gone.contains_key(key)
    }
}

impl Profiles {
    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `profile` for `session` of `user` (in place of any it had);
    /// its links, or `None` when too many are kept, in all or for `user`.
    pub fn insert(
        &self,
        session: &str,
        user: &str,
        profile: Profile,
        now: Instant,
    ) -> Option<Made> {
        let mut store = self.lock();
        store.sweep(now);
        let owner = session_key(session);
        store.retire_session(&owner, now);
        let user = hash(b"user", &[user.as_bytes()]);
        let theirs = store.entries.values().filter(|e| e.user == user).count();
        if store.entries.len() >= MAX_PROFILES || theirs >= MAX_PER_USER {
            return None;
        }
        let id = crate::csrf::random();
        let token = Zeroizing::new(crate::csrf::random());
        store.entries.insert(
            id.clone(),
            Entry {
                session: owner,
                user,
                token: token_key(&token),
                profile,
                since: now,
                qr_used: false,
            },
        );
        Some(Made { id, token })
    }

    /// The profile `id`, for the session that made it only: another
    /// session's is [`Found::Unknown`], as if it did not exist.
    pub fn by_session(&self, session: &str, id: &str, now: Instant) -> Found {
        let mut store = self.lock();
        store.sweep(now);
        let owner = session_key(session);
        match store.entries.get(id) {
            Some(e) if e.session == owner => Found::Profile(e.profile.clone()),
            Some(_) => Found::Unknown,
            None if store.is_gone(&id_key(&owner, id)) => Found::Gone,
            None => Found::Unknown,
        }
    }

    /// The profile whose QR link holds `token`, once; `peek` (a HEAD
    /// request, a link previewer) says what it would find and uses
    /// nothing up.
    pub fn by_token(&self, token: &str, now: Instant, peek: bool) -> Found {
        let mut store = self.lock();
        store.sweep(now);
        let key = token_key(token);
        // Compared in constant time: the token is the link's only secret.
        let gone = store.is_gone(&key);
        let hit = store
            .entries
            .values_mut()
            .find(|e| bool::from(e.token.ct_eq(&key)));
        match hit {
            Some(e) if e.qr_used => Found::Gone,
            Some(e) => {
                e.qr_used |= !peek;
                Found::Profile(e.profile.clone())
            }
            None if gone => Found::Gone,
            None => Found::Unknown,
        }
    }

    /// `session` left the page that showed its profile: its links stop
    /// working.
    pub fn leave(&self, session: &str, now: Instant) {
        let mut store = self.lock();
        // Every page load of every user passes here: expired profiles are
        // dropped (and zeroized) soon, even when nobody asks for them.
        store.sweep(now);
        let owner = session_key(session);
        store.retire_session(&owner, now);
    }

    /// How many profiles are kept (for the tests).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A file name for the profile of the password labelled `label`: its
/// letters, digits, dots, dashes and underscores (others become `-`),
/// never a path or a quote.
pub fn filename(label: &str) -> String {
    let mut name: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let name = name.trim_matches('-');
    if name.is_empty() {
        "apppass.mobileconfig".into()
    } else {
        format!("apppass-{name}.mobileconfig")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile {
            bytes: Zeroizing::new(b"<plist/>".to_vec()),
            filename: "apppass.mobileconfig".into(),
        }
    }

    fn is_profile(f: Found) -> bool {
        matches!(f, Found::Profile(_))
    }

    fn is_gone(f: Found) -> bool {
        matches!(f, Found::Gone)
    }

    fn is_unknown(f: Found) -> bool {
        matches!(f, Found::Unknown)
    }

    #[test]
    fn the_session_fetches_its_own_and_the_qr_link_works_once() {
        let p = Profiles::default();
        let t0 = Instant::now();
        let made = p.insert("session-a", "ann", profile(), t0).unwrap();
        assert!(well_formed(&made.id) && well_formed(&made.token));
        assert!(is_profile(p.by_session("session-a", &made.id, t0)));
        assert!(is_profile(p.by_session("session-a", &made.id, t0)));
        assert!(is_unknown(p.by_session("session-b", &made.id, t0)));
        assert!(is_unknown(p.by_token(&made.id, t0, false)));
        // A HEAD (a link previewer) uses nothing up.
        assert!(is_profile(p.by_token(&made.token, t0, true)));
        assert!(is_profile(p.by_token(&made.token, t0, false)));
        assert!(is_gone(p.by_token(&made.token, t0, false)));
        assert!(is_unknown(p.by_token(&crate::csrf::random(), t0, false)));
        // The session's own link still works until the page is left.
        assert!(is_profile(p.by_session("session-a", &made.id, t0)));
        p.leave("session-b", t0);
        assert!(is_profile(p.by_session("session-a", &made.id, t0)));
        p.leave("session-a", t0);
        assert!(is_gone(p.by_session("session-a", &made.id, t0)));
        assert!(is_unknown(p.by_session("session-b", &made.id, t0)));
        assert!(is_gone(p.by_token(&made.token, t0, false)));
        assert!(p.is_empty());
    }

    #[test]
    fn ten_minutes_end_both_links_and_a_new_profile_replaces_the_last() {
        let p = Profiles::default();
        let t0 = Instant::now();
        let made = p.insert("s", "ann", profile(), t0).unwrap();
        let later = t0 + TTL - Duration::from_secs(1);
        assert!(is_profile(p.by_session("s", &made.id, later)));
        assert!(is_gone(p.by_session("s", &made.id, t0 + TTL)));
        assert!(is_gone(p.by_token(&made.token, t0 + TTL, false)));
        let first = p.insert("s", "ann", profile(), t0).unwrap();
        let second = p.insert("s", "ann", profile(), t0).unwrap();
        assert_eq!(p.len(), 1);
        assert!(is_gone(p.by_token(&first.token, t0, false)));
        assert!(is_profile(p.by_token(&second.token, t0, false)));
        // Gone links are forgotten after a while: then just unknown.
        assert!(is_unknown(p.by_token(
            &first.token,
            t0 + GONE_KEPT * 2,
            false
        )));
    }

    #[test]
    fn the_store_is_bounded() {
        let p = Profiles::default();
        let t0 = Instant::now();
        for i in 0..MAX_PROFILES {
            assert!(p
                .insert(&format!("s{i}"), &format!("u{i}"), profile(), t0)
                .is_some());
        }
        assert!(p.insert("one more", "ann", profile(), t0).is_none());
        // Expired ones make room.
        assert!(p.insert("one more", "ann", profile(), t0 + TTL).is_some());
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn one_user_cannot_take_every_place() {
        let p = Profiles::default();
        let t0 = Instant::now();
        for i in 0..MAX_PER_USER {
            assert!(p.insert(&format!("s{i}"), "ann", profile(), t0).is_some());
        }
        assert!(p.insert("another of ann's", "ann", profile(), t0).is_none());
        assert!(p.insert("bob's", "bob", profile(), t0).is_some());
        // Leaving a page frees its place; expired ones are swept on any leave.
        p.leave("s0", t0);
        assert!(p.insert("another of ann's", "ann", profile(), t0).is_some());
        p.leave("nobody's", t0 + TTL);
        assert!(p.is_empty());
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(filename("iPhone Mail"), "apppass-iPhone-Mail.mobileconfig");
        assert_eq!(filename("../\"x\";\r\n<b>"), "apppass-x-b.mobileconfig");
        assert_eq!(filename("Ärger"), "apppass-rger.mobileconfig");
        assert_eq!(filename("***"), "apppass.mobileconfig");
        assert!(filename(&"a".repeat(200)).len() < 64);
    }

    #[test]
    fn only_well_formed_keys_are_looked_up() {
        assert!(well_formed(&"A".repeat(KEY_LEN)));
        assert!(!well_formed(&"A".repeat(KEY_LEN - 1)));
        assert!(!well_formed(&"A".repeat(KEY_LEN + 1)));
        assert!(!well_formed(&format!("{}/", "A".repeat(KEY_LEN - 1))));
        assert!(!well_formed(&format!("{}=", "A".repeat(KEY_LEN - 1))));
    }
}
