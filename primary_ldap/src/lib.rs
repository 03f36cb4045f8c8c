//! `primary = ldap`: the primary password as the user's LDAP entry holds
//! it (an attribute such as userPassword or pwdChangedTime), read through
//! OpenLDAP's libldap, loaded with dlopen on the first lookup so that a
//! host using /etc/shadow never maps it. No thread is started; SIGPIPE
//! cannot reach the host; each lookup is bounded by one 2 s deadline.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod escape;
mod kept;
mod libldap;
mod lookup;
mod sigpipe;

pub use escape::filter_value;
pub use lookup::Found;

use apppass_core::config::LdapSettings;
use apppass_core::primary::{DirectorySource, Observed};
use apppass_core::store::FingerprintSource;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// How long one lookup may take, connection and bind included.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// The directory apppass.conf names.
pub struct LdapPrimary {
    pub settings: LdapSettings,
}

impl LdapPrimary {
    /// `user`'s entry's values of the configured attribute.
    pub fn search(&self, user: &str) -> Result<Found, String> {
        let _pipe = sigpipe::PipeGuard::new();
        let s = &self.settings;
        let password = || match &s.bind_password_file {
            Some(path) => {
                apppass_core::primary::secret_file::load(path, apppass_core::sys::euid()).map(Some)
            }
            None => Ok(None),
        };
        kept::search(s, &password, user, Instant::now() + DEADLINE)
    }
}

/// The attribute's values as one canonical byte string: each value after
/// its length (4 bytes, big-endian), in sorted order.
fn material(values: &[Zeroizing<Vec<u8>>]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::new());
    for v in values {
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v);
    }
    out
}

impl DirectorySource for LdapPrimary {
    fn source(&self) -> FingerprintSource {
        FingerprintSource::Ldap
    }

    fn look_up(&self, user: &str) -> Observed {
        match self.search(user) {
            Ok(Found::NoEntry) => Observed::Unknown(FingerprintSource::Ldap),
            Ok(Found::Values(v)) if v.is_empty() => Observed::Nothing(FingerprintSource::Ldap),
            Ok(Found::Values(v)) => Observed::Value {
                source: FingerprintSource::Ldap,
                material: material(&v),
            },
            Err(why) => Observed::Unavailable {
                source: FingerprintSource::Ldap,
                why: format!("the LDAP directory at {}: {why}", self.settings.uri),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn material_is_canonical_and_unambiguous() {
        let v = |s: &[&str]| -> Vec<Zeroizing<Vec<u8>>> {
            s.iter()
                .map(|x| Zeroizing::new(x.as_bytes().to_vec()))
                .collect()
        };
        assert_ne!(*material(&v(&["ab", "c"])), *material(&v(&["a", "bc"])));
        assert_eq!(&material(&v(&["x"]))[..], b"\0\0\0\x01x");
    }
}
