//! Where a user's primary password is read from, for its fingerprint:
//! /etc/shadow (the default), or a directory (`primary = dovecot`: a field
//! of Dovecot's passdb; `primary = ldap`: an attribute of the user's entry).
//! A directory that does not know a user hands over to /etc/shadow, so the
//! system accounts of a host whose mail users live in SQL or LDAP keep the
//! rule as they had it.

pub mod dovecot;
pub mod secret_file;

use crate::fingerprint::{Shadow, ShadowSource};
use crate::store::FingerprintSource;
use zeroize::Zeroizing;

/// What a source says about a user's primary password.
pub enum Observed {
    /// /etc/shadow's answer.
    Shadow(Shadow),
    /// The directory's material for the user: Dovecot's field, or the LDAP
    /// attribute's values (sorted, each after its length).
    Value {
        source: FingerprintSource,
        material: Zeroizing<Vec<u8>>,
    },
    /// The directory knows the user but gives nothing to fingerprint (no
    /// field, an empty one, an attribute the bind DN may not read).
    Nothing(FingerprintSource),
    /// Neither the directory nor /etc/shadow knows the user.
    Unknown(FingerprintSource),
    /// The directory could not be asked, or did not answer in time. `why`
    /// is for the log and the command's error: never a secret.
    Unavailable {
        source: FingerprintSource,
        why: String,
    },
}

impl Observed {
    pub fn source(&self) -> FingerprintSource {
        match self {
            Observed::Shadow(_) => FingerprintSource::Shadow,
            Observed::Value { source, .. }
            | Observed::Nothing(source)
            | Observed::Unknown(source)
            | Observed::Unavailable { source, .. } => *source,
        }
    }
}

/// A source of primary-password material.
pub trait PrimarySource {
    fn observe(&self, user: &str) -> Observed;
}

/// /etc/shadow (or whatever [`ShadowSource`] reads) as a primary source.
impl<T: ShadowSource + ?Sized> PrimarySource for T {
    fn observe(&self, user: &str) -> Observed {
        Observed::Shadow(self.lookup(user))
    }
}

/// A directory, then /etc/shadow for the users the directory does not know.
pub struct DirectoryFirst<'a> {
    pub directory: &'a dyn DirectorySource,
    pub shadow: &'a dyn ShadowSource,
}

/// A directory's answer for one user, before /etc/shadow is asked.
pub trait DirectorySource {
    fn source(&self) -> FingerprintSource;
    fn look_up(&self, user: &str) -> Observed;
}

impl PrimarySource for DirectoryFirst<'_> {
    fn observe(&self, user: &str) -> Observed {
        match self.directory.look_up(user) {
            Observed::Unknown(source) => match self.shadow.lookup(user) {
                Shadow::NoAccount => Observed::Unknown(source),
                known => Observed::Shadow(known),
            },
            other => other,
        }
    }
}

/// The source apppass.conf names (`primary`), with /etc/shadow behind a
/// directory for the users it does not know.
pub struct Configured {
    directory: Option<Box<dyn DirectorySource>>,
}

impl Configured {
    /// /etc/shadow alone (`directory` `None`), or behind a directory. The
    /// front ends get theirs from `apppass_stores::primary`, which knows
    /// every source (LDAP's needs a library core does not load).
    pub fn new(directory: Option<Box<dyn DirectorySource>>) -> Self {
        Configured { directory }
    }

    /// The source apppass.conf names, for every source core reads itself:
    /// /etc/shadow and Dovecot's passdb. `None` for LDAP.
    pub fn without_libraries(choice: &crate::config::PrimaryChoice) -> Option<Self> {
        use crate::config::PrimaryChoice;
        Some(match choice {
            PrimaryChoice::Shadow => Configured::new(None),
            PrimaryChoice::Dovecot { socket, field } => {
                Configured::new(Some(Box::new(dovecot::DovecotPrimary {
                    socket: socket.clone(),
                    field: field.clone(),
                })))
            }
            PrimaryChoice::Ldap(_) => return None,
        })
    }
}

impl PrimarySource for Configured {
    fn observe(&self, user: &str) -> Observed {
        let shadow = crate::sys::SystemShadow;
        match &self.directory {
            Some(d) => DirectoryFirst {
                directory: d.as_ref(),
                shadow: &shadow,
            }
            .observe(user),
            None => shadow.observe(user),
        }
    }
}
