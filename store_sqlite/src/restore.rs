//! Putting a backup back. Copying the files by hand over a store in WAL
//! mode mixes them with the live `-wal` file (passwords from the backup,
//! history from the WAL, and `integrity_check` still says ok). Instead the
//! backup's pages are written into the live store through SQLite's backup
//! API as one write transaction: logins going on at the same time see the
//! old store or the restored one, never a mixture. A store that cannot be
//! opened any more is moved aside (with its `-wal` and `-shm`) and the copy
//! renamed into place. A backup holding anything `apppass backup` never
//! writes (a trigger, a view, a hash below the floor) is refused before
//! anything live is touched.

use crate::error::{on, Detail};
use crate::{parent_dir, schema, SqliteStore};
use apppass_core::hashing::StoredHash;
use apppass_core::store::key::{self, key_path, Key};
use apppass_core::store::safety::{check_path, Kind};
use apppass_core::store::{Opener, StoreError};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What `restore` did.
#[derive(Debug, Default)]
pub struct RestoreReport {
    /// The live store could not be opened and was moved here.
    pub moved_aside: Option<PathBuf>,
    /// The live key differed from the backup's and was kept here.
    pub old_key: Option<PathBuf>,
    /// Passwords revoked in the replaced store that the backup brings back:
    /// `(id, user, label)`.
    pub revived: Vec<(i64, String, String)>,
    pub from_version: i64,
}

/// Checks a backup file and its key before anything live is touched.
fn open_backup(backup: &Path, euid: u32) -> Result<(Connection, Key, i64), StoreError> {
    check_path(backup, euid, Kind::File)?;
    let bkey = key::load(&key_path(backup), euid)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let err = on(backup);
    let conn = Connection::open_with_flags(backup, flags).map_err(&err)?;
    let version = schema::user_version(&conn).map_err(&err)?;
    if schema::application_id(&conn).map_err(&err)? != schema::APPLICATION_ID {
        return Err(StoreError::Foreign {
            target: backup.display().to_string(),
        });
    }
    if version > schema::LATEST {
        return Err(StoreError::UnknownVersion {
            target: backup.display().to_string(),
            found: version,
            known: schema::LATEST,
        });
    }
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get("integrity_check"))
        .map_err(&err)?;
    if verdict != "ok" {
        return Err(StoreError::Corrupt {
            target: backup.display().to_string(),
            source: Box::new(Detail(verdict)),
        });
    }
    if version >= 2 {
        let recorded: Option<Vec<u8>> = conn
            .query_row("SELECT value FROM meta WHERE name = 'key_check'", [], |r| {
                r.get("value")
            })
            .optional()
            .map_err(&err)?;
        if !recorded.is_some_and(|v| key::matches(&bkey, &v)) {
            return Err(StoreError::KeyMismatch {
                key: key_path(backup),
                target: backup.display().to_string(),
            });
        }
    }
    refuse_foreign_content(&conn, backup, version)?;
    Ok((conn, bkey, version))
}

/// A backup is trusted whole: its pages replace the live store. So it must
/// hold exactly the schema apppass makes (a trigger in it would run inside
/// every later change, and could undo each revoke as it is made), and
/// only hashes a login accepts.
fn refuse_foreign_content(
    conn: &Connection,
    backup: &Path,
    version: i64,
) -> Result<(), StoreError> {
    let err = on(backup);
    let refused = |found: String| StoreError::BackupRefused {
        backup: backup.to_path_buf(),
        found,
    };
    if let Some(first) = schema::drift(conn, version).map_err(&err)?.first() {
        return Err(refused(first.to_string()));
    }
    if version < 1 {
        return Ok(());
    }
    let mut stmt = conn
        .prepare("SELECT id, phc FROM passwords WHERE phc IS NOT NULL ORDER BY id")
        .map_err(&err)?;
    let mut rows = stmt.query([]).map_err(&err)?;
    while let Some(row) = rows.next().map_err(&err)? {
        let id: i64 = row.get("id").map_err(&err)?;
        let phc: String = row.get("phc").map_err(&err)?;
        if let Err(e) = StoredHash::parse(&phc) {
            return Err(refused(format!("app password {id}, whose {e}")));
        }
    }
    Ok(())
}

/// Unrevoked passwords in the backup that the live store has revoked.
fn revived(live: &Connection, backup: &Connection) -> rusqlite::Result<Vec<(i64, String, String)>> {
    let mut in_backup = backup
        .prepare("SELECT id, user, label FROM passwords WHERE revoked_at IS NULL ORDER BY id")?;
    let candidates = in_backup
        .query_map([], |r| Ok((r.get("id")?, r.get("user")?, r.get("label")?)))?
        .collect::<Result<Vec<(i64, String, String)>, _>>()?;
    let mut revoked =
        live.prepare("SELECT revoked_at IS NOT NULL AS gone FROM passwords WHERE id = ?1")?;
    let mut out = Vec::new();
    for c in candidates {
        let gone: Option<bool> = revoked.query_row([c.0], |r| r.get("gone")).optional()?;
        if gone == Some(true) {
            out.push(c);
        }
    }
    Ok(out)
}

