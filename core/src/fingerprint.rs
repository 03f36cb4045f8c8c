//! The primary-password fingerprint: HMAC-SHA256(key, user ‖ 0x00 ‖ shadow
//! hash without its leading `!`), taken at `generate` and compared after a
//! successful verify, so a primary password changed by any route (chpasswd,
//! usermod -p, an edited /etc/shadow) wipes the user's app passwords.

use crate::store::{Store, StoreError};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

pub const REASON_PRIMARY_CHANGED: &str = "primary password changed";

pub enum Shadow {
    Hash(Zeroizing<Vec<u8>>),
    /// The user has no shadow entry (a virtual user, an LDAP user).
    NoEntry,
    /// The shadow database could not be read (not root, NSS outage).
    Unavailable,
}

pub trait ShadowSource {
    fn lookup(&self, user: &str) -> Shadow;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// No fingerprint was taken for this user: nothing to compare.
    NotTaken,
    Unchanged,
    Changed,
    /// The account is locked (`passwd -l`): refuse, wipe nothing.
    Locked,
    /// A fingerprint was taken but the shadow entry cannot be read now.
    Unavailable,
}

pub fn compute(key: &[u8], user: &str, shadow_hash: &[u8]) -> [u8; 32] {
    let unlocked = shadow_hash.strip_prefix(b"!").unwrap_or(shadow_hash);
    // HMAC takes keys of any length; new_from_slice cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return [0u8; 32];
    };
    mac.update(user.as_bytes());
    mac.update(&[0]);
    mac.update(unlocked);
    mac.finalize().into_bytes().into()
}

/// The fingerprint to record at `generate`, if the user has a readable
/// shadow entry.
pub fn take(store: &Store, user: &str, shadow: &dyn ShadowSource) -> Option<[u8; 32]> {
    match shadow.lookup(user) {
        Shadow::Hash(h) => Some(compute(&store.key()[..], user, &h)),
        Shadow::NoEntry | Shadow::Unavailable => None,
    }
}

pub fn check(store: &Store, user: &str, shadow: &dyn ShadowSource) -> Result<Check, StoreError> {
    let Some(recorded) = store.fingerprint(user)? else {
        return Ok(Check::NotTaken);
    };
    Ok(match shadow.lookup(user) {
        Shadow::Hash(h) if h.starts_with(b"!") => Check::Locked,
        Shadow::Hash(h) => {
            let now = compute(&store.key()[..], user, &h);
            if bool::from(now.as_slice().ct_eq(&recorded)) {
                Check::Unchanged
            } else {
                Check::Changed
            }
        }
        Shadow::NoEntry | Shadow::Unavailable => Check::Unavailable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_prefix_is_ignored_and_user_and_key_matter() {
        let key = [7u8; 32];
        let a = compute(&key, "alice", b"$y$j9T$salt$hash");
        assert_eq!(a, compute(&key, "alice", b"!$y$j9T$salt$hash"));
        assert_ne!(a, compute(&key, "bob", b"$y$j9T$salt$hash"));
        assert_ne!(a, compute(&[8u8; 32], "alice", b"$y$j9T$salt$hash"));
        assert_ne!(a, compute(&key, "alice", b"$y$j9T$salt$other"));
        // The separator keeps ("ab", "c...") and ("a", "bc...") apart.
        assert_ne!(compute(&key, "ab", b"c"), compute(&key, "a", b"bc"));
    }
}
