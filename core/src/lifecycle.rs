//! Suspend, resume and rotate: changes to one password that keep its
//! label, services, networks and expiry. Decided here for every front end.

use crate::admin::{self, AdminError, GenerateRequest, Generated};
use crate::effects::{Effect, Effects};
use crate::escape::for_message as esc;
use crate::policy;
use crate::primary::PrimarySource;
use crate::retention;
use crate::store::{Actor, Event, EventKind, Finish, Password, Status, Store, WriteError};
use rand_core::{CryptoRng, RngCore};

/// One password of a user, by ID or by label (case ignored).
#[derive(Debug, Clone, Copy)]
pub enum Which<'a> {
    Id(i64),
    Label(&'a str),
}

impl Which<'_> {
    fn picks(&self, p: &Password) -> bool {
        match self {
            Which::Id(id) => p.id == *id,
            Which::Label(l) => policy::label_key(&p.label) == policy::label_key(l),
        }
    }

    fn describe(&self) -> String {
        match self {
            Which::Id(id) => format!("with ID {id}"),
            Which::Label(l) => format!("labelled '{}'", esc(l)),
        }
    }
}

/// The password `which` names among those of `user` in `status`; a
/// sentence saying what is there instead otherwise.
fn find(
    passwords: &[Password],
    user: &str,
    which: Which<'_>,
    status: Status,
    now: i64,
) -> Result<Password, AdminError> {
    let named: Vec<&Password> = passwords
        .iter()
        .filter(|p| which.picks(p) && p.is_live(now))
        .collect();
    match named.iter().find(|p| p.status(now) == status) {
        Some(p) => Ok((*p).clone()),
        None => Err(AdminError::NotFound(match named.first() {
            Some(p) => format!(
                "the app password {} of {} is {}, not {}",
                which.describe(),
                esc(user),
                p.status(now).as_str(),
                status.as_str()
            ),
            None => format!(
                "{} has no active or suspended app password {}",
                esc(user),
                which.describe()
            ),
        })),
    }
}

/// What suspend or resume changed.
pub struct Changed {
    pub id: i64,
    pub label: String,
    pub effects: Effects,
}

/// Suspends an active password (`suspend`: refused at login, kept, still
/// counted toward the limit) or resumes a suspended one.
pub fn set_suspended(
    store: &mut dyn Store,
    user: &str,
    which: Which<'_>,
    suspend: bool,
    now: i64,
    by: Actor,
) -> Result<Changed, AdminError> {
    policy::check_user(user)?;
    admin::expire_idle(store, user, now)?;
    let (from, kind) = if suspend {
        (Status::Active, EventKind::Suspended)
    } else {
        (Status::Suspended, EventKind::Resumed)
    };
    let mut found = None;
    let mut failure = None;
    retention::write(store, Some(user), now, &mut |w| {
        found = None;
        failure = None;
        let passwords = w.unrevoked(user)?;
        let p = match find(&passwords, user, which, from, now) {
            Ok(p) => p,
            Err(e) => {
                failure = Some(e);
                return Ok(Finish::Rollback);
            }
        };
        w.set_suspended(user, p.id, suspend.then_some(now))?;
        w.add_event(
            user,
            &Event {
                at: now,
                kind,
                password_id: Some(p.id),
                label: Some(p.label.clone()),
                reason: None,
                by,
            },
        )?;
        found = Some(p);
        Ok(Finish::Commit)
    })
    .map_err(WriteError::into_store_error)?;
    if let Some(e) = failure {
        return Err(e);
    }
    let p = found.ok_or_else(|| AdminError::NotFound("nothing changed".into()))?;
    let mut effects = Effects::default();
    effects.push(Effect::Audit(format!(
        "{} app password id={} user={} label=\"{}\"",
        kind.as_str(),
        p.id,
        crate::escape::field(user),
        esc(&p.label)
    )));
    if suspend {
        // Suspended means signed out, as revoked does.
        crate::revocation::sign_out(&mut effects, user, &[crate::revocation::Retired::of(&p)]);
    } else {
        effects.push(Effect::FlushAuthCache(user.into()));
    }
    Ok(Changed {
        id: p.id,
        label: p.label,
        effects,
    })
}

/// Replaces an active password with a new secret for the same label,
/// services, networks and expiry; the old one is revoked (reason
/// `rotated`) in the same transaction. `deliver` hands the new secret over
/// inside that transaction, as for `generate`.
pub fn rotate<R: RngCore + CryptoRng>(
    store: &mut dyn Store,
    (user, which, by): (&str, Which<'_>, Actor),
    now: i64,
    rng: &mut R,
    primary: &dyn PrimarySource,
    deliver: &mut dyn FnMut(&Generated) -> std::io::Result<()>,
) -> Result<Generated, AdminError> {
    policy::check_user(user)?;
    admin::expire_idle(store, user, now)?;
    let passwords = store.passwords(Some(user))?;
    let old = find(&passwords, user, which, Status::Active, now)?;
    let req = GenerateRequest {
        user,
        scope: old.scope.clone(),
        networks: old.networks.clone(),
        label: &old.label,
        expires_at: old.expires_at,
        by,
        replaces: Some(old.id),
    };
    admin::generate(store, &req, now, rng, primary, deliver)
}
