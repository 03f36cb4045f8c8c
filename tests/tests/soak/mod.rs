//! The reliability suite: what a machine does to apppass must lose no
//! password and let nobody in. kill -9 in the middle of writes, logins
//! under load from the CLI and from 50 self-service clients at once, a
//! full disk, a read-only remount, the clock stepped back and forward; on
//! SQLite and PostgreSQL.
//!
//! `make check` runs it with short settings; `make soak` with the long
//! ones (APPPASS_SOAK=long: 1,000 killed writes, 2 minutes of load).

mod clock;
mod disk;
mod killed;
mod load;

use apppass_e2e::fixture::Fixture;
use apppass_e2e::postgres::{self, PgHost};
use apppass_e2e::system::is_root;
use std::collections::HashMap;
use std::time::Duration;

pub struct Scale {
    /// CLI writes killed (or not) at a random instant.
    pub writes: usize,
    /// How long the login loops run beside the writers.
    pub load: Duration,
}

pub fn scale() -> Scale {
    if std::env::var("APPPASS_SOAK").as_deref() == Ok("long") {
        Scale {
            writes: 1000,
            load: Duration::from_secs(120),
        }
    } else {
        Scale {
            writes: 120,
            load: Duration::from_secs(6),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// A store of either kind, and how to look inside it with SQL.
pub enum Host {
    Sqlite(Fixture),
    Pg(PgHost),
}

impl Host {
    /// A new store, or `None` (said loudly) when PostgreSQL cannot run here.
    pub fn new(kind: Kind, test: &str) -> Option<Host> {
        match kind {
            Kind::Sqlite => Some(Host::Sqlite(Fixture::new())),
            Kind::Postgres if is_root() && postgres::available() => {
                Some(Host::Pg(postgres::host()))
            }
            Kind::Postgres => {
                eprintln!("\n*** SKIPPED {test} on PostgreSQL: needs root and postgresql-15 ***\n");
                None
            }
        }
    }

    pub fn f(&self) -> &Fixture {
        match self {
            Host::Sqlite(f) => f,
            Host::Pg(pg) => &pg.fixture,
        }
    }

    /// Rows of `sql` (written for SQLite's table names; `apppass.` and
    /// `username` are put in for PostgreSQL), each column as text, `|`
    /// between columns.
    pub fn query(&self, sql: &str) -> Vec<String> {
        match self {
            Host::Sqlite(f) => {
                let c = rusqlite::Connection::open(&f.db).unwrap();
                let mut stmt = c.prepare(sql).unwrap();
                let n = stmt.column_count();
                let rows = stmt
                    .query_map([], |r| {
                        (0..n)
                            .map(|i| {
                                Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                                    rusqlite::types::Value::Null => String::new(),
                                    rusqlite::types::Value::Integer(v) => v.to_string(),
                                    rusqlite::types::Value::Text(t) => t,
                                    other => format!("{other:?}"),
                                })
                            })
                            .collect::<rusqlite::Result<Vec<_>>>()
                            .map(|v| v.join("|"))
                    })
                    .unwrap();
                rows.collect::<rusqlite::Result<_>>().unwrap()
            }
            Host::Pg(pg) => {
                let sql = sql
                    .replace("FROM passwords", "FROM apppass.passwords")
                    .replace("FROM events", "FROM apppass.events")
                    .replace(" user ", " username ")
                    .replace("(revoked_at IS NOT NULL)", "(revoked_at IS NOT NULL)::int")
                    .replace("(phc IS NOT NULL)", "(phc IS NOT NULL)::int");
                let out = postgres::shared().psql_db(&pg.db, &sql);
                out.lines()
                    .map(str::to_owned)
                    .filter(|l| !l.is_empty())
                    .collect()
            }
        }
    }

    /// The engine's own integrity check: SQLite's `integrity_check`, and
    /// PostgreSQL's amcheck on every index of the store's schema.
    pub fn integrity(&self) {
        match self {
            Host::Sqlite(_) => assert_eq!(self.query("PRAGMA integrity_check"), ["ok"]),
            Host::Pg(pg) => {
                let c = postgres::shared();
                c.psql_db(&pg.db, "CREATE EXTENSION IF NOT EXISTS amcheck");
                let checked = c.psql_db(
                    &pg.db,
                    "SELECT count(bt_index_check(i.indexrelid, true)) FROM pg_index i
                     JOIN pg_class c ON c.oid = i.indexrelid
                     JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = 'apppass' AND c.relam = (SELECT oid FROM pg_am WHERE amname = 'btree')",
                );
                assert!(
                    checked.parse::<u32>().unwrap() > 0,
                    "amcheck ran on no index"
                );
            }
        }
    }

    /// Every password row agrees with its history and none is half
    /// written. Returns each row's id and whether it is revoked.
    pub fn consistent(&self) -> HashMap<i64, bool> {
        self.integrity();
        let mut rows = HashMap::new();
        for line in self.query(
            "SELECT id, (revoked_at IS NOT NULL), (phc IS NOT NULL), coalesce(phc, ''), \
             coalesce(tag, -1) FROM passwords",
        ) {
            let c: Vec<&str> = line.split('|').collect();
            let (id, revoked) = (c[0].parse::<i64>().unwrap(), c[1] == "1");
            if !revoked {
                assert_eq!(c[2], "1", "active password {id} without a hash");
                assert!(
                    c[3].starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
                    "password {id}: {}",
                    c[3]
                );
                assert_ne!(c[4], "-1", "active password {id} without a tag");
            }
            rows.insert(id, revoked);
        }
        let mut generated: HashMap<i64, usize> = HashMap::new();
        let mut revoked: HashMap<i64, usize> = HashMap::new();
        for line in
            self.query("SELECT password_id, event FROM events WHERE password_id IS NOT NULL")
        {
            let (id, event) = line.split_once('|').unwrap();
            let id: i64 = id.parse().unwrap();
            assert!(
                rows.contains_key(&id),
                "an event for password {id}, which is not in the store"
            );
            match event {
                "generated" => *generated.entry(id).or_default() += 1,
                "revoked" => *revoked.entry(id).or_default() += 1,
                _ => {}
            }
        }
        for (id, is_revoked) in &rows {
            assert_eq!(
                generated.get(id),
                Some(&1),
                "password {id}: one `generated` event"
            );
            let want = usize::from(*is_revoked);
            assert_eq!(
                revoked.get(id).copied().unwrap_or(0),
                want,
                "password {id}: revoked events"
            );
        }
        rows
    }
}

/// `apppass generate` for a virtual user's password for the service `mail`.
pub fn generate_args<'a>(user: &'a str, label: &'a str) -> [&'a str; 7] {
    [
        "generate",
        user,
        "--virtual",
        "--service",
        "mail",
        "--label",
        label,
    ]
}

/// The ID in "app password N for ..." on the CLI's standard error.
pub fn reported_id(stderr: &str) -> Option<i64> {
    let rest = stderr.split("app password ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}
