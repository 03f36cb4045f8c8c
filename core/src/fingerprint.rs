//! The primary-password fingerprint: HMAC-SHA256(key, user ‖ 0x00 ‖ shadow
//! hash without its leading `!`), taken at `generate` and compared after a
//! successful verify, so a primary password changed by any route (chpasswd,
//! usermod -p, an edited /etc/shadow) wipes the user's app passwords.
//!
//! The shadow password field holds one of three things, told apart here
//! once for the module, the CLI and the password hook:
//! - a hash: the primary password;
//! - `!` before a hash: the same password, locked by `passwd -l`;
//! - no password at all: empty, or `!`/`*` markers alone (`!`, `*`, `!!`,
//!   `!*`, `*LK*`), as `useradd` and `adduser --disabled-password` leave a
//!   mail-only account. App passwords are then the only way in; they work,
//!   and setting a first primary password later keeps them.

use crate::primary::{Observed, PrimarySource};
use crate::store::{FingerprintSource, Recorded, Store, StoreError};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

pub const REASON_PRIMARY_CHANGED: &str = "primary password changed";
pub const REASON_USER_REMOVED: &str = "user removed";

/// What the account databases say about a user.
pub enum Shadow {
    /// The shadow password field, as stored.
    Hash(Zeroizing<Vec<u8>>),
    /// A passwd entry but no shadow entry (LDAP, SSSD).
    NoEntry,
    /// Neither a passwd nor a shadow entry: a virtual user, or an account
    /// that was removed.
    NoAccount,
    /// The shadow database could not be read (not root, NSS outage).
    Unavailable,
}

pub trait ShadowSource {
    fn lookup(&self, user: &str) -> Shadow;
}

