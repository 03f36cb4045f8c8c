//! Carrying out core's effects: the same for the command and the
//! self-service daemon.

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
