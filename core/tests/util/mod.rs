//! Helpers for the core tests: a store in a private directory, a pinned
//! clock, a seeded random source and a scripted shadow database.

use apppass_core::fingerprint::{Shadow, ShadowSource};
use apppass_core::store::Store;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::cell::RefCell;
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use zeroize::Zeroizing;

/// 2026-11-18T...Z, a fixed "now".
pub const NOW: i64 = 1_795_000_000;

pub fn euid() -> u32 {
    apppass_core::sys::euid()
}

pub fn rng() -> StdRng {
    StdRng::seed_from_u64(42)
}

pub struct TestStore {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
}

impl TestStore {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let db = dir.path().join("apppass.db");
        TestStore { dir, db }
    }

    pub fn init(&self) -> Store {
        Store::init(&self.db, euid(), &mut rng()).unwrap().0
    }
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
pub fn accept(_: &apppass_core::admin::Generated) -> std::io::Result<()> {
    Ok(())
}
