//! All SQL of the SQLite backend: core's `Store` and `Writer` over one
//! connection. Rows are decoded into core's types here and nowhere else.

use crate::columns::{Columns, Named};
use crate::error::on;
use crate::SqliteStore;
use apppass_core::networks::Networks;
use apppass_core::policy::Scope;
use apppass_core::store::{
    Actor, Candidate, Credential, Event, EventKind, Fingerprint, FingerprintRow, FingerprintSource,
    Finish, Key, LastUse, LoggedEvent, NetworkCheck, NewOutboxEntry, NewPassword, OutboxEntry,
    Password, PrimaryUse, Recorded, Revocation, SchemaDrift, SignInAttempts, Snapshot, Store,
    StoreError, WriteError, Writer,
};
use rusqlite::{
    named_params, params, Connection, OptionalExtension, Transaction, TransactionBehavior,
};
use std::path::Path;
use std::time::Duration;

/// How often a watcher of an SQLite store looks for new history entries.
const POLL_EVERY: Duration = Duration::from_secs(1);

const PASSWORD_COLUMNS: &str = "id, user, label, services, created_at, expires_at, revoked_at, \
     revoked_reason, last_used_at, last_used_service, last_used_rhost, networks, suspended_at, \
     last_tried_at";

fn password(r: &Named<'_>) -> rusqlite::Result<Password> {
    let revoked_at: Option<i64> = r.get("revoked_at")?;
    let last_used_at: Option<i64> = r.get("last_used_at")?;
    Ok(Password {
        id: r.get("id")?,
        user: r.get("user")?,
        label: r.get("label")?,
        scope: Scope::decode(&r.get::<String>("services")?),
        networks: Networks::decode(&r.get::<String>("networks")?),
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
        suspended_at: r.get("suspended_at")?,
        revoked: revoked_at.map(|at| Revocation { at, reason: None }),
        last_used: last_used_at.map(|at| LastUse {
            at,
            service: None,
            rhost: None,
        }),
        last_tried_at: r.get("last_tried_at")?,
        addresses: Vec::new(),
    })
    .and_then(|mut p| {
        if let Some(rev) = p.revoked.as_mut() {
            rev.reason = r.get("revoked_reason")?;
        }
        if let Some(used) = p.last_used.as_mut() {
            used.service = r.get("last_used_service")?;
            used.rhost = r.get("last_used_rhost")?;
        }
        Ok(p)
    })
}

const EVENT_COLUMNS: &str = "user, at, event, password_id, label, reason, by_actor";

fn event(r: &Named<'_>) -> rusqlite::Result<(String, Event)> {
    let unknown = |column: &str, what: &str, value: &str| match r.index(column) {
        Ok(col) => rusqlite::Error::FromSqlConversionFailure(
            col,
            rusqlite::types::Type::Text,
            format!("unknown {what} '{}'", value.escape_debug()).into(),
        ),
        Err(e) => e,
    };
    let name: String = r.get("event")?;
    let kind = EventKind::parse(&name).ok_or_else(|| unknown("event", "event", &name))?;
    let by_text: String = r.get("by_actor")?;
    let by = Actor::decode(&by_text).ok_or_else(|| unknown("by_actor", "actor", &by_text))?;
    Ok((
        r.get("user")?,
        Event {
            at: r.get("at")?,
            kind,
            password_id: r.get("password_id")?,
            label: r.get("label")?,
            reason: r.get("reason")?,
            by,
        },
    ))
}

fn fingerprint_of(bytes: Vec<u8>) -> rusqlite::Result<Fingerprint> {
    bytes.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Blob,
            "a fingerprint is not 32 bytes".into(),
        )
    })
}

fn unrevoked(conn: &Connection, user: &str) -> rusqlite::Result<Vec<Password>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {PASSWORD_COLUMNS} FROM passwords WHERE user = ?1 AND revoked_at IS NULL ORDER BY id"
    ))?;
    let columns = Columns::of(&stmt);
    let rows: rusqlite::Result<Vec<Password>> = stmt
        .query_map([user], |r| password(&columns.on(r)))?
        .collect();
    with_addresses(conn, Some(user), rows?)
}

