//! The data replies carry: passwords, history events, a new password.
//! Times are Unix seconds; each front end shows them its own way. Made
//! from core's types by the daemon, and by the command for its own
//! output, so both print the same.

use apppass_core::admin::Generated;
use apppass_core::login::Tripwire;
use apppass_core::store::{Event, OutboxEntry, Password};
use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroizing;

/// One password as `list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordRecord {
    pub id: i64,
    pub user: String,
    pub label: String,
    /// `["*"]` for any service.
    pub services: Vec<String>,
    /// Where it may log in from; empty: anywhere.
    pub networks: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used: Option<LastUseRecord>,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
    pub suspended_at: Option<i64>,
    /// When it was last presented after it stopped working (the tripwire).
    pub last_tried_at: Option<i64>,
    /// The client addresses it logged in from lately, most recent first:
    /// where its sessions are ended when it stops working. (Absent from
    /// an older apppassd's reply: none.)
    #[serde(default)]
    pub addresses: Vec<String>,
    pub status: Standing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastUseRecord {
    pub at: i64,
    pub service: Option<String>,
    pub rhost: Option<String>,
}

/// A password's status at the time it was listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Standing {
    Active,
    Suspended,
    Revoked,
    Expired,
    /// Active or suspended, of a user `entitled-group` leaves out.
    NotEntitled,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Active => "active",
            Standing::Suspended => "suspended",
            Standing::Revoked => "revoked",
            Standing::Expired => "expired",
            Standing::NotEntitled => "not-entitled",
        }
    }
}

impl PasswordRecord {
    /// `p` as it stands at `now`.
    pub fn of(p: &Password, now: i64) -> PasswordRecord {
        use apppass_core::store::Status;
        PasswordRecord {
            id: p.id,
            user: p.user.clone(),
            label: p.label.clone(),
            services: p.scope.names(),
            networks: p.networks.names(),
            created_at: p.created_at,
            expires_at: p.expires_at,
            last_used: p.last_used.as_ref().map(|u| LastUseRecord {
                at: u.at,
                service: u.service.clone(),
                rhost: u.rhost.clone(),
            }),
            revoked_at: p.revoked.as_ref().map(|r| r.at),
            revoked_reason: p.revoked.as_ref().and_then(|r| r.reason.clone()),
            suspended_at: p.suspended_at,
            last_tried_at: p.last_tried_at,
            addresses: p.addresses.clone(),
            status: match p.status(now) {
                Status::Active => Standing::Active,
                Status::Suspended => Standing::Suspended,
                Status::Revoked => Standing::Revoked,
                Status::Expired => Standing::Expired,
            },
        }
    }

    /// Every password of a listing, as it stands at `now`.
    pub fn all_of(listing: &apppass_core::admin::Listing, now: i64) -> Vec<PasswordRecord> {
        listing
            .passwords
            .iter()
            .map(|p| {
                let mut r = PasswordRecord::of(p, now);
                if r.live() && listing.not_entitled.contains(&p.user) {
                    r.status = Standing::NotEntitled;
                }
                r
            })
            .collect()
    }

    /// In use: active or suspended (both count toward the limit), or
    /// waiting for its user to join `entitled-group`.
    pub fn live(&self) -> bool {
        matches!(
            self.status,
            Standing::Active | Standing::Suspended | Standing::NotEntitled
        )
    }

    /// Limited to some networks.
    pub fn has_networks(&self) -> bool {
        !self.networks.is_empty()
    }
}

/// One line of a user's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub at: i64,
    /// `generated`, `revoked`, `expired`, `wiped`, …
    pub event: String,
    pub id: Option<i64>,
    pub label: Option<String>,
    pub reason: Option<String>,
    /// `admin`, `self`, `web`, `module`.
    pub by: String,
    /// The administrator's uid, when known.
    pub by_uid: Option<u32>,
}

impl EventRecord {
    pub fn of(e: &Event) -> EventRecord {
        EventRecord {
            at: e.at,
            event: e.kind.as_str().to_owned(),
            id: e.password_id,
            label: e.label.clone(),
            reason: e.reason.clone(),
            by: e.by.name().to_owned(),
            by_uid: e.by.uid(),
        }
    }

    /// Who, as the history table shows it: `admin (uid 0)`, `self`…
    /// A user's history with the mails sent to them (`mailed`, the
    /// notification's kind as the reason) and given up (`not-mailed`, with
    /// why), in time order.
    pub fn history(events: &[Event], mails: &[OutboxEntry]) -> Vec<EventRecord> {
        let mut all: Vec<EventRecord> = events.iter().map(EventRecord::of).collect();
        for m in mails {
            let (at, event, reason) = match (m.sent_at, m.gave_up_at) {
                (Some(at), _) => (at, "mailed", m.kind.clone()),
                (None, Some(at)) => (
                    at,
                    "not-mailed",
                    format!("{}: {}", m.kind, m.last_error.as_deref().unwrap_or("")),
                ),
                (None, None) => continue,
            };
            all.push(EventRecord {
                at,
                event: event.into(),
                id: None,
                label: None,
                reason: Some(reason),
                by: "apppass".into(),
                by_uid: None,
            });
        }
        all.sort_by_key(|e| e.at);
        all
    }

