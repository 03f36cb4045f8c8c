//! Audit lines for every change, to syslog (authpriv, ident `apppass`).
//! Never a secret or a hash. A host without a syslog socket loses the line,
//! not the change.

use syslog::{Facility, Formatter3164};

pub fn record(message: &str) {
    record_as("apppass", message)
}

/// A line under another program name (`apppassd`).
pub fn record_as(ident: &str, message: &str) {
    let formatter = Formatter3164 {
        facility: Facility::LOG_AUTHPRIV,
        hostname: None,
        process: ident.into(),
        pid: std::process::id(),
    };
    if let Ok(mut writer) = syslog::unix(formatter) {
        let by = apppass_core::sys::uid();
        let _ = writer.notice(format!("{message} by uid={by}"));
    }
}
