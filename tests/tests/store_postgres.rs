//! The PostgreSQL backend against a real private cluster: the shared
//! conformance suite, the schema and its roles, and what a shared store
//! must survive.

use apppass_conformance::{Backend, FakeShadow, ADMIN, NOW};
use apppass_core::config::Conninfo;
use apppass_core::store::{Opener, Store, StoreError};
use apppass_e2e::postgres::{self, Cluster};
use apppass_store_postgres::{InitReport, PgStore};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

fn cluster() -> &'static Cluster {
    postgres::shared()
}

pub struct Pg {
    pub db: String,
    pub keydir: tempfile::TempDir,
}

fn euid() -> u32 {
    apppass_core::sys::euid()
}

impl Pg {
    pub fn new() -> Pg {
        let db = postgres::fresh_database();
        let keydir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(keydir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        Pg { db, keydir }
    }

    pub fn key(&self) -> PathBuf {
        self.keydir.path().join("key")
    }

    pub fn admin(&self) -> Conninfo {
        Conninfo::new(&cluster().admin_conninfo(&self.db))
    }

    pub fn login(&self) -> Conninfo {
        Conninfo::new(&cluster().login_conninfo(&self.db))
    }

    pub fn init(&self) -> PgStore {
        self.try_init().unwrap().0
    }

    /// `apppass init` with this database's admin and login roles.
    pub fn try_init(&self) -> Result<(PgStore, InitReport), StoreError> {
        PgStore::init(
            &self.admin(),
            &self.login(),
            &self.key(),
            euid(),
            &mut rand_core_06::OsRng,
            false,
        )
    }
}

impl Backend for Pg {
    fn fresh(&self) -> Box<dyn Store> {
        Box::new(self.init())
    }
    fn open(&self) -> Box<dyn Store> {
        Box::new(PgStore::open(&self.admin(), &self.key(), euid(), Opener::Admin).unwrap())
    }
    fn front_end(&self) -> Box<dyn Store> {
        Box::new(PgStore::open(&self.login(), &self.key(), euid(), Opener::Module).unwrap())
    }
    fn separate(&self) -> Box<dyn Store> {
        let other = Pg::new();
        let store = other.init();
        // The key directory must outlive the store; the test is short.
        std::mem::forget(other.keydir);
        Box::new(store)
    }
}

apppass_conformance::conformance_suite!(Pg::new());

/// What `apppass doctor` reads of a shared store: code someone added to
/// the `apppass` schema that runs inside apppass's own statements (this
/// trigger undoes every revoke as it is made), and a view beside it.
#[test]
fn schema_drift_names_triggers_rules_policies_functions_and_views_added() {
    use apppass_core::store::{Change, SchemaDrift};
    let pg = Pg::new();
    let mut s = pg.init();
    assert_eq!(s.schema_drift().unwrap(), []);
    cluster().psql_db(
        &pg.db,
        "CREATE FUNCTION apppass.keep_alive() RETURNS trigger LANGUAGE plpgsql
           AS $$ BEGIN NEW.revoked_at := NULL; RETURN NEW; END $$;
         CREATE TRIGGER keep_alive BEFORE UPDATE ON apppass.passwords
           FOR EACH ROW EXECUTE FUNCTION apppass.keep_alive();
         CREATE RULE keep_history AS ON DELETE TO apppass.events DO INSTEAD NOTHING;
         CREATE POLICY everything ON apppass.passwords USING (true);
         CREATE VIEW apppass.active AS SELECT id FROM apppass.passwords;",
    );
    let added = |kind: &str, name: &str| SchemaDrift {
        change: Change::Added,
        kind: kind.into(),
        name: name.into(),
    };
    assert_eq!(
        s.schema_drift().unwrap(),
        [
            added("function", "keep_alive()"),
            added("policy", "passwords.everything"),
            added("rule", "events.keep_history"),
            added("trigger", "passwords.keep_alive"),
            added("view", "active"),
        ]
    );
}

/// What the module does at a login: open the store (reusing this
/// process's connection) and read the user's candidates; the schema and
/// key check travel with that read, in the same round trip.
fn module_login_read(pg: &Pg) -> Result<(), StoreError> {
    let mut s = PgStore::open(&pg.login(), &pg.key(), euid(), Opener::Module)?;
    s.candidates("alice").map(drop)
}

#[test]
fn init_is_idempotent_and_the_module_refuses_an_unknown_schema_version() {
    let pg = Pg::new();
    let (_, first) = pg.try_init().unwrap();
    assert_eq!((first.from_version, first.created_key), (0, true));
    assert_eq!(first.login_role.as_deref(), Some("apppass_login"));
    let (_, again) = pg.try_init().unwrap();
    let latest = apppass_store_postgres::schema::LATEST;
    assert_eq!(
        (again.from_version, again.to_version, again.created_key),
        (latest, latest, false)
    );
    cluster().psql_db(
        &pg.db,
        "UPDATE apppass.meta SET value = '99' WHERE name = 'schema_version'",
    );
    let e = module_login_read(&pg).err().unwrap();
    assert!(
        matches!(e, StoreError::UnknownVersion { found: 99, .. }),
        "{e}"
    );
    let e = pg.try_init().err().unwrap();
    assert!(matches!(e, StoreError::UnknownVersion { .. }), "{e}");
}

#[test]
fn two_inits_at_once_make_one_schema() {
    let pg = Pg::new();
    // The key is made first, by one of them, so both use it.
    apppass_core::store::key::create(&pg.key(), &mut rand_core_06::OsRng).unwrap();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                pg.try_init().unwrap();
            });
        }
    });
    assert_eq!(
        cluster().psql_db(
            &pg.db,
            "SELECT value FROM apppass.meta WHERE name = 'schema_version'"
        ),
        apppass_store_postgres::schema::LATEST.to_string()
    );
}