/// Fills in each password's addresses, most recent first.
fn with_addresses(
    conn: &Connection,
    user: Option<&str>,
    mut rows: Vec<Password>,
) -> rusqlite::Result<Vec<Password>> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.password_id, a.address FROM addresses a JOIN passwords p ON p.id = a.password_id
          WHERE ?1 IS NULL OR p.user = ?1 ORDER BY a.last_at DESC, a.address",
    )?;
    let mut by_id: std::collections::HashMap<i64, Vec<String>> = Default::default();
    let found = stmt.query_map([user], |r| {
        Ok((
            r.get::<_, i64>("password_id")?,
            r.get::<_, String>("address")?,
        ))
    })?;
    for pair in found {
        let (id, address) = pair?;
        by_id.entry(id).or_default().push(address);
    }
    for p in &mut rows {
        if let Some(a) = by_id.remove(&p.id) {
            p.addresses = a;
        }
    }
    Ok(rows)
}

fn insert_event(conn: &Connection, user: &str, e: &Event) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO events (user, at, event, password_id, label, reason, by_actor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            user,
            e.at,
            e.kind.as_str(),
            e.password_id,
            e.label,
            e.reason,
            e.by.encode()
        ],
    )
    .map(drop)
}

fn setting(conn: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| {
        r.get("value")
    })
    .optional()
}

fn text_setting(conn: &Connection, name: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT value FROM text_settings WHERE name = ?1",
        [name],
        |r| r.get("value"),
    )
    .optional()
}

/// Counts sign-ins since `since`; those begun before `under_way_since` and
/// never settled count as failed.
fn signin_attempts(
    conn: &Connection,
    user: Option<&str>,
    since: i64,
    under_way_since: i64,
) -> rusqlite::Result<SignInAttempts> {
    const COUNTS: &str = "SELECT count(*) AS total,
            coalesce(sum(settled = 0 AND at >= :under_way_since), 0) AS under_way
       FROM signin_failures";
    let read = |r: &rusqlite::Row<'_>| {
        let total: i64 = r.get("total")?;
        let under_way: i64 = r.get("under_way")?;
        Ok(SignInAttempts {
            failed: (total - under_way) as usize,
            under_way: under_way as usize,
        })
    };
    match user {
        Some(u) => conn.query_row(
            &format!("{COUNTS} WHERE user = :user AND at >= :since"),
            named_params! { ":user": u, ":since": since, ":under_way_since": under_way_since },
            read,
        ),
        None => conn.query_row(
            &format!("{COUNTS} WHERE at >= :since"),
            named_params! { ":since": since, ":under_way_since": under_way_since },
            read,
        ),
    }
}

fn record_signin(
    conn: &Connection,
    user: &str,
    at: i64,
    forget_before: i64,
    settled: bool,
) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM signin_failures WHERE at < ?1",
        params![forget_before],
    )?;
    conn.execute(
        "INSERT INTO signin_failures (user, at, settled) VALUES (?1, ?2, ?3)",
        params![user, at, settled],
    )
    .map(drop)
}

fn source_of(text: String) -> rusqlite::Result<FingerprintSource> {
    FingerprintSource::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            "a fingerprint's source is not shadow, dovecot or ldap".into(),
        )
    })
}

fn recorded(r: &Named<'_>) -> rusqlite::Result<Recorded> {
    Ok(Recorded {
        fp: fingerprint_of(r.get("fingerprint")?)?,
        source: source_of(r.get("source")?)?,
    })
}

fn fingerprint(conn: &Connection, user: &str) -> rusqlite::Result<Option<Recorded>> {
    conn.query_row(
        "SELECT fingerprint, source FROM fingerprints WHERE user = ?1",
        [user],
        |r| {
            Ok(Recorded {
                fp: fingerprint_of(r.get("fingerprint")?)?,
                source: source_of(r.get("source")?)?,
            })
        },
    )
    .optional()
}

const OUTBOX_COLUMNS: &str = "id, user, key, kind, facts, at, queued_at, attempts, next_at, \
     claimed_by, claimed_until, handed_at, sent_at, gave_up_at, last_error";

