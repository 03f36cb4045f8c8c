//! What every scenario needs: a pinned clock, a seeded random source, a
//! scripted shadow database, and short ways to generate and log in.

use apppass_core::admin::{self, GenerateRequest};
use apppass_core::fingerprint::{Shadow, ShadowSource};
use apppass_core::hashing::HeapMemory;
use apppass_core::login::{authenticate, LoginRequest, Outcome};
use apppass_core::policy::Scope;
use apppass_core::primary::PrimarySource;
use apppass_core::secret::NormalizedSecret;
use apppass_core::store::Store;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::cell::RefCell;
use std::collections::HashMap;
use zeroize::Zeroizing;

/// 2026-11-18T...Z, a fixed "now".
pub const NOW: i64 = 1_795_000_000;

/// The administrator, as the tests act.
pub const ADMIN: apppass_core::store::Actor = apppass_core::store::Actor::Admin(Some(0));

pub fn rng() -> StdRng {
    StdRng::seed_from_u64(42)
}

/// A store kind under test. `fresh` makes an empty, initialised store;
/// `open` opens another connection to the same one (another process, as
/// far as the store can tell); `front_end` opens it as a login host does,
/// with no more rights than a login needs; `separate` makes a second,
/// empty store that shares nothing with the first.
pub trait Backend: Sync {
    fn fresh(&self) -> Box<dyn Store>;
    fn open(&self) -> Box<dyn Store>;
    fn front_end(&self) -> Box<dyn Store>;
    fn separate(&self) -> Box<dyn Store>;
}

/// A shadow database the test edits.
#[derive(Default)]
pub struct FakeShadow {
    pub entries: RefCell<HashMap<String, Option<Vec<u8>>>>,
    /// Users whose account was removed (no passwd entry either).
    pub removed: RefCell<Vec<String>>,
}

impl FakeShadow {
    pub fn set(&self, user: &str, hash: &str) {
        self.entries
            .borrow_mut()
            .insert(user.into(), Some(hash.as_bytes().to_vec()));
    }
    pub fn unavailable(&self, user: &str) {
        self.entries.borrow_mut().insert(user.into(), None);
    }
    pub fn remove(&self, user: &str) {
        self.entries.borrow_mut().remove(user);
        self.removed.borrow_mut().push(user.into());
    }
}

impl ShadowSource for FakeShadow {
    fn lookup(&self, user: &str) -> Shadow {
        if self.removed.borrow().iter().any(|u| u == user) {
            return Shadow::NoAccount;
        }
        match self.entries.borrow().get(user) {
            Some(Some(h)) => Shadow::Hash(Zeroizing::new(h.clone())),
            Some(None) => Shadow::Unavailable,
            None => Shadow::NoEntry,
        }
    }
}

/// The delivery step of `generate` when nothing is printed.
pub fn accept(_: &admin::Generated) -> std::io::Result<()> {
    Ok(())
}

pub fn scope(services: &[&str]) -> Scope {
    if services == ["*"] {
        Scope::Any
    } else {
        Scope::only(services).unwrap()
    }
}

/// An IMAP password generated at `NOW`, printed nowhere.
pub fn imap_password(
    store: &mut dyn Store,
    user: &str,
    label: &str,
    shadow: &dyn PrimarySource,
) -> Result<admin::Generated, admin::AdminError> {
    let req = GenerateRequest {
        networks: apppass_core::networks::Networks::anywhere(),
        replaces: None,
        user,
        scope: scope(&["imap"]),
        label,
        expires_at: None,
        by: ADMIN,
    };
    admin::generate(store, &req, NOW, &mut rng(), shadow, &mut accept)
}

pub fn gen(
    store: &mut dyn Store,
    user: &str,
    services: &[&str],
    label: &str,
    shadow: &dyn PrimarySource,
) -> (i64, String) {
    gen_at(store, user, services, label, shadow, NOW, None)
}

pub fn gen_at(
    store: &mut dyn Store,
    user: &str,
    services: &[&str],
    label: &str,
    shadow: &dyn PrimarySource,
    now: i64,
    expires_at: Option<i64>,
) -> (i64, String) {
    let req = GenerateRequest {
        networks: apppass_core::networks::Networks::anywhere(),
        replaces: None,
        user,
        scope: scope(services),
        label,
        expires_at,
        by: ADMIN,
    };
    let g = admin::generate(
        store,
        &req,
        now,
        &mut rand::rngs::OsRng,
        shadow,
        &mut accept,
    )
    .unwrap();
    (g.id, g.secret.display().to_string())
}

pub fn login(
    store: &mut dyn Store,
    user: &str,
    service: &str,
    password: &str,
    now: i64,
    shadow: &dyn PrimarySource,
) -> Outcome {
    let secret = NormalizedSecret::from_candidate(password.as_bytes()).unwrap();
    let req = LoginRequest {
        user,
        service,
        rhost: Some("203.0.113.7"),
        now,
        side_effects: true,
    };
    authenticate(store, &req, &secret, &mut HeapMemory::default(), shadow).unwrap()
}

pub fn ok(o: &Outcome) -> bool {
    matches!(o, Outcome::Success { .. })
}

/// The one password `user` has, as `list --all` shows it.
pub fn only_password(
    store: &mut dyn Store,
    user: &str,
    shadow: &dyn PrimarySource,
) -> apppass_core::store::Password {
    let mut rows = admin::list(store, Some(user), true, NOW, shadow, ADMIN)
        .unwrap()
        .passwords;
    assert_eq!(rows.len(), 1, "{user} has one password");
    rows.remove(0)
}

/// [`login`] from the client address `rhost`.
pub fn login_from(
    store: &mut dyn Store,
    user: &str,
    password: &str,
    now: i64,
    shadow: &dyn PrimarySource,
    rhost: &str,
) -> Outcome {
    let secret = NormalizedSecret::from_candidate(password.as_bytes()).unwrap();
    let req = LoginRequest {
        user,
        service: "imap",
        rhost: Some(rhost),
        now,
        side_effects: true,
    };
    authenticate(store, &req, &secret, &mut HeapMemory::default(), shadow).unwrap()
}
