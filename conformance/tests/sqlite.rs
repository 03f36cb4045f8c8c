//! The SQLite backend: the shared conformance suite, and what only a file
//! store has (modes, migrations, foreign files, corruption, backups, locks).
#![allow(clippy::unwrap_used)]
#![forbid(unsafe_code)]

use apppass_conformance::*;
use apppass_core::admin;
use apppass_core::revocation;
use apppass_core::store::{Actor, Change, EventKind, Opener, SchemaDrift, Store, StoreError};
use apppass_store_sqlite::{schema, SqliteStore};
use rusqlite::Connection;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::PathBuf;

fn euid() -> u32 {
    apppass_core::sys::euid()
}

/// A store in a private directory.
struct TestStore {
    dir: tempfile::TempDir,
    db: PathBuf,
}

impl TestStore {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let db = dir.path().join("apppass.db");
        TestStore { dir, db }
    }

    fn init(&self) -> SqliteStore {
        SqliteStore::init(&self.db, euid(), &mut rng()).unwrap().0
    }
}

impl Backend for TestStore {
    fn fresh(&self) -> Box<dyn Store> {
        Box::new(self.init())
    }
    fn open(&self) -> Box<dyn Store> {
        Box::new(SqliteStore::open(&self.db, euid(), Opener::Admin).unwrap())
    }
    fn front_end(&self) -> Box<dyn Store> {
        Box::new(SqliteStore::open(&self.db, euid(), Opener::Module).unwrap())
    }
    fn separate(&self) -> Box<dyn Store> {
        let dir = self.dir.path().join("separate");
        std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        let db = dir.join("apppass.db");
        Box::new(
            SqliteStore::init(&db, euid(), &mut rand::rngs::OsRng)
                .unwrap()
                .0,
        )
    }
}

conformance_suite!(TestStore::new());

#[test]
fn init_creates_directory_key_and_store_with_tight_modes_and_is_idempotent() {
    use std::os::unix::fs::PermissionsExt;
    let parent = TestStore::new();
    let db = parent.dir.path().join("sub").join("apppass.db");
    let (_, r1) = SqliteStore::init(&db, euid(), &mut rng()).unwrap();
    assert!(r1.created_directory && r1.created_key && r1.created_store);
    assert_eq!((r1.from_version, r1.to_version), (0, schema::LATEST));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(db.parent().unwrap()), 0o700);
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&db.parent().unwrap().join("key")), 0o600);
    assert_eq!(
        std::fs::read(db.parent().unwrap().join("key"))
            .unwrap()
            .len(),
        32
    );
    let key_before = std::fs::read(db.parent().unwrap().join("key")).unwrap();
    let (_, r2) = SqliteStore::init(&db, euid(), &mut rng()).unwrap();
    assert!(!r2.created_directory && !r2.created_key && !r2.created_store);
    assert_eq!(
        (r2.from_version, r2.to_version),
        (schema::LATEST, schema::LATEST)
    );
    assert_eq!(
        std::fs::read(db.parent().unwrap().join("key")).unwrap(),
        key_before
    );
    let c = Connection::open(&db).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn migration_from_an_empty_file_works() {
    let t = TestStore::new();
    std::fs::write(&t.db, b"").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&t.db, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (_, r) = SqliteStore::init(&t.db, euid(), &mut rng()).unwrap();
    assert_eq!((r.from_version, r.to_version), (0, schema::LATEST));
    SqliteStore::open(&t.db, euid(), Opener::Module).unwrap();
}

#[test]
fn migration_from_every_earlier_version_keeps_data() {
    for start in 0..schema::LATEST {
        let t = TestStore::new();
        {
            let c = Connection::open(&t.db).unwrap();
            for step in &schema::MIGRATIONS[..start as usize] {
                c.execute_batch(step).unwrap();
            }
            if start > 0 {
                c.pragma_update(None, "application_id", schema::APPLICATION_ID)
                    .unwrap();
                c.pragma_update(None, "user_version", start).unwrap();
                // History as earlier versions wrote it.
                c.execute_batch(
                    "INSERT INTO passwords (user, label, services, created_at, revoked_at, revoked_reason)
                         VALUES ('alice', 'Old', 'imap', 1, 2, 'primary password changed');
                     INSERT INTO events (user, at, event, password_id, label)
                         VALUES ('alice', 1, 'generated', 1, 'Old');
                     INSERT INTO events (user, at, event, password_id, label, reason)
                         VALUES ('alice', 2, 'wiped', 1, 'Old', 'primary password changed');",
                )
                .unwrap();
                if start >= 3 {
                    // Version 3 records who made each change itself.
                    c.execute_batch("UPDATE events SET by_actor = 'module' WHERE event = 'wiped'")
                        .unwrap();
                }
            }
        }
        let (mut s, r) = SqliteStore::init(&t.db, euid(), &mut rng()).unwrap();
        assert_eq!((r.from_version, r.to_version), (start, schema::LATEST));
        assert_eq!(s.schema_drift().unwrap(), [], "from version {start}");
        if start > 0 {
            let h = admin::history(&mut s, "alice", NOW).unwrap();
            let by: Vec<_> = h.iter().map(|e| (e.kind, e.by)).collect();
            assert_eq!(
                by,
                [
                    (EventKind::Generated, Actor::Admin(None)),
                    (EventKind::Wiped, Actor::Module)
                ],
                "from version {start}"
            );
            assert_eq!(s.passwords(Some("alice")).unwrap().len(), 1);
        }
    }
}

