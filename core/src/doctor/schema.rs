//! The store's schema against the one apppass makes. A trigger, rule or
//! policy someone added runs inside apppass's own changes: one that clears
//! `revoked_at` undoes every revoke while apppass reports it done and logs
//! it. Core does not open stores (the backends live in their own crates):
//! the front end opens the store [`store_under`] names and hands over what
//! [`crate::store::Store::schema_drift`] found.

use super::{under, Finding, Severity};
use crate::config::{self, StoreChoice, DEFAULT_CONFIG, DEFAULT_DB};
use crate::store::{Change, SchemaDrift};
use std::path::{Path, PathBuf};

/// What the front end found in the store's schema.
#[derive(Debug)]
pub struct SchemaSeen {
    /// The store as messages name it: its file on the host, or the server.
    pub store: String,
    /// The store's file on the host, for an SQLite store.
    pub file: Option<PathBuf>,
    pub drift: Vec<SchemaDrift>,
    /// Users with an active or suspended password and no primary-password
    /// fingerprint, sorted.
    pub unfingerprinted: Vec<String>,
    /// The `entitled-group` setting, when one is set.
    pub entitled_group: Option<String>,
}

/// The store the configuration under `root` names (the default SQLite
/// store without one), with its files under `root`, and the store's file
/// as a path on the host. `None` when the configuration cannot be read:
/// the file checks report that.
pub fn store_under(root: &Path) -> Option<(StoreChoice, Option<PathBuf>)> {
    let conf = under(root, Path::new(DEFAULT_CONFIG));
    // Read as the file checks read it: a FIFO or a device there is their
    // finding, never a hang here.
    let choice = match super::read::text(&conf, super::read::MOST_BYTES) {
        Ok(Some(text)) => config::parse(&text, Path::new(DEFAULT_CONFIG)).ok()?,
        Ok(None) => StoreChoice::sqlite(Path::new(DEFAULT_DB)),
        Err(_) => return None,
    };
    Some(match choice {
        StoreChoice::Sqlite { db, key } => (
            StoreChoice::Sqlite {
                db: under(root, &db),
                key: under(root, &key),
            },
            Some(db),
        ),
        StoreChoice::Postgres {
            conninfo,
            admin_conninfo,
            key,
        } => (
            StoreChoice::Postgres {
                conninfo,
                admin_conninfo,
                key: under(root, &key),
            },
            None,
        ),
    })
}

pub(super) fn check(seen: Option<&SchemaSeen>, found: &mut Vec<Finding>) {
    let Some(seen) = seen else { return };
    for d in &seen.drift {
        let (severity, effect, fix) = match d.change {
            Change::Added if d.acts_on_changes() => (
                Severity::Critical,
                "it runs inside apppass's own changes and can undo them (a revoke reported and logged, and not kept)",
                format!(
                    "find out who added it, remove it (DROP {} ...), and check with 'apppass list --all' that every revoke since it was added still holds",
                    d.kind.to_uppercase()
                ),
            ),
            Change::Added => (
                Severity::Warning,
                "apppass neither makes nor reads it",
                format!(
                    "find out who added it and remove it (DROP {} ...)",
                    d.kind.to_uppercase()
                ),
            ),
            Change::Altered | Change::Missing => (
                Severity::Critical,
                "apppass's statements may fail or not do what apppass reports",
                "move the data into a store made by apppass: 'apppass export FILE', then 'apppass import FILE' into a new store made with 'apppass init'".to_string(),
            ),
        };
        found.push(Finding {
            check: "store-schema",
            severity,
            file: seen.file.clone(),
            line: None,
            problem: format!("the store {} holds {d}: {effect}", seen.store),
            fix,
        });
    }
}
