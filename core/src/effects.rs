//! What a change asks of the world outside the store. Core decides it; each
//! front end (the CLI, the self-service daemon) carries it out the same way
//! instead of re-deciding it.

use crate::escape::{field, for_message as esc};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A line for the audit log (authpriv), without the actor: the front
    /// end adds who acted. Never a secret or a hash.
    Audit(String),
    /// Cached logins of this user must be forgotten (Dovecot's auth cache),
    /// so a revoke takes effect at once.
    FlushAuthCache(String),
    /// What is logged in with these passwords of `user` must end: Dovecot's
    /// connections of the user from `addresses`, and PAM sessions opened
    /// with one of `passwords` (ended only by processes that may signal
    /// them; the PAM module never does).
    EndSessions {
        user: String,
        passwords: Vec<i64>,
        addresses: Vec<String>,
    },
}

impl Effect {
    pub fn revoked(id: i64, user: &str, label: &str, reason: &str) -> Self {
        Effect::Audit(format!(
            "revoked app password id={id} user={} label=\"{}\" reason=\"{}\"",
            field(user),
            esc(label),
            esc(reason)
        ))
    }

    pub fn generated(id: i64, user: &str, label: &str, services: &str) -> Self {
        Effect::Audit(format!(
            "generated app password id={id} user={} label=\"{}\" services={}",
            field(user),
            esc(label),
            esc(services)
        ))
    }

    pub fn revoked_all(count: usize, user: &str, reason: &str, verb: &str) -> Self {
        Effect::Audit(format!(
            "{verb} {count} app passwords user={} reason=\"{}\"",
            field(user),
            esc(reason)
        ))
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Effect::Audit(line) => f.write_str(line),
            Effect::FlushAuthCache(user) => write!(f, "flush the auth cache of {}", esc(user)),
            Effect::EndSessions {
                user, passwords, ..
            } => write!(
                f,
                "end the sessions of app passwords {passwords:?} of {}",
                esc(user)
            ),
        }
    }
}

/// The effects of one operation, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects(pub Vec<Effect>);

impl Effects {
    pub fn push(&mut self, e: Effect) {
        // One flush per user is enough, and one ending of sessions per user.
        if matches!(e, Effect::FlushAuthCache(_)) && self.0.contains(&e) {
            return;
        }
        if let Effect::EndSessions {
            user,
            passwords,
            addresses,
        } = &e
        {
            let earlier = self.0.iter_mut().find_map(|x| match x {
                Effect::EndSessions {
                    user: u,
                    passwords: p,
                    addresses: a,
                } if u == user => Some((p, a)),
                _ => None,
            });
            if let Some((p, a)) = earlier {
                let more: Vec<i64> = passwords
                    .iter()
                    .copied()
                    .filter(|i| !p.contains(i))
                    .collect();
                p.extend(more);
                let more: Vec<String> = addresses
                    .iter()
                    .filter(|x| !a.contains(x))
                    .cloned()
                    .collect();
                a.extend(more);
                return;
            }
        }
        self.0.push(e);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Effect> {
        self.0.iter()
    }
}