#[test]
fn a_store_refuses_a_key_it_was_not_made_with_and_a_lost_key_is_not_replaced_silently() {
    let pg = Pg::new();
    let mut s = pg.init();
    let sh = FakeShadow::default();
    sh.set("alice", "$y$x");
    apppass_conformance::gen(&mut s, "alice", &["imap"], "Phone", &sh);
    drop(s);
    std::fs::remove_file(pg.key()).unwrap();
    let e = pg.try_init().err().unwrap();
    assert!(matches!(e, StoreError::KeyLost { .. }), "{e}");
    apppass_core::store::key::create(&pg.key(), &mut rand_core_06::OsRng).unwrap();
    let e = module_login_read(&pg).err().unwrap();
    assert!(matches!(e, StoreError::KeyMismatch { .. }), "{e}");
    // A failed check keeps guarding the store: every later statement
    // checks again, and fails again.
    let mut s = PgStore::open(&pg.login(), &pg.key(), euid(), Opener::Module).unwrap();
    for _ in 0..2 {
        let e = s.candidates("alice").err().unwrap();
        assert!(matches!(e, StoreError::KeyMismatch { .. }), "{e}");
    }
    let e = s.fingerprint("alice").err().unwrap();
    assert!(matches!(e, StoreError::KeyMismatch { .. }), "{e}");
    // The CLI's open checks at once.
    let e = PgStore::open(&pg.admin(), &pg.key(), euid(), Opener::Admin)
        .err()
        .unwrap();
    assert!(matches!(e, StoreError::KeyMismatch { .. }), "{e}");
}

#[test]
fn the_login_role_cannot_mint_change_or_revive_a_password() {
    let pg = Pg::new();
    let mut s = pg.init();
    let sh = FakeShadow::default();
    let (id, _) = apppass_conformance::gen(&mut s, "alice", &["imap"], "Phone", &sh);
    let (gone, _) = apppass_conformance::gen(&mut s, "alice", &["imap"], "Old", &sh);
    apppass_core::revocation::revoke(
        &mut s,
        "alice",
        &apppass_core::revocation::RevokeTarget::Id(gone),
        None,
        NOW,
        ADMIN,
    )
    .unwrap();
    let c = cluster();
    let as_login = |sql: &str| c.psql_as("apppass_login", postgres::LOGIN_PASSWORD, &pg.db, sql);
    for sql in [
        "INSERT INTO apppass.passwords (username, label, services, created_at, phc, tag, tag_salt) VALUES ('alice', 'x', 'imap', 0, '$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA', 1, '\\x00')".to_string(),
        format!("UPDATE apppass.passwords SET phc = 'x' WHERE id = {id}"),
        format!("UPDATE apppass.passwords SET revoked_at = NULL, revoked_reason = NULL WHERE id = {gone}"),
        "DELETE FROM apppass.events".to_string(),
        "INSERT INTO apppass.events (username, at, event) VALUES ('alice', 0, 'generated')".to_string(),
        "UPDATE apppass.meta SET value = '0'".to_string(),
        "SELECT apppass.revoke('alice', 1, 0, 'x', 'generated', 'admin')".to_string(),
    ] {
        let out = as_login(&sql);
        assert!(!out.status.success(), "the login role could run: {sql}");
    }
    // What it may do, it can: read candidates and call the functions.
    let out = as_login("SELECT count(*) FROM apppass.passwords WHERE revoked_at IS NULL");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    assert_eq!(
        c.psql_db(
            &pg.db,
            &format!("SELECT revoked_at IS NOT NULL FROM apppass.passwords WHERE id = {gone}")
        ),
        "t",
        "the revocation stands"
    );
}