fn outbox_entry(r: &Named<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        id: r.get("id")?,
        user: r.get("user")?,
        key: r.get("key")?,
        kind: r.get("kind")?,
        facts: r.get("facts")?,
        at: r.get("at")?,
        queued_at: r.get("queued_at")?,
        attempts: r.get("attempts")?,
        next_at: r.get("next_at")?,
        claimed_by: r.get("claimed_by")?,
        claimed_until: r.get("claimed_until")?,
        handed_at: r.get("handed_at")?,
        sent_at: r.get("sent_at")?,
        gave_up_at: r.get("gave_up_at")?,
        last_error: r.get("last_error")?,
    })
}

fn outbox_rows(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<OutboxEntry>> {
    let mut stmt = conn.prepare(sql)?;
    let columns = Columns::of(&stmt);
    let rows = stmt.query_map(params, |r| outbox_entry(&columns.on(r)))?;
    rows.collect()
}

impl Store for SqliteStore {
    fn describe(&self) -> String {
        self.describe_path()
    }

    fn key(&self) -> &Key {
        &self.key
    }

    fn candidates(&mut self, user: &str) -> Result<Vec<Candidate>, StoreError> {
        let mut stmt = self
            .conn
            .get(&self.path)?
            .prepare_cached(
                "SELECT id, label, services, expires_at, phc, tag, tag_salt, last_used_at,
                        networks, created_at, suspended_at, revoked_at, revoked_reason,
                        last_tried_at, last_used_rhost
                 FROM passwords WHERE user = ?1 AND phc IS NOT NULL",
            )
            .map_err(on(&self.path))?;
        let columns = Columns::of(&stmt);
        let rows = stmt
            .query_map([user], |r| {
                let r = columns.on(r);
                let revoked_at: Option<i64> = r.get("revoked_at")?;
                Ok(Candidate {
                    id: r.get("id")?,
                    label: r.get("label")?,
                    scope: Scope::decode(&r.get::<String>("services")?),
                    networks: Networks::decode(&r.get::<String>("networks")?),
                    created_at: r.get("created_at")?,
                    expires_at: r.get("expires_at")?,
                    suspended: r.get::<Option<i64>>("suspended_at")?.is_some(),
                    revoked: match revoked_at {
                        Some(at) => Some(Revocation {
                            at,
                            reason: r.get("revoked_reason")?,
                        }),
                        None => None,
                    },
                    credential: Credential {
                        phc: r.get("phc")?,
                        tag: r.get("tag")?,
                        tag_salt: r.get("tag_salt")?,
                    },
                    last_used_at: r.get("last_used_at")?,
                    last_used_rhost: r.get("last_used_rhost")?,
                    last_tried_at: r.get("last_tried_at")?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(on(&self.path))
    }

    fn fingerprint(&mut self, user: &str) -> Result<Option<Recorded>, StoreError> {
        fingerprint(self.conn.get(&self.path)?, user).map_err(on(&self.path))
    }

    fn record_use(
        &mut self,
        id: i64,
        used: &LastUse,
        network: Option<&NetworkCheck>,
    ) -> Result<(), StoreError> {
        self.small_write(true, |tx| {
            // Read before this address is added: was its network new?
            let new_network = match network {
                Some(check) => {
                    let mut stmt =
                        tx.prepare_cached("SELECT address FROM addresses WHERE password_id = ?1")?;
                    let known: Vec<String> = stmt
                        .query_map([id], |r| r.get(0))?
                        .collect::<rusqlite::Result<_>>()?;
                    !known.is_empty()
                        && !known
                            .iter()
                            .any(|a| apppass_core::networks::in_network(a, &check.cidr))
                }
                None => false,
            };
            let n = tx.execute(
                "UPDATE passwords SET last_used_at = ?2, last_used_service = ?3, last_used_rhost = ?4
                 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, used.at, used.service, used.rhost],
            )?;
            if let Some(check) = network.filter(|_| n > 0 && new_network) {
                insert_event(tx, &check.user, &check.event)?;
            }
            let Some(address) = used.address().filter(|_| n > 0) else {
                return Ok(());
            };
            tx.execute(
                "INSERT INTO addresses (password_id, address, last_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (password_id, address) DO UPDATE SET last_at = excluded.last_at",
                params![id, address, used.at],
            )?;
            tx.execute(
                "DELETE FROM addresses WHERE password_id = ?1 AND address NOT IN
                   (SELECT address FROM addresses WHERE password_id = ?1
                     ORDER BY last_at DESC, address LIMIT ?2)",
                params![id, apppass_core::retention::MAX_ADDRESSES as i64],
            )
            .map(drop)
        })
    }

    fn expire(&mut self, user: &str, id: i64, at: i64, reason: &str) -> Result<bool, StoreError> {
        self.small_write(false, |tx| {
            let label: Option<String> = tx
                .query_row(
                    "UPDATE passwords SET expires_at = ?3
                     WHERE id = ?1 AND user = ?2 AND revoked_at IS NULL
                       AND (expires_at IS NULL OR expires_at > ?3)
                     RETURNING label",
                    params![id, user, at],
                    |r| r.get("label"),
                )
                .optional()?;
            let Some(label) = label else {
                return Ok(false);
            };
            let event = Event {
                at,
                kind: EventKind::Expired,
                password_id: Some(id),
                label: Some(label),
                reason: Some(reason.into()),
                by: Actor::Module,
            };
            insert_event(tx, user, &event).map(|()| true)
        })
    }

    fn record_tried(
        &mut self,
        user: &str,
        id: i64,
        at: i64,
        event_unless_since: i64,
        event: &Event,
    ) -> Result<(), StoreError> {
        self.small_write(true, |tx| {
            tx.execute(
                "UPDATE passwords SET last_tried_at = ?3 WHERE id = ?1 AND user = ?2",
                params![id, user, at],
            )?;
            let recent: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM events WHERE password_id = ?1
                                   AND event = 'used-after-revoke' AND at >= ?2) AS recent",
                params![id, event_unless_since],
                |r| r.get("recent"),
            )?;
            if recent {
                Ok(())
            } else {
                insert_event(tx, user, event)
            }
        })
    }

    fn record_primary_use(
        &mut self,
        user: &str,
        service: &str,
        at: i64,
        rhost: Option<&str>,
    ) -> Result<(), StoreError> {
        self.small_write(true, |tx| {
            tx.execute(
                "INSERT INTO primary_uses (user, service, first_at, last_at, last_rhost, count)
                 VALUES (?1, ?2, ?3, ?3, ?4, 1)
                 ON CONFLICT (user, service) DO UPDATE SET
                    last_rhost = CASE WHEN excluded.last_at >= last_at
                                      THEN excluded.last_rhost ELSE last_rhost END,
                    last_at = max(last_at, excluded.last_at),
                    first_at = min(first_at, excluded.first_at),
                    count = count + 1",
                params![user, service, at, rhost],
            )
            .map(drop)
        })
    }

    fn primary_uses(&mut self, user: Option<&str>) -> Result<Vec<PrimaryUse>, StoreError> {
        let mut stmt = self
            .conn
            .get(&self.path)?
            .prepare(
                "SELECT user, service, first_at, last_at, last_rhost, count FROM primary_uses
                  WHERE ?1 IS NULL OR user = ?1",
            )
            .map_err(on(&self.path))?;
        let columns = Columns::of(&stmt);
        let rows = stmt
            .query_map([user], |r| {
                let r = columns.on(r);
                Ok(PrimaryUse {
                    user: r.get("user")?,
                    service: r.get("service")?,
                    first_at: r.get("first_at")?,
                    last_at: r.get("last_at")?,
                    last_rhost: r.get("last_rhost")?,
                    count: r.get("count")?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(on(&self.path))
    }

    fn outbox(&mut self, user: &str) -> Result<Vec<OutboxEntry>, StoreError> {
        outbox_rows(
            self.conn.get(&self.path)?,
            &format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE user = ?1 ORDER BY id"),
            [user],
        )
        .map_err(on(&self.path))
    }

    fn passwords(&mut self, user: Option<&str>) -> Result<Vec<Password>, StoreError> {
        let conn = self.conn.get(&self.path)?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {PASSWORD_COLUMNS} FROM passwords WHERE ?1 IS NULL OR user = ?1 ORDER BY user, id"
            ))
            .map_err(on(&self.path))?;
        let columns = Columns::of(&stmt);
        let rows = stmt
            .query_map([user], |r| password(&columns.on(r)))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .and_then(|rows| with_addresses(conn, user, rows));
        rows.map_err(on(&self.path))
    }

    fn events_after(&mut self, after: i64, limit: usize) -> Result<Vec<LoggedEvent>, StoreError> {
        let mut stmt = self
            .conn
            .get(&self.path)?
            .prepare(&format!(
                "SELECT id, {EVENT_COLUMNS} FROM events WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))
            .map_err(on(&self.path))?;
        let columns = Columns::of(&stmt);
        let rows = stmt
            .query_map(params![after, limit as i64], |r| {
                let r = columns.on(r);
                let (user, event) = event(&r)?;
                Ok(LoggedEvent {
                    id: r.get("id")?,
                    user,
                    event,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(on(&self.path))
    }

    /// A file announces nothing: wait a little and say to look again.
    fn wait_for_change(&mut self, timeout: Duration) -> Result<bool, StoreError> {
        std::thread::sleep(timeout.min(POLL_EVERY));
        Ok(true)
    }

    fn last_event_id(&mut self) -> Result<i64, StoreError> {
        self.conn
            .get(&self.path)?
            .query_row("SELECT coalesce(max(id), 0) AS last FROM events", [], |r| {
                r.get("last")
            })
            .map_err(on(&self.path))
    }

    fn expiring(&mut self, after: i64, until: i64) -> Result<Vec<Password>, StoreError> {
        let conn = self.conn.get(&self.path)?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {PASSWORD_COLUMNS} FROM passwords
                  WHERE revoked_at IS NULL AND expires_at > ?1 AND expires_at <= ?2
                  ORDER BY user, id"
            ))
            .map_err(on(&self.path))?;
        let columns = Columns::of(&stmt);
        let rows = stmt
            .query_map(params![after, until], |r| password(&columns.on(r)))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .and_then(|rows| with_addresses(conn, None, rows));
        rows.map_err(on(&self.path))
    }

    fn events(&mut self, user: &str) -> Result<Vec<Event>, StoreError> {
        let mut stmt = self
            .conn
            .get(&self.path)?
            .prepare(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE user = ?1 ORDER BY at, id"
            ))
            .map_err(on(&self.path))?;
        let columns = Columns::of(&stmt);
        let rows = stmt
            .query_map([user], |r| event(&columns.on(r)))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map(|v| v.into_iter().map(|(_, e)| e).collect())
            .map_err(on(&self.path))
    }

    fn setting(&mut self, name: &str) -> Result<Option<i64>, StoreError> {
        setting(self.conn.get(&self.path)?, name).map_err(on(&self.path))
    }

    fn text_setting(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        text_setting(self.conn.get(&self.path)?, name).map_err(on(&self.path))
    }

    fn signin_attempts(
        &mut self,
        user: &str,
        since: i64,
        under_way_since: i64,
    ) -> Result<SignInAttempts, StoreError> {
        signin_attempts(
            self.conn.get(&self.path)?,
            Some(user),
            since,
            under_way_since,
        )
        .map_err(on(&self.path))
    }

    fn fingerprinted_users(&mut self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .get(&self.path)?
            .prepare("SELECT user FROM fingerprints ORDER BY user")
            .map_err(on(&self.path))?;
        let rows = stmt
            .query_map([], |r| r.get("user"))
            .and_then(|rows| rows.collect::<Result<Vec<String>, _>>());
        rows.map_err(on(&self.path))
    }

    fn snapshot(&mut self) -> Result<Snapshot, StoreError> {
        let path = self.path.clone();
        let err = on(&path);
        // One read transaction: a consistent picture while others write.
        let tx = self.conn.get_mut(&path)?.transaction().map_err(&err)?;
        let mut snap = Snapshot::default();
        {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {PASSWORD_COLUMNS}, phc, tag, tag_salt FROM passwords ORDER BY id"
                ))
                .map_err(&err)?;
            let columns = Columns::of(&stmt);
            snap.passwords = stmt
                .query_map([], |r| {
                    let r = columns.on(r);
                    let p = password(&r)?;
                    let phc: Option<String> = r.get("phc")?;
                    let cred = match phc {
                        Some(phc) => Some(Credential {
                            phc,
                            tag: r.get("tag")?,
                            tag_salt: r.get("tag_salt")?,
                        }),
                        None => None,
                    };
                    Ok((p, cred))
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(&err)?;
            let mut stmt = tx
                .prepare(&format!("SELECT {EVENT_COLUMNS} FROM events ORDER BY id"))
                .map_err(&err)?;
            let columns = Columns::of(&stmt);
            snap.events = stmt
                .query_map([], |r| event(&columns.on(r)))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(&err)?;
            let mut stmt = tx
                .prepare(
                    "SELECT user, fingerprint, source, taken_at FROM fingerprints ORDER BY user",
                )
                .map_err(&err)?;
            let columns = Columns::of(&stmt);
            snap.fingerprints = stmt
                .query_map([], |r| {
                    let r = columns.on(r);
                    Ok(FingerprintRow {
                        user: r.get("user")?,
                        recorded: recorded(&r)?,
                        taken_at: r.get("taken_at")?,
                    })
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(&err)?;
            let mut stmt = tx
                .prepare("SELECT name, value FROM settings ORDER BY name")
                .map_err(&err)?;
            snap.settings = stmt
                .query_map([], |r| Ok((r.get("name")?, r.get("value")?)))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(&err)?;
            let mut stmt = tx
                .prepare("SELECT name, value FROM text_settings ORDER BY name")
                .map_err(&err)?;
            snap.text_settings = stmt
                .query_map([], |r| Ok((r.get("name")?, r.get("value")?)))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(&err)?;
        }
        Ok(snap)
    }

    fn schema_drift(&mut self) -> Result<Vec<SchemaDrift>, StoreError> {
        let err = on(&self.path);
        let conn = self.conn.get(&self.path)?;
        let version = crate::schema::user_version(conn).map_err(&err)?;
        crate::schema::drift(conn, version).map_err(&err)
    }

    fn write(
        &mut self,
        _user: Option<&str>,
        work: &mut dyn FnMut(&mut dyn Writer) -> Result<Finish, StoreError>,
    ) -> Result<(), WriteError> {
        self.writable()?;
        // BEGIN IMMEDIATE serialises every writer of the file, which is
        // more than the per-user order the trait asks for.
        let path = self.path.clone();
        let tx = self
            .conn
            .get_mut(&path)?
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(on(&path))?;
        let mut writer = SqliteWriter {
            tx: &tx,
            path: &path,
        };
        match work(&mut writer)? {
            Finish::Commit => tx
                .commit()
                .map_err(|e| WriteError::Commit(crate::error::sqlite(&path, e))),
            // Dropping the transaction without commit rolls it back.
            Finish::Rollback => Ok(()),
        }
    }
}

impl SqliteStore {
    /// One small write of the login path in its own immediate transaction;
    /// with `short_wait`, a best-effort one that waits for a lock only
    /// 250 ms (a login never waits long to be recorded).
    fn small_write<T>(
        &mut self,
        short_wait: bool,
        work: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.writable()?;
        let path = self.path.clone();
        let conn = self.conn.get_mut(&path)?;
        if short_wait {
            conn.busy_timeout(Duration::from_millis(250))
                .map_err(on(&path))?;
        }
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = work(&tx)?;
            tx.commit()?;
            Ok(value)
        })();
        result.map_err(on(&path))
    }
}

struct SqliteWriter<'a> {
    tx: &'a Transaction<'a>,
    path: &'a Path,
}

impl Writer for SqliteWriter<'_> {
    fn unrevoked(&mut self, user: &str) -> Result<Vec<Password>, StoreError> {
        unrevoked(self.tx, user).map_err(on(self.path))
    }

    fn setting(&mut self, name: &str) -> Result<Option<i64>, StoreError> {
        setting(self.tx, name).map_err(on(self.path))
    }

    fn fingerprint(&mut self, user: &str) -> Result<Option<Recorded>, StoreError> {
        fingerprint(self.tx, user).map_err(on(self.path))
    }

    fn insert_password(&mut self, new: &NewPassword) -> Result<i64, StoreError> {
        self.tx
            .execute(
                "INSERT INTO passwords (user, label, services, created_at, expires_at, phc, tag,
                                        tag_salt, networks)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    new.user,
                    new.label,
                    new.scope.encode(),
                    new.created_at,
                    new.expires_at,
                    new.credential.phc,
                    new.credential.tag,
                    new.credential.tag_salt,
                    new.networks.encode()
                ],
            )
            .map_err(on(self.path))?;
        Ok(self.tx.last_insert_rowid())
    }

    fn add_event(&mut self, user: &str, e: &Event) -> Result<(), StoreError> {
        insert_event(self.tx, user, e).map_err(on(self.path))
    }

    fn revoke(
        &mut self,
        user: &str,
        id: i64,
        at: i64,
        reason: &str,
        kind: EventKind,
        by: Actor,
    ) -> Result<(), StoreError> {
        let err = on(self.path);
        let label: Option<String> = self
            .tx
            .query_row(
                "UPDATE passwords SET revoked_at = ?3, revoked_reason = ?4
                 WHERE id = ?1 AND user = ?2 AND revoked_at IS NULL RETURNING label",
                params![id, user, at, reason],
                |r| r.get("label"),
            )
            .optional()
            .map_err(&err)?;
        let Some(label) = label else {
            return Ok(());
        };
        self.add_event(
            user,
            &Event {
                at,
                kind,
                password_id: Some(id),
                label: Some(label),
                reason: Some(reason.into()),
                by,
            },
        )
    }

    fn erase_retired(&mut self, before: i64) -> Result<usize, StoreError> {
        // Addresses are kept as long as credentials (30 days).
        self.tx
            .execute("DELETE FROM addresses WHERE last_at < ?1", [before])
            .map_err(on(self.path))?;
        self.tx
            .execute(
                "UPDATE passwords SET phc = NULL, tag = NULL, tag_salt = NULL
                 WHERE phc IS NOT NULL
                   AND (revoked_at < ?1 OR (revoked_at IS NULL AND expires_at < ?1))",
                [before],
            )
            .map_err(on(self.path))
    }

    fn set_suspended(&mut self, user: &str, id: i64, at: Option<i64>) -> Result<bool, StoreError> {
        self.tx
            .execute(
                "UPDATE passwords SET suspended_at = ?3
                 WHERE id = ?1 AND user = ?2 AND revoked_at IS NULL
                   AND (suspended_at IS NULL) = (?3 IS NOT NULL)",
                params![id, user, at],
            )
            .map(|n| n > 0)
            .map_err(on(self.path))
    }

    fn set_fingerprint(&mut self, user: &str, fp: &Recorded, at: i64) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT INTO fingerprints (user, fingerprint, source, taken_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (user) DO UPDATE SET fingerprint = excluded.fingerprint,
                                                  source = excluded.source,
                                                  taken_at = excluded.taken_at",
                params![user, &fp.fp[..], fp.source.as_str(), at],
            )
            .map(drop)
            .map_err(on(self.path))
    }

    fn forget_fingerprint(&mut self, user: &str) -> Result<(), StoreError> {
        self.tx
            .execute("DELETE FROM fingerprints WHERE user = ?1", [user])
            .map(drop)
            .map_err(on(self.path))
    }

    fn set_setting(&mut self, name: &str, value: i64) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT INTO settings (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![name, value],
            )
            .map(drop)
            .map_err(on(self.path))
    }

    fn set_text_setting(&mut self, name: &str, value: Option<&str>) -> Result<(), StoreError> {
        let result = match value {
            Some(v) => self.tx.execute(
                "INSERT INTO text_settings (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![name, v],
            ),
            None => self
                .tx
                .execute("DELETE FROM text_settings WHERE name = ?1", [name]),
        };
        result.map(drop).map_err(on(self.path))
    }

    fn signin_attempts(
        &mut self,
        user: Option<&str>,
        since: i64,
        under_way_since: i64,
    ) -> Result<SignInAttempts, StoreError> {
        signin_attempts(self.tx, user, since, under_way_since).map_err(on(self.path))
    }

    fn begin_signin(&mut self, user: &str, at: i64, forget_before: i64) -> Result<(), StoreError> {
        record_signin(self.tx, user, at, forget_before, false).map_err(on(self.path))
    }

    fn record_signin_failure(
        &mut self,
        user: &str,
        at: i64,
        forget_before: i64,
    ) -> Result<(), StoreError> {
        record_signin(self.tx, user, at, forget_before, true).map_err(on(self.path))
    }

    fn settle_signin(&mut self, user: &str, at: i64) -> Result<(), StoreError> {
        self.tx
            .execute(
                "UPDATE signin_failures SET settled = 1 WHERE rowid =
                   (SELECT rowid FROM signin_failures
                     WHERE user = ?1 AND at = ?2 AND settled = 0 LIMIT 1)",
                params![user, at],
            )
            .map(drop)
            .map_err(on(self.path))
    }

    fn take_back_signin(&mut self, user: &str, at: i64) -> Result<(), StoreError> {
        // One under way first: a failure settled meanwhile stays counted.
        self.tx
            .execute(
                "DELETE FROM signin_failures WHERE rowid =
                   (SELECT rowid FROM signin_failures WHERE user = ?1 AND at = ?2
                     ORDER BY settled LIMIT 1)",
                params![user, at],
            )
            .map(drop)
            .map_err(on(self.path))
    }

    fn restore_password(
        &mut self,
        p: &Password,
        cred: Option<&Credential>,
    ) -> Result<(), StoreError> {
        let err = on(self.path);
        self.tx
            .execute(
                "INSERT INTO passwords (id, user, label, services, created_at, expires_at,
                        phc, tag, tag_salt, revoked_at, revoked_reason,
                        last_used_at, last_used_service, last_used_rhost,
                        networks, suspended_at, last_tried_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                             ?15, ?16, ?17)",
                params![
                    p.id,
                    p.user,
                    p.label,
                    p.scope.encode(),
                    p.created_at,
                    p.expires_at,
                    cred.as_ref().map(|c| &c.phc),
                    cred.as_ref().map(|c| c.tag),
                    cred.as_ref().map(|c| &c.tag_salt),
                    p.revoked.as_ref().map(|r| r.at),
                    p.revoked.as_ref().and_then(|r| r.reason.as_ref()),
                    p.last_used.as_ref().map(|u| u.at),
                    p.last_used.as_ref().and_then(|u| u.service.as_ref()),
                    p.last_used.as_ref().and_then(|u| u.rhost.as_ref()),
                    p.networks.encode(),
                    p.suspended_at,
                    p.last_tried_at,
                ],
            )
            .map_err(&err)?;
        Ok(())
    }

    fn enqueue(&mut self, e: &NewOutboxEntry) -> Result<bool, StoreError> {
        self.tx
            .execute(
                "INSERT INTO outbox (user, key, kind, facts, at, queued_at, next_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (key) DO NOTHING",
                params![e.user, e.key, e.kind, e.facts, e.at, e.queued_at],
            )
            .map(|n| n > 0)
            .map_err(on(self.path))
    }

    fn outbox_due(&mut self, now: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        outbox_rows(
            self.tx,
            &format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox
                  WHERE sent_at IS NULL AND gave_up_at IS NULL AND next_at <= ?1
                  ORDER BY next_at, id LIMIT ?2"
            ),
            params![now, limit as i64],
        )
        .map_err(on(self.path))
    }

    fn update_outbox(&mut self, e: &OutboxEntry) -> Result<(), StoreError> {
        self.tx
            .execute(
                "UPDATE outbox SET attempts = ?2, next_at = ?3, claimed_by = ?4, claimed_until = ?5,
                        handed_at = ?6, sent_at = ?7, gave_up_at = ?8, last_error = ?9
                  WHERE id = ?1",
                params![
                    e.id,
                    e.attempts,
                    e.next_at,
                    e.claimed_by,
                    e.claimed_until,
                    e.handed_at,
                    e.sent_at,
                    e.gave_up_at,
                    e.last_error
                ],
            )
            .map(drop)
            .map_err(on(self.path))
    }

    fn is_empty(&mut self) -> Result<bool, StoreError> {
        self.tx
            .query_row(
                "SELECT (SELECT count(*) FROM passwords) + (SELECT count(*) FROM events)
                      + (SELECT count(*) FROM fingerprints) + (SELECT count(*) FROM settings)
                      + (SELECT count(*) FROM text_settings) = 0 AS empty",
                [],
                |r| r.get("empty"),
            )
            .map_err(on(self.path))
    }
}
