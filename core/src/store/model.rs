//! What a store holds, in the terms core decides with. Backends translate
//! these to and from their own encoding; nothing here knows SQL.

use crate::networks::Networks;
use crate::policy::Scope;
use std::fmt;

/// Why a password stopped working, and what the history calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Generated,
    Revoked,
    Expired,
    /// Revoked because the primary password changed.
    Wiped,
    Suspended,
    Resumed,
    /// The tripwire: a revoked, expired or wiped password was presented
    /// (recorded at most once a day per password).
    UsedAfterRevoke,
    /// A password that had logged in before did so from a network none of
    /// its remembered addresses is in (the address is the reason).
    NewNetwork,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        EventKind::Generated,
        EventKind::Revoked,
        EventKind::Expired,
        EventKind::Wiped,
        EventKind::Suspended,
        EventKind::Resumed,
        EventKind::UsedAfterRevoke,
        EventKind::NewNetwork,
    ];

    /// The name in `history --json` and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Generated => "generated",
            EventKind::Revoked => "revoked",
            EventKind::Expired => "expired",
            EventKind::Wiped => "wiped",
            EventKind::Suspended => "suspended",
            EventKind::Resumed => "resumed",
            EventKind::UsedAfterRevoke => "used-after-revoke",
            EventKind::NewNetwork => "new-network",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a change: the history's `by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    /// The `apppass` command as root (or the store's owner), with the uid
    /// that ran it when known (history from before apppass recorded it
    /// has none).
    Admin(Option<u32>),
    /// The account holder, through `apppass` and `apppassd`.
    SelfService,
    /// The account holder, through the web page.
    Web,
    /// The PAM module (a wipe at login) or time itself (expiry).
    Module,
}

impl Actor {
    /// The name in `history --json`'s `by`.
    pub fn name(self) -> &'static str {
        match self {
            Actor::Admin(_) => "admin",
            Actor::SelfService => "self",
            Actor::Web => "web",
            Actor::Module => "module",
        }
    }

    pub fn uid(self) -> Option<u32> {
        match self {
            Actor::Admin(uid) => uid,
            _ => None,
        }
    }

    /// The stored form: the name, and `admin:UID` with a uid.
    pub fn encode(self) -> String {
        match self {
            Actor::Admin(Some(uid)) => format!("admin:{uid}"),
            other => other.name().to_owned(),
        }
    }

    pub fn decode(stored: &str) -> Option<Self> {
        match stored {
            "admin" => Some(Actor::Admin(None)),
            "self" => Some(Actor::SelfService),
            "web" => Some(Actor::Web),
            "module" => Some(Actor::Module),
            _ => stored
                .strip_prefix("admin:")
                .and_then(|u| u.parse().ok())
                .map(|uid| Actor::Admin(Some(uid))),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Admin(Some(uid)) => write!(f, "admin (uid {uid})"),
            other => f.write_str(other.name()),
        }
    }
}

/// One line of a user's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: i64,
    pub kind: EventKind,
    pub password_id: Option<i64>,
    pub label: Option<String>,
    pub reason: Option<String>,
    pub by: Actor,
}

/// The self-service sign-in attempts counted for an account (or the host).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignInAttempts {
    /// Wrong passwords, and attempts never settled (their process died).
    pub failed: usize,
    /// Attempts begun and not settled yet: PAM is still asking.
    pub under_way: usize,
}

/// Where a password stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    /// Paused by `suspend`: refused at login, still counted toward the limit.
    Suspended,
    Revoked,
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Suspended => "suspended",
            Status::Revoked => "revoked",
            Status::Expired => "expired",
        }
    }
}

/// Last use of a password, as the module records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUse {
    pub at: i64,
    pub service: Option<String>,
    pub rhost: Option<String>,
}

/// A login from a network (`cidr`, the address's /24 or /64) to check
/// against the password's remembered addresses: `event` is recorded when
/// none is in it and the password had logged in before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkCheck {
    pub cidr: String,
    /// The password's owner, whose history gets `event`.
    pub user: String,
    pub event: Event,
}

impl LastUse {
    /// The client address to remember among the password's addresses: the
    /// remote host when it is an IP address (a host name names no
    /// connection that could be ended).
    pub fn address(&self) -> Option<&str> {
        self.rhost
            .as_deref()
            .filter(|r| r.parse::<std::net::IpAddr>().is_ok())
    }
}

/// Logins of one user to one service with the primary password, where
/// `primary_until=` still lets it through: who has yet to move over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryUse {
    pub user: String,
    pub service: String,
    pub first_at: i64,
    pub last_at: i64,
    /// The client of the last such login, as the service named it.
    pub last_rhost: Option<String>,
    pub count: i64,
}

