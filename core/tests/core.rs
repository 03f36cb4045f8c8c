//! Store, login and admin behaviour of apppass-core against real SQLite files.

mod util;

use apppass_core::admin::{self, AdminError, GenerateRequest, Notice, RevokeTarget, Status};
use apppass_core::hashing::HeapMemory;
use apppass_core::login::{authenticate, LoginRequest, Outcome, Refusal};
use apppass_core::policy::Scope;
use apppass_core::secret::NormalizedSecret;
use apppass_core::store::{schema, Opener, Store, StoreError};
use rusqlite::Connection;
use util::*;

fn gen(
    store: &mut Store,
    user: &str,
    services: &[&str],
    label: &str,
    shadow: &FakeShadow,
) -> (i64, String) {
    gen_at(store, user, services, label, shadow, NOW, None)
}

fn gen_at(
    store: &mut Store,
    user: &str,
    services: &[&str],
    label: &str,
    shadow: &FakeShadow,
    now: i64,
    expires_at: Option<i64>,
) -> (i64, String) {
    let scope = if services == ["*"] {
        Scope::Any
    } else {
        Scope::only(services).unwrap()
    };
    let req = GenerateRequest {
        user,
        scope,
        label,
        expires_at,
    };
    let g = admin::generate(
        store,
        &req,
        now,
        &mut rand::rngs::OsRng,
        shadow,
        &mut accept,
    )
    .unwrap();
    (g.id, g.secret.display().to_string())
}

fn login(
    store: &mut Store,
    user: &str,
    service: &str,
    password: &str,
    now: i64,
    shadow: &FakeShadow,
) -> Outcome {
    let secret = NormalizedSecret::from_candidate(password.as_bytes()).unwrap();
    let req = LoginRequest {
        user,
        service,
        rhost: Some("203.0.113.7"),
        now,
        side_effects: true,
    };
    authenticate(store, &req, &secret, &mut HeapMemory::default(), shadow).unwrap()
}

fn ok(o: &Outcome) -> bool {
    matches!(o, Outcome::Success { .. })
}

#[test]
fn init_creates_directory_key_and_store_with_tight_modes_and_is_idempotent() {
    use std::os::unix::fs::PermissionsExt;
    let parent = TestStore::new();
    let db = parent.dir.path().join("sub").join("apppass.db");
    let (_, r1) = Store::init(&db, euid(), &mut rng()).unwrap();
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
    let (_, r2) = Store::init(&db, euid(), &mut rng()).unwrap();
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
    let (_, r) = Store::init(&t.db, euid(), &mut rng()).unwrap();
    assert_eq!((r.from_version, r.to_version), (0, schema::LATEST));
    Store::open(&t.db, euid(), Opener::Module).unwrap();
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
            }
        }
        let (_, r) = Store::init(&t.db, euid(), &mut rng()).unwrap();
        assert_eq!((r.from_version, r.to_version), (start, schema::LATEST));
    }
}

#[test]
fn module_refuses_uninitialised_foreign_newer_and_older_stores() {
    let t = TestStore::new();
    assert!(matches!(
        Store::open(&t.db, euid(), Opener::Module),
        Err(StoreError::Missing { .. })
    ));
    t.init();
    let c = Connection::open(&t.db).unwrap();
    c.pragma_update(None, "user_version", schema::LATEST + 1)
        .unwrap();
    assert!(matches!(
        Store::open(&t.db, euid(), Opener::Module),
        Err(StoreError::UnknownVersion { .. })
    ));
    // init does not downgrade or touch a newer store either.
    assert!(matches!(
        Store::init(&t.db, euid(), &mut rng()),
        Err(StoreError::UnknownVersion { .. })
    ));
    c.pragma_update(None, "user_version", 0).unwrap();
    c.pragma_update(None, "application_id", 0).unwrap();
    assert!(matches!(
        Store::open(&t.db, euid(), Opener::Module),
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
        Store::init(&foreign.db, euid(), &mut rng()),
        Err(StoreError::Foreign { .. })
    ));
}

#[test]
fn corrupt_store_is_reported_as_corruption() {
    let t = TestStore::new();
    t.init();
    std::fs::write(&t.db, vec![0x5a; 8192]).unwrap();
    let e = Store::open(&t.db, euid(), Opener::Module).err().unwrap();
    assert!(e.is_corruption(), "{e}");
}

