//! What each notification says: plain text in English, with what happened,
//! when, from where, by whom and what to do, and never a secret or a hash
//! (nothing secret is in its facts to begin with).

use serde_json::{json, Value};

/// What happened, as the outbox keeps it (`kind` and JSON `facts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// A password was made for the user, by `by` (admin, self, web).
    Created { id: i64, label: String, by: String },
    /// Every app password of the user was revoked at once.
    RevokedAll {
        count: i64,
        by: String,
        reason: String,
    },
    /// The primary password changed, so every app password was revoked.
    Wiped { count: i64 },
    /// A password that stopped working was presented (the tripwire).
    Tripwire { id: i64, label: String, why: String },
    /// A password logged in from a network it never logged in from.
    NewNetwork {
        id: i64,
        label: String,
        address: String,
    },
    /// A password ends within a week.
    Expiring {
        id: i64,
        label: String,
        expires_at: i64,
    },
    /// The primary password was still used where app passwords become
    /// required.
    PrimaryUsed {
        service: String,
        count: i64,
        last_at: i64,
        last_rhost: Option<String>,
    },
    /// `apppass config notify-test USER`.
    Test,
}

impl Notification {
    pub fn kind(&self) -> &'static str {
        match self {
            Notification::Created { .. } => "created",
            Notification::RevokedAll { .. } => "revoked-all",
            Notification::Wiped { .. } => "wiped",
            Notification::Tripwire { .. } => "tripwire",
            Notification::NewNetwork { .. } => "new-network",
            Notification::Expiring { .. } => "expiring",
            Notification::PrimaryUsed { .. } => "primary-used",
            Notification::Test => "test",
        }
    }

    pub fn facts(&self) -> String {
        match self {
            Notification::Created { id, label, by } => json!({"id": id, "label": label, "by": by}),
            Notification::RevokedAll { count, by, reason } => {
                json!({"count": count, "by": by, "reason": reason})
            }
            Notification::Wiped { count } => json!({ "count": count }),
            Notification::Tripwire { id, label, why } => {
                json!({"id": id, "label": label, "why": why})
            }
            Notification::NewNetwork { id, label, address } => {
                json!({"id": id, "label": label, "address": address})
            }
            Notification::Expiring {
                id,
                label,
                expires_at,
            } => json!({"id": id, "label": label, "expires_at": expires_at}),
            Notification::PrimaryUsed {
                service,
                count,
                last_at,
                last_rhost,
            } => json!({"service": service, "count": count, "last_at": last_at, "last_rhost": last_rhost}),
            Notification::Test => json!({}),
        }
        .to_string()
    }

    /// Read back from the outbox; `None` for what this apppass does not
    /// know (a newer one queued it).
    pub fn parse(kind: &str, facts: &str) -> Option<Notification> {
        let v: Value = serde_json::from_str(facts).ok()?;
        let s = |k: &str| v.get(k)?.as_str().map(str::to_owned);
        let i = |k: &str| v.get(k)?.as_i64();
        Some(match kind {
            "created" => Notification::Created {
                id: i("id")?,
                label: s("label")?,
                by: s("by")?,
            },
            "revoked-all" => Notification::RevokedAll {
                count: i("count")?,
                by: s("by")?,
                reason: s("reason")?,
            },
            "wiped" => Notification::Wiped { count: i("count")? },
            "tripwire" => Notification::Tripwire {
                id: i("id")?,
                label: s("label")?,
                why: s("why")?,
            },
            "new-network" => Notification::NewNetwork {
                id: i("id")?,
                label: s("label")?,
                address: s("address")?,
            },
            "expiring" => Notification::Expiring {
                id: i("id")?,
                label: s("label")?,
                expires_at: i("expires_at")?,
            },
            "primary-used" => Notification::PrimaryUsed {
                service: s("service")?,
                count: i("count")?,
                last_at: i("last_at")?,
                last_rhost: s("last_rhost"),
            },
            "test" => Notification::Test,
            _ => return None,
        })
    }
}

