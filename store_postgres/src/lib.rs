//! The PostgreSQL store: one database shared by every front end of a
//! cluster, behind core's `Store`. libpq is loaded on first use (see
//! [`libpq`]), so SQLite hosts never map it.
//!
//! A long-lived host (Dovecot's auth worker) keeps one connection per
//! process between logins: connecting costs a TCP and TLS handshake and a
//! SCRAM exchange, milliseconds where a login's own work is a fraction of
//! one. The kept connection carries no login state (every login's
//! statements end in a committed or rolled-back transaction), is checked
//! before use, and is never used by a forked child: the child forgets it
//! without a word to the server, which would otherwise end the parent's
//! session.
//!
//! Linked into the PAM module: no path here may panic inside the host
//! process. A failure is an error, and the module refuses the login.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod conn;
mod hex;
mod kept;
pub mod libpq;
mod queries;
pub mod schema;

use apppass_core::config::Conninfo;
use apppass_core::store::key::{self, Key};
use apppass_core::store::{Opener, StoreError};
use conn::{Conn, Prepared, Rows};
use rand_core::{CryptoRng, RngCore};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct PgStore {
    conn: Option<Conn>,
    key: Key,
    target: String,
    /// Hand the connection back for the next login when done.
    keep: Option<[u8; 32]>,
    /// The module's idle limit, read with the schema check in the same
    /// round trip (a login reads it right after; nothing else reads it).
    idle_setting: Option<Option<i64>>,
    /// The module's schema and key check, not made yet: it travels with
    /// the login's first statement, one round trip for both.
    pending: Option<PendingCheck>,
    /// Whether this connection listens on the channel `apppass`.
    listening: bool,
}

/// A schema and key check still to make (see [`PgStore::checked`]).
struct PendingCheck {
    key_file: PathBuf,
    /// The conninfo to connect afresh with, once, when a kept connection
    /// turns out to be dead (a server restart or failover since the last
    /// login); `None` for a connection made for this store.
    reconnect: Option<(Conninfo, Limits)>,
}

/// The schema version and the key's check value; the idle limit rides
/// along.
static CHECK: Prepared = Prepared {
    name: c"apppass_check",
    sql: c"SELECT name, value FROM apppass.meta WHERE name IN ('schema_version', 'key_check')
           UNION ALL
           SELECT 'setting', value::text FROM apppass.settings WHERE name = $1",
};

/// What `init` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InitReport {
    pub created_key: bool,
    pub from_version: i64,
    pub to_version: i64,
    /// The login role granted its rights, or `None` when conninfo and
    /// admin_conninfo name the same role.
    pub login_role: Option<String>,
    pub admin_role: String,
}

#[derive(Clone, Copy)]
struct Limits {
    connect_timeout_secs: u32,
    statement: Duration,
}

fn limits(opener: Opener) -> Limits {
    match opener {
        Opener::Module => Limits {
            connect_timeout_secs: 5,
            statement: Duration::from_secs(5),
        },
        Opener::Admin | Opener::Watcher => Limits {
            connect_timeout_secs: 10,
            statement: Duration::from_secs(60),
        },
    }
}

/// "PostgreSQL at host:port[,host:port]" from the conninfo, without
/// connecting; never anything else of it.
pub fn describe(conninfo: &Conninfo) -> String {
    let Some(parsed) = libpq::parse_conninfo(conninfo) else {
        return "PostgreSQL (the configured conninfo)".into();
    };
    let hosts = parsed.get("host").or(parsed.get("hostaddr")).cloned();
    let ports = parsed.get("port").cloned();
    let hosts: Vec<&str> = hosts
        .as_deref()
        .map_or(vec!["localhost"], |h| h.split(',').collect());
    let ports: Vec<&str> = ports.as_deref().map_or(vec![], |p| p.split(',').collect());
    let each: Vec<String> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or("5432");
            format!("{h}:{port}")
        })
        .collect();
    format!(
        "PostgreSQL at {}",
        apppass_core::escape::for_message(&each.join(","))
    )
}

impl PgStore {
    /// Connects (or, in the module, reuses this process's connection) and
    /// checks the schema version and the key. The module's check is made
    /// with its first statement, in the same round trip (see
    /// [`PgStore::checked`]); a failed check fails that statement.
    pub fn open(
        conninfo: &Conninfo,
        key_file: &Path,
        euid: u32,
        opener: Opener,
    ) -> Result<Self, StoreError> {
        let key = key::load(key_file, euid)?;
        let lim = limits(opener);
        let keep = (opener == Opener::Module).then(|| kept::id(conninfo));
        let reused = keep.and_then(kept::take);
        let was_reused = reused.is_some();
        // A kept connection already knows how its server is named.
        let (conn, target) = match reused {
            Some(c) => {
                let target = c.target.clone();
                (c, target)
            }
            None => {
                let target = describe(conninfo);
                let c = Conn::connect(conninfo, lim.connect_timeout_secs, &target, lim.statement)?;
                (c, target)
            }
        };
        let mut store = PgStore {
            conn: Some(conn),
            key,
            target,
            keep,
            idle_setting: None,
            listening: false,
            pending: Some(PendingCheck {
                key_file: key_file.to_path_buf(),
                reconnect: was_reused.then(|| (conninfo.clone(), lim)),
            }),
        };
        if opener != Opener::Module {
            store.checked(None)?;
        }
        Ok(store)
    }

