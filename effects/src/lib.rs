//! apppass-effects: carrying out what core decided a change asks of the
//! host beyond the store (audit lines, Dovecot's auth cache flushed, the
//! sessions of a password taken out of service ended), the same way for
//! the command, the self-service daemon and the watcher.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod audit;
pub mod dovecot;
pub mod mail;

use apppass_core::effects::{Effect, Effects};
pub use apppass_protocol::records::EndedRecord as Ended;
use std::fmt;
use std::path::Path;

/// The sessions of one user that a change ended, and what could not be
/// done (each warning names the command to run).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignedOut {
    pub user: String,
    pub ended: Vec<Ended>,
    pub warnings: Vec<String>,
}

impl fmt::Display for SignedOut {
    /// `ended 2 sessions of alice (imap from 192.0.2.7; sshd pid 4242)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.ended.len();
        let list: Vec<String> = self.ended.iter().map(ToString::to_string).collect();
        write!(
            f,
            "ended {n} session{} of {} ({})",
            if n == 1 { "" } else { "s" },
            apppass_core::escape::for_message(&self.user),
            list.join("; ")
        )
    }
}

/// Audit lines to authpriv under `ident` (with `actor` appended, e.g.
/// " for alice"), then Dovecot cache flushes, then the sessions of
/// passwords taken out of service ended. Returns, per user, what was ended.
pub fn apply(
    effects: &Effects,
    dovecot_config: Option<&Path>,
    ident: &str,
    actor: &str,
) -> Vec<SignedOut> {
    let mut signed_out = Vec::new();
    let mut answering = dovecot::Answering::default();
    for e in effects.iter() {
        match e {
            Effect::Audit(line) => audit::record_as(ident, &format!("{line}{actor}")),
            Effect::FlushAuthCache(user) => dovecot::flush(dovecot_config, user, &mut answering),
            Effect::EndSessions {
                user,
                passwords,
                addresses,
            } => {
                let out = end_sessions(dovecot_config, user, passwords, addresses, &mut answering);
                if !out.ended.is_empty() {
                    audit::record_as(ident, &format!("{out}{actor}"));
                }
                signed_out.push(out);
            }
        }
    }
    signed_out
}

/// Ends what is logged in with `passwords` of `user`: Dovecot's
/// connections from `addresses` (unless Dovecot stopped answering earlier
/// in this change), and the PAM sessions registered with one of the
/// passwords.
pub fn end_sessions(
    dovecot_config: Option<&Path>,
    user: &str,
    passwords: &[i64],
    addresses: &[String],
    answering: &mut dovecot::Answering,
) -> SignedOut {
    let (connections, warnings) = dovecot::kick(dovecot_config, user, addresses, answering);
    let mut ended: Vec<Ended> = connections
        .into_iter()
        .map(|c| Ended::Dovecot {
            protocol: c.protocol,
            address: c.address,
        })
        .collect();
    let dir = Path::new(apppass_core::sessions::DIR);
    ended.extend(
        apppass_core::sessions::end(dir, user, passwords)
            .into_iter()
            .map(|r| Ended::Pam {
                service: r.service,
                pid: r.pid,
            }),
    );
    SignedOut {
        user: user.to_owned(),
        ended,
        warnings,
    }
}
