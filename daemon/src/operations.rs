//! The operations on one user's own passwords: a request checked against
//! policy before anyone signs in, then carried out through core, its
//! outcome sent back as data and its effects applied (audit, cache flush).

use crate::conn::Conn;
use crate::failure::Failure;
use crate::settings::{audit, Settings};
use apppass_core::admin::{self, GenerateRequest};
use apppass_core::escape::field;
use apppass_core::lifecycle::{self, Which};
use apppass_core::networks::Networks;
use apppass_core::policy::{self, Scope};
use apppass_core::revocation::{self, RevokeTarget};
use apppass_core::selfservice::{self, Refusal};
use apppass_core::store::{Actor, Store};
use apppass_device::profile::ProfileFor;
use apppass_protocol::records::{
    EventRecord, IssuedRecord, Named, NewPasswordRecord, PasswordRecord,
};
use apppass_protocol::{Reply, Request};

/// A request with its arguments checked against policy and parsed.
pub(crate) enum Operation {
    Generate {
        scope: Scope,
        networks: Networks,
        label: String,
        expires_at: Option<i64>,
        profile: bool,
    },
    Suspend {
        which: Pick,
        suspend: bool,
    },
    Rotate {
        which: Pick,
        profile: bool,
    },
    List {
        all: bool,
    },
    Revoke {
        target: Target,
        reason: String,
    },
    History,
}

/// One password, by ID or label (owned, unlike core's `Which`).
pub(crate) enum Pick {
    Id(i64),
    Label(String),
}

impl Pick {
    fn new(id: Option<i64>, label: Option<String>) -> Result<Self, Failure> {
        match (id, label) {
            (Some(id), None) => Ok(Pick::Id(id)),
            (None, Some(l)) => Ok(Pick::Label(l)),
            _ => Err(Failure::usage(
                "name the password by its ID or by --label TEXT",
            )),
        }
    }

    fn which(&self) -> Which<'_> {
        match self {
            Pick::Id(id) => Which::Id(*id),
            Pick::Label(l) => Which::Label(l),
        }
    }
}

/// What a revoke names (owned, unlike core's `RevokeTarget`).
pub(crate) enum Target {
    Id(i64),
    Label(String),
    All,
}

/// Checks a request before the sign-in, so nobody types a password for
/// something that would be refused anyway.
pub(crate) fn check(request: Request, allowed: &[String], now: i64) -> Result<Operation, Failure> {
    Ok(match request {
        Request::Generate {
            services,
            label,
            expires,
            from,
            profile,
        } => {
            if services.iter().any(|s| s == "*") {
                return Err(Refusal::AnyService.into());
            }
            let scope = Scope::only(&services).map_err(|e| Failure::usage(e.to_string()))?;
            selfservice::check_scope(allowed, &scope)?;
            policy::check_label(&label).map_err(|e| Failure::usage(e.to_string()))?;
            let expires_at = expires
                .as_deref()
                .map(|e| apppass_core::expiry::parse(e, now))
                .transpose()
                .map_err(|e| Failure::usage(e.to_string()))?;
            let networks = Networks::parse(&from).map_err(|e| Failure::usage(e.to_string()))?;
            Operation::Generate {
                scope,
                networks,
                label,
                expires_at,
                profile,
            }
        }
        Request::Suspend { id, label } => Operation::Suspend {
            which: Pick::new(id, label)?,
            suspend: true,
        },
        Request::Resume { id, label } => Operation::Suspend {
            which: Pick::new(id, label)?,
            suspend: false,
        },
        Request::Rotate { id, label, profile } => Operation::Rotate {
            which: Pick::new(id, label)?,
            profile,
        },
        Request::List { all } => Operation::List { all },
        Request::Revoke {
            id,
            label,
            all,
            reason,
        } => {
            let target = match (id, label, all) {
                (Some(id), None, false) => Target::Id(id),
                (None, Some(l), false) => Target::Label(l),
                (None, None, true) => Target::All,
                _ => {
                    return Err(Failure::usage(
                        "name exactly one of an ID, --label TEXT or --all",
                    ))
                }
            };
            Operation::Revoke {
                target,
                reason: reason.unwrap_or_else(|| "revoked by its user".into()),
            }
        }
        Request::History {} => Operation::History,
        Request::WebSignIn { .. } | Request::WebInfo {} | Request::WebSignOut {} => {
            return Err(Failure::usage("that request belongs to the web page"))
        }
        Request::Setup {} => return Err(Failure::usage("setup asks for no sign-in")),
        Request::Check { .. } => {
            return Err(Failure::usage(
                "a login check is pam_apppass.so's, never made in a session",
            ))
        }
    })
}

