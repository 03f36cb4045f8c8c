//! All SQL lives here; callers get plain rows back.

use super::{Store, StoreError};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use std::time::Duration;

/// An unrevoked password of one user, as the login path needs it.
pub struct CandidateRow {
    pub id: i64,
    pub label: String,
    pub services: String,
    pub expires_at: Option<i64>,
    pub phc: String,
    pub tag: u16,
    pub tag_salt: Vec<u8>,
    pub last_used_at: Option<i64>,
}

/// A password as `list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordRow {
    pub id: i64,
    pub user: String,
    pub label: String,
    pub services: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
    pub last_used_at: Option<i64>,
    pub last_used_service: Option<String>,
    pub last_used_rhost: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub at: i64,
    pub event: String,
    pub password_id: Option<i64>,
    pub label: Option<String>,
    pub reason: Option<String>,
}

/// A password to insert, already hashed.
pub struct NewPassword<'a> {
    pub user: &'a str,
    pub label: &'a str,
    pub label_key: &'a str,
    pub services: &'a str,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub phc: &'a str,
    pub tag: u16,
    pub tag_salt: &'a [u8],
    pub max_active: i64,
    /// Recorded only if the user has none yet.
    pub fingerprint: Option<&'a [u8]>,
}

pub enum InsertError {
    LimitReached(i64),
    DuplicateLabel,
    Store(StoreError),
    /// The caller could not hand the password over; nothing was stored.
    Undelivered(std::io::Error),
    /// Handed over, but the commit failed: what was handed over is void.
    NotStored(StoreError),
}

pub enum Selector<'a> {
    Id(i64),
    Label(&'a str),
    All,
}

const ACTIVE: &str = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at >= ?2)";