#[test]
fn wrong_credentials_tls_failure_and_no_server_are_unreachable_in_bounded_time() {
    let pg = Pg::new();
    pg.init();
    let c = cluster();
    let cases = [
        ("wrong password", c.conninfo_for("apppass_login", "not-the-password", &pg.db)),
        (
            "untrusted certificate",
            format!(
                "host=127.0.0.1 port={} dbname={} user=apppass_login password={} sslmode=verify-full sslrootcert=/etc/ssl/certs/ca-certificates.crt connect_timeout=2",
                c.port, pg.db, postgres::LOGIN_PASSWORD
            ),
        ),
        (
            "a badly quoted password",
            format!(
                "host=127.0.0.1 port={} dbname={} user=apppass_login password=Hunter2 Secret-Part connect_timeout=2",
                c.port, pg.db
            ),
        ),
        (
            "nothing listening",
            format!(
                "host=127.0.0.1 port={} dbname=x user=apppass_login connect_timeout=2",
                apppass_e2e::dovecot::free_port()
            ),
        ),
    ];
    for (what, conninfo) in cases {
        let started = std::time::Instant::now();
        let e = PgStore::open(&Conninfo::new(&conninfo), &pg.key(), euid(), Opener::Module)
            .err()
            .unwrap_or_else(|| panic!("{what}: opened"));
        assert!(matches!(e, StoreError::Unreachable { .. }), "{what}: {e}");
        assert!(
            started.elapsed().as_secs() < 5,
            "{what}: {:?}",
            started.elapsed()
        );
        let text = e.to_string();
        assert!(
            !text.contains(postgres::LOGIN_PASSWORD) && !text.contains("password="),
            "{what}: {text}"
        );
        assert!(
            !text.contains("Secret-Part") && !text.contains("Hunter2"),
            "{what}: {text}"
        );
        if what == "a badly quoted password" {
            assert!(
                text.contains("not a valid libpq connection string"),
                "{text}"
            );
        } else {
            assert!(
                text.contains("127.0.0.1"),
                "{what} names the server: {text}"
            );
        }
    }
}

#[test]
fn a_listener_that_never_answers_fails_in_bounded_time() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let keydir = tempfile::tempdir().unwrap();
    let key = keydir.path().join("key");
    apppass_core::store::key::create(&key, &mut rand_core_06::OsRng).unwrap();
    let conninfo = Conninfo::new(&format!(
        "host=127.0.0.1 port={port} dbname=apppass user=apppass_login sslmode=disable connect_timeout=2"
    ));
    let started = std::time::Instant::now();
    let e = PgStore::open(&conninfo, &key, euid(), Opener::Module)
        .err()
        .unwrap();
    let took = started.elapsed();
    assert!(matches!(e, StoreError::Unreachable { .. }), "{e}");
    assert!(took.as_secs_f64() >= 1.5 && took.as_secs() < 6, "{took:?}");
    drop(listener);
}

