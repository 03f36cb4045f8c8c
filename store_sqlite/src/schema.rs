//! Schema versions, applied in order by `init` inside one transaction,
//! and the check that a store holds that schema and nothing else.

use crate::columns::Columns;
use apppass_core::store::{Change, SchemaDrift};
use rusqlite::Connection;

/// `PRAGMA application_id`: marks a file as an apppass store ("APPW").
pub const APPLICATION_ID: i64 = 0x4150_5057;

/// Each entry takes the store from version `index` to `index + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the first schema.
    "CREATE TABLE settings (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE passwords (
        id                INTEGER PRIMARY KEY AUTOINCREMENT,
        user              TEXT NOT NULL,
        label             TEXT NOT NULL,
        services          TEXT NOT NULL,
        created_at        INTEGER NOT NULL,
        expires_at        INTEGER,
        phc               TEXT,
        tag               INTEGER,
        tag_salt          BLOB,
        revoked_at        INTEGER,
        revoked_reason    TEXT,
        last_used_at      INTEGER,
        last_used_service TEXT,
        last_used_rhost   TEXT,
        CHECK ((revoked_at IS NULL) = (phc IS NOT NULL)),
        CHECK ((phc IS NULL) = (tag IS NULL) AND (tag IS NULL) = (tag_salt IS NULL))
     );
     CREATE INDEX passwords_by_user ON passwords (user);
     CREATE TABLE fingerprints (
        user        TEXT PRIMARY KEY,
        fingerprint BLOB NOT NULL,
        taken_at    INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        user        TEXT NOT NULL,
        at          INTEGER NOT NULL,
        event       TEXT NOT NULL,
        password_id INTEGER,
        label       TEXT,
        reason      TEXT
     );
     CREATE INDEX events_by_user ON events (user, at);",
    // 1 -> 2: a check value of the key, so a store next to the wrong key is
    // refused instead of every fingerprint looking changed.
    "CREATE TABLE meta (
        name  TEXT PRIMARY KEY,
        value BLOB NOT NULL
     ) WITHOUT ROWID;",
    // 2 -> 3: who made each change. Earlier history was made by the
    // administrator's command, except wipes (at a login, by the module).
    // Self-service adds text settings (the services users may choose) and
    // failed sign-ins, counted per user.
    "ALTER TABLE events ADD COLUMN by_actor TEXT NOT NULL DEFAULT 'admin';
     UPDATE events SET by_actor = 'module' WHERE event = 'wiped';
     CREATE TABLE text_settings (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE signin_failures (
        user TEXT NOT NULL,
        at   INTEGER NOT NULL
     );
     CREATE INDEX signin_failures_by_user ON signin_failures (user, at);",
    // 3 -> 4: networks a password may log in from, suspension, and the
    // tripwire: a revoked password keeps its credential (until erased 30
    // days later) and records when it was last presented. SQLite cannot
    // drop the old CHECK tying the credential to revocation, so the table
    // is rebuilt; its AUTOINCREMENT counter is carried over so no ID is
    // ever reused.
    "CREATE TABLE passwords_v4 (
        id                INTEGER PRIMARY KEY AUTOINCREMENT,
        user              TEXT NOT NULL,
        label             TEXT NOT NULL,
        services          TEXT NOT NULL,
        networks          TEXT NOT NULL DEFAULT '',
        created_at        INTEGER NOT NULL,
        expires_at        INTEGER,
        suspended_at      INTEGER,
        phc               TEXT,
        tag               INTEGER,
        tag_salt          BLOB,
        revoked_at        INTEGER,
        revoked_reason    TEXT,
        last_used_at      INTEGER,
        last_used_service TEXT,
        last_used_rhost   TEXT,
        last_tried_at     INTEGER,
        CHECK (phc IS NOT NULL OR revoked_at IS NOT NULL OR expires_at IS NOT NULL),
        CHECK ((phc IS NULL) = (tag IS NULL) AND (tag IS NULL) = (tag_salt IS NULL))
     );
     INSERT INTO passwords_v4 (id, user, label, services, created_at, expires_at, phc, tag,
            tag_salt, revoked_at, revoked_reason, last_used_at, last_used_service, last_used_rhost)
     SELECT id, user, label, services, created_at, expires_at, phc, tag,
            tag_salt, revoked_at, revoked_reason, last_used_at, last_used_service, last_used_rhost
       FROM passwords;
     INSERT INTO sqlite_sequence (name, seq)
     SELECT 'passwords_v4', seq FROM sqlite_sequence WHERE name = 'passwords'
        AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'passwords_v4');
     UPDATE sqlite_sequence
        SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'passwords'), 0))
      WHERE name = 'passwords_v4';
     DROP TABLE passwords;
     ALTER TABLE passwords_v4 RENAME TO passwords;
     CREATE INDEX passwords_by_user ON passwords (user);
     CREATE INDEX events_by_password ON events (password_id, event, at);",
    // 4 -> 5: a self-service sign-in takes its place before the password is
    // checked; `settled` tells one still being checked (0) from a wrong
    // password (1), so a locked-out account is refused at once while the
    // account holder's own parallel sign-ins wait for each other.
    "ALTER TABLE signin_failures ADD COLUMN settled INTEGER NOT NULL DEFAULT 1;",
    // 5 -> 6: the client addresses each password logged in from lately,
    // where its sessions are to be ended when it stops working.
    "CREATE TABLE addresses (
        password_id INTEGER NOT NULL,
        address     TEXT NOT NULL,
        last_at     INTEGER NOT NULL,
        PRIMARY KEY (password_id, address)
     ) WITHOUT ROWID;",
    // 6 -> 7: where each fingerprint's material came from (`primary`), so
    // changing the source retakes fingerprints instead of wiping.
    "ALTER TABLE fingerprints ADD COLUMN source TEXT NOT NULL DEFAULT 'shadow';",
    // 7 -> 8: logins with the primary password where `primary_until=` still
    // lets it through, per user and service: who has yet to move over.
    "CREATE TABLE primary_uses (
        user       TEXT NOT NULL,
        service    TEXT NOT NULL,
        first_at   INTEGER NOT NULL,
        last_at    INTEGER NOT NULL,
        last_rhost TEXT,
        count      INTEGER NOT NULL,
        PRIMARY KEY (user, service)
     ) WITHOUT ROWID;",
    // 8 -> 9: the outbox of mail notifications, each queued once by what it
    // is about (`key`), claimed by one sender at a time, marked when handed
    // to the MTA and when it answered.
    "CREATE TABLE outbox (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        user          TEXT NOT NULL,
        key           TEXT NOT NULL UNIQUE,
        kind          TEXT NOT NULL,
        facts         TEXT NOT NULL,
        at            INTEGER NOT NULL,
        queued_at     INTEGER NOT NULL,
        attempts      INTEGER NOT NULL DEFAULT 0,
        next_at       INTEGER NOT NULL,
        claimed_by    TEXT,
        claimed_until INTEGER,
        handed_at     INTEGER,
        sent_at       INTEGER,
        gave_up_at    INTEGER,
        last_error    TEXT
     );
     CREATE INDEX outbox_due ON outbox (next_at) WHERE sent_at IS NULL AND gave_up_at IS NULL;
     CREATE INDEX outbox_by_user ON outbox (user, id);",
];

