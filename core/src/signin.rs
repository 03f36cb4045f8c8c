//! Signing in to self-service (in a shell through apppassd, or on the web
//! page): the limits on attempts, decided here once.
//!
//! An attempt takes its place in the limit *before* the primary password is
//! checked: [`begin`] counts the account's recent attempts and records this
//! one as under way, in a single transaction serialised per account, so
//! attempts made in parallel can never exceed the limit;
//! [`Attempt::refused`] settles it as a failure and [`Attempt::accepted`]
//! takes it back. An attempt never settled (the process killed mid-sign-in)
//! counts as a failure once [`UNDER_WAY_SECS`] have passed: the limit fails
//! closed.
//!
//! [`sign_in`] is the whole sequence, in the order the rules apply, for
//! both ways in: a user in a shell (through apppassd) and the web page.
//!
//! One account has one counter however its name is spelt: failures are
//! kept under [`account_key`], the name in lower case, since the services
//! that check a primary password (Dovecot with its default
//! `auth_username_format=%Lu`, LDAP) fold case.

use crate::selfservice::Refusal;
use crate::store::{Finish, Store, StoreError, WriteError};

/// Failed sign-ins of one account within [`WINDOW_SECS`] that close
/// self-service for it.
pub const MAX_FAILURES: usize = 5;
/// Failed sign-ins from one client address within [`WINDOW_SECS`] after
/// which the web page asks no more from it.
pub const MAX_FAILURES_PER_ADDRESS: usize = 10;
pub const WINDOW_SECS: i64 = 15 * 60;
/// Failures kept for the whole host at once. Far above any real load (it
/// is 11 a second, all the time), it bounds what names typed by strangers
/// can take in the store; beyond it sign-ins wait until the window frees
/// places, rather than forgetting anyone's failures.
pub const MAX_HOST_FAILURES: usize = 10_000;
/// How long an attempt may stay under way before it counts as a failure:
/// longer than any sign-in takes (apppassd waits two minutes for each
/// answer a user types).
pub const UNDER_WAY_SECS: i64 = 5 * 60;

/// The name an account's failures are counted under.
pub fn account_key(user: &str) -> String {
    user.to_lowercase()
}

/// A sign-in under way: settled as a failure by [`Attempt::refused`], taken
/// back by [`Attempt::accepted`] or [`Attempt::abandoned`].
#[derive(Debug)]
#[must_use = "an attempt left unsettled counts as a failure after a while"]
pub struct Attempt {
    key: String,
    at: i64,
}

/// Takes a place for a sign-in of `user` at `now`: `Err(LockedOut)` when
/// the account's failures fill the window (nothing is recorded then), and
/// `Err(HostBusy)` when the host's attempts do.
///
/// Places taken by sign-ins still under way are not failures yet, so a
/// user who signs in several times at once would find the account full of
/// their own attempts: when failures and attempts under way together fill
/// it, `wait` is called (it pauses a moment and says whether to look
/// again) and the count is read again, until a place frees up or `wait`
/// gives up. When failures alone fill it, the refusal comes at once.
pub fn begin(
    store: &mut dyn Store,
    user: &str,
    now: i64,
    wait: &mut dyn FnMut() -> bool,
) -> Result<Result<Attempt, Refusal>, StoreError> {
    let key = account_key(user);
    let since = now - WINDOW_SECS;
    let under_way_since = now - UNDER_WAY_SECS;
    loop {
        // A plain read first: waiting costs the store's writers nothing.
        let seen = store.signin_attempts(&key, since, under_way_since)?;
        if seen.failed >= MAX_FAILURES {
            return Ok(Err(locked_out()));
        }
        if seen.failed + seen.under_way >= MAX_FAILURES {
            if wait() {
                continue;
            }
            return Ok(Err(locked_out()));
        }
        let mut refused = None;
        store
            .write(Some(&key), &mut |w| {
                refused = None;
                let mine = w.signin_attempts(Some(&key), since, under_way_since)?;
                if mine.failed + mine.under_way >= MAX_FAILURES {
                    refused = Some((locked_out(), mine.failed >= MAX_FAILURES));
                    return Ok(Finish::Rollback);
                }
                let host = w.signin_attempts(None, since, under_way_since)?;
                if host.failed + host.under_way >= MAX_HOST_FAILURES {
                    refused = Some((Refusal::HostBusy, true));
                    return Ok(Finish::Rollback);
                }
                w.begin_signin(&key, now, since)?;
                Ok(Finish::Commit)
            })
            .map_err(WriteError::into_store_error)?;
        return Ok(match refused {
            // Taken meanwhile by another attempt still under way: as above.
            Some((Refusal::LockedOut { .. }, false)) if wait() => continue,
            Some((r, _)) => Err(r),
            None => Ok(Attempt { key, at: now }),
        });
    }
}