    /// The connection, after the schema and key check.
    fn conn(&mut self) -> Result<&mut Conn, StoreError> {
        if self.pending.is_some() {
            self.checked(None)?;
        }
        self.link()
    }

    /// The connection, checked or not.
    fn link(&mut self) -> Result<&mut Conn, StoreError> {
        let target = self.target.clone();
        self.conn.as_mut().ok_or(StoreError::Unreachable {
            target,
            source: "the connection was given up".into(),
        })
    }

    /// Runs `statement` (a read) in one round trip with the pending
    /// schema and key check, if there is one: the check is judged first,
    /// and a failed check is the error whatever the statement gave. A
    /// kept connection found dead is replaced once and the round trip
    /// made again.
    fn checked(
        &mut self,
        statement: Option<(&Prepared, &[Option<&str>])>,
    ) -> Result<Option<Rows>, StoreError> {
        let Some(pending) = self.pending.take() else {
            let Some(s) = statement else {
                return Ok(None);
            };
            let answer = self.link()?.pipeline(&[s])?.into_iter().next();
            return answer.ok_or_else(|| self.unanswered())?.map(Some);
        };
        let result = match (
            self.check_with(&pending.key_file, statement),
            &pending.reconnect,
        ) {
            (Err(StoreError::Unreachable { .. }), Some((conninfo, lim))) => {
                match Conn::connect(
                    conninfo,
                    lim.connect_timeout_secs,
                    &self.target,
                    lim.statement,
                ) {
                    Ok(fresh) => {
                        self.conn = Some(fresh);
                        self.check_with(&pending.key_file, statement)
                    }
                    Err(e) => Err(e),
                }
            }
            (other, _) => other,
        };
        // Until a check has passed, every statement still waits for one.
        if result.is_err() {
            self.pending = Some(pending);
        }
        result
    }

    fn check_with(
        &mut self,
        key_file: &Path,
        statement: Option<(&Prepared, &[Option<&str>])>,
    ) -> Result<Option<Rows>, StoreError> {
        let idle = [Some(apppass_core::settings::IDLE_EXPIRY)];
        let mut batch = vec![(&CHECK, &idle[..])];
        batch.extend(statement);
        let mut results = self.link()?.pipeline(&batch)?.into_iter();
        let check = results.next().ok_or_else(|| self.unanswered())?;
        self.judge(check?, key_file)?;
        results.next().transpose()
    }

    fn unanswered(&self) -> StoreError {
        StoreError::Unreachable {
            target: self.target.clone(),
            source: "the server did not answer every statement".into(),
        }
    }

