//! All SQL of the PostgreSQL backend: core's `Store` and `Writer` over one
//! connection. Rows arrive as text and are decoded into core's types here.

use crate::conn::{Conn, Prepared, Rows};
use crate::{hex, PgStore};
use apppass_core::networks::Networks;
use apppass_core::policy::Scope;
use apppass_core::store::{
    Actor, Candidate, Change, Credential, Event, EventKind, Fingerprint, FingerprintRow,
    FingerprintSource, Finish, Key, LastUse, LoggedEvent, NetworkCheck, NewOutboxEntry,
    NewPassword, OutboxEntry, Password, PrimaryUse, Recorded, Revocation, SchemaDrift,
    SignInAttempts, Snapshot, Store, StoreError, WriteError, Writer,
};

/// Every password of a user that a login may compare with: active ones,
/// and retired ones whose hashes the tripwire keeps.
pub(crate) static CANDIDATES: Prepared = Prepared {
    name: c"apppass_candidates",
    sql: c"SELECT id, label, services, expires_at, last_used_at, phc, tag, tag_salt,
                  networks, created_at, suspended_at, revoked_at, revoked_reason, last_tried_at,
                  last_used_rhost
           FROM apppass.passwords WHERE username = $1 AND phc IS NOT NULL",
};

/// A password's addresses, most recent first, as one space-separated
/// column named `addresses` (an IP address holds no space).
const ADDRESSES: &str = "(SELECT string_agg(a.address, ' ' ORDER BY a.last_at DESC, a.address) \
     FROM apppass.addresses a WHERE a.password_id = passwords.id) AS addresses";

const PASSWORD_COLUMNS: &str =
    "id, username, label, services, created_at, expires_at, revoked_at, \
     revoked_reason, last_used_at, last_used_service, last_used_rhost, networks, suspended_at, \
     last_tried_at";

const OUTBOX_COLUMNS: &str = "id, username, key, kind, facts, at, queued_at, attempts, next_at, \
     claimed_by, claimed_until, handed_at, sent_at, gave_up_at, last_error";

fn outbox_entry(c: &Cells<'_>) -> Result<OutboxEntry, StoreError> {
    Ok(OutboxEntry {
        id: c.req_int("id")?,
        user: c.req_text("username")?,
        key: c.req_text("key")?,
        kind: c.req_text("kind")?,
        facts: c.req_text("facts")?,
        at: c.req_int("at")?,
        queued_at: c.req_int("queued_at")?,
        attempts: c.req_int("attempts")?,
        next_at: c.req_int("next_at")?,
        claimed_by: c.text("claimed_by")?,
        claimed_until: c.int("claimed_until")?,
        handed_at: c.int("handed_at")?,
        sent_at: c.int("sent_at")?,
        gave_up_at: c.int("gave_up_at")?,
        last_error: c.text("last_error")?,
    })
}

/// A value the schema guarantees but the server did not send as expected.
fn malformed(target: &str, what: &str) -> StoreError {
    StoreError::Corrupt {
        target: target.into(),
        source: format!("unexpected value in {what}").into(),
    }
}

/// One row, read by column name.
struct Cells<'a> {
    row: &'a [Option<String>],
    /// The result's column names, in the order of the row's values.
    columns: &'a [String],
    target: &'a str,
}

impl Cells<'_> {
    fn text(&self, column: &str) -> Result<Option<String>, StoreError> {
        self.columns
            .iter()
            .position(|c| c == column)
            .and_then(|i| self.row.get(i))
            .cloned()
            .ok_or_else(|| malformed(self.target, "a row"))
    }
    fn req_text(&self, column: &str) -> Result<String, StoreError> {
        self.text(column)?
            .ok_or_else(|| malformed(self.target, "a row"))
    }
    fn int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        self.text(column)?
            .map(|v| v.parse().map_err(|_| malformed(self.target, "a number")))
            .transpose()
    }
    fn req_int(&self, column: &str) -> Result<i64, StoreError> {
        self.int(column)?
            .ok_or_else(|| malformed(self.target, "a row"))
    }
    /// A column some queries leave out: `None` when absent.
    fn optional_text(&self, column: &str) -> Option<String> {
        self.columns
            .iter()
            .position(|c| c == column)
            .and_then(|i| self.row.get(i))
            .cloned()
            .flatten()
    }
    fn bytes(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.text(column)?
            .map(|v| hex::decode(&v).ok_or_else(|| malformed(self.target, "a bytea")))
            .transpose()
    }
}