/// A mail to an account holder, as the outbox keeps it until it is handed
/// to the MTA. `key` names what it is about (`event:42`, `expiring:7`...),
/// so collecting it twice, on one host or on several, queues it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: i64,
    pub user: String,
    pub key: String,
    /// The notification's kind and facts, as `notify` wrote them.
    pub kind: String,
    pub facts: String,
    /// When what it tells of happened.
    pub at: i64,
    pub queued_at: i64,
    pub attempts: i64,
    /// Not to be tried before then.
    pub next_at: i64,
    /// Who is handing it over, until when.
    pub claimed_by: Option<String>,
    pub claimed_until: Option<i64>,
    /// When it was given to the MTA (before its answer was known).
    pub handed_at: Option<i64>,
    pub sent_at: Option<i64>,
    pub gave_up_at: Option<i64>,
    pub last_error: Option<String>,
}

/// A notification to queue (see [`OutboxEntry`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutboxEntry {
    pub user: String,
    pub key: String,
    pub kind: String,
    pub facts: String,
    pub at: i64,
    pub queued_at: i64,
}

/// When and why a password was revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub at: i64,
    pub reason: Option<String>,
}

/// A password as `list` shows it: everything but the secret material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Password {
    pub id: i64,
    pub user: String,
    pub label: String,
    pub scope: Scope,
    /// Where it may log in from (`--from`).
    pub networks: Networks,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub suspended_at: Option<i64>,
    pub revoked: Option<Revocation>,
    pub last_used: Option<LastUse>,
    /// The last time the tripwire saw it presented after it stopped working.
    pub last_tried_at: Option<i64>,
    /// The client addresses it logged in from, most recent first (at most
    /// [`crate::retention::MAX_ADDRESSES`], none older than
    /// [`crate::retention::KEEP_ADDRESS_SECS`]): where its sessions are.
    pub addresses: Vec<String>,
}

impl Password {
    pub fn status(&self, now: i64) -> Status {
        if self.revoked.is_some() {
            Status::Revoked
        } else if self.expires_at.is_some_and(|e| e < now) {
            Status::Expired
        } else if self.suspended_at.is_some() {
            Status::Suspended
        } else {
            Status::Active
        }
    }

    /// Counted toward the limit of active passwords: not revoked, not
    /// expired (a suspended password still counts).
    pub fn is_live(&self, now: i64) -> bool {
        matches!(self.status(now), Status::Active | Status::Suspended)
    }
}

/// The secret material of a password: what a login checks. Kept for 30
/// days after the password stopped working, for the tripwire.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The argon2id PHC string.
    pub phc: String,
    /// The 16-bit pre-filter tag and its per-password salt.
    pub tag: u16,
    pub tag_salt: Vec<u8>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never a hash or a tag in a log line, even by accident.
        f.write_str("Credential { .. }")
    }
}

/// An entry of the history with its ID, which only grows: what a watcher
/// reads after the last one it handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    pub id: i64,
    pub user: String,
    pub event: Event,
}

/// A password of one user whose credential is still kept, as the login
/// path needs it: usable ones, and those that stopped working less than 30
/// days ago (the tripwire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: i64,
    pub label: String,
    pub scope: Scope,
    pub networks: Networks,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub suspended: bool,
    pub revoked: Option<Revocation>,
    pub last_used_at: Option<i64>,
    /// Where it was last used from: a login from elsewhere is recorded
    /// at once, whatever the throttle on recording the last use.
    pub last_used_rhost: Option<String>,
    pub last_tried_at: Option<i64>,
    pub credential: Credential,
}

/// A password to store, already hashed.
#[derive(Debug, Clone)]
pub struct NewPassword {
    pub user: String,
    pub label: String,
    pub scope: Scope,
    pub networks: Networks,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub credential: Credential,
}

/// A user's primary-password fingerprint (HMAC with the store's key).
pub type Fingerprint = [u8; 32];

/// Where a fingerprint's material came from (`primary` in apppass.conf),
/// recorded with it: a fingerprint taken from another source than the one
/// configured now is retaken, never read as a changed password, so
/// changing `primary` wipes nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FingerprintSource {
    /// /etc/shadow (the default).
    Shadow,
    /// A field of Dovecot's passdb, through its auth-master socket.
    Dovecot,
    /// An attribute of the user's LDAP entry.
    Ldap,
}

impl FingerprintSource {
    pub fn as_str(self) -> &'static str {
        match self {
            FingerprintSource::Shadow => "shadow",
            FingerprintSource::Dovecot => "dovecot",
            FingerprintSource::Ldap => "ldap",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "shadow" => Some(FingerprintSource::Shadow),
            "dovecot" => Some(FingerprintSource::Dovecot),
            "ldap" => Some(FingerprintSource::Ldap),
            _ => None,
        }
    }
}

/// A recorded fingerprint and where its material came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub fp: Fingerprint,
    pub source: FingerprintSource,
}

/// A fingerprint as `export` writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FingerprintRow {
    pub user: String,
    pub recorded: Recorded,
    pub taken_at: i64,
}

/// A whole store in plain values: what `export` writes and `import` reads.
/// Passwords keep their IDs and, while kept, their credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub passwords: Vec<(Password, Option<Credential>)>,
    pub events: Vec<(String, Event)>,
    pub fingerprints: Vec<FingerprintRow>,
    pub settings: Vec<(String, i64)>,
    pub text_settings: Vec<(String, String)>,
}