/// Copies every page of `from` into `to` in one step, waiting while
/// another process holds the write lock.
fn copy_pages(from: &Connection, to: &mut Connection, dest: &Path) -> Result<(), StoreError> {
    let err = on(dest);
    let backup = Backup::new(from, to).map_err(&err)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match backup.step(-1).map_err(&err)? {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                return Err(StoreError::Busy {
                    target: dest.display().to_string(),
                })
            }
        }
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::io(path, &e)
}

/// Moves `db` and its `-wal` and `-shm` to `db.replaced-NOW`.
fn move_aside(db: &Path, now: i64) -> Result<PathBuf, StoreError> {
    let aside = PathBuf::from(format!("{}.replaced-{now}", db.display()));
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let from = PathBuf::from(format!("{}{suffix}", db.display()));
        let to = PathBuf::from(format!("{}{suffix}", aside.display()));
        if std::fs::symlink_metadata(&from).is_ok() {
            std::fs::rename(&from, &to).map_err(io_err(&from))?;
        }
    }
    Ok(aside)
}

/// Writes `from` into a new file beside `db` and renames it into place.
fn install_copy(from: &Connection, db: &Path) -> Result<(), StoreError> {
    let tmp = PathBuf::from(format!("{}.restore-tmp", db.display()));
    let _ = std::fs::remove_file(&tmp);
    key::create_private_file(&tmp)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let err = on(&tmp);
    let mut out = Connection::open_with_flags(&tmp, flags).map_err(&err)?;
    let copied = copy_pages(from, &mut out, &tmp).and_then(|()| {
        out.query_row("PRAGMA journal_mode = WAL", [], |r| {
            r.get::<_, String>("journal_mode")
        })
        .map(drop)
        .map_err(&err)
    });
    drop(out);
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, db).map_err(io_err(db))
}

/// Puts the backup's key beside the live store, keeping a different live
/// key as `key.replaced-NOW`.
fn install_key(
    live_db: &Path,
    bkey: &Key,
    euid: u32,
    now: i64,
) -> Result<Option<PathBuf>, StoreError> {
    let kpath = key_path(live_db);
    let old = match key::load(&kpath, euid) {
        Ok(k) if k[..] == bkey[..] => return Ok(None),
        Ok(_) => true,
        Err(StoreError::KeyMissing { .. }) => false,
        Err(e) => return Err(e),
    };
    let tmp = kpath.with_file_name("key.restore-tmp");
    let _ = std::fs::remove_file(&tmp);
    key::write_new(&tmp, bkey)?;
    let kept = if old {
        let aside = kpath.with_file_name(format!("key.replaced-{now}"));
        std::fs::hard_link(&kpath, &aside).map_err(io_err(&aside))?;
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&tmp, &kpath).map_err(io_err(&kpath))?;
    Ok(kept)
}

impl SqliteStore {
    /// Replaces the store at `db` (and its key) with the backup at
    /// `backup` (and the key beside it), then migrates it if it is older.
    pub fn restore(
        db: &Path,
        backup: &Path,
        euid: u32,
        now: i64,
    ) -> Result<(SqliteStore, RestoreReport), StoreError> {
        let (from, bkey, version) = open_backup(backup, euid)?;
        check_path(parent_dir(db), euid, Kind::Directory)?;
        let mut report = RestoreReport {
            from_version: version,
            ..RestoreReport::default()
        };
        let live = match check_path(db, euid, Kind::File) {
            Ok(()) => {
                let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NOFOLLOW;
                Connection::open_with_flags(db, flags)
                    .ok()
                    .filter(|c| schema::application_id(c).ok() == Some(schema::APPLICATION_ID))
            }
            Err(StoreError::Missing { .. }) => None,
            Err(e) => return Err(e),
        };
        match live {
            Some(mut live) => {
                report.revived = revived(&live, &from).unwrap_or_default();
                live.busy_timeout(Duration::from_secs(10)).map_err(on(db))?;
                copy_pages(&from, &mut live, db)?;
            }
            None => {
                if std::fs::symlink_metadata(db).is_ok() {
                    report.moved_aside = Some(move_aside(db, now)?);
                }
                install_copy(&from, db)?;
            }
        }
        drop(from);
        report.old_key = install_key(db, &bkey, euid, now)?;
        // The restored store may be of an older schema: bring it up to date.
        let conn = Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NOFOLLOW,
        )
        .map_err(on(db))?;
        let mut store =
            SqliteStore::configure(crate::kept::StoreConn::plain(conn), db, bkey, Opener::Admin)?;
        store.migrate(false, &key_path(db))?;
        Ok((store, report))
    }
}