#[test]
fn schema_drift_names_what_was_added_altered_or_removed() {
    let t = TestStore::new();
    let mut s = t.init();
    Connection::open(&t.db)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER keep_alive AFTER UPDATE ON passwords BEGIN SELECT 1; END;
             CREATE INDEX by_label ON passwords (label);
             DROP INDEX events_by_password;
             DROP TABLE text_settings;
             CREATE TABLE text_settings (
                name  TEXT PRIMARY KEY,
                value TEXT NOT NULL ON CONFLICT IGNORE
             ) WITHOUT ROWID;
             ANALYZE;",
        )
        .unwrap();
    let d = |change, kind: &str, name: &str| SchemaDrift {
        change,
        kind: kind.into(),
        name: name.into(),
    };
    assert_eq!(
        s.schema_drift().unwrap(),
        [
            d(Change::Added, "trigger", "keep_alive"),
            d(Change::Altered, "table", "text_settings"),
            d(Change::Missing, "index", "events_by_password"),
            d(Change::Added, "index", "by_label"),
        ],
        "ANALYZE's statistics are not counted"
    );
}

#[test]
fn module_refuses_uninitialised_foreign_newer_and_older_stores() {
    let t = TestStore::new();
    assert!(matches!(
        SqliteStore::open(&t.db, euid(), Opener::Module),
        Err(StoreError::Missing { .. })
    ));
    t.init();
    let c = Connection::open(&t.db).unwrap();
    c.pragma_update(None, "user_version", schema::LATEST + 1)
        .unwrap();
    assert!(matches!(
        SqliteStore::open(&t.db, euid(), Opener::Module),
        Err(StoreError::UnknownVersion { .. })
    ));
    // init does not downgrade or touch a newer store either.
    assert!(matches!(
        SqliteStore::init(&t.db, euid(), &mut rng()),
        Err(StoreError::UnknownVersion { .. })
    ));
    c.pragma_update(None, "user_version", 0).unwrap();
    c.pragma_update(None, "application_id", 0).unwrap();
    assert!(matches!(
        SqliteStore::open(&t.db, euid(), Opener::Module),
        Err(StoreError::NotInitialised { .. })
    ));

    let foreign = TestStore::new();
    let f = Connection::open(&foreign.db).unwrap();
    f.execute_batch("CREATE TABLE mail (x)").unwrap();
    drop(f);
    std::fs::write(foreign.dir.path().join("key"), [1u8; 32]).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        foreign.dir.path().join("key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    assert!(matches!(
        SqliteStore::init(&foreign.db, euid(), &mut rng()),
        Err(StoreError::Foreign { .. })
    ));
}

#[test]
fn corrupt_store_is_reported_as_corruption() {
    let t = TestStore::new();
    t.init();
    std::fs::write(&t.db, vec![0x5a; 8192]).unwrap();
    let e = SqliteStore::open(&t.db, euid(), Opener::Module)
        .err()
        .unwrap();
    assert!(e.is_corruption(), "{e}");
}

#[test]
fn ids_are_never_reused_even_after_a_row_is_deleted() {
    let t = TestStore::new();
    let mut s = t.init();
    let sh = FakeShadow::default();
    let (a, _) = gen(&mut s, "alice", &["imap"], "a", &sh);
    revocation::revoke(
        &mut s,
        "alice",
        &revocation::RevokeTarget::Id(a),
        None,
        NOW,
        ADMIN,
    )
    .unwrap();
    let c = Connection::open(&t.db).unwrap();
    c.execute("DELETE FROM passwords WHERE id = ?1", [a])
        .unwrap();
    let (b, _) = gen(&mut s, "alice", &["imap"], "b", &sh);
    assert!(b > a);
}

#[test]
fn init_refuses_to_replace_a_lost_key_when_fingerprints_depend_on_it() {
    let t = TestStore::new();
    let mut s = t.init();
    let sh = FakeShadow::default();
    sh.set("alice", "$y$x");
    gen(&mut s, "alice", &["imap"], "Phone", &sh);
    drop(s);
    std::fs::remove_file(t.dir.path().join("key")).unwrap();
    assert!(matches!(
        SqliteStore::init(&t.db, euid(), &mut rng()),
        Err(StoreError::KeyLost { .. })
    ));
    assert!(matches!(
        SqliteStore::open(&t.db, euid(), Opener::Module),
        Err(StoreError::KeyMissing { .. })
    ));
}