/// The primary password as a shadow password field describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Primary<'a> {
    /// A hash: the primary password is set.
    Set(&'a [u8]),
    /// `!` before a hash: locked with `passwd -l`, unlocked with `passwd -u`.
    Locked(&'a [u8]),
    /// Empty or markers only: no primary password was ever set.
    NotSet,
}

impl<'a> Primary<'a> {
    pub fn of(field: &'a [u8]) -> Self {
        let mut rest = field;
        while let Some(r) = rest.strip_prefix(b"!") {
            rest = r;
        }
        if rest.is_empty() || rest.starts_with(b"*") {
            Primary::NotSet
        } else if rest.len() < field.len() {
            Primary::Locked(rest)
        } else {
            Primary::Set(rest)
        }
    }

    /// What the fingerprint is taken over: the hash, lock or not; nothing
    /// for an account without a primary password.
    fn material(self) -> &'a [u8] {
        match self {
            Primary::Set(h) | Primary::Locked(h) => h,
            Primary::NotSet => b"",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// No fingerprint was taken for this user: nothing to compare.
    NotTaken,
    Unchanged,
    Changed,
    /// The account is locked (`passwd -l`): refuse, wipe nothing.
    Locked,
    /// A fingerprint was taken but its source cannot say anything now:
    /// fail closed, wipe nothing. Why, without a secret.
    Unavailable(String),
    /// The account had no primary password and now has one: not a change
    /// of a password anybody could have leaked. Record this fingerprint
    /// and go on.
    FirstPasswordSet([u8; 32]),
    /// A fingerprint was taken but the account no longer exists: its app
    /// passwords are revoked (`user removed`).
    UserRemoved,
    /// The fingerprint was taken from another source than the one asked
    /// now (`primary` changed, or a user moved between a directory and
    /// /etc/shadow): not a change of password. Record this one and go on.
    Retake(Recorded),
}

pub fn compute(key: &[u8], user: &str, material: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length; new_from_slice cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return [0u8; 32];
    };
    mac.update(user.as_bytes());
    mac.update(&[0]);
    mac.update(material);
    mac.finalize().into_bytes().into()
}

/// The fingerprint of a shadow password field.
pub fn of_field(key: &[u8], user: &str, field: &[u8]) -> [u8; 32] {
    compute(key, user, Primary::of(field).material())
}

/// The fingerprint of a directory's material: the source's name goes in
/// too, so the same bytes from Dovecot and from LDAP never compare equal.
pub fn of_directory(
    key: &[u8],
    user: &str,
    source: FingerprintSource,
    material: &[u8],
) -> [u8; 32] {
    let mut tagged = Zeroizing::new(Vec::with_capacity(material.len() + 8));
    tagged.extend_from_slice(source.as_str().as_bytes());
    tagged.push(0);
    tagged.extend_from_slice(material);
    compute(key, user, &tagged)
}

/// What to record for `user` from `observed`, when it gives anything.
pub fn take(key: &[u8], user: &str, observed: &Observed) -> Option<Recorded> {
    match observed {
        Observed::Shadow(Shadow::Hash(field)) => Some(Recorded {
            fp: of_field(key, user, field),
            source: FingerprintSource::Shadow,
        }),
        Observed::Value { source, material } => Some(Recorded {
            fp: of_directory(key, user, *source, material),
            source: *source,
        }),
        _ => None,
    }
}

fn same(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

/// Compares `user`'s recorded fingerprint with what `primary` says now.
/// The source is not asked for a user without a fingerprint.
pub fn check(
    store: &mut dyn Store,
    user: &str,
    primary: &dyn PrimarySource,
) -> Result<Check, StoreError> {
    let Some(recorded) = store.fingerprint(user)? else {
        return Ok(Check::NotTaken);
    };
    Ok(compare(
        &store.key()[..],
        user,
        &recorded,
        &primary.observe(user),
    ))
}

/// `recorded` against `observed`. Only /etc/shadow can say that an
/// account is gone: a directory that does not know a user, or gives
/// nothing for one it fingerprinted, fails closed and wipes nothing.
pub fn compare(key: &[u8], user: &str, recorded: &Recorded, observed: &Observed) -> Check {
    let from_shadow = recorded.source == FingerprintSource::Shadow;
    match observed {
        // A directory's fingerprint is never handed over to /etc/shadow:
        // the directory no longer giving the user (an entry disabled or
        // moved, apppass.conf no longer naming it, a PAM file with db=)
        // must not let a reset made there go unseen. `check-primary
        // --retake` moves such a user on, by hand.
        Observed::Shadow(_) if !from_shadow => Check::Unavailable(format!(
            "the fingerprint was taken from {} and it does not give this user now (it no longer knows them, or apppass.conf no longer names it); run apppass check-primary --retake USER once that is intended",
            name(recorded.source)
        )),
        Observed::Shadow(Shadow::Hash(field)) => shadow_field(key, user, &recorded.fp, field),
        Observed::Shadow(Shadow::NoAccount) => Check::UserRemoved,
        Observed::Value { source, material } => {
            let now = of_directory(key, user, *source, material);
            if *source != recorded.source {
                Check::Retake(Recorded {
                    fp: now,
                    source: *source,
                })
            } else if same(&now, &recorded.fp) {
                Check::Unchanged
            } else {
                Check::Changed
            }
        }
        Observed::Shadow(Shadow::NoEntry) => {
            Check::Unavailable("the account has no shadow entry".into())
        }
        Observed::Shadow(Shadow::Unavailable) => {
            Check::Unavailable("/etc/shadow is not readable (not root, or an NSS outage)".into())
        }
        Observed::Nothing(source) => Check::Unavailable(format!(
            "{} gives nothing to fingerprint for this user",
            name(*source)
        )),
        Observed::Unknown(source) => Check::Unavailable(format!(
            "neither {} nor /etc/shadow knows this user",
            name(*source)
        )),
        Observed::Unavailable { why, .. } => Check::Unavailable(why.clone()),
    }
}

/// A source as messages name it.
pub fn name(source: FingerprintSource) -> &'static str {
    match source {
        FingerprintSource::Shadow => "/etc/shadow",
        FingerprintSource::Dovecot => "Dovecot's passdb",
        FingerprintSource::Ldap => "the LDAP directory",
    }
}

/// A fingerprint of a shadow field's hash, as [`Check::FirstPasswordSet`]
/// carries it, ready to record.
pub fn shadow(fp: [u8; 32]) -> Recorded {
    Recorded {
        fp,
        source: FingerprintSource::Shadow,
    }
}

/// A shadow password field against a fingerprint taken from one.
fn shadow_field(key: &[u8], user: &str, recorded: &[u8; 32], field: &[u8]) -> Check {
    let no_password = compute(key, user, b"");
    match Primary::of(field) {
        Primary::Locked(_) => Check::Locked,
        Primary::Set(hash) => {
            let now = compute(key, user, hash);
            if same(&now, recorded) {
                Check::Unchanged
            } else if same(&no_password, recorded) {
                Check::FirstPasswordSet(now)
            } else {
                Check::Changed
            }
        }
        Primary::NotSet => {
            // Earlier versions took it over the field without one
            // leading `!` (`*` for `*`); that is the same state.
            let legacy = compute(key, user, field.strip_prefix(b"!").unwrap_or(field));
            if same(&no_password, recorded) || same(&legacy, recorded) {
                Check::Unchanged
            } else {
                // The primary password was removed: a change.
                Check::Changed
            }
        }
    }
}

/// Records (or replaces) the fingerprint of `user`.
pub fn record(
    store: &mut dyn Store,
    user: &str,
    fp: &Recorded,
    now: i64,
) -> Result<(), StoreError> {
    store
        .write(Some(user), &mut |w| {
            w.set_fingerprint(user, fp, now)?;
            Ok(crate::store::Finish::Commit)
        })
        .map_err(|e| e.into_store_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_prefix_is_ignored_and_user_and_key_matter() {
        let key = [7u8; 32];
        let a = of_field(&key, "alice", b"$y$j9T$salt$hash");
        assert_eq!(a, of_field(&key, "alice", b"!$y$j9T$salt$hash"));
        assert_ne!(a, of_field(&key, "bob", b"$y$j9T$salt$hash"));
        assert_ne!(a, of_field(&[8u8; 32], "alice", b"$y$j9T$salt$hash"));
        assert_ne!(a, of_field(&key, "alice", b"$y$j9T$salt$other"));
        // The separator keeps ("ab", "c...") and ("a", "bc...") apart.
        assert_ne!(compute(&key, "ab", b"c"), compute(&key, "a", b"bc"));
    }

    #[test]
    fn shadow_fields_are_told_apart() {
        for none in [&b""[..], b"!", b"*", b"!!", b"!*", b"*LK*", b"!!*"] {
            assert_eq!(Primary::of(none), Primary::NotSet, "{none:?}");
        }
        assert_eq!(Primary::of(b"$y$j9T$s$h"), Primary::Set(b"$y$j9T$s$h"));
        assert_eq!(Primary::of(b"!$y$j9T$s$h"), Primary::Locked(b"$y$j9T$s$h"));
        assert_eq!(Primary::of(b"!!$6$s$h"), Primary::Locked(b"$6$s$h"));
        assert_eq!(
            Primary::of(b"abDEF12345678"),
            Primary::Set(b"abDEF12345678")
        );
        // Every way of saying "no password" fingerprints the same.
        let key = [1u8; 32];
        assert_eq!(of_field(&key, "u", b"!"), of_field(&key, "u", b"*"));
    }
}
