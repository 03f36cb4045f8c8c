//! Log lines in the shape of the system's own modules. Every value from
//! outside is escaped to a single token (no space, no `=`, see
//! `escape::for_log`), so no value can pass for another field; nothing
//! derived from the candidate password is ever logged.

use crate::ffi::{self, LOG_INFO, LOG_NOTICE, LOG_WARNING};
use crate::items;
use apppass_core::escape::for_log;
use apppass_core::login::Tripwire;
use pam::module::PamHandle;

/// Who is logging in, escaped once for every line about this attempt.
pub struct Attempt {
    pub user: String,
    pub service: String,
    rhost: String,
    ruser: String,
    tty: String,
}

impl Attempt {
    pub fn new(pamh: &PamHandle, user: &[u8]) -> Self {
        let esc = |v: Option<&[u8]>| v.map(for_log).unwrap_or_default();
        Attempt {
            user: for_log(user),
            service: esc(items::service(pamh)),
            rhost: esc(items::rhost(pamh)),
            ruser: esc(items::ruser(pamh)),
            tty: esc(items::tty(pamh)),
        }
    }

    /// The `pam_unix` failure line, so fail2ban's pam-generic filter and
    /// habits built on it keep working; the reason follows on its own line.
    /// `rhost` is not last here, which is safe only because tty, ruser and
    /// user are escaped: a client's name (Dovecot may put it in
    /// `PAM_RUSER`) would otherwise carry a `rhost=` of its choosing.
    pub fn failure(&self, pamh: &PamHandle, reason: &str) {
        let (uid, euid) = (apppass_core::sys::uid(), apppass_core::sys::euid());
        ffi::syslog(
            pamh,
            LOG_NOTICE,
            &format!(
                "authentication failure; logname= uid={uid} euid={euid} tty={} ruser={} rhost={}  user={}",
                self.tty, self.ruser, self.rhost, self.user
            ),
        );
        ffi::syslog(
            pamh,
            LOG_INFO,
            &format!("user={} service={}: {reason}", self.user, self.service),
        );
    }

    /// A login with the primary password where `primary_until=` will
    /// refuse it (`when`: "from 2027-03-01"), at LOG_NOTICE.
    pub fn primary_used(&self, pamh: &PamHandle, when: &str) {
        ffi::syslog(
            pamh,
            LOG_NOTICE,
            &format!(
                "primary password used; user={} service={} rhost={}; app passwords required {when}",
                self.user, self.service, self.rhost
            ),
        );
    }

    /// The tripwire: a revoked, wiped or expired password was presented.
    /// `rhost` comes last as well, for filters anchored at the end of the
    /// line.
    pub fn tripwire(&self, pamh: &PamHandle, t: &Tripwire) {
        ffi::syslog(
            pamh,
            LOG_WARNING,
            &format!(
                "revoked app password used; user={} label=\"{}\" id={} revoked={} reason=\"{}\" rhost={}",
                self.user,
                for_log(t.label.as_bytes()),
                t.id,
                apppass_core::time::rfc3339(t.at),
                for_log(t.reason.as_bytes()),
                self.rhost
            ),
        );
    }

    pub fn success(&self, pamh: &PamHandle, label: &str) {
        let (uid, euid) = (apppass_core::sys::uid(), apppass_core::sys::euid());
        ffi::syslog(
            pamh,
            LOG_INFO,
            &format!(
                "authentication success; logname= uid={uid} euid={euid} tty={} ruser={} rhost={}  user={} label=\"{}\"",
                self.tty,
                self.ruser,
                self.rhost,
                self.user,
                for_log(label.as_bytes())
            ),
        );
    }
}