pub const LATEST: i64 = MIGRATIONS.len() as i64;

pub(crate) fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get("user_version"))
}

pub(crate) fn application_id(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA application_id", [], |r| r.get("application_id"))
}

pub(crate) fn is_empty(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT count(*) = 0 AS empty FROM sqlite_schema", [], |r| {
        r.get("empty")
    })
}

/// One entry of `sqlite_schema`.
#[derive(PartialEq, Eq)]
struct Object {
    kind: String,
    name: String,
    table: String,
    /// The statement that made it, compared with runs of white space as
    /// one and without double quotes: how SQLite spells a table it renamed
    /// or added a column to is not part of what the table is.
    sql: Option<String>,
}

fn objects(conn: &Connection) -> rusqlite::Result<Vec<Object>> {
    // sqlite_stat1..4 hold ANALYZE's statistics for the query planner,
    // which anyone may gather: they change no statement's result.
    let mut stmt = conn.prepare(
        "SELECT type, name, tbl_name, sql FROM sqlite_schema
          WHERE name NOT LIKE 'sqlite\\_stat%' ESCAPE '\\' ORDER BY type, name",
    )?;
    let columns = Columns::of(&stmt);
    let rows = stmt.query_map([], |r| {
        let r = columns.on(r);
        let sql: Option<String> = r.get("sql")?;
        Ok(Object {
            kind: r.get("type")?,
            name: r.get("name")?,
            table: r.get("tbl_name")?,
            sql: sql.map(|s| {
                s.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .replace('"', "")
            }),
        })
    })?;
    rows.collect()
}

/// Every object apppass makes up to schema `version`, as this SQLite
/// records them: the migrations run again in memory.
fn made_by_apppass(version: i64) -> rusqlite::Result<Vec<Object>> {
    let mem = Connection::open_in_memory()?;
    for step in MIGRATIONS
        .iter()
        .take(usize::try_from(version).unwrap_or(0))
    {
        mem.execute_batch(step)?;
    }
    objects(&mem)
}

/// How the schema of `conn` differs from the one apppass makes at
/// `version` (its `user_version`), most telling first.
pub(crate) fn drift(conn: &Connection, version: i64) -> rusqlite::Result<Vec<SchemaDrift>> {
    let want = made_by_apppass(version)?;
    let have = objects(conn)?;
    let same = |a: &Object, b: &Object| a.kind == b.kind && a.name == b.name;
    let mut out = Vec::new();
    for h in &have {
        let change = match want.iter().find(|w| same(w, h)) {
            None => Change::Added,
            Some(w) if w != h => Change::Altered,
            Some(_) => continue,
        };
        out.push(SchemaDrift {
            change,
            kind: h.kind.clone(),
            name: h.name.clone(),
        });
    }
    for w in want.iter().filter(|w| !have.iter().any(|h| same(w, h))) {
        out.push(SchemaDrift {
            change: Change::Missing,
            kind: w.kind.clone(),
            name: w.name.clone(),
        });
    }
    SchemaDrift::sort(&mut out);
    Ok(out)
}