fn password(c: &Cells<'_>) -> Result<Password, StoreError> {
    let revoked = match c.int("revoked_at")? {
        Some(at) => Some(Revocation {
            at,
            reason: c.text("revoked_reason")?,
        }),
        None => None,
    };
    let last_used = match c.int("last_used_at")? {
        Some(at) => Some(LastUse {
            at,
            service: c.text("last_used_service")?,
            rhost: c.text("last_used_rhost")?,
        }),
        None => None,
    };
    Ok(Password {
        id: c.req_int("id")?,
        user: c.req_text("username")?,
        label: c.req_text("label")?,
        scope: Scope::decode(&c.req_text("services")?),
        networks: Networks::decode(&c.req_text("networks")?),
        created_at: c.req_int("created_at")?,
        expires_at: c.int("expires_at")?,
        suspended_at: c.int("suspended_at")?,
        revoked,
        last_used,
        last_tried_at: c.int("last_tried_at")?,
        addresses: c
            .optional_text("addresses")
            .map(|a| a.split(' ').map(str::to_owned).collect())
            .unwrap_or_default(),
    })
}

/// The credential in the row's `phc`, `tag` and `tag_salt`, if any.
fn credential(c: &Cells<'_>) -> Result<Option<Credential>, StoreError> {
    let Some(phc) = c.text("phc")? else {
        return Ok(None);
    };
    let tag = c.req_int("tag")?;
    Ok(Some(Credential {
        phc,
        tag: u16::try_from(tag).map_err(|_| malformed(c.target, "a tag"))?,
        tag_salt: c
            .bytes("tag_salt")?
            .ok_or_else(|| malformed(c.target, "a tag"))?,
    }))
}

const EVENT_COLUMNS: &str = "username, at, event, password_id, label, reason, by_actor";

fn event(c: &Cells<'_>) -> Result<(String, Event), StoreError> {
    let name = c.req_text("event")?;
    let kind = EventKind::parse(&name).ok_or_else(|| malformed(c.target, "an event name"))?;
    let by =
        Actor::decode(&c.req_text("by_actor")?).ok_or_else(|| malformed(c.target, "an actor"))?;
    Ok((
        c.req_text("username")?,
        Event {
            at: c.req_int("at")?,
            kind,
            password_id: c.int("password_id")?,
            label: c.text("label")?,
            reason: c.text("reason")?,
            by,
        },
    ))
}

fn fingerprint_of(bytes: Vec<u8>, target: &str) -> Result<Fingerprint, StoreError> {
    bytes
        .try_into()
        .map_err(|_| malformed(target, "a fingerprint"))
}

