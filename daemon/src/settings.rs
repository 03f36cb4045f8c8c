//! What the daemon was started with.

use apppass_core::config::{LoginChecker, PrimaryChoice, StoreChoice, WebSettings};
use std::path::PathBuf;

pub struct Settings {
    pub store: StoreChoice,
    /// The PAM service users sign in with.
    pub service: String,
    /// Replaces /etc/pam.d (tests).
    pub pam_dir: Option<PathBuf>,
    pub dovecot_config: Option<PathBuf>,
    /// Who the web page runs as and how it signs users in.
    pub web: WebSettings,
    /// Where web sessions are kept.
    pub session_dir: PathBuf,
    /// Where primary passwords are read from for their fingerprints.
    pub primary: PrimaryChoice,
    /// What devices are set up with (apppass.conf's imap_host…).
    pub setup: apppass_core::setup::DeviceSetup,
    /// The users for whom logins are checked (`login_checker`).
    pub login_checkers: Vec<LoginChecker>,
    /// The MTA's submission command for notifications.
    pub sendmail: PathBuf,
}

impl Settings {
    /// The uid of the web page's user, when it has one (never root).
    pub fn web_uid(&self) -> Option<u32> {
        apppass_core::sys::passwd_uid(&self.web.user)
            .ok()
            .flatten()
            .filter(|&u| u != 0)
    }

    /// The `login_checker` entry whose user has `uid`, if any.
    pub fn login_checker(&self, uid: u32) -> Option<&LoginChecker> {
        self.login_checkers
            .iter()
            .find(|c| apppass_core::sys::passwd_uid(&c.user) == Ok(Some(uid)))
    }

    pub(crate) fn open_store(
        &self,
    ) -> Result<Box<dyn apppass_core::store::Store>, crate::failure::Failure> {
        apppass_stores::open(
            &self.store,
            apppass_core::sys::euid(),
            apppass_core::store::Opener::Admin,
        )
        .map_err(Into::into)
    }
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A line for the audit log (authpriv, as `apppassd`).
pub(crate) fn audit(line: &str) {
    apppass_effects::audit::record_as("apppassd", line);
}
