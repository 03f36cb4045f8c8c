//! What the commands print, the same whether the command read the store
//! itself (as root) or apppassd did (for a user): the password alone on
//! stdout, tables or JSON on stdout, everything else on stderr.

use crate::render;
use apppass_core::escape::for_message as esc;
use apppass_protocol::records::{
    EventRecord, IssuedRecord, Named, NewPasswordRecord, PasswordRecord,
};
use std::io::Write;

/// A sentence for the user, on stderr.
pub(crate) fn notice(text: &str) {
    eprintln!("apppass: {text}");
}

/// Prints a new password on stdout, alone or as JSON. Called while the
/// password is not yet kept: if stdout is closed, full or a broken pipe,
/// it is not stored.
pub(crate) fn secret(new: &NewPasswordRecord, json: bool) -> std::io::Result<()> {
    let text = if json {
        zeroize::Zeroizing::new(render::generated_json(new))
    } else {
        new.password.clone()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Where the profile went, and what to do with it.
pub(crate) fn profile_written(path: &std::path::Path) {
    notice(&format!(
        "the configuration profile is in {} (mode 0600; it holds the password): open it on the device, then delete it",
        path.display()
    ));
}

/// The line after a password was stored.
pub(crate) fn issued(g: &IssuedRecord) {
    notice(&render::generated_summary(g));
}

pub(crate) fn list(rows: &[PasswordRecord], all: bool, json: bool) {
    if json {
        println!("{}", render::passwords_json(rows));
    } else if rows.is_empty() {
        notice(&format!(
            "no {}app passwords",
            if all { "" } else { "active " }
        ));
    } else {
        print!("{}", render::passwords_table(rows, all));
    }
}

pub(crate) fn history(user: &str, events: &[EventRecord], json: bool) {
    if json {
        println!("{}", render::events_json(events));
    } else if events.is_empty() {
        notice(&format!("no history for {}", esc(user)));
    } else {
        print!("{}", render::events_table(events));
    }
}

pub(crate) fn revoked(user: &str, passwords: &[Named]) {
    for p in passwords {
        notice(&format!(
            "revoked app password {} ('{}') of {}",
            p.id,
            esc(&p.label),
            esc(user)
        ));
    }
}

pub(crate) fn suspended(user: &str, p: &Named, suspended: bool) {
    notice(&format!(
        "{} app password {} ('{}') of {}",
        if suspended { "suspended" } else { "resumed" },
        p.id,
        esc(&p.label),
        esc(user)
    ));
}

pub(crate) use apppass_effects::SignedOut;

/// `ended 2 sessions of alice (imap from 192.0.2.7; sshd pid 4242)`, and
/// each warning, on stderr.
pub(crate) fn signed_out(s: &SignedOut) {
    if !s.ended.is_empty() {
        notice(&s.to_string());
    }
    for w in &s.warnings {
        notice(&format!("warning: {w}"));
    }
}

/// Whether what is printed on stdout goes nowhere. A closed stdout counts:
/// the Rust runtime reopens a closed standard descriptor on /dev/null.
pub(crate) fn stdout_discarded() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
        return true;
    };
    let (Ok(out), Ok(null)) = (
        std::fs::File::from(fd).metadata(),
        std::fs::metadata("/dev/null"),
    ) else {
        return false;
    };
    out.file_type().is_char_device() && out.rdev() == null.rdev()
}

/// What a delivery run did: mails given up and refused always (and logged),
/// the rest when asked (`apppass deliver`).
pub(crate) fn delivered(d: &apppass_core::notify::outbox::Delivered, loud: bool, on: bool) {
    for (user, kind, why) in &d.gave_up {
        let line = format!(
            "gave up mailing {} the {kind} notification: {why}",
            esc(user)
        );
        notice(&format!("warning: {line}"));
        apppass_effects::audit::record(&line);
    }
    for why in &d.retried {
        notice(&format!(
            "warning: a notification was not sent ({why}); it is tried again later"
        ));
    }
    if loud {
        notice(&format!(
            "mailed {} notification{}{}",
            d.sent,
            if d.sent == 1 { "" } else { "s" },
            if on {
                ""
            } else {
                " (notifications are off: config notify mail)"
            }
        ));
    }
}