fn each<T>(
    rows: Rows,
    target: &str,
    f: impl Fn(&Cells<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.rows
        .iter()
        .map(|row| {
            f(&Cells {
                row,
                columns: &rows.columns,
                target,
            })
        })
        .collect()
}

fn unrevoked(conn: &mut Conn, user: &str) -> Result<Vec<Password>, StoreError> {
    let rows = conn.exec(
        &format!(
            "SELECT {PASSWORD_COLUMNS}, {ADDRESSES} FROM apppass.passwords
             WHERE username = $1 AND revoked_at IS NULL ORDER BY id"
        ),
        &[Some(user)],
    )?;
    let target = conn.target.clone();
    each(rows, &target, password)
}

fn setting(conn: &mut Conn, name: &str) -> Result<Option<i64>, StoreError> {
    let rows = conn.exec(
        "SELECT value FROM apppass.settings WHERE name = $1",
        &[Some(name)],
    )?;
    let target = conn.target.clone();
    Ok(each(rows, &target, |c| c.req_int("value"))?
        .into_iter()
        .next())
}

/// Counts sign-ins since `since`; those begun before `under_way_since` and
/// never settled count as failed.
fn signin_attempts(
    conn: &mut Conn,
    user: Option<&str>,
    since: i64,
    under_way_since: i64,
) -> Result<SignInAttempts, StoreError> {
    const COUNTS: &str = "SELECT count(*) AS total,
            count(*) FILTER (WHERE NOT settled AND at >= $1::bigint) AS under_way
       FROM apppass.signin_failures WHERE at >= $2::bigint";
    let (since, under_way_since) = (since.to_string(), under_way_since.to_string());
    let rows = match user {
        Some(u) => conn.exec(
            &format!("{COUNTS} AND username = $3"),
            &[Some(&under_way_since), Some(&since), Some(u)],
        )?,
        None => conn.exec(COUNTS, &[Some(&under_way_since), Some(&since)])?,
    };
    let target = conn.target.clone();
    let counts = each(rows, &target, |c| {
        Ok((c.req_int("total")?, c.req_int("under_way")?))
    })?;
    let (total, under_way) = counts.into_iter().next().unwrap_or((0, 0));
    Ok(SignInAttempts {
        failed: (total - under_way) as usize,
        under_way: under_way as usize,
    })
}

fn record_signin(
    conn: &mut Conn,
    user: &str,
    at: i64,
    forget_before: i64,
    settled: bool,
) -> Result<(), StoreError> {
    conn.exec(
        "DELETE FROM apppass.signin_failures WHERE at < $1::bigint",
        &[Some(&forget_before.to_string())],
    )?;
    conn.exec(
        "INSERT INTO apppass.signin_failures (username, at, settled) VALUES ($1, $2::bigint, $3::boolean)",
        &[Some(user), Some(&at.to_string()), Some(if settled { "true" } else { "false" })],
    )
    .map(drop)
}

fn text_setting(conn: &mut Conn, name: &str) -> Result<Option<String>, StoreError> {
    let rows = conn.exec(
        "SELECT value FROM apppass.text_settings WHERE name = $1",
        &[Some(name)],
    )?;
    let target = conn.target.clone();
    Ok(each(rows, &target, |c| c.req_text("value"))?
        .into_iter()
        .next())
}

fn fingerprint(conn: &mut Conn, user: &str) -> Result<Option<Recorded>, StoreError> {
    let rows = conn.exec(
        "SELECT fingerprint, source FROM apppass.fingerprints WHERE username = $1",
        &[Some(user)],
    )?;
    let target = conn.target.clone();
    each(rows, &target, recorded).map(|v| v.into_iter().next())
}

fn recorded(c: &Cells<'_>) -> Result<Recorded, StoreError> {
    Ok(Recorded {
        fp: fingerprint_of(c.bytes("fingerprint")?.unwrap_or_default(), c.target)?,
        source: FingerprintSource::parse(&c.req_text("source")?)
            .ok_or_else(|| malformed(c.target, "a fingerprint's source"))?,
    })
}

impl Store for PgStore {
    fn describe(&self) -> String {
        self.target.clone()
    }

    fn key(&self) -> &Key {
        &self.key
    }

    fn candidates(&mut self, user: &str) -> Result<Vec<Candidate>, StoreError> {
        // A login's one round trip: with the schema and key check when the
        // store has not made it yet.
        let rows = self
            .checked(Some((&CANDIDATES, &[Some(user)])))?
            .ok_or_else(|| self.unanswered())?;
        let target = self.target.clone();
        each(rows, &target, |c| {
            Ok(Candidate {
                id: c.req_int("id")?,
                label: c.req_text("label")?,
                scope: Scope::decode(&c.req_text("services")?),
                networks: Networks::decode(&c.req_text("networks")?),
                created_at: c.req_int("created_at")?,
                expires_at: c.int("expires_at")?,
                suspended: c.int("suspended_at")?.is_some(),
                revoked: match c.int("revoked_at")? {
                    Some(at) => Some(Revocation {
                        at,
                        reason: c.text("revoked_reason")?,
                    }),
                    None => None,
                },
                last_used_at: c.int("last_used_at")?,
                last_used_rhost: c.text("last_used_rhost")?,
                last_tried_at: c.int("last_tried_at")?,
                credential: credential(c)?.ok_or_else(|| malformed(c.target, "a password"))?,
            })
        })
    }

    fn fingerprint(&mut self, user: &str) -> Result<Option<Recorded>, StoreError> {
        fingerprint(self.conn()?, user)
    }

    fn record_use(
        &mut self,
        id: i64,
        used: &LastUse,
        network: Option<&NetworkCheck>,
    ) -> Result<(), StoreError> {
        let conn = self.conn()?;
        conn.exec(
            "SELECT apppass.record_use($1::bigint, $2::bigint, $3, $4, $5, $6::integer, $7, $8)",
            &[
                Some(&id.to_string()),
                Some(&used.at.to_string()),
                used.service.as_deref(),
                used.rhost.as_deref(),
                used.address(),
                Some(&apppass_core::retention::MAX_ADDRESSES.to_string()),
                network.map(|n| n.cidr.as_str()),
                network.and_then(|n| n.event.reason.as_deref()),
            ],
        )
        .map(drop)
    }

    fn expire(&mut self, user: &str, id: i64, at: i64, reason: &str) -> Result<bool, StoreError> {
        let conn = self.conn()?;
        let rows = conn.exec(
            "SELECT apppass.expire($1, $2::bigint, $3::bigint, $4) AS expired",
            &[
                Some(user),
                Some(&id.to_string()),
                Some(&at.to_string()),
                Some(reason),
            ],
        )?;
        Ok(rows.first("expired") == Some("t"))
    }

    fn record_tried(
        &mut self,
        user: &str,
        id: i64,
        at: i64,
        event_unless_since: i64,
        event: &Event,
    ) -> Result<(), StoreError> {
        let conn = self.conn()?;
        conn.exec(
            "SELECT apppass.record_tried($1, $2::bigint, $3::bigint, $4::bigint, $5, $6)",
            &[
                Some(user),
                Some(&id.to_string()),
                Some(&at.to_string()),
                Some(&event_unless_since.to_string()),
                event.label.as_deref(),
                event.reason.as_deref(),
            ],
        )
        .map(drop)
    }

    fn record_primary_use(
        &mut self,
        user: &str,
        service: &str,
        at: i64,
        rhost: Option<&str>,
    ) -> Result<(), StoreError> {
        let conn = self.conn()?;
        conn.exec(
            "SELECT apppass.record_primary_use($1, $2, $3::bigint, $4)",
            &[Some(user), Some(service), Some(&at.to_string()), rhost],
        )
        .map(drop)
    }

    fn primary_uses(&mut self, user: Option<&str>) -> Result<Vec<PrimaryUse>, StoreError> {
        let conn = self.conn()?;
        let rows = conn.exec(
            "SELECT username, service, first_at, last_at, last_rhost, count
               FROM apppass.primary_uses WHERE $1::text IS NULL OR username = $1",
            &[user],
        )?;
        let target = conn.target.clone();
        each(rows, &target, |c| {
            Ok(PrimaryUse {
                user: c.req_text("username")?,
                service: c.req_text("service")?,
                first_at: c.req_int("first_at")?,
                last_at: c.req_int("last_at")?,
                last_rhost: c.text("last_rhost")?,
                count: c.req_int("count")?,
            })
        })
    }

    fn outbox(&mut self, user: &str) -> Result<Vec<OutboxEntry>, StoreError> {
        let conn = self.conn()?;
        let rows = conn.exec(
            &format!("SELECT {OUTBOX_COLUMNS} FROM apppass.outbox WHERE username = $1 ORDER BY id"),
            &[Some(user)],
        )?;
        let target = conn.target.clone();
        each(rows, &target, outbox_entry)
    }

    fn passwords(&mut self, user: Option<&str>) -> Result<Vec<Password>, StoreError> {
        let conn = self.conn()?;
        let rows = conn.exec(
            &format!(
                "SELECT {PASSWORD_COLUMNS}, {ADDRESSES} FROM apppass.passwords
                 WHERE $1::text IS NULL OR username = $1 ORDER BY username, id"
            ),
            &[user],
        )?;
        let target = conn.target.clone();
        each(rows, &target, password)
    }

    fn events_after(&mut self, after: i64, limit: usize) -> Result<Vec<LoggedEvent>, StoreError> {
        let conn = self.conn()?;
        let rows = conn.exec(
            &format!(
                "SELECT id, {EVENT_COLUMNS} FROM apppass.events WHERE id > $1::bigint
                  ORDER BY id LIMIT $2::bigint"
            ),
            &[Some(&after.to_string()), Some(&limit.to_string())],
        )?;
        let target = conn.target.clone();
        each(rows, &target, |c| {
            let (user, event) = event(c)?;
            Ok(LoggedEvent {
                id: c.req_int("id")?,
                user,
                event,
            })
        })
    }

    fn wait_for_change(&mut self, timeout: std::time::Duration) -> Result<bool, StoreError> {
        if !self.listening {
            self.conn()?.exec("LISTEN apppass", &[])?;
            self.listening = true;
            // What happened before listening is read by ID anyway.
            return Ok(true);
        }
        self.conn()?.wait_notification(timeout)
    }

    fn last_event_id(&mut self) -> Result<i64, StoreError> {
        let conn = self.conn()?;
        let rows = conn.exec(
            "SELECT coalesce(max(id), 0) AS last FROM apppass.events",
            &[],
        )?;
        let target = conn.target.clone();
        Ok(each(rows, &target, |c| c.req_int("last"))?
            .into_iter()
            .next()
            .unwrap_or(0))
    }

    fn expiring(&mut self, after: i64, until: i64) -> Result<Vec<Password>, StoreError> {
        let conn = self.conn()?;
        let rows = conn.exec(
            &format!(
                "SELECT {PASSWORD_COLUMNS}, {ADDRESSES} FROM apppass.passwords
                  WHERE revoked_at IS NULL AND expires_at > $1::bigint AND expires_at <= $2::bigint
                  ORDER BY username, id"
            ),
            &[Some(&after.to_string()), Some(&until.to_string())],
        )?;
        let target = conn.target.clone();
        each(rows, &target, password)
    }

    fn events(&mut self, user: &str) -> Result<Vec<Event>, StoreError> {
        let conn = self.conn()?;
        let rows = conn.exec(
            &format!(
                "SELECT {EVENT_COLUMNS} FROM apppass.events WHERE username = $1 ORDER BY at, id"
            ),
            &[Some(user)],
        )?;
        let target = conn.target.clone();
        Ok(each(rows, &target, event)?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }

    fn setting(&mut self, name: &str) -> Result<Option<i64>, StoreError> {
        match self.idle_setting {
            Some(idle) if name == apppass_core::settings::IDLE_EXPIRY => Ok(idle),
            _ => setting(self.conn()?, name),
        }
    }

    fn text_setting(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        text_setting(self.conn()?, name)
    }

    fn signin_attempts(
        &mut self,
        user: &str,
        since: i64,
        under_way_since: i64,
    ) -> Result<SignInAttempts, StoreError> {
        signin_attempts(self.conn()?, Some(user), since, under_way_since)
    }

    fn fingerprinted_users(&mut self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn()?;
        let rows = conn.exec(
            "SELECT username FROM apppass.fingerprints ORDER BY username",
            &[],
        )?;
        let target = conn.target.clone();
        each(rows, &target, |c| c.req_text("username"))
    }

    fn snapshot(&mut self) -> Result<Snapshot, StoreError> {
        let conn = self.conn()?;
        let target = conn.target.clone();
        // One repeatable-read transaction: a consistent picture.
        conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", &[])?;
        let result = (|| {
            let mut snap = Snapshot::default();
            let rows = conn.exec(
                &format!(
                    "SELECT {PASSWORD_COLUMNS}, phc, tag, tag_salt FROM apppass.passwords ORDER BY id"
                ),
                &[],
            )?;
            snap.passwords = each(rows, &target, |c| Ok((password(c)?, credential(c)?)))?;
            let rows = conn.exec(
                &format!("SELECT {EVENT_COLUMNS} FROM apppass.events ORDER BY id"),
                &[],
            )?;
            snap.events = each(rows, &target, event)?;
            let rows = conn.exec(
                "SELECT username, fingerprint, source, taken_at FROM apppass.fingerprints
                  ORDER BY username",
                &[],
            )?;
            snap.fingerprints = each(rows, &target, |c| {
                Ok(FingerprintRow {
                    user: c.req_text("username")?,
                    recorded: recorded(c)?,
                    taken_at: c.req_int("taken_at")?,
                })
            })?;
            let rows = conn.exec(
                "SELECT name, value FROM apppass.settings ORDER BY name",
                &[],
            )?;
            snap.settings = each(rows, &target, |c| {
                Ok((c.req_text("name")?, c.req_int("value")?))
            })?;
            let rows = conn.exec(
                "SELECT name, value FROM apppass.text_settings ORDER BY name",
                &[],
            )?;
            snap.text_settings = each(rows, &target, |c| {
                Ok((c.req_text("name")?, c.req_text("value")?))
            })?;
            Ok(snap)
        })();
        let _ = conn.exec("COMMIT", &[]);
        result
    }

    fn schema_drift(&mut self) -> Result<Vec<SchemaDrift>, StoreError> {
        let conn = self.conn()?;
        let target = conn.target.clone();
        let rows = conn.exec(crate::schema::OBJECTS, &[])?;
        let found = each(rows, &target, |c| {
            Ok((c.req_text("kind")?, c.req_text("name")?))
        })?;
        let made = |kind: &str, name: &str| match kind {
            "table" => crate::schema::TABLES.contains(&name),
            "function" => crate::schema::FUNCTION_SIGNATURES.contains(&name),
            "trigger" => crate::schema::TRIGGERS.contains(&name),
            _ => false,
        };
        let mut drift: Vec<SchemaDrift> = found
            .iter()
            .filter(|(kind, name)| !made(kind, name))
            .map(|(kind, name)| SchemaDrift {
                change: Change::Added,
                kind: kind.clone(),
                name: name.clone(),
            })
            .collect();
        let wanted = crate::schema::TABLES
            .iter()
            .map(|t| ("table", *t))
            .chain(
                crate::schema::FUNCTION_SIGNATURES
                    .iter()
                    .map(|f| ("function", *f)),
            )
            .chain(crate::schema::TRIGGERS.iter().map(|t| ("trigger", *t)));
        for (kind, name) in wanted {
            if !found.iter().any(|(k, n)| k == kind && n == name) {
                drift.push(SchemaDrift {
                    change: Change::Missing,
                    kind: kind.into(),
                    name: name.into(),
                });
            }
        }
        SchemaDrift::sort(&mut drift);
        Ok(drift)
    }

    fn write(
        &mut self,
        user: Option<&str>,
        work: &mut dyn FnMut(&mut dyn Writer) -> Result<Finish, StoreError>,
    ) -> Result<(), WriteError> {
        let conn = self.conn()?;
        conn.exec("BEGIN", &[])?;
        let body = (|| {
            // Writers for one user take turns, so rules read inside the
            // transaction (the limit, unique labels) hold at commit.
            match user {
                Some(u) => conn.exec(
                    "SELECT pg_advisory_xact_lock(1095782487, hashtext($1))",
                    &[Some(u)],
                )?,
                None => conn.exec("SELECT pg_advisory_xact_lock(1095782487, 0)", &[])?,
            };
            let mut writer = PgWriter { conn: &mut *conn };
            work(&mut writer)
        })();
        match body {
            Ok(Finish::Commit) => conn
                .exec("COMMIT", &[])
                .map(drop)
                .map_err(WriteError::Commit),
            Ok(Finish::Rollback) => {
                conn.exec("ROLLBACK", &[])?;
                Ok(())
            }
            Err(e) => {
                let _ = conn.exec("ROLLBACK", &[]);
                Err(WriteError::Store(e))
            }
        }
    }
}

struct PgWriter<'a> {
    conn: &'a mut Conn,
}

impl Writer for PgWriter<'_> {
    fn unrevoked(&mut self, user: &str) -> Result<Vec<Password>, StoreError> {
        unrevoked(self.conn, user)
    }

    fn setting(&mut self, name: &str) -> Result<Option<i64>, StoreError> {
        setting(self.conn, name)
    }

    fn fingerprint(&mut self, user: &str) -> Result<Option<Recorded>, StoreError> {
        fingerprint(self.conn, user)
    }

    fn insert_password(&mut self, new: &NewPassword) -> Result<i64, StoreError> {
        let rows = self.conn.exec(
            "INSERT INTO apppass.passwords
                (username, label, services, created_at, expires_at, phc, tag, tag_salt, networks)
             VALUES ($1, $2, $3, $4::bigint, $5::bigint, $6, $7::integer, $8::bytea, $9)
             RETURNING id",
            &[
                Some(&new.user),
                Some(&new.label),
                Some(&new.scope.encode()),
                Some(&new.created_at.to_string()),
                new.expires_at.map(|e| e.to_string()).as_deref(),
                Some(&new.credential.phc),
                Some(&new.credential.tag.to_string()),
                Some(&hex::encode(&new.credential.tag_salt)),
                Some(&new.networks.encode()),
            ],
        )?;
        let target = self.conn.target.clone();
        each(rows, &target, |c| c.req_int("id"))?
            .into_iter()
            .next()
            .ok_or_else(|| malformed(&target, "a new ID"))
    }

    fn add_event(&mut self, user: &str, e: &Event) -> Result<(), StoreError> {
        self.conn
            .exec(
                "INSERT INTO apppass.events (username, at, event, password_id, label, reason, by_actor)
                 VALUES ($1, $2::bigint, $3, $4::bigint, $5, $6, $7)",
                &[
                    Some(user),
                    Some(&e.at.to_string()),
                    Some(e.kind.as_str()),
                    e.password_id.map(|i| i.to_string()).as_deref(),
                    e.label.as_deref(),
                    e.reason.as_deref(),
                    Some(&e.by.encode()),
                ],
            )
            .map(drop)
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
        self.conn
            .exec(
                "SELECT apppass.revoke($1, $2::bigint, $3::bigint, $4, $5, $6)",
                &[
                    Some(user),
                    Some(&id.to_string()),
                    Some(&at.to_string()),
                    Some(reason),
                    Some(kind.as_str()),
                    Some(&by.encode()),
                ],
            )
            .map(drop)
    }

    fn erase_retired(&mut self, before: i64) -> Result<usize, StoreError> {
        let rows = self.conn.exec(
            "SELECT apppass.erase_retired($1::bigint) AS n",
            &[Some(&before.to_string())],
        )?;
        let target = self.conn.target.clone();
        Ok(each(rows, &target, |c| c.req_int("n"))?
            .into_iter()
            .next()
            .unwrap_or(0) as usize)
    }

    fn set_suspended(&mut self, user: &str, id: i64, at: Option<i64>) -> Result<bool, StoreError> {
        let rows = self.conn.exec(
            "UPDATE apppass.passwords SET suspended_at = $3::bigint
              WHERE id = $2::bigint AND username = $1 AND revoked_at IS NULL
                AND (suspended_at IS NULL) = ($3::bigint IS NOT NULL)
             RETURNING id",
            &[
                Some(user),
                Some(&id.to_string()),
                at.map(|a| a.to_string()).as_deref(),
            ],
        )?;
        Ok(!rows.rows.is_empty())
    }

    fn set_fingerprint(&mut self, user: &str, fp: &Recorded, at: i64) -> Result<(), StoreError> {
        self.conn
            .exec(
                "SELECT apppass.set_fingerprint($1, $2::bytea, $3::bigint, $4)",
                &[
                    Some(user),
                    Some(&hex::encode(&fp.fp)),
                    Some(&at.to_string()),
                    Some(fp.source.as_str()),
                ],
            )
            .map(drop)
    }

    fn forget_fingerprint(&mut self, user: &str) -> Result<(), StoreError> {
        self.conn
            .exec("SELECT apppass.forget_fingerprint($1)", &[Some(user)])
            .map(drop)
    }

    fn set_setting(&mut self, name: &str, value: i64) -> Result<(), StoreError> {
        self.conn
            .exec(
                "INSERT INTO apppass.settings (name, value) VALUES ($1, $2::bigint)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                &[Some(name), Some(&value.to_string())],
            )
            .map(drop)
    }

    fn set_text_setting(&mut self, name: &str, value: Option<&str>) -> Result<(), StoreError> {
        match value {
            Some(v) => self.conn.exec(
                "INSERT INTO apppass.text_settings (name, value) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                &[Some(name), Some(v)],
            ),
            None => self.conn.exec(
                "DELETE FROM apppass.text_settings WHERE name = $1",
                &[Some(name)],
            ),
        }
        .map(drop)
    }

    fn signin_attempts(
        &mut self,
        user: Option<&str>,
        since: i64,
        under_way_since: i64,
    ) -> Result<SignInAttempts, StoreError> {
        signin_attempts(self.conn, user, since, under_way_since)
    }

    fn begin_signin(&mut self, user: &str, at: i64, forget_before: i64) -> Result<(), StoreError> {
        record_signin(self.conn, user, at, forget_before, false)
    }

    fn record_signin_failure(
        &mut self,
        user: &str,
        at: i64,
        forget_before: i64,
    ) -> Result<(), StoreError> {
        record_signin(self.conn, user, at, forget_before, true)
    }

    fn settle_signin(&mut self, user: &str, at: i64) -> Result<(), StoreError> {
        self.conn
            .exec(
                "UPDATE apppass.signin_failures SET settled = true WHERE ctid =
                   (SELECT ctid FROM apppass.signin_failures
                     WHERE username = $1 AND at = $2::bigint AND NOT settled LIMIT 1)",
                &[Some(user), Some(&at.to_string())],
            )
            .map(drop)
    }

    fn take_back_signin(&mut self, user: &str, at: i64) -> Result<(), StoreError> {
        // One under way first: a failure settled meanwhile stays counted.
        self.conn
            .exec(
                "DELETE FROM apppass.signin_failures WHERE ctid =
                   (SELECT ctid FROM apppass.signin_failures
                     WHERE username = $1 AND at = $2::bigint ORDER BY settled LIMIT 1)",
                &[Some(user), Some(&at.to_string())],
            )
            .map(drop)
    }

    fn restore_password(
        &mut self,
        p: &Password,
        cred: Option<&Credential>,
    ) -> Result<(), StoreError> {
        let n = |v: Option<i64>| v.map(|x| x.to_string());
        self.conn.exec(
            "INSERT INTO apppass.passwords (id, username, label, services, created_at,
                    expires_at, phc, tag, tag_salt, revoked_at, revoked_reason,
                    last_used_at, last_used_service, last_used_rhost,
                    networks, suspended_at, last_tried_at)
                 VALUES ($1::bigint, $2, $3, $4, $5::bigint, $6::bigint, $7, $8::integer,
                    $9::bytea, $10::bigint, $11, $12::bigint, $13, $14,
                    $15, $16::bigint, $17::bigint)",
            &[
                Some(&p.id.to_string()),
                Some(&p.user),
                Some(&p.label),
                Some(&p.scope.encode()),
                Some(&p.created_at.to_string()),
                n(p.expires_at).as_deref(),
                cred.as_ref().map(|c| c.phc.as_str()),
                cred.as_ref().map(|c| c.tag.to_string()).as_deref(),
                cred.as_ref().map(|c| hex::encode(&c.tag_salt)).as_deref(),
                n(p.revoked.as_ref().map(|r| r.at)).as_deref(),
                p.revoked.as_ref().and_then(|r| r.reason.as_deref()),
                n(p.last_used.as_ref().map(|u| u.at)).as_deref(),
                p.last_used.as_ref().and_then(|u| u.service.as_deref()),
                p.last_used.as_ref().and_then(|u| u.rhost.as_deref()),
                Some(&p.networks.encode()),
                n(p.suspended_at).as_deref(),
                n(p.last_tried_at).as_deref(),
            ],
        )?;
        // New IDs continue after the imported ones.
        self.conn.exec(
            "SELECT setval(pg_get_serial_sequence('apppass.passwords', 'id'),
                           GREATEST((SELECT max(id) FROM apppass.passwords), 1))",
            &[],
        )?;
        Ok(())
    }

    fn enqueue(&mut self, e: &NewOutboxEntry) -> Result<bool, StoreError> {
        let rows = self.conn.exec(
            "INSERT INTO apppass.outbox (username, key, kind, facts, at, queued_at, next_at)
             VALUES ($1, $2, $3, $4, $5::bigint, $6::bigint, $6::bigint)
             ON CONFLICT (key) DO NOTHING RETURNING id",
            &[
                Some(&e.user),
                Some(&e.key),
                Some(&e.kind),
                Some(&e.facts),
                Some(&e.at.to_string()),
                Some(&e.queued_at.to_string()),
            ],
        )?;
        Ok(!rows.rows.is_empty())
    }

    fn outbox_due(&mut self, now: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = self.conn.exec(
            &format!(
                "SELECT {OUTBOX_COLUMNS} FROM apppass.outbox
                  WHERE sent_at IS NULL AND gave_up_at IS NULL AND next_at <= $1::bigint
                  ORDER BY next_at, id LIMIT $2::bigint"
            ),
            &[Some(&now.to_string()), Some(&limit.to_string())],
        )?;
        let target = self.conn.target.clone();
        each(rows, &target, outbox_entry)
    }

    fn update_outbox(&mut self, e: &OutboxEntry) -> Result<(), StoreError> {
        let n = |v: Option<i64>| v.map(|v| v.to_string());
        self.conn
            .exec(
                "UPDATE apppass.outbox SET attempts = $2::bigint, next_at = $3::bigint,
                        claimed_by = $4, claimed_until = $5::bigint, handed_at = $6::bigint,
                        sent_at = $7::bigint, gave_up_at = $8::bigint, last_error = $9
                  WHERE id = $1::bigint",
                &[
                    Some(&e.id.to_string()),
                    Some(&e.attempts.to_string()),
                    Some(&e.next_at.to_string()),
                    e.claimed_by.as_deref(),
                    n(e.claimed_until).as_deref(),
                    n(e.handed_at).as_deref(),
                    n(e.sent_at).as_deref(),
                    n(e.gave_up_at).as_deref(),
                    e.last_error.as_deref(),
                ],
            )
            .map(drop)
    }

    fn is_empty(&mut self) -> Result<bool, StoreError> {
        let rows = self.conn.exec(
            "SELECT NOT EXISTS (SELECT 1 FROM apppass.passwords)
                AND NOT EXISTS (SELECT 1 FROM apppass.events)
                AND NOT EXISTS (SELECT 1 FROM apppass.fingerprints)
                AND NOT EXISTS (SELECT 1 FROM apppass.settings)
                AND NOT EXISTS (SELECT 1 FROM apppass.text_settings) AS empty",
            &[],
        )?;
        Ok(rows.first("empty") == Some("t"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(columns: &[&str], values: &[Option<&str>]) -> Rows {
        Rows {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: vec![values.iter().map(|v| v.map(String::from)).collect()],
        }
    }

    #[test]
    fn a_row_is_read_by_column_name_wherever_the_select_puts_it() {
        let columns: Vec<&str> = PASSWORD_COLUMNS.split(", ").collect();
        let values = [
            Some("7"),
            Some("alice"),
            Some("Phone"),
            Some("imap"),
            Some("100"),
            Some("200"),
            Some("150"),
            Some("lost"),
            Some("120"),
            Some("imap"),
            Some("192.0.2.1"),
            Some(""),
            None,
            Some("160"),
        ];
        assert_eq!(columns.len(), values.len());
        let reversed_columns: Vec<&str> = columns.iter().rev().copied().collect();
        let reversed_values: Vec<Option<&str>> = values.iter().rev().copied().collect();
        let read = |r| each(r, "test", password).unwrap();
        let p = read(rows(&columns, &values));
        assert_eq!(p, read(rows(&reversed_columns, &reversed_values)));
        assert_eq!((p[0].id, p[0].user.as_str()), (7, "alice"));
        assert_eq!(p[0].revoked.as_ref().map(|r| r.at), Some(150));
        assert_eq!(p[0].last_tried_at, Some(160));
    }

    #[test]
    fn a_missing_column_is_malformed() {
        let got = each(rows(&["id"], &[Some("1")]), "test", |c| c.req_int("tag"));
        assert!(matches!(got, Err(StoreError::Corrupt { .. })));
    }
}
