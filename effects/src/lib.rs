//! apppass-effects: carrying out what core decided a change asks of the
//! host beyond the store (audit lines, Dovecot's auth cache flushed), the
//! same way for the command and the self-service daemon.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod audit;
pub mod dovecot;

use apppass_core::effects::{Effect, Effects};
use std::path::Path;

/// Audit lines to authpriv under `ident` (with `actor` appended, e.g.
/// " for alice"), then Dovecot cache flushes.
pub fn apply(effects: &Effects, dovecot_config: Option<&Path>, ident: &str, actor: &str) {
    for e in effects.iter() {
        match e {
            Effect::Audit(line) => crate::audit::record_as(ident, &format!("{line}{actor}")),
            Effect::FlushAuthCache(user) => crate::dovecot::flush(dovecot_config, user),
        }
    }
}