/// How long an attempt waits for its account's places to free up, in
/// front ends that sign people in.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// A `wait` for [`begin`]: a tenth of a second at a time, for [`PATIENCE`].
pub fn patiently() -> impl FnMut() -> bool {
    let give_up = std::time::Instant::now() + PATIENCE;
    move || {
        if std::time::Instant::now() >= give_up {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        true
    }
}

fn locked_out() -> Refusal {
    Refusal::LockedOut {
        minutes: WINDOW_SECS / 60,
    }
}

impl Attempt {
    /// The password was right: the attempt no longer counts.
    pub fn accepted(self, store: &mut dyn Store) -> Result<(), StoreError> {
        self.take_back(store)
    }

    /// The sign-in could not be carried out at all (PAM or Dovecot could
    /// not be asked): not a guess, so it does not count.
    pub fn abandoned(self, store: &mut dyn Store) -> Result<(), StoreError> {
        self.take_back(store)
    }

    /// The password was wrong: the attempt counts as a failure. Should the
    /// store fail here, the attempt still counts once it has been under way
    /// for [`UNDER_WAY_SECS`].
    pub fn refused(self, store: &mut dyn Store) {
        let _ = store
            .write(Some(&self.key), &mut |w| {
                w.settle_signin(&self.key, self.at)?;
                Ok(Finish::Commit)
            })
            .map_err(WriteError::into_store_error);
    }

    fn take_back(self, store: &mut dyn Store) -> Result<(), StoreError> {
        store
            .write(Some(&self.key), &mut |w| {
                w.take_back_signin(&self.key, self.at)?;
                Ok(Finish::Commit)
            })
            .map_err(WriteError::into_store_error)
    }
}

/// Counts a failure under another spelling of the account that the
/// password's checker reported (Dovecot names the user it looked up), so
/// that names it maps to one account share one counter.
fn count_failure_of(store: &mut dyn Store, user: &str, now: i64) -> Result<(), StoreError> {
    let key = account_key(user);
    store
        .write(Some(&key), &mut |w| {
            w.record_signin_failure(&key, now, now - WINDOW_SECS)?;
            Ok(Finish::Commit)
        })
        .map_err(WriteError::into_store_error)
}

/// `Err(LockedOut)` when the account `user` is closed, without taking a
/// place: for the name the checker reported after accepting a password,
/// when it is another spelling than the one typed.
fn check_open(
    store: &mut dyn Store,
    user: &str,
    now: i64,
) -> Result<Result<(), Refusal>, StoreError> {
    let seen =
        store.signin_attempts(&account_key(user), now - WINDOW_SECS, now - UNDER_WAY_SECS)?;
    Ok(if seen.failed >= MAX_FAILURES {
        Err(locked_out())
    } else {
        Ok(())
    })
}

/// Whether `user` may sign in to self-service at all: a name no account
/// can have, and root, are refused as a wrong password is (root manages
/// app passwords directly).
fn may_sign_in(user: &str) -> bool {
    crate::policy::check_user(user).is_ok() && !is_root(user)
}

fn is_root(user: &str) -> bool {
    crate::sys::passwd_uid(user) == Ok(Some(0))
}

/// Where the account holder signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `apppass` in a shell: the name comes from the caller's uid.
    Shell,
    /// The web page: the name is what someone typed.
    Web,
}

/// What the checker of primary passwords (PAM, Dovecot) said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Right; the account's name as the checker knows it.
    Accepted(String),
    /// Wrong; the name the checker looked up, when it says.
    Refused(Option<String>),
}

/// Why a sign-in could not be decided at all.
#[derive(Debug)]
pub enum SignInError {
    Store(StoreError),
    /// PAM or Dovecot could not be asked.
    CouldNotRun(String),
}

impl From<StoreError> for SignInError {
    fn from(e: StoreError) -> Self {
        SignInError::Store(e)
    }
}

/// Signs `user` in, `check` asking PAM or Dovecot for the primary
/// password; returns the name to act for. The rules, in order:
///
/// 1. root is told to manage app passwords directly (from a shell; on the
///    web page it fails as a wrong password does, and counts);
/// 2. a name no account can have fails as a wrong password does, and takes
///    no room in the store;
/// 3. the attempt takes its place in the account's and the host's limits
///    (waiting, through `wait`, while attempts under way fill them), or is
///    refused without asking anyone;
/// 4. the checker is asked; a wrong password stays counted, also under the
///    checker's own spelling of the name;
/// 5. a right one is taken back, unless the checker's spelling of the
///    account is itself locked out.
pub fn sign_in(
    store: &mut dyn Store,
    user: &str,
    via: Via,
    now: i64,
    wait: &mut dyn FnMut() -> bool,
    check: &mut dyn FnMut() -> Result<Verdict, String>,
) -> Result<Result<String, Refusal>, SignInError> {
    if via == Via::Shell && is_root(user) {
        return Ok(Err(Refusal::Root));
    }
    if crate::policy::check_user(user).is_err() {
        return Ok(Err(Refusal::NotAccepted));
    }
    let attempt = match begin(store, user, now, wait)? {
        Ok(a) => a,
        Err(r) => return Ok(Err(r)),
    };
    if via == Via::Web && is_root(user) {
        attempt.refused(store);
        return Ok(Err(Refusal::NotAccepted));
    }
    let name = match check() {
        Err(e) => {
            let _ = attempt.abandoned(store);
            return Err(SignInError::CouldNotRun(e));
        }
        Ok(Verdict::Refused(looked_up)) => {
            attempt.refused(store);
            if let Some(other) = looked_up.filter(|n| account_key(n) != account_key(user)) {
                let _ = count_failure_of(store, &other, now);
            }
            return Ok(Err(Refusal::NotAccepted));
        }
        Ok(Verdict::Accepted(name)) => name,
    };
    if !may_sign_in(&name) {
        attempt.refused(store);
        return Ok(Err(Refusal::NotAccepted));
    }
    attempt.accepted(store)?;
    if account_key(&name) != account_key(user) {
        if let Err(r) = check_open(store, &name, now)? {
            return Ok(Err(r));
        }
    }
    Ok(Ok(name))
}