#[test]
fn right_password_logs_in_and_everything_else_is_refused() {
    let t = TestStore::new();
    let mut s = t.init();
    let sh = FakeShadow::default();
    let (_, alice_imap) = gen(&mut s, "alice", &["imap"], "Phone", &sh);
    let (_, bob_imap) = gen(&mut s, "bob", &["imap"], "Phone", &sh);
    assert!(ok(&login(&mut s, "alice", "imap", &alice_imap, NOW, &sh)));
    assert!(ok(&login(
        &mut s,
        "alice",
        "imap",
        &alice_imap.to_uppercase().replace('-', " "),
        NOW,
        &sh
    )));
    assert_eq!(
        login(&mut s, "alice", "imap", "aaaa-bbbb-cccc-dddd", NOW, &sh),
        Outcome::Refused(Refusal::NoMatch)
    );
    assert_eq!(
        login(&mut s, "alice", "imap", &bob_imap, NOW, &sh),
        Outcome::Refused(Refusal::NoMatch),
        "another user's password"
    );
    assert_eq!(
        login(&mut s, "alice", "pop3", &alice_imap, NOW, &sh),
        Outcome::Refused(Refusal::NoneForService)
    );
    assert_eq!(
        login(&mut s, "carol", "imap", &alice_imap, NOW, &sh),
        Outcome::Refused(Refusal::NoPasswords)
    );
    assert_eq!(
        login(&mut s, "Alice", "imap", &alice_imap, NOW, &sh),
        Outcome::Refused(Refusal::NoPasswords),
        "user names compare byte for byte"
    );
}

#[test]
fn any_service_works_everywhere_but_privilege_services() {
    let t = TestStore::new();
    let mut s = t.init();
    let sh = FakeShadow::default();
    let (_, any) = gen(&mut s, "alice", &["*"], "Laptop", &sh);
    assert!(ok(&login(&mut s, "alice", "imap", &any, NOW, &sh)));
    assert!(ok(&login(&mut s, "alice", "submission", &any, NOW, &sh)));
    for svc in [
        "sudo",
        "su",
        "login",
        "passwd",
        "polkit-1",
        "sshd",
        "doas",
        "gdm-password",
    ] {
        assert_eq!(
            login(&mut s, "alice", svc, &any, NOW, &sh),
            Outcome::Refused(Refusal::NoneForService),
            "{svc}"
        );
    }
    let (_, sudo) = gen(&mut s, "alice", &["sudo"], "Explicit sudo", &sh);
    assert!(ok(&login(&mut s, "alice", "sudo", &sudo, NOW, &sh)));
}