#[test]
fn backup_is_a_working_store_with_its_key() {
    let t = TestStore::new();
    let mut s = t.init();
    let sh = FakeShadow::default();
    let (_, pw) = gen(&mut s, "alice", &["imap"], "Phone", &sh);
    let out = TestStore::new();
    let dest = out.dir.path().join("copy.db");
    s.backup(&dest).unwrap();
    assert!(
        matches!(s.backup(&dest), Err(StoreError::Exists { .. })),
        "never overwrites"
    );
    let mut copy = SqliteStore::open(&dest, euid(), Opener::Module).unwrap();
    assert_eq!(&copy.key()[..], &s.key()[..]);
    assert!(ok(&login(&mut copy, "alice", "imap", &pw, NOW, &sh)));
    // A second backup into the same directory shares the identical key.
    s.backup(&out.dir.path().join("copy2.db")).unwrap();
}

#[test]
fn a_writer_holding_the_lock_does_not_block_a_login() {
    let t = TestStore::new();
    let mut s = t.init();
    let sh = FakeShadow::default();
    let (_, pw) = gen(&mut s, "alice", &["imap"], "Phone", &sh);
    let c = Connection::open(&t.db).unwrap();
    c.execute_batch("BEGIN IMMEDIATE; UPDATE settings SET value = value;")
        .unwrap();
    let mut reader = SqliteStore::open(&t.db, euid(), Opener::Module).unwrap();
    let start = std::time::Instant::now();
    assert!(ok(&login(&mut reader, "alice", "imap", &pw, NOW, &sh)));
    assert!(
        start.elapsed() < std::time::Duration::from_secs(2),
        "last-used write gave up quickly"
    );
    c.execute_batch("COMMIT").unwrap();
    let r = admin::list(&mut s, Some("alice"), false, NOW, &sh, ADMIN)
        .unwrap()
        .passwords
        .remove(0);
    assert_eq!(
        r.last_used, None,
        "the locked write was skipped, the login succeeded"
    );
}

#[test]
fn a_store_refuses_a_key_it_was_not_made_with() {
    let t = TestStore::new();
    t.init();
    let other = TestStore::new();
    // Not the seeded source: that would make the same key twice.
    SqliteStore::init(&other.db, euid(), &mut rand::rngs::OsRng).unwrap();
    std::fs::copy(other.dir.path().join("key"), t.dir.path().join("key")).unwrap();
    assert!(matches!(
        SqliteStore::open(&t.db, euid(), Opener::Module),
        Err(StoreError::KeyMismatch { .. })
    ));
    assert!(matches!(
        SqliteStore::init(&t.db, euid(), &mut rng()),
        Err(StoreError::KeyMismatch { .. })
    ));
}

#[test]
fn sign_ins_wait_rather_than_forget_when_the_host_holds_its_most_failures() {
    use apppass_core::selfservice::Refusal;
    use apppass_core::signin::{self, MAX_HOST_FAILURES};
    let t = TestStore::new();
    let mut s = t.init();
    let now = 1_800_000_000;
    // Strangers' names fill the host's share of recent failures.
    let conn = Connection::open(&t.db).unwrap();
    conn.execute_batch("BEGIN").unwrap();
    for i in 0..MAX_HOST_FAILURES {
        conn.execute(
            "INSERT INTO signin_failures (user, at) VALUES (?1, ?2)",
            rusqlite::params![format!("stranger-{i}"), now - 10],
        )
        .unwrap();
    }
    conn.execute_batch("COMMIT").unwrap();
    assert_eq!(
        signin::begin(&mut s, "alice", now, &mut || false)
            .unwrap()
            .unwrap_err(),
        Refusal::HostBusy
    );
    // Nobody's failures were dropped to make room.
    assert_eq!(s.signin_attempts("stranger-0", 0, 0).unwrap().failed, 1);
    // Once the window has passed they are gone, for everyone.
    signin::begin(&mut s, "alice", now + 15 * 60, &mut || false)
        .unwrap()
        .unwrap()
        .refused(&mut s);
    let left: i64 = conn
        .query_row("SELECT count(*) FROM signin_failures", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 1);
}

#[test]
fn a_sign_in_waits_for_the_account_s_attempts_under_way_to_settle() {
    use apppass_core::signin;
    let t = TestStore::new();
    let mut s = t.init();
    let mut other = SqliteStore::open(&t.db, euid(), Opener::Admin).unwrap();
    let now = 1_800_000_000;
    // Five sign-ins of one account under way, all right as it turns out.
    let mut under_way: Vec<_> = (0..5)
        .map(|_| {
            signin::begin(&mut s, "erin", now, &mut || false)
                .unwrap()
                .unwrap()
        })
        .collect();
    assert!(signin::begin(&mut s, "erin", now, &mut || false)
        .unwrap()
        .is_err());
    // A sixth waits while they settle, and gets a place.
    let mut waits = 0;
    let mut wait = || {
        waits += 1;
        if let Some(a) = under_way.pop() {
            a.accepted(&mut other).unwrap();
        }
        true
    };
    let sixth = signin::begin(&mut s, "erin", now, &mut wait).unwrap();
    assert!(sixth.is_ok());
    assert_eq!(waits, 1);
}