impl Store {
    fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError::sqlite(&self.path, e)
    }

    pub fn candidates(&self, user: &str) -> Result<Vec<CandidateRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, label, services, expires_at, phc, tag, tag_salt, last_used_at
                 FROM passwords WHERE user = ?1 AND revoked_at IS NULL",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([user], |r| {
                Ok(CandidateRow {
                    id: r.get(0)?,
                    label: r.get(1)?,
                    services: r.get(2)?,
                    expires_at: r.get(3)?,
                    phc: r.get(4)?,
                    tag: r.get(5)?,
                    tag_salt: r.get(6)?,
                    last_used_at: r.get(7)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.err(e))
    }

    /// Best effort: a short lock wait, and the caller ignores failure.
    pub fn record_use(
        &mut self,
        id: i64,
        now: i64,
        service: &str,
        rhost: Option<&str>,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, e);
        self.conn
            .busy_timeout(Duration::from_millis(250))
            .map_err(err)?;
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "UPDATE passwords SET last_used_at = ?2, last_used_service = ?3, last_used_rhost = ?4
                 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, now, service, rhost],
            )?;
            tx.commit()
        })();
        result.map_err(err)
    }

    /// Inserts the password and its event, then calls `deliver` with the
    /// new ID before committing: a password nobody received is never
    /// stored.
    pub(crate) fn insert_password(
        &mut self,
        new: &NewPassword<'_>,
        deliver: &mut dyn FnMut(i64) -> std::io::Result<()>,
    ) -> Result<i64, InsertError> {
        let path = self.path.clone();
        let err = |e| InsertError::Store(StoreError::sqlite(&path, e));
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let active: i64 = tx
            .query_row(
                &format!("SELECT count(*) FROM passwords WHERE user = ?1 AND {ACTIVE}"),
                params![new.user, new.created_at],
                |r| r.get(0),
            )
            .map_err(err)?;
        if active >= new.max_active {
            return Err(InsertError::LimitReached(new.max_active));
        }
        let mut labels = tx
            .prepare(&format!(
                "SELECT label FROM passwords WHERE user = ?1 AND {ACTIVE}"
            ))
            .map_err(err)?;
        let clash = labels
            .query_map(params![new.user, new.created_at], |r| r.get::<_, String>(0))
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?
            .iter()
            .any(|l| crate::policy::label_key(l) == new.label_key);
        drop(labels);
        if clash {
            return Err(InsertError::DuplicateLabel);
        }
        tx.execute(
            "INSERT INTO passwords (user, label, services, created_at, expires_at, phc, tag, tag_salt)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                new.user,
                new.label,
                new.services,
                new.created_at,
                new.expires_at,
                new.phc,
                new.tag,
                new.tag_salt
            ],
        )
        .map_err(err)?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO events (user, at, event, password_id, label) VALUES (?1, ?2, 'generated', ?3, ?4)",
            params![new.user, new.created_at, id, new.label],
        )
        .map_err(err)?;
        if let Some(fp) = new.fingerprint {
            tx.execute(
                "INSERT OR IGNORE INTO fingerprints (user, fingerprint, taken_at) VALUES (?1, ?2, ?3)",
                params![new.user, fp, new.created_at],
            )
            .map_err(err)?;
        }
        // Dropping the transaction without commit rolls it back.
        deliver(id).map_err(InsertError::Undelivered)?;
        tx.commit()
            .map_err(|e| InsertError::NotStored(StoreError::sqlite(&path, e)))?;
        Ok(id)
    }

    /// Revokes the selected unrevoked passwords of `user` in one
    /// transaction: hash and tag erased, row kept, one event each. `event` is
    /// `revoked` or `wiped`. With `forget_fingerprint` (a wipe, a removed
    /// account) the user's fingerprint goes too, so the next `generate`
    /// takes a fresh one.
    pub(crate) fn revoke(
        &mut self,
        user: &str,
        selector: &Selector<'_>,
        reason: &str,
        event: &str,
        forget_fingerprint: bool,
        now: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut chosen: Vec<(i64, String)> = {
            let mut stmt = tx
                .prepare("SELECT id, label FROM passwords WHERE user = ?1 AND revoked_at IS NULL ORDER BY id")
                .map_err(err)?;
            let rows = stmt
                .query_map([user], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(err)?
                .collect::<Result<Vec<(i64, String)>, _>>()
                .map_err(err)?;
            rows
        };
        chosen.retain(|(id, label)| match selector {
            Selector::Id(want) => id == want,
            Selector::Label(want) => {
                crate::policy::label_key(label) == crate::policy::label_key(want)
            }
            Selector::All => true,
        });
        for (id, label) in &chosen {
            tx.execute(
                "UPDATE passwords SET phc = NULL, tag = NULL, tag_salt = NULL, revoked_at = ?2, revoked_reason = ?3
                 WHERE id = ?1",
                params![id, now, reason],
            )
            .map_err(err)?;
            tx.execute(
                "INSERT INTO events (user, at, event, password_id, label, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![user, now, event, id, label, reason],
            )
            .map_err(err)?;
        }
        if forget_fingerprint {
            tx.execute("DELETE FROM fingerprints WHERE user = ?1", [user])
                .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(chosen)
    }

    pub fn passwords(&self, user: Option<&str>) -> Result<Vec<PasswordRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, user, label, services, created_at, expires_at, revoked_at, revoked_reason,
                        last_used_at, last_used_service, last_used_rhost
                 FROM passwords WHERE ?1 IS NULL OR user = ?1 ORDER BY user, id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([user], |r| {
                Ok(PasswordRow {
                    id: r.get(0)?,
                    user: r.get(1)?,
                    label: r.get(2)?,
                    services: r.get(3)?,
                    created_at: r.get(4)?,
                    expires_at: r.get(5)?,
                    revoked_at: r.get(6)?,
                    revoked_reason: r.get(7)?,
                    last_used_at: r.get(8)?,
                    last_used_service: r.get(9)?,
                    last_used_rhost: r.get(10)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.err(e))
    }

    pub fn events(&self, user: &str) -> Result<Vec<EventRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT at, event, password_id, label, reason FROM events WHERE user = ?1 ORDER BY at, id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([user], |r| {
                Ok(EventRow {
                    at: r.get(0)?,
                    event: r.get(1)?,
                    password_id: r.get(2)?,
                    label: r.get(3)?,
                    reason: r.get(4)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.err(e))
    }

    pub fn setting(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn set_setting(&mut self, name: &str, value: i64) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        tx.execute(
            "INSERT INTO settings (name, value) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            params![name, value],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    pub fn fingerprint(&self, user: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .query_row(
                "SELECT fingerprint FROM fingerprints WHERE user = ?1",
                [user],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Replaces the user's fingerprint (a first primary password was set).
    pub fn set_fingerprint(&mut self, user: &str, fp: &[u8], now: i64) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        tx.execute(
            "INSERT INTO fingerprints (user, fingerprint, taken_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (user) DO UPDATE SET fingerprint = excluded.fingerprint, taken_at = excluded.taken_at",
            params![user, fp, now],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    pub fn has_user(&self, user: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM passwords WHERE user = ?1)",
                [user],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }
}