/// Who made a change, in words.
fn who(by: &str) -> &'static str {
    match by {
        "admin" => "an administrator of this server",
        "self" => "you, from a shell on this server",
        "web" => "you, on the app passwords web page",
        _ => "this server",
    }
}

/// Text from the store in a mail: control characters shown escaped, so a
/// label can neither end a header nor fake lines of the body.
fn shown(text: &str) -> String {
    let mut s = crate::escape::for_message(text);
    if s.chars().count() > 100 {
        s = s.chars().take(97).collect::<String>() + "...";
    }
    s
}

/// The subject and body of `n` for `user`, that happened at `at`.
pub fn subject_and_body(user: &str, n: &Notification, at: i64) -> (String, String) {
    let when = crate::time::rfc3339(at);
    let user = shown(user);
    let not_you = "If this wasn't you: sign in to your account, revoke the app passwords you do not recognise, and change your primary password; then tell your administrator.";
    match n {
        Notification::Created { id, label, by } => (
            format!("New app password '{}' for {user}", shown(label)),
            format!(
                "An app password labelled '{}' (ID {id}) was created for your account {user} at {when} by {}.\n\nIt lets one app or device log in without your primary password. You can see and revoke your app passwords at any time.\n\n{not_you}\n",
                shown(label),
                who(by)
            ),
        ),
        Notification::RevokedAll { count, by, reason } => (
            format!("All app passwords of {user} were revoked"),
            format!(
                "{} of your account {user} {} revoked at {when} by {} (reason: {}). Apps and devices that used {} are signed out and must be set up again with new app passwords.\n\n{not_you}\n",
                if *count == 1 {
                    "The only app password".to_string()
                } else {
                    format!("All {count} app passwords")
                },
                if *count == 1 { "was" } else { "were" },
                who(by),
                shown(reason),
                if *count == 1 { "it" } else { "them" }
            ),
        ),
        Notification::Wiped { count } => (
            format!("Your primary password changed: app passwords of {user} revoked"),
            format!(
                "The primary password of your account {user} changed, so {} revoked at {when}, as they always are. Apps and devices that used them are signed out; give each a new app password.\n\nIf you did not change your primary password: someone else may know it. Reset it now and tell your administrator.\n",
                if *count == 1 {
                    "its app password was".to_string()
                } else {
                    format!("all {count} of its app passwords were")
                }
            ),
        ),
        Notification::Tripwire { id, label, why } => (
            format!("Someone used a revoked app password of {user}"),
            format!(
                "The app password labelled '{}' (ID {id}) of your account {user} was presented at {when}, although it no longer works ({}). It was refused.\n\nIf a device of yours still has it, give that device a new app password. If not, someone else has it: nothing more can be done with it, but check your other app passwords and tell your administrator.\n",
                shown(label),
                shown(why)
            ),
        ),
        Notification::NewNetwork { id, label, address } => (
            format!("App password '{}' of {user} used from a new network", shown(label)),
            format!(
                "The app password labelled '{}' (ID {id}) of your account {user} logged in at {when} from {}, a network it had not logged in from before.\n\nIf that was you (a new place, another connection), nothing needs doing. {not_you}\n",
                shown(label),
                shown(address)
            ),
        ),
        Notification::Expiring {
            id,
            label,
            expires_at,
        } => (
            format!("App password '{}' of {user} expires soon", shown(label)),
            format!(
                "The app password labelled '{}' (ID {id}) of your account {user} stops working at {}. The app or device using it will need a new app password then.\n",
                shown(label),
                crate::time::rfc3339(*expires_at)
            ),
        ),
        Notification::PrimaryUsed {
            service,
            count,
            last_at,
            last_rhost,
        } => (
            format!("Your primary password was used for {}: set up an app password", shown(service)),
            format!(
                "Your account {user} logged in to {} with its primary password ({count} time{} so far), the last at {}{}. App passwords will soon be required there: give that app or device an app password of its own.\n\n{not_you}\n",
                shown(service),
                if *count == 1 { "" } else { "s" },
                crate::time::rfc3339(*last_at),
                match last_rhost {
                    Some(r) => format!(" from {}", shown(r)),
                    None => String::new(),
                }
            ),
        ),
        Notification::Test => (
            format!("Test of app password notifications for {user}"),
            format!(
                "This is a test sent at {when}: notifications about the app passwords of your account {user} reach you at this address. Nothing happened to your app passwords.\n"
            ),
        ),
    }
}

