//! Opening the store the module's arguments name (through the
//! configuration file), and telling the administrator, in the module's own
//! terms, what to change when it fails.

use crate::ffi::{self, LOG_ALERT, LOG_ERR};
use apppass_core::config::{self, ConfigError};
use apppass_core::module_args::ModuleArgs;
use apppass_core::store::{Hint, Opener, Store, StoreError};
use apppass_core::sys;
use pam::constants::PamResultCode;

/// Why the module could not get a store.
pub enum OpenError {
    /// The configuration file is unusable: a setup error (PAM_SERVICE_ERR).
    Config(ConfigError),
    /// The store is unavailable or refused (PAM_AUTHINFO_UNAVAIL).
    Store(StoreError),
}

pub fn open(opts: &ModuleArgs) -> Result<Box<dyn Store>, OpenError> {
    open_with_primary(opts).map(|(store, _)| store)
}

/// The store, and where the primary password is read from (`primary`).
pub fn open_with_primary(
    opts: &ModuleArgs,
) -> Result<(Box<dyn Store>, config::PrimaryChoice), OpenError> {
    let euid = sys::euid();
    // `db=` names the store alone: no configuration file is read, and the
    // primary password is /etc/shadow's.
    let (choice, primary) = match &opts.db {
        Some(db) => (
            config::StoreChoice::sqlite(db),
            config::PrimaryChoice::Shadow,
        ),
        None => {
            let found = config::resolve_config(opts.config.as_deref(), None, euid)
                .map_err(OpenError::Config)?;
            (found.store, found.primary)
        }
    };
    let store = apppass_stores::open(&choice, euid, Opener::Module).map_err(OpenError::Store)?;
    Ok((store, primary))
}

impl OpenError {
    /// Whether this process, not being root, may not read the store or the
    /// configuration file that names it: the case apppassd decides for.
    pub fn lacks_rights(&self) -> bool {
        let e = match self {
            OpenError::Store(e) | OpenError::Config(ConfigError::Unsafe(e)) => e,
            OpenError::Config(_) => return false,
        };
        sys::euid() != 0 && e.hint() == Some(Hint::Privilege)
    }

    /// Logs why (LOG_ERR, LOG_ALERT for corruption), prefixed by `context`,
    /// and returns the PAM code that fails closed.
    pub fn report(&self, pamh: &pam::module::PamHandle, context: &str) -> PamResultCode {
        match self {
            OpenError::Config(e) => {
                ffi::syslog(
                    pamh,
                    LOG_ERR,
                    &format!("{context}unusable configuration: {e}"),
                );
                PamResultCode::PAM_SERVICE_ERR
            }
            OpenError::Store(e) => {
                let level = if e.is_corruption() {
                    LOG_ALERT
                } else {
                    LOG_ERR
                };
                ffi::syslog(pamh, level, &format!("{context}{}", message(e)));
                PamResultCode::PAM_AUTHINFO_UNAVAIL
            }
        }
    }
}

/// The error's sentence, with what to change in the PAM file where that helps.
pub fn message(e: &StoreError) -> String {
    match e.hint() {
        Some(Hint::PointAtStore) => format!("{e}; point db= or config= at the right store"),
        Some(Hint::Privilege) => {
            format!("{e}; the service must run as root or as the store's owner")
        }
        None => e.to_string(),
    }
}