    pub fn by_shown(&self) -> String {
        match self.by_uid {
            Some(uid) => format!("{} (uid {uid})", self.by),
            None => self.by.clone(),
        }
    }
}

/// A password just issued, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedRecord {
    pub id: i64,
    pub user: String,
    pub label: String,
    pub services: Vec<String>,
    pub networks: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    /// The password it replaced (`rotate`).
    pub replaces: Option<i64>,
}

impl IssuedRecord {
    pub fn of(g: &Generated) -> IssuedRecord {
        IssuedRecord {
            id: g.id,
            user: g.user.clone(),
            label: g.label.clone(),
            services: g.services.clone(),
            networks: g.networks.clone(),
            created_at: g.created_at,
            expires_at: g.expires_at,
            replaces: g.replaced,
        }
    }
}

/// A password just issued, with its secret as shown (`abcd-efgh-…`).
#[derive(Clone, Serialize, Deserialize)]
pub struct NewPasswordRecord {
    #[serde(flatten)]
    pub issued: IssuedRecord,
    pub password: Zeroizing<String>,
    /// The configuration profile asked for, base64 (it holds the password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Zeroizing<String>>,
    /// Why no profile came when one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_problem: Option<String>,
}

impl NewPasswordRecord {
    pub fn of(g: &Generated) -> NewPasswordRecord {
        NewPasswordRecord {
            issued: IssuedRecord::of(g),
            password: g.secret.display(),
            profile: None,
            profile_problem: None,
        }
    }

    /// With the profile `made` (its bytes, or why there are none).
    pub fn with_profile(mut self, made: Result<&[u8], String>) -> NewPasswordRecord {
        use base64ct::{Base64, Encoding};
        match made {
            Ok(bytes) => self.profile = Some(Zeroizing::new(Base64::encode_string(bytes))),
            Err(why) => self.profile_problem = Some(why),
        }
        self
    }

    /// The profile's bytes, taken out of the record.
    pub fn take_profile(&mut self) -> Option<Zeroizing<Vec<u8>>> {
        use base64ct::{Base64, Encoding};
        let text = self.profile.take()?;
        Base64::decode_vec(&text).ok().map(Zeroizing::new)
    }
}

/// What apppass.conf says devices are set up with, as its lines
/// (`imap_host`, `service_name.imap`…, never the signing key's place);
/// read back through [`apppass_core::setup::DeviceSetup::from_lines`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupRecord {
    pub lines: Vec<(String, String)>,
}

impl SetupRecord {
    pub fn of(setup: &apppass_core::setup::DeviceSetup) -> SetupRecord {
        SetupRecord {
            lines: setup.lines(),
        }
    }

    /// The settings again; what does not read back is left out (the
    /// daemon checked it all at load).
    pub fn setup(&self) -> apppass_core::setup::DeviceSetup {
        apppass_core::setup::DeviceSetup::from_lines(&self.lines)
    }
}

impl fmt::Debug for NewPasswordRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewPasswordRecord")
            .field("issued", &self.issued)
            .field("password", &"…")
            .finish()
    }
}

/// A session a change ended on the host that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EndedRecord {
    /// A Dovecot connection, ended with `doveadm kick`.
    Dovecot { protocol: String, address: String },
    /// A PAM session's process (sshd's), signalled.
    Pam { service: String, pid: i32 },
}

impl fmt::Display for EndedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use apppass_core::escape::for_message as esc;
        match self {
            EndedRecord::Dovecot { protocol, address } => {
                write!(f, "{} from {}", esc(protocol), esc(address))
            }
            EndedRecord::Pam { service, pid } => write!(f, "{} pid {pid}", esc(service)),
        }
    }
}

/// A password by ID and label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    pub id: i64,
    pub label: String,
}

impl Named {
    /// What core reports a revoke took: `(id, label)` pairs.
    pub fn all(done: &[(i64, String)]) -> Vec<Named> {
        done.iter()
            .map(|(id, label)| Named {
                id: *id,
                label: label.clone(),
            })
            .collect()
    }
}

/// A password that stopped working, presented again (core's [`Tripwire`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TripwireRecord {
    pub id: i64,
    pub label: String,
    /// When it stopped working.
    pub at: i64,
    /// Why: the revocation's reason, `expired` or `idle`.
    pub reason: String,
}

impl TripwireRecord {
    pub fn of(t: &Tripwire) -> TripwireRecord {
        TripwireRecord {
            id: t.id,
            label: t.label.clone(),
            at: t.at,
            reason: t.reason.clone(),
        }
    }

    pub fn to_tripwire(&self) -> Tripwire {
        Tripwire {
            id: self.id,
            label: self.label.clone(),
            at: self.at,
            reason: self.reason.clone(),
        }
    }
}