    /// The schema must be the one this apppass knows, made with this key.
    fn judge(&mut self, rows: Rows, key_file: &Path) -> Result<(), StoreError> {
        let target = self.target.clone();
        let (names, values) = (rows.column("name"), rows.column("value"));
        let get = |name: &str| {
            let (n, v) = (names?, values?);
            rows.rows
                .iter()
                .find(|r| r.get(n).and_then(Option::as_deref) == Some(name))
                .and_then(|r| r.get(v).cloned().flatten())
        };
        let version: i64 = get("schema_version")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StoreError::NotInitialised {
                target: target.clone(),
            })?;
        if version > schema::LATEST {
            return Err(StoreError::UnknownVersion {
                target,
                found: version,
                known: schema::LATEST,
            });
        }
        if version < schema::LATEST {
            return Err(StoreError::Outdated {
                target,
                found: version,
                known: schema::LATEST,
            });
        }
        if self.keep.is_some() {
            self.idle_setting = Some(get("setting").and_then(|v| v.parse().ok()));
        }
        let recorded = get("key_check").and_then(|v| hex::decode(&v));
        match recorded {
            Some(v) if key::matches(&self.key, &v) => Ok(()),
            _ => Err(StoreError::KeyMismatch {
                key: key_file.to_path_buf(),
                target,
            }),
        }
    }

    /// Creates or migrates the schema with `admin` (in one transaction
    /// under an advisory lock; idempotent), records the key's check value,
    /// and grants the role of `login` what a login needs. Creates the key
    /// file when there is none and no fingerprint depends on one.
    pub fn init<R: RngCore + CryptoRng>(
        admin: &Conninfo,
        login: &Conninfo,
        key_file: &Path,
        euid: u32,
        rng: &mut R,
        new_key: bool,
    ) -> Result<(Self, InitReport), StoreError> {
        let target = describe(admin);
        let lim = limits(Opener::Admin);
        let mut conn = Conn::connect(admin, lim.connect_timeout_secs, &target, lim.statement)?;
        let mut report = InitReport::default();
        let login_role = {
            let mut probe = Conn::connect(
                login,
                lim.connect_timeout_secs,
                &describe(login),
                lim.statement,
            )?;
            first_value(probe.exec("SELECT current_user AS role", &[])?, "role")
        };
        report.admin_role = first_value(conn.exec("SELECT current_user AS role", &[])?, "role");
        let (key, created) = match key::load(key_file, euid) {
            Ok(_) if new_key => {
                return Err(StoreError::KeyPresent {
                    path: key_file.to_path_buf(),
                })
            }
            Ok(k) => (k, false),
            Err(StoreError::KeyMissing { .. }) => {
                let has_fp = conn
                    .exec(
                        "SELECT to_regclass('apppass.fingerprints') IS NOT NULL AS present",
                        &[],
                    )
                    .map(|r| first_value(r, "present") == "t")?
                    && first_value(
                        conn.exec("SELECT count(*) AS n FROM apppass.fingerprints", &[])?,
                        "n",
                    ) != "0";
                if has_fp && !new_key {
                    return Err(StoreError::KeyLost {
                        path: key_file.to_path_buf(),
                    });
                }
                (key::create(key_file, rng)?, true)
            }
            Err(e) => return Err(e),
        };
        report.created_key = created;
        let result = (|| -> Result<i64, StoreError> {
            conn.exec("BEGIN", &[])?;
            conn.exec(
                "SELECT pg_advisory_xact_lock($1::bigint)",
                &[Some(&schema::INIT_LOCK.to_string())],
            )?;
            conn.exec("CREATE SCHEMA IF NOT EXISTS apppass", &[])?;
            let exists = first_value(
                conn.exec(
                    "SELECT to_regclass('apppass.meta') IS NOT NULL AS present",
                    &[],
                )?,
                "present",
            ) == "t";
            let from: i64 = if exists {
                conn.exec(
                    "SELECT value FROM apppass.meta WHERE name = 'schema_version'",
                    &[],
                )?
                .first("value")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
            } else {
                0
            };
            if from > schema::LATEST {
                return Err(StoreError::UnknownVersion {
                    target: target.clone(),
                    found: from,
                    known: schema::LATEST,
                });
            }
            for step in schema::MIGRATIONS.iter().skip(from as usize) {
                for statement in step.split(";\n") {
                    let statement = statement.trim().trim_end_matches(';');
                    if !statement.is_empty() {
                        conn.exec(statement, &[])?;
                    }
                }
            }
            let check = hex::encode(&key::check_value(&key));
            let recorded = conn
                .exec(
                    "SELECT value FROM apppass.meta WHERE name = 'key_check'",
                    &[],
                )?
                .first("value")
                .map(String::from);
            match recorded {
                Some(v) if hex::decode(&v).is_some_and(|v| key::matches(&key, &v)) => {}
                Some(_) if !created => {
                    return Err(StoreError::KeyMismatch {
                        key: key_file.to_path_buf(),
                        target: target.clone(),
                    })
                }
                _ => {
                    conn.exec(
                        "INSERT INTO apppass.meta (name, value) VALUES ('key_check', $1)
                         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                        &[Some(&check)],
                    )?;
                }
            }
            conn.exec(
                "INSERT INTO apppass.meta (name, value) VALUES ('schema_version', $1)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                &[Some(&schema::LATEST.to_string())],
            )?;
            for statement in split_functions(schema::FUNCTIONS) {
                conn.exec(&statement, &[])?;
            }
            if login_role != report.admin_role {
                for statement in schema::grants(&schema::quote_ident(&login_role)).split(';') {
                    if !statement.trim().is_empty() {
                        conn.exec(statement, &[])?;
                    }
                }
            }
            conn.exec("COMMIT", &[])?;
            Ok(from)
        })();
        let from = match result {
            Ok(v) => v,
            Err(e) => {
                let _ = conn.exec("ROLLBACK", &[]);
                if created {
                    // A key made for a store that was never written is
                    // not the store's key: do not leave it behind.
                    let _ = std::fs::remove_file(key_file);
                }
                return Err(e);
            }
        };
        report.from_version = from;
        report.to_version = schema::LATEST;
        report.login_role = (login_role != report.admin_role).then_some(login_role);
        Ok((
            PgStore {
                conn: Some(conn),
                key,
                target,
                keep: None,
                idle_setting: None,
                pending: None,
                listening: false,
            },
            report,
        ))
    }
}

/// The statements of [`schema::FUNCTIONS`]: bodies between `$$` may hold
/// semicolons.
fn split_functions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_body = false;
    for line in text.lines() {
        current.push_str(line);
        current.push('\n');
        in_body ^= line.matches("$$").count() % 2 == 1;
        if !in_body && line.trim_end().ends_with(';') {
            let s = current.trim().trim_end_matches(';').to_string();
            if !s.is_empty() {
                out.push(s);
            }
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// The first row's value in `column`, empty for none or NULL.
fn first_value(rows: conn::Rows, column: &str) -> String {
    rows.first(column).unwrap_or_default().to_string()
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if let (Some(id), Some(conn)) = (self.keep, self.conn.take()) {
            kept::put(id, conn);
        }
    }
}