/// The largest message apppass writes: one write to a pipe, whole or not
/// at all (PIPE_BUF).
pub const MAX_MESSAGE: usize = 4096;

/// The message for `sendmail -t -i`: headers, a blank line, the body,
/// cut to [`MAX_MESSAGE`] bytes.
pub fn message(
    to: &str,
    from: Option<&str>,
    user: &str,
    n: &Notification,
    at: i64,
    message_id: &str,
) -> Vec<u8> {
    let (subject, body) = subject_and_body(user, n, at);
    let mut m = String::new();
    m.push_str(&format!("To: {to}\n"));
    if let Some(f) = from {
        m.push_str(&format!("From: {f}\n"));
    }
    m.push_str(&format!("Subject: {}\n", encoded_word(&subject)));
    m.push_str(&format!("Message-ID: <{message_id}>\n"));
    m.push_str("Auto-Submitted: auto-generated\n");
    m.push_str("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n");
    m.push_str(&body);
    let mut bytes = m.into_bytes();
    if bytes.len() > MAX_MESSAGE {
        bytes.truncate(MAX_MESSAGE - 1);
        while std::str::from_utf8(&bytes).is_err() {
            bytes.pop();
        }
        bytes.push(b'\n');
    }
    bytes
}

/// A header value as RFC 2047 wants it: as it is when ASCII, else one
/// base64 encoded word per 45 bytes of UTF-8 (whole characters each).
fn encoded_word(text: &str) -> String {
    if text.is_ascii() {
        return text.to_owned();
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
    }
    words.join("\n ")
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_facts() {
        let all = [
            Notification::Created {
                id: 3,
                label: "iPhone Mail".into(),
                by: "web".into(),
            },
            Notification::RevokedAll {
                count: 2,
                by: "admin".into(),
                reason: "phone lost".into(),
            },
            Notification::Wiped { count: 4 },
            Notification::Tripwire {
                id: 9,
                label: "Old".into(),
                why: "revoked by administrator".into(),
            },
            Notification::Expiring {
                id: 1,
                label: "Laptop".into(),
                expires_at: 1_800_000_000,
            },
            Notification::NewNetwork {
                id: 2,
                label: "Phone".into(),
                address: "203.0.113.9".into(),
            },
            Notification::PrimaryUsed {
                service: "imap".into(),
                count: 3,
                last_at: 1_800_000_000,
                last_rhost: Some("198.51.100.7".into()),
            },
            Notification::Test,
        ];
        for n in all {
            assert_eq!(Notification::parse(n.kind(), &n.facts()), Some(n.clone()));
        }
        assert_eq!(Notification::parse("from-the-future", "{}"), None);
    }

    #[test]
    fn a_label_cannot_add_a_header_and_the_message_fits_one_pipe_write() {
        let n = Notification::Created {
            id: 1,
            label: format!("x\nBcc: thief@example.net\n{}", "y".repeat(5000)),
            by: "admin".into(),
        };
        let m = message("alice@example.org", None, "alice", &n, 0, "id@host");
        assert!(m.len() <= MAX_MESSAGE);
        let text = String::from_utf8(m).unwrap();
        let headers = &text[..text.find("\n\n").unwrap()];
        assert!(!headers.lines().any(|l| l.starts_with("Bcc:")), "{headers}");
        assert!(
            headers.contains("Subject: New app password 'x\\"),
            "{headers}"
        );
    }

    #[test]
    fn a_subject_beyond_ascii_is_an_encoded_word() {
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
        assert_eq!(encoded_word("plain"), "plain");
        assert_eq!(encoded_word("é"), "=?UTF-8?B?w6k=?=");
    }
}
