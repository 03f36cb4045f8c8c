//! The store seam: the [`Store`] trait every backend implements, the domain
//! types it speaks, its errors, and the file-level pieces every backend
//! shares (the key file and the safety checks on files and directories).

mod drift;
mod error;
pub mod key;
mod model;
pub mod safety;
mod traits;

pub use drift::{Change, SchemaDrift};
pub use error::{diagnose, Cause, Hint, StoreError};
pub use key::{key_path, Key};
pub use model::{
    Actor, Candidate, Credential, Event, EventKind, Fingerprint, FingerprintRow, FingerprintSource,
    LastUse, LoggedEvent, NetworkCheck, NewOutboxEntry, NewPassword, OutboxEntry, Password,
    PrimaryUse, Recorded, Revocation, SignInAttempts, Snapshot, Status,
};
pub use traits::{Finish, Store, WriteError, Writer};

/// The reason recorded when `init --new-key` revokes what the lost key's
/// fingerprints protected.
pub const REASON_KEY_REPLACED: &str = "key replaced";

/// Who opens the store decides how long a lock or a server may be waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opener {
    /// The PAM module: short waits, never creates or migrates.
    Module,
    /// The CLI and the daemons.
    Admin,
    /// `apppass watch`: a long-lived reader with the module's rights (the
    /// login role on PostgreSQL), waiting for changes.
    Watcher,
}