#[test]
fn revoked_and_expired_passwords_never_authenticate_and_revoke_erases_the_hash() {
    let t = TestStore::new();
    let mut s = t.init();
    let sh = FakeShadow::default();
    let (id, pw) = gen(&mut s, "alice", &["imap"], "Phone", &sh);
    let (_, short) = gen_at(
        &mut s,
        "alice",
        &["imap"],
        "Short",
        &sh,
        NOW,
        Some(NOW + 3600),
    );
    assert!(
        ok(&login(&mut s, "alice", "imap", &short, NOW + 3600, &sh)),
        "valid through its last second"
    );
    assert!(!ok(&login(
        &mut s,
        "alice",
        "imap",
        &short,
        NOW + 3601,
        &sh
    )));
    admin::revoke(
        &mut s,
        "alice",
        &RevokeTarget::Id(id),
        Some("lost phone"),
        NOW + 10,
    )
    .unwrap();
    assert!(!ok(&login(&mut s, "alice", "imap", &pw, NOW + 20, &sh)));
    let c = Connection::open(&t.db).unwrap();
    let (phc, tag, salt, reason): (Option<String>, Option<i64>, Option<Vec<u8>>, String) = c
        .query_row(
            "SELECT phc, tag, tag_salt, revoked_reason FROM passwords WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!((phc, tag, salt), (None, None, None));
    assert_eq!(reason, "lost phone");
    assert!(matches!(
        admin::revoke(&mut s, "alice", &RevokeTarget::Id(id), None, NOW + 30),
        Err(AdminError::NotFound(_))
    ));
}

#[test]
fn last_use_is_recorded_and_throttled() {
    let t = TestStore::new();
    let mut s = t.init();
    let sh = FakeShadow::default();
    let (_, pw) = gen(&mut s, "alice", &["imap"], "Phone", &sh);
    assert!(ok(&login(&mut s, "alice", "imap", &pw, NOW + 100, &sh)));
    let row = |s: &mut Store| {
        admin::list(s, Some("alice"), false, NOW, &sh)
            .unwrap()
            .0
            .remove(0)
    };
    let r = row(&mut s);
    assert_eq!(r.last_used_at, Some(NOW + 100));
    assert_eq!(r.last_used_service.as_deref(), Some("imap"));
    assert_eq!(r.last_used_rhost.as_deref(), Some("203.0.113.7"));
    assert!(ok(&login(&mut s, "alice", "imap", &pw, NOW + 130, &sh)));
    assert_eq!(
        row(&mut s).last_used_at,
        Some(NOW + 100),
        "within 60 s: not rewritten"
    );
    assert!(ok(&login(&mut s, "alice", "imap", &pw, NOW + 160, &sh)));
    assert_eq!(row(&mut s).last_used_at, Some(NOW + 160));
}

#[test]
fn verify_without_side_effects_records_nothing() {
    let t = TestStore::new();
    let mut s = t.init();
    let sh = FakeShadow::default();
    let (_, pw) = gen(&mut s, "alice", &["imap"], "Phone", &sh);
    let secret = NormalizedSecret::from_candidate(pw.as_bytes()).unwrap();
    let req = LoginRequest {
        user: "alice",
        service: "imap",
        rhost: None,
        now: NOW,
        side_effects: false,
    };
    let out = authenticate(&mut s, &req, &secret, &mut HeapMemory::default(), &sh).unwrap();
    assert!(ok(&out));
    let r = admin::list(&mut s, Some("alice"), false, NOW, &sh)
        .unwrap()
        .0
        .remove(0);
    assert_eq!(r.last_used_at, None);
}

#[test]
fn labels_are_unique_among_active_passwords_ignoring_case() {
    let t = TestStore::new();
    let mut s = t.init();
    let sh = FakeShadow::default();
    let (id, _) = gen(&mut s, "alice", &["imap"], "iPhone Mail", &sh);
    let req = GenerateRequest {
        user: "alice",
        scope: Scope::only(["imap"]).unwrap(),
        label: "IPHONE mail",
        expires_at: None,
    };
    let e = admin::generate(&mut s, &req, NOW, &mut rng(), &sh, &mut accept)
        .err()
        .unwrap();
    assert!(matches!(e, AdminError::DuplicateLabel { .. }), "{e}");
    // Another user may use the label, and so may alice once the first is revoked.
    gen(&mut s, "bob", &["imap"], "iPhone Mail", &sh);
    admin::revoke(
        &mut s,
        "alice",
        &RevokeTarget::Label("iphone MAIL"),
        None,
        NOW,
    )
    .unwrap();
    assert!(admin::generate(&mut s, &req, NOW, &mut rng(), &sh, &mut accept).is_ok());
    // Nothing was half-written by the refused attempt: one generated event per success.
    let h = admin::history(&s, "alice", NOW).unwrap();
    let generated = h.iter().filter(|e| e.event == "generated").count();
    assert_eq!(generated, 2);
    assert!(h
        .iter()
        .any(|e| e.event == "revoked" && e.password_id == Some(id)));
}

#[test]
fn the_active_limit_counts_only_active_passwords_and_is_configurable() {
    let t = TestStore::new();
    let mut s = t.init();
    let sh = FakeShadow::default();
    admin::set_max_active(&mut s, 3).unwrap();
    assert_eq!(admin::max_active(&s).unwrap(), 3);
    gen(&mut s, "alice", &["imap"], "one", &sh);
    gen_at(&mut s, "alice", &["imap"], "two", &sh, NOW, Some(NOW + 10));
    let (id3, _) = gen(&mut s, "alice", &["imap"], "three", &sh);
    let req = |label| GenerateRequest {
        user: "alice",
        scope: Scope::only(["imap"]).unwrap(),
        label,
        expires_at: None,
    };
    assert!(matches!(
        admin::generate(&mut s, &req("four"), NOW, &mut rng(), &sh, &mut accept),
        Err(AdminError::LimitReached { limit: 3, .. })
    ));
    admin::revoke(&mut s, "alice", &RevokeTarget::Id(id3), None, NOW).unwrap();
    admin::generate(&mut s, &req("four"), NOW, &mut rng(), &sh, &mut accept).unwrap();
    // "two" has expired by NOW + 11, freeing a place.
    admin::generate(&mut s, &req("five"), NOW + 11, &mut rng(), &sh, &mut accept).unwrap();
    assert!(admin::set_max_active(&mut s, 0).is_err());
    assert_eq!(admin::max_active(&s).unwrap(), 3);
}

#[test]
fn ids_are_never_reused() {
    let t = TestStore::new();
    let mut s = t.init();
    let sh = FakeShadow::default();
    let (a, _) = gen(&mut s, "alice", &["imap"], "a", &sh);
    admin::revoke(&mut s, "alice", &RevokeTarget::Id(a), None, NOW).unwrap();
    let c = Connection::open(&t.db).unwrap();
    c.execute("DELETE FROM passwords WHERE id = ?1", [a])
        .unwrap();
    let (b, _) = gen(&mut s, "alice", &["imap"], "b", &sh);
    assert!(b > a);
}

#[test]
fn list_and_history_show_statuses_and_lifecycle() {
    let t = TestStore::new();
    let mut s = t.init();
    let sh = FakeShadow::default();
    let (a, _) = gen(&mut s, "alice", &["imap"], "a", &sh);
    let (b, _) = gen_at(&mut s, "alice", &["imap"], "b", &sh, NOW, Some(NOW + 50));
    let (c, _) = gen(&mut s, "alice", &["imap"], "c", &sh);
    admin::revoke(&mut s, "alice", &RevokeTarget::Id(c), None, NOW + 10).unwrap();
    let later = NOW + 100;
    let (active, _) = admin::list(&mut s, Some("alice"), false, later, &sh).unwrap();
    assert_eq!(active.iter().map(|r| r.id).collect::<Vec<_>>(), vec![a]);
    let (all, _) = admin::list(&mut s, None, true, later, &sh).unwrap();
    let statuses: Vec<_> = all.iter().map(|r| Status::of(r, later)).collect();
    assert_eq!(
        statuses,
        vec![Status::Active, Status::Expired, Status::Revoked]
    );
    let h = admin::history(&s, "alice", later).unwrap();
    let seq: Vec<_> = h
        .iter()
        .map(|e| (e.event.as_str(), e.password_id.unwrap()))
        .collect();
    assert_eq!(
        seq,
        vec![
            ("generated", a),
            ("generated", b),
            ("generated", c),
            ("revoked", c),
            ("expired", b)
        ]
    );
    assert_eq!(h[4].at, NOW + 50);
    assert_eq!(h[3].reason.as_deref(), Some(admin::DEFAULT_REVOKE_REASON));
}

#[test]
fn revoke_all_revokes_every_unrevoked_password_of_that_user_only() {
    let t = TestStore::new();
    let mut s = t.init();
    let sh = FakeShadow::default();
    gen(&mut s, "alice", &["imap"], "a", &sh);
    gen(&mut s, "alice", &["imap"], "b", &sh);
    let (_, bob) = gen(&mut s, "bob", &["imap"], "a", &sh);
    let done = admin::revoke(
        &mut s,
        "alice",
        &RevokeTarget::All,
        Some("offboarding"),
        NOW,
    )
    .unwrap();
    assert_eq!(done.len(), 2);
    assert!(ok(&login(&mut s, "bob", "imap", &bob, NOW, &sh)));
    assert!(matches!(
        admin::revoke(&mut s, "alice", &RevokeTarget::All, None, NOW),
        Err(AdminError::NotFound(_))
    ));
}

#[test]
fn fingerprint_unchanged_changed_locked_unavailable_and_not_taken() {
    let t = TestStore::new();
    let mut s = t.init();
    let sh = FakeShadow::default();
    sh.set("alice", "$y$j9T$one$hash");
    let (_, pw) = gen(&mut s, "alice", &["imap"], "Phone", &sh);
    let (_, virt) = gen(&mut s, "vuser@example.org", &["imap"], "Phone", &sh);
    assert!(
        ok(&login(&mut s, "alice", "imap", &pw, NOW, &sh)),
        "unchanged"
    );

    sh.set("alice", "!$y$j9T$one$hash");
    assert_eq!(
        login(&mut s, "alice", "imap", &pw, NOW, &sh),
        Outcome::Refused(Refusal::AccountLocked)
    );
    sh.set("alice", "$y$j9T$one$hash");
    assert!(
        ok(&login(&mut s, "alice", "imap", &pw, NOW, &sh)),
        "unlocked again"
    );

    sh.unavailable("alice");
    let secret = NormalizedSecret::from_candidate(pw.as_bytes()).unwrap();
    let req = LoginRequest {
        user: "alice",
        service: "imap",
        rhost: None,
        now: NOW,
        side_effects: true,
    };
    assert!(authenticate(&mut s, &req, &secret, &mut HeapMemory::default(), &sh).is_err());

    // A wrong guess never triggers the comparison, so it wipes nothing.
    sh.set("alice", "$y$j9T$two$hash");
    assert_eq!(
        login(&mut s, "alice", "imap", "aaaa-bbbb-cccc-dddd", NOW, &sh),
        Outcome::Refused(Refusal::NoMatch)
    );
    let c = Connection::open(&t.db).unwrap();
    let revoked: i64 = c
        .query_row(
            "SELECT count(*) FROM passwords WHERE revoked_at IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(revoked, 0);

    assert_eq!(
        login(&mut s, "alice", "imap", &pw, NOW + 5, &sh),
        Outcome::Refused(Refusal::PrimaryChanged { wiped: 1 })
    );
    let (rows, _) = admin::list(&mut s, Some("alice"), true, NOW + 6, &sh).unwrap();
    assert_eq!(
        rows[0].revoked_reason.as_deref(),
        Some("primary password changed")
    );
    let h = admin::history(&s, "alice", NOW + 6).unwrap();
    assert_eq!(h.last().unwrap().event, "wiped");
    // A password generated after the change works and carries the new fingerprint.
    let (_, fresh) = gen(&mut s, "alice", &["imap"], "Phone", &sh);
    assert!(ok(&login(&mut s, "alice", "imap", &fresh, NOW + 7, &sh)));
    // The virtual user never had a fingerprint and is untouched.
    assert!(ok(&login(
        &mut s,
        "vuser@example.org",
        "imap",
        &virt,
        NOW + 8,
        &sh
    )));
}

#[test]
fn generate_and_list_wipe_against_a_stale_fingerprint_first() {
    let t = TestStore::new();
    let mut s = t.init();
    let sh = FakeShadow::default();
    sh.set("alice", "$y$old");
    let (_, old) = gen(&mut s, "alice", &["imap"], "Old", &sh);
    sh.set("alice", "$y$new");
    let (_, notices) = admin::list(&mut s, Some("alice"), false, NOW, &sh).unwrap();
    assert_eq!(
        notices,
        vec![Notice::Wiped {
            user: "alice".into(),
            count: 1
        }]
    );
    assert!(!ok(&login(&mut s, "alice", "imap", &old, NOW, &sh)));
    sh.set("alice", "$y$newer");
    let (_, pw) = gen(&mut s, "alice", &["imap"], "New", &sh);
    sh.set("alice", "$y$newest");
    let req = GenerateRequest {
        user: "alice",
        scope: Scope::only(["imap"]).unwrap(),
        label: "Newest",
        expires_at: None,
    };
    let g = admin::generate(&mut s, &req, NOW, &mut rng(), &sh, &mut accept).unwrap();
    assert_eq!(
        g.notices,
        vec![Notice::Wiped {
            user: "alice".into(),
            count: 1
        }]
    );
    assert!(!ok(&login(&mut s, "alice", "imap", &pw, NOW, &sh)));
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
        Store::init(&t.db, euid(), &mut rng()),
        Err(StoreError::KeyLost { .. })
    ));
    assert!(matches!(
        Store::open(&t.db, euid(), Opener::Module),
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
    let mut copy = Store::open(&dest, euid(), Opener::Module).unwrap();
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
    let mut reader = Store::open(&t.db, euid(), Opener::Module).unwrap();
    let start = std::time::Instant::now();
    assert!(ok(&login(&mut reader, "alice", "imap", &pw, NOW, &sh)));
    assert!(
        start.elapsed() < std::time::Duration::from_secs(2),
        "last-used write gave up quickly"
    );
    c.execute_batch("COMMIT").unwrap();
    let r = admin::list(&mut s, Some("alice"), false, NOW, &sh)
        .unwrap()
        .0
        .remove(0);
    assert_eq!(
        r.last_used_at, None,
        "the locked write was skipped, the login succeeded"
    );
}

#[test]
fn no_primary_password_is_not_a_lock_and_a_first_one_keeps_app_passwords() {
    let t = TestStore::new();
    let mut s = t.init();
    let sh = FakeShadow::default();
    sh.set("alice", "!");
    let req = GenerateRequest {
        user: "alice",
        scope: Scope::only(["imap"]).unwrap(),
        label: "Phone",
        expires_at: None,
    };
    let g = admin::generate(&mut s, &req, NOW, &mut rng(), &sh, &mut accept).unwrap();
    assert_eq!(
        g.notices,
        vec![Notice::NoPrimaryPassword {
            user: "alice".into()
        }]
    );
    let pw = g.secret.display().to_string();
    assert!(ok(&login(&mut s, "alice", "imap", &pw, NOW, &sh)));
    sh.set("alice", "*");
    assert!(
        ok(&login(&mut s, "alice", "imap", &pw, NOW, &sh)),
        "* is the same state"
    );
    sh.set("alice", "$y$first");
    assert!(
        ok(&login(&mut s, "alice", "imap", &pw, NOW, &sh)),
        "first password set"
    );
    sh.set("alice", "!$y$first");
    assert_eq!(
        login(&mut s, "alice", "imap", &pw, NOW, &sh),
        Outcome::Refused(Refusal::AccountLocked)
    );
    sh.set("alice", "$y$second");
    assert_eq!(
        login(&mut s, "alice", "imap", &pw, NOW, &sh),
        Outcome::Refused(Refusal::PrimaryChanged { wiped: 1 }),
        "the first password was recorded: changing it is a change"
    );
}

#[test]
fn a_removed_account_revokes_its_passwords_with_that_reason() {
    let t = TestStore::new();
    let mut s = t.init();
    let sh = FakeShadow::default();
    sh.set("alice", "$y$x");
    let (_, pw) = gen(&mut s, "alice", &["imap"], "Phone", &sh);
    gen(&mut s, "bob@example.org", &["imap"], "Phone", &sh);
    sh.remove("alice");
    let (_, notices) = admin::list(&mut s, None, false, NOW, &sh).unwrap();
    assert_eq!(
        notices,
        vec![Notice::UserRemoved {
            user: "alice".into(),
            count: 1
        }]
    );
    let (rows, _) = admin::list(&mut s, Some("alice"), true, NOW, &sh).unwrap();
    assert_eq!(rows[0].revoked_reason.as_deref(), Some("user removed"));
    assert_eq!(
        login(&mut s, "alice", "imap", &pw, NOW, &sh),
        Outcome::Refused(Refusal::NoPasswords)
    );
    // A removed user seen first at login is revoked there.
    let t2 = TestStore::new();
    let mut s2 = t2.init();
    let sh2 = FakeShadow::default();
    sh2.set("carol", "$y$x");
    let (_, pw2) = gen(&mut s2, "carol", &["imap"], "Phone", &sh2);
    sh2.remove("carol");
    assert_eq!(
        login(&mut s2, "carol", "imap", &pw2, NOW, &sh2),
        Outcome::Refused(Refusal::UserRemoved { revoked: 1 })
    );
}

#[test]
fn a_store_refuses_a_key_it_was_not_made_with() {
    let t = TestStore::new();
    t.init();
    let other = TestStore::new();
    // Not the seeded source: that would make the same key twice.
    Store::init(&other.db, euid(), &mut rand::rngs::OsRng).unwrap();
    std::fs::copy(other.dir.path().join("key"), t.dir.path().join("key")).unwrap();
    assert!(matches!(
        Store::open(&t.db, euid(), Opener::Module),
        Err(StoreError::KeyMismatch { .. })
    ));
    assert!(matches!(
        Store::init(&t.db, euid(), &mut rng()),
        Err(StoreError::KeyMismatch { .. })
    ));
}
