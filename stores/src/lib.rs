//! The one place that knows every backend: it opens the store a
//! configuration names, behind core's trait. Front ends (the module, the
//! CLI, the daemons) call this and nothing backend-specific for their
//! everyday work.
//!
//! Linked into the PAM module: no path here may panic inside the host
//! process.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

use apppass_core::config::{PrimaryChoice, StoreChoice};
use apppass_core::primary::Configured;
use apppass_core::store::{Opener, Store, StoreError};
use apppass_store_postgres::PgStore;
use apppass_store_sqlite::SqliteStore;

pub use apppass_store_postgres as postgres;
pub use apppass_store_sqlite as sqlite;

/// Opens the chosen store. The module connects to PostgreSQL with
/// `conninfo` (the login role); everyone else with `admin_conninfo`.
pub fn open(choice: &StoreChoice, euid: u32, opener: Opener) -> Result<Box<dyn Store>, StoreError> {
    match choice {
        StoreChoice::Sqlite { db, key } => {
            Ok(Box::new(SqliteStore::open_with_key(db, key, euid, opener)?))
        }
        StoreChoice::Postgres {
            conninfo,
            admin_conninfo,
            key,
        } => {
            let which = match opener {
                Opener::Module | Opener::Watcher => conninfo,
                Opener::Admin => admin_conninfo.as_ref().unwrap_or(conninfo),
            };
            Ok(Box::new(PgStore::open(which, key, euid, opener)?))
        }
    }
}

/// Where primary passwords are read from, as apppass.conf says
/// (`primary`): /etc/shadow, or a directory with /etc/shadow behind it for
/// the users the directory does not know.
pub fn primary(choice: &PrimaryChoice) -> Configured {
    match choice {
        PrimaryChoice::Ldap(settings) => {
            Configured::new(Some(Box::new(apppass_primary_ldap::LdapPrimary {
                settings: settings.clone(),
            })))
        }
        other => Configured::without_libraries(other).unwrap_or_else(|| Configured::new(None)),
    }
}

/// How the chosen store is named in messages, without opening it.
pub fn describe(choice: &StoreChoice) -> String {
    match choice {
        StoreChoice::Sqlite { db, .. } => db.display().to_string(),
        StoreChoice::Postgres { conninfo, .. } => apppass_store_postgres::describe(conninfo),
    }
}