#[test]
fn a_schema_of_version_1_is_migrated_and_its_history_gets_who_made_it() {
    let pg = Pg::new();
    let key = apppass_core::store::key::create(&pg.key(), &mut rand_core_06::OsRng).unwrap();
    let check: String = apppass_core::store::key::check_value(&key)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let v1 = format!(
        "CREATE SCHEMA apppass; {}; \
         INSERT INTO apppass.meta VALUES ('schema_version', '1'), ('key_check', '\\x{check}'); \
         INSERT INTO apppass.events (username, at, event, password_id, label) VALUES ('alice', 1, 'generated', 1, 'Old'); \
         INSERT INTO apppass.events (username, at, event, password_id, label, reason) VALUES ('alice', 2, 'wiped', 1, 'Old', 'primary password changed');",
        apppass_store_postgres::schema::MIGRATIONS[0]
    );
    let out = cluster().psql_as("apppass_admin", postgres::ADMIN_PASSWORD, &pg.db, &v1);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The module names the old schema, though its login statement cannot
    // even be planned there (columns were added since): the check that
    // travels with it is judged first.
    let e = PgStore::open(&pg.admin(), &pg.key(), euid(), Opener::Module)
        .and_then(|mut s| s.candidates("alice").map(drop))
        .err()
        .unwrap();
    assert!(matches!(e, StoreError::Outdated { found: 1, .. }), "{e}");
    let (mut s, r) = pg.try_init().unwrap();
    assert_eq!(
        (r.from_version, r.to_version),
        (1, apppass_store_postgres::schema::LATEST)
    );
    let by: Vec<_> = apppass_core::admin::history(&mut s, "alice", NOW)
        .unwrap()
        .into_iter()
        .map(|e| e.by)
        .collect();
    use apppass_core::store::Actor;
    assert_eq!(by, [Actor::Admin(None), Actor::Module]);
    // The login role's revoke is the new one, and only it.
    let sh = FakeShadow::default();
    sh.set("bob", "$y$x");
    let (_, pw) = apppass_conformance::gen(&mut s, "bob", &["imap"], "Phone", &sh);
    let mut front = Pg::front_end(&pg);
    sh.remove("bob");
    assert!(!apppass_conformance::ok(&apppass_conformance::login(
        front.as_mut(),
        "bob",
        "imap",
        &pw,
        NOW,
        &sh
    )));
    let last = apppass_core::admin::history(&mut s, "bob", NOW)
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(
        (last.kind, last.by),
        (apppass_core::store::EventKind::Revoked, Actor::Module)
    );
}

#[test]
fn a_schema_of_version_2_is_migrated_keeping_every_password() {
    let pg = Pg::new();
    let key = apppass_core::store::key::create(&pg.key(), &mut rand_core_06::OsRng).unwrap();
    let check: String = apppass_core::store::key::check_value(&key)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let v2 = format!(
        "CREATE SCHEMA apppass; {}; {}; \
         INSERT INTO apppass.meta VALUES ('schema_version', '2'), ('key_check', '\\x{check}'); \
         INSERT INTO apppass.passwords (username, label, services, created_at, revoked_at, revoked_reason) \
             VALUES ('alice', 'Old', 'imap', 1, 2, 'lost'); \
         INSERT INTO apppass.passwords (username, label, services, created_at, phc, tag, tag_salt) \
             VALUES ('alice', 'New', 'imap', 3, '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA', 7, '\\x0102');",
        apppass_store_postgres::schema::MIGRATIONS[0],
        apppass_store_postgres::schema::MIGRATIONS[1]
    );
    let out = cluster().psql_as("apppass_admin", postgres::ADMIN_PASSWORD, &pg.db, &v2);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut s, r) = pg.try_init().unwrap();
    assert_eq!(
        (r.from_version, r.to_version),
        (2, apppass_store_postgres::schema::LATEST)
    );
    let rows = s.passwords(Some("alice")).unwrap();
    let labels: Vec<_> = rows
        .iter()
        .map(|p| (p.label.as_str(), p.networks.is_anywhere(), p.suspended_at))
        .collect();
    assert_eq!(labels, [("Old", true, None), ("New", true, None)]);
    // The new credential rule holds: a revoked password may keep its hash now.
    let sh = FakeShadow::default();
    let (id, _) = apppass_conformance::gen(&mut s, "bob", &["imap"], "Phone", &sh);
    apppass_core::revocation::revoke(
        &mut s,
        "bob",
        &apppass_core::revocation::RevokeTarget::Id(id),
        None,
        NOW,
        apppass_core::store::Actor::Admin(None),
    )
    .unwrap();
    let snap = s.snapshot().unwrap();
    assert!(snap
        .passwords
        .iter()
        .any(|(p, c)| p.id == id && c.is_some()));
    assert!(id > 2, "IDs continue after the migrated ones");
}
