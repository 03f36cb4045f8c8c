//! Opening the store the module's arguments name, and telling the
//! administrator, in the module's own terms, what to change when it fails.

use apppass_core::module_args::ModuleArgs;
use apppass_core::store::{Hint, Opener, Store, StoreError};
use apppass_core::sys;
use apppass_store_sqlite::SqliteStore;

pub fn open(opts: &ModuleArgs) -> Result<Box<dyn Store>, StoreError> {
    Ok(Box::new(SqliteStore::open(
        &opts.db,
        sys::euid(),
        Opener::Module,
    )?))
}

/// The error's sentence, with what to change in the PAM file where that helps.
pub fn message(e: &StoreError) -> String {
    match e.hint() {
        Some(Hint::PointAtStore) => format!("{e}; point db= at the right store"),
        Some(Hint::Privilege) => {
            format!("{e}; the service must run as root or as the store's owner")
        }
        None => e.to_string(),
    }
}