/// Who acts: for the history, and the audit line's ` by user=… (web)`.
pub(crate) struct Acting<'a> {
    pub(crate) by: Actor,
    pub(crate) actor: &'a str,
}

/// Carries out one checked operation for `user`.
pub(crate) fn perform(
    conn: &mut Conn,
    store: &mut dyn Store,
    user: &str,
    operation: Operation,
    now: i64,
    settings: &Settings,
    acting: Acting<'_>,
) -> Result<(), Failure> {
    let by = acting.by;
    let primary = apppass_stores::primary(&settings.primary);
    let effects = match operation {
        Operation::Generate {
            scope,
            networks,
            label,
            expires_at,
            profile,
        } => {
            let req = GenerateRequest {
                networks,
                replaces: None,
                user,
                scope,
                label: &label,
                expires_at,
                by,
            };
            let g = admin::generate(
                store,
                &req,
                now,
                &mut rand::rngs::OsRng,
                &primary,
                &mut |g| conn.deliver(new_password(g, user, profile.then_some(settings))),
            )?;
            tell_issued(conn, &g)?;
            g.effects
        }
        Operation::Rotate { which, profile } => {
            let g = lifecycle::rotate(
                store,
                (user, which.which(), by),
                now,
                &mut rand::rngs::OsRng,
                &primary,
                &mut |g| conn.deliver(new_password(g, user, profile.then_some(settings))),
            )?;
            tell_issued(conn, &g)?;
            g.effects
        }
        Operation::Suspend { which, suspend } => {
            let done = lifecycle::set_suspended(store, user, which.which(), suspend, now, by)?;
            conn.send(&Reply::Suspended {
                user: user.to_owned(),
                password: Named {
                    id: done.id,
                    label: done.label.clone(),
                },
                suspended: suspend,
            })?;
            done.effects
        }
        Operation::List { all } => {
            let listing = admin::list(store, Some(user), all, now, &primary, by)?;
            tell_notices(conn, &listing.notices)?;
            let passwords = PasswordRecord::all_of(&listing, now);
            conn.send(&Reply::Passwords { passwords })?;
            listing.effects
        }
        Operation::Revoke { target, reason } => {
            let target = match &target {
                Target::Id(id) => RevokeTarget::Id(*id),
                Target::Label(l) => RevokeTarget::Label(l),
                Target::All => RevokeTarget::All,
            };
            let revoked = revocation::revoke(store, user, &target, Some(&reason), now, by)?;
            conn.send(&Reply::Revoked {
                user: user.to_owned(),
                passwords: Named::all(&revoked.done),
            })?;
            revoked.effects
        }
        Operation::History => {
            let events = admin::history(store, user, now)?;
            let mails = store.outbox(user)?;
            conn.send(&Reply::History {
                user: user.to_owned(),
                events: EventRecord::history(&events, &mails),
            })?;
            Default::default()
        }
    };
    let signed = apppass_effects::apply(
        &effects,
        settings.dovecot_config.as_deref(),
        "apppassd",
        acting.actor,
    );
    for s in signed {
        conn.send(&Reply::SignedOut {
            user: s.user,
            ended: s.ended,
            warnings: s.warnings,
        })?;
    }
    crate::notifications::send(store, settings, now);
    Ok(())
}

/// The new password as sent, with the profile when `profile_from` is
/// given (built and signed here: the signing key is root's).
fn new_password(
    g: &admin::Generated,
    user: &str,
    profile_from: Option<&Settings>,
) -> NewPasswordRecord {
    let record = NewPasswordRecord::of(g);
    let Some(settings) = profile_from else {
        return record;
    };
    let shown = g.secret.display();
    let made = apppass_device::profile_for(
        &settings.setup,
        &ProfileFor {
            user,
            id: g.id,
            label: &g.label,
            services: &g.services,
            password: &shown,
        },
    );
    if let Err(why) = &made {
        audit(&format!(
            "no profile for app password {} of user={}: {why}",
            g.id,
            field(user)
        ));
    }
    record.with_profile(made.as_ref().map(|b| b.as_slice()).map_err(Clone::clone))
}

fn tell_notices(conn: &mut Conn, notices: &[admin::Notice]) -> Result<(), Failure> {
    for n in notices {
        conn.send(&Reply::Notice {
            text: n.to_string(),
        })?;
    }
    Ok(())
}

/// The notices, then what was issued, once the password is stored.
fn tell_issued(conn: &mut Conn, g: &admin::Generated) -> Result<(), Failure> {
    tell_notices(conn, &g.notices)?;
    conn.send(&Reply::Issued {
        password: IssuedRecord::of(g),
    })
}
