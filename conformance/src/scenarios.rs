//! The behaviours, each a function of a backend.

pub use crate::beyond::*;
use crate::support::*;
use apppass_core::admin::{self, AdminError, GenerateRequest, Notice};
use apppass_core::check_primary::{self, Found};
use apppass_core::hashing::HeapMemory;
use apppass_core::login::{authenticate, LoginRequest, Outcome, Refusal};
use apppass_core::primary::{DirectoryFirst, Observed};
use apppass_core::secret::NormalizedSecret;
use apppass_core::store::{Actor, EventKind, FingerprintSource, SignInAttempts, Status, Store};
use apppass_core::{revocation, settings};

fn events(s: &mut dyn Store, user: &str, now: i64) -> Vec<(EventKind, i64)> {
    admin::history(s, user, now)
        .unwrap()
        .iter()
        .map(|e| (e.kind, e.password_id.unwrap_or(0)))
        .collect()
}

pub fn right_password_logs_in_and_everything_else_is_refused(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    let (_, alice_imap) = gen(s, "alice", &["imap"], "Phone", &sh);
    let (_, bob_imap) = gen(s, "bob", &["imap"], "Phone", &sh);
    assert!(ok(&login(s, "alice", "imap", &alice_imap, NOW, &sh)));
    let retyped = alice_imap.to_uppercase().replace('-', " ");
    assert!(ok(&login(s, "alice", "imap", &retyped, NOW, &sh)));
    assert_eq!(
        login(s, "alice", "imap", "aaaa-bbbb-cccc-dddd", NOW, &sh),
        Outcome::Refused(Refusal::NoMatch)
    );
    assert_eq!(
        login(s, "alice", "imap", &bob_imap, NOW, &sh),
        Outcome::Refused(Refusal::NoMatch),
        "another user's password"
    );
    assert_eq!(
        login(s, "alice", "pop3", "aaaa-bbbb-cccc-dddd", NOW, &sh),
        Outcome::Refused(Refusal::NoneForService)
    );
    assert!(
        matches!(
            login(s, "alice", "pop3", &alice_imap, NOW, &sh),
            Outcome::Refused(Refusal::NotForService { .. })
        ),
        "the right secret for another service is named as such in syslog"
    );
    assert_eq!(
        login(s, "carol", "imap", &alice_imap, NOW, &sh),
        Outcome::Refused(Refusal::NoPasswords)
    );
    assert_eq!(
        login(s, "Alice", "imap", &alice_imap, NOW, &sh),
        Outcome::Refused(Refusal::NoPasswords),
        "user names compare byte for byte"
    );
}

pub fn any_service_works_everywhere_but_privilege_services(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    let (_, any) = gen(s, "alice", &["*"], "Laptop", &sh);
    assert!(ok(&login(s, "alice", "imap", &any, NOW, &sh)));
    assert!(ok(&login(s, "alice", "submission", &any, NOW, &sh)));
    for svc in [
        "sudo",
        "su",
        "login",
        "passwd",
        "polkit-1",
        "sshd",
        "doas",
        "gdm-password",
        "apppass",
        "apppass-web",
    ] {
        assert!(
            matches!(
                login(s, "alice", svc, &any, NOW, &sh),
                Outcome::Refused(Refusal::NotForService { .. })
            ),
            "{svc}"
        );
    }
    let (_, sudo) = gen(s, "alice", &["sudo"], "Explicit sudo", &sh);
    assert!(ok(&login(s, "alice", "sudo", &sudo, NOW, &sh)));
}

pub fn revoked_and_expired_passwords_never_authenticate_and_their_hash_goes_after_30_days(
    b: &dyn Backend,
) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    let (id, pw) = gen(s, "alice", &["imap"], "Phone", &sh);
    let (_, short) = gen_at(s, "alice", &["imap"], "Short", &sh, NOW, Some(NOW + 3600));
    assert!(
        ok(&login(s, "alice", "imap", &short, NOW + 3600, &sh)),
        "valid through its last second"
    );
    assert!(!ok(&login(s, "alice", "imap", &short, NOW + 3601, &sh)));
    revocation::revoke(
        s,
        "alice",
        &revocation::RevokeTarget::Id(id),
        Some("lost phone"),
        NOW + 10,
        ADMIN,
    )
    .unwrap();
    assert!(!ok(&login(s, "alice", "imap", &pw, NOW + 20, &sh)));
    let snap = s.snapshot().unwrap();
    let (row, cred) = snap.passwords.iter().find(|(p, _)| p.id == id).unwrap();
    assert!(cred.is_some(), "the tripwire keeps the hash for 30 days");
    let revoked = row.revoked.as_ref().unwrap();
    assert_eq!(
        (revoked.at, revoked.reason.as_deref()),
        (NOW + 10, Some("lost phone"))
    );
    assert!(matches!(
        revocation::revoke(
            s,
            "alice",
            &revocation::RevokeTarget::Id(id),
            None,
            NOW + 30,
            ADMIN
        ),
        Err(AdminError::NotFound(_))
    ));
    // 30 days on, the next change erases both credentials.
    let later = NOW + 10 + 30 * 86_400 + 1;
    gen_at(s, "alice", &["imap"], "Next", &sh, later, None);
    let snap = s.snapshot().unwrap();
    let (_, cred) = snap.passwords.iter().find(|(p, _)| p.id == id).unwrap();
    assert!(cred.is_none(), "the hash and tag are erased");
    let (_, short_cred) = snap
        .passwords
        .iter()
        .find(|(p, _)| p.label == "Short")
        .unwrap();
    assert!(short_cred.is_some(), "expired less than 30 days before");
    assert_eq!(
        login(s, "alice", "imap", &pw, later, &sh),
        Outcome::Refused(Refusal::NoMatch),
        "an erased password is just a wrong one"
    );
}

pub fn last_use_is_recorded_and_throttled(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    let (_, pw) = gen(s, "alice", &["imap"], "Phone", &sh);
    assert!(ok(&login(s, "alice", "imap", &pw, NOW + 100, &sh)));
    let used = only_password(s, "alice", &sh).last_used.unwrap();
    assert_eq!(used.at, NOW + 100);
    assert_eq!(used.service.as_deref(), Some("imap"));
    assert_eq!(used.rhost.as_deref(), Some("203.0.113.7"));
    assert!(ok(&login(s, "alice", "imap", &pw, NOW + 130, &sh)));
    assert_eq!(
        only_password(s, "alice", &sh).last_used.unwrap().at,
        NOW + 100,
        "within 60 s: not rewritten"
    );
    assert!(ok(&login(s, "alice", "imap", &pw, NOW + 160, &sh)));
    assert_eq!(
        only_password(s, "alice", &sh).last_used.unwrap().at,
        NOW + 160
    );
}

pub fn verify_without_side_effects_records_nothing(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    let (_, pw) = gen(s, "alice", &["imap"], "Phone", &sh);
    let secret = NormalizedSecret::from_candidate(pw.as_bytes()).unwrap();
    let req = LoginRequest {
        user: "alice",
        service: "imap",
        rhost: None,
        now: NOW,
        side_effects: false,
    };
    let out = authenticate(s, &req, &secret, &mut HeapMemory::default(), &sh).unwrap();
    assert!(ok(&out));
    assert_eq!(only_password(s, "alice", &sh).last_used, None);
}

pub fn labels_are_unique_among_active_passwords_ignoring_case(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    let (id, _) = gen(s, "alice", &["imap"], "iPhone Mail", &sh);
    let req = GenerateRequest {
        networks: apppass_core::networks::Networks::anywhere(),
        replaces: None,
        user: "alice",
        scope: scope(&["imap"]),
        label: "IPHONE mail",
        expires_at: None,
        by: ADMIN,
    };
    let e = admin::generate(s, &req, NOW, &mut rng(), &sh, &mut accept)
        .err()
        .unwrap();
    assert!(matches!(e, AdminError::DuplicateLabel { .. }), "{e}");
    // Another user may use the label, and so may alice once the first is revoked.
    gen(s, "bob", &["imap"], "iPhone Mail", &sh);
    revocation::revoke(
        s,
        "alice",
        &revocation::RevokeTarget::Label("iphone MAIL"),
        None,
        NOW,
        ADMIN,
    )
    .unwrap();
    assert!(admin::generate(s, &req, NOW, &mut rng(), &sh, &mut accept).is_ok());
    // Nothing was half-written by the refused attempt: one generated event per success.
    let h = events(s, "alice", NOW);
    let generated = h.iter().filter(|e| e.0 == EventKind::Generated).count();
    assert_eq!(generated, 2);
    assert!(h.contains(&(EventKind::Revoked, id)));
}

pub fn the_active_limit_counts_only_active_passwords_and_is_configurable(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    settings::set_max_active(s, 3).unwrap();
    assert_eq!(settings::max_active(s).unwrap(), 3);
    gen(s, "alice", &["imap"], "one", &sh);
    gen_at(s, "alice", &["imap"], "two", &sh, NOW, Some(NOW + 10));
    let (id3, _) = gen(s, "alice", &["imap"], "three", &sh);
    let req = |label| GenerateRequest {
        networks: apppass_core::networks::Networks::anywhere(),
        replaces: None,
        user: "alice",
        scope: scope(&["imap"]),
        label,
        expires_at: None,
        by: ADMIN,
    };
    assert!(matches!(
        admin::generate(s, &req("four"), NOW, &mut rng(), &sh, &mut accept),
        Err(AdminError::LimitReached { limit: 3, .. })
    ));
    revocation::revoke(
        s,
        "alice",
        &revocation::RevokeTarget::Id(id3),
        None,
        NOW,
        ADMIN,
    )
    .unwrap();
    admin::generate(s, &req("four"), NOW, &mut rng(), &sh, &mut accept).unwrap();
    // "two" has expired by NOW + 11, freeing a place.
    admin::generate(s, &req("five"), NOW + 11, &mut rng(), &sh, &mut accept).unwrap();
    assert!(settings::set_max_active(s, 0).is_err());
    assert_eq!(settings::max_active(s).unwrap(), 3);
}

/// Eight writers on their own connections race for the last places: the
/// limit is decided inside the write transaction, so exactly `limit` win.
pub fn the_limit_holds_under_concurrent_writers(b: &dyn Backend) {
    let mut s = b.fresh();
    settings::set_max_active(s.as_mut(), 3).unwrap();
    let wins = std::sync::atomic::AtomicUsize::new(0);
    let start = std::sync::Barrier::new(8);
    std::thread::scope(|scope_| {
        for n in 0..8 {
            let (wins, start) = (&wins, &start);
            scope_.spawn(move || {
                let mut mine = b.open();
                let sh = FakeShadow::default();
                let label = format!("racer {n}");
                let req = GenerateRequest {
                    networks: apppass_core::networks::Networks::anywhere(),
                    replaces: None,
                    user: "alice",
                    scope: scope(&["imap"]),
                    label: &label,
                    expires_at: None,
                    by: ADMIN,
                };
                start.wait();
                match admin::generate(mine.as_mut(), &req, NOW, &mut rng(), &sh, &mut accept) {
                    Ok(_) => {
                        wins.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Err(AdminError::LimitReached { .. }) => {}
                    Err(e) => panic!("racer {n}: {e}"),
                }
            });
        }
    });
    assert_eq!(wins.into_inner(), 3);
    let listed = admin::list(
        s.as_mut(),
        Some("alice"),
        true,
        NOW,
        &FakeShadow::default(),
        ADMIN,
    )
    .unwrap()
    .passwords;
    assert_eq!(listed.len(), 3, "no loser left a row behind");
}

pub fn ids_are_never_reused(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    let (a, _) = gen(s, "alice", &["imap"], "a", &sh);
    revocation::revoke(
        s,
        "alice",
        &revocation::RevokeTarget::Id(a),
        None,
        NOW,
        ADMIN,
    )
    .unwrap();
    // A generate refused inside its transaction consumes nothing visible.
    let (b2, _) = gen(s, "bob", &["imap"], "b", &sh);
    let (c, _) = gen(s, "alice", &["imap"], "a", &sh);
    assert!(a < b2 && b2 < c, "{a} {b2} {c}");
}

pub fn list_and_history_show_statuses_and_lifecycle(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    let (a, _) = gen(s, "alice", &["imap"], "a", &sh);
    let (b2, _) = gen_at(s, "alice", &["imap"], "b", &sh, NOW, Some(NOW + 50));
    let (c, _) = gen(s, "alice", &["imap"], "c", &sh);
    revocation::revoke(
        s,
        "alice",
        &revocation::RevokeTarget::Id(c),
        None,
        NOW + 10,
        ADMIN,
    )
    .unwrap();
    let later = NOW + 100;
    let active = admin::list(s, Some("alice"), false, later, &sh, ADMIN)
        .unwrap()
        .passwords;
    assert_eq!(active.iter().map(|r| r.id).collect::<Vec<_>>(), vec![a]);
    let all = admin::list(s, None, true, later, &sh, ADMIN)
        .unwrap()
        .passwords;
    let statuses: Vec<_> = all.iter().map(|r| r.status(later)).collect();
    assert_eq!(
        statuses,
        vec![Status::Active, Status::Expired, Status::Revoked]
    );
    assert_eq!(
        events(s, "alice", later),
        vec![
            (EventKind::Generated, a),
            (EventKind::Generated, b2),
            (EventKind::Generated, c),
            (EventKind::Revoked, c),
            (EventKind::Expired, b2)
        ]
    );
    let h = admin::history(s, "alice", later).unwrap();
    assert_eq!(h[4].at, NOW + 50);
    assert_eq!(
        h[3].reason.as_deref(),
        Some(revocation::DEFAULT_REVOKE_REASON)
    );
    assert_eq!(h[0].by, ADMIN, "who generated");
    assert_eq!(h[3].by, ADMIN, "who revoked");
    assert_eq!(h[4].by, Actor::Module, "expiry is nobody's doing");
    assert_eq!(h[3].label.as_deref(), Some("c"));
}

pub fn revoke_all_revokes_every_unrevoked_password_of_that_user_only(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    gen(s, "alice", &["imap"], "a", &sh);
    gen(s, "alice", &["imap"], "b", &sh);
    let (_, bob) = gen(s, "bob", &["imap"], "a", &sh);
    let done = revocation::revoke(
        s,
        "alice",
        &revocation::RevokeTarget::All,
        Some("offboarding"),
        NOW,
        ADMIN,
    )
    .unwrap();
    assert_eq!(done.done.len(), 2);
    assert!(ok(&login(s, "bob", "imap", &bob, NOW, &sh)));
    assert!(matches!(
        revocation::revoke(s, "alice", &revocation::RevokeTarget::All, None, NOW, ADMIN),
        Err(AdminError::NotFound(_))
    ));
}

pub fn fingerprint_unchanged_changed_locked_unavailable_and_not_taken(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    sh.set("alice", "$y$j9T$one$hash");
    let (_, pw) = gen(s, "alice", &["imap"], "Phone", &sh);
    let (_, virt) = gen(s, "vuser@example.org", &["imap"], "Phone", &sh);
    assert!(ok(&login(s, "alice", "imap", &pw, NOW, &sh)), "unchanged");

    sh.set("alice", "!$y$j9T$one$hash");
    assert_eq!(
        login(s, "alice", "imap", &pw, NOW, &sh),
        Outcome::Refused(Refusal::AccountLocked)
    );
    sh.set("alice", "$y$j9T$one$hash");
    assert!(
        ok(&login(s, "alice", "imap", &pw, NOW, &sh)),
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
    assert!(authenticate(s, &req, &secret, &mut HeapMemory::default(), &sh).is_err());

    // A wrong guess never triggers the comparison, so it wipes nothing.
    sh.set("alice", "$y$j9T$two$hash");
    assert_eq!(
        login(s, "alice", "imap", "aaaa-bbbb-cccc-dddd", NOW, &sh),
        Outcome::Refused(Refusal::NoMatch)
    );
    let revoked = s
        .passwords(None)
        .unwrap()
        .iter()
        .filter(|p| p.revoked.is_some())
        .count();
    assert_eq!(revoked, 0);

    assert_eq!(
        login(s, "alice", "imap", &pw, NOW + 5, &sh),
        Outcome::Refused(Refusal::PrimaryChanged { wiped: 1 })
    );
    assert_eq!(s.fingerprint("alice").unwrap(), None, "a wipe forgets it");
    let row = only_password(s, "alice", &sh);
    assert_eq!(
        row.revoked.unwrap().reason.as_deref(),
        Some("primary password changed")
    );
    assert_eq!(
        events(s, "alice", NOW + 6).last().unwrap().0,
        EventKind::Wiped
    );
    // A password generated after the change works and carries the new fingerprint.
    let (_, fresh) = gen(s, "alice", &["imap"], "Phone", &sh);
    assert!(s.fingerprint("alice").unwrap().is_some());
    assert!(ok(&login(s, "alice", "imap", &fresh, NOW + 7, &sh)));
    // The virtual user never had a fingerprint and is untouched.
    assert!(ok(&login(
        s,
        "vuser@example.org",
        "imap",
        &virt,
        NOW + 8,
        &sh
    )));
}

/// A directory the test edits: each user's material, or that it knows
/// the user but gives nothing, or that it cannot be asked.
#[derive(Default)]
struct FakeDirectory {
    entries: std::cell::RefCell<std::collections::HashMap<String, Option<String>>>,
    down: std::cell::Cell<bool>,
}

impl apppass_core::primary::DirectorySource for FakeDirectory {
    fn source(&self) -> FingerprintSource {
        FingerprintSource::Dovecot
    }
    fn look_up(&self, user: &str) -> Observed {
        if self.down.get() {
            return Observed::Unavailable {
                source: FingerprintSource::Dovecot,
                why: "down".into(),
            };
        }
        match self.entries.borrow().get(user) {
            Some(Some(v)) => Observed::Value {
                source: FingerprintSource::Dovecot,
                material: zeroize::Zeroizing::new(v.as_bytes().to_vec()),
            },
            Some(None) => Observed::Nothing(FingerprintSource::Dovecot),
            None => Observed::Unknown(FingerprintSource::Dovecot),
        }
    }
}

/// A fingerprint remembers which source it came from: a directory's
/// change wipes, one made elsewhere does not; switching `primary` retakes
/// instead of wiping; a directory that gives nothing, does not know the
/// user or is down fails closed and revokes nothing; export keeps sources.
pub fn fingerprints_keep_their_source_and_a_directory_fails_closed(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    let dir = FakeDirectory::default();
    let both = DirectoryFirst {
        directory: &dir,
        shadow: &sh,
    };
    dir.entries
        .borrow_mut()
        .insert("ann@example.org".into(), Some("hash-one".into()));
    dir.entries
        .borrow_mut()
        .insert("bob@example.org".into(), Some("bob-one".into()));
    let (_, ann) = gen(s, "ann@example.org", &["imap"], "Phone", &both);
    let (_, bob) = gen(s, "bob@example.org", &["imap"], "Phone", &both);
    let recorded = s.fingerprint("ann@example.org").unwrap().unwrap();
    assert_eq!(recorded.source, FingerprintSource::Dovecot);
    assert!(ok(&login(s, "ann@example.org", "imap", &ann, NOW, &both)));

    // A system account the directory does not know keeps /etc/shadow's rule.
    sh.set("root2", "$y$j9T$one$hash");
    let (_, sys) = gen(s, "root2", &["imap"], "Phone", &both);
    assert_eq!(
        s.fingerprint("root2").unwrap().unwrap().source,
        FingerprintSource::Shadow
    );
    assert!(ok(&login(s, "root2", "imap", &sys, NOW, &both)));

    // Down, or giving nothing, or not knowing the user: fail closed.
    dir.down.set(true);
    let secret = NormalizedSecret::from_candidate(ann.as_bytes()).unwrap();
    let req = LoginRequest {
        user: "ann@example.org",
        service: "imap",
        rhost: None,
        now: NOW,
        side_effects: true,
    };
    assert!(authenticate(s, &req, &secret, &mut HeapMemory::default(), &both).is_err());
    assert!(matches!(
        admin::generate(
            s,
            &GenerateRequest {
                user: "ann@example.org",
                scope: scope(&["imap"]),
                networks: apppass_core::networks::Networks::anywhere(),
                label: "Laptop",
                expires_at: None,
                by: ADMIN,
                replaces: None,
            },
            NOW,
            &mut rng(),
            &both,
            &mut accept,
        ),
        Err(AdminError::PrimaryUnavailable { .. })
    ));
    // A listing is a read: everyone's passwords are shown, and the user
    // who could not be checked is named; nothing is revoked.
    let listed = admin::list(s, None, false, NOW, &both, ADMIN).unwrap();
    assert!(
        listed
            .notices
            .iter()
            .any(|n| matches!(n, Notice::NotChecked { user, .. } if user == "ann@example.org")),
        "{:?}",
        listed
            .notices
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    assert!(listed.passwords.iter().any(|p| p.user == "ann@example.org"));
    assert!(listed.passwords.iter().any(|p| p.user == "root2"));
    dir.down.set(false);
    dir.entries
        .borrow_mut()
        .insert("ann@example.org".into(), None);
    assert!(authenticate(s, &req, &secret, &mut HeapMemory::default(), &both).is_err());
    dir.entries.borrow_mut().remove("ann@example.org");
    assert!(authenticate(s, &req, &secret, &mut HeapMemory::default(), &both).is_err());
    assert_eq!(
        only_password(s, "bob@example.org", &both).revoked,
        None,
        "nothing was revoked"
    );

    // The directory no longer knowing her while /etc/shadow does (her
    // entry disabled there, say), or apppass.conf naming /etc/shadow
    // alone: her directory fingerprint is never handed over by itself.
    sh.set("ann@example.org", "$y$j9T$ann$hash");
    assert!(authenticate(s, &req, &secret, &mut HeapMemory::default(), &both).is_err());
    assert!(authenticate(s, &req, &secret, &mut HeapMemory::default(), &sh).is_err());
    assert_eq!(
        s.fingerprint("ann@example.org").unwrap().unwrap().source,
        FingerprintSource::Dovecot
    );
    // check-primary without --retake says so; with it, retakes.
    let report = check_primary::sweep(s, Some("ann@example.org"), &sh, NOW, ADMIN, false).unwrap();
    assert!(matches!(report.found[0].1, Found::NotChecked(_)));
    let report = check_primary::sweep(s, Some("ann@example.org"), &sh, NOW, ADMIN, true).unwrap();
    assert_eq!(report.found[0].1, Found::Retaken(FingerprintSource::Shadow));
    assert!(ok(&login(s, "ann@example.org", "imap", &ann, NOW, &sh)));
    assert_eq!(
        s.fingerprint("ann@example.org").unwrap().unwrap().source,
        FingerprintSource::Shadow
    );
    // And back to the directory: retaken again, nothing wiped.
    dir.entries
        .borrow_mut()
        .insert("ann@example.org".into(), Some("hash-one".into()));
    assert!(ok(&login(s, "ann@example.org", "imap", &ann, NOW, &both)));
    assert_eq!(
        s.fingerprint("ann@example.org").unwrap().unwrap().source,
        FingerprintSource::Dovecot
    );

    // Exported and imported, a fingerprint keeps its source.
    let snap = s.snapshot().unwrap();
    let mut other = b.separate();
    let text = apppass_core::transfer::export(&snap, NOW);
    let back = apppass_core::transfer::parse(&text).unwrap();
    apppass_core::transfer::import(other.as_mut(), &back).unwrap();
    assert_eq!(
        other
            .fingerprint("ann@example.org")
            .unwrap()
            .unwrap()
            .source,
        FingerprintSource::Dovecot
    );
    assert_eq!(
        other.fingerprint("root2").unwrap().unwrap().source,
        FingerprintSource::Shadow
    );

    // What is fingerprinted changed on purpose (another attribute): with
    // --retake, taken again and nothing revoked.
    dir.entries
        .borrow_mut()
        .insert("bob@example.org".into(), Some("bob-stamp".into()));
    let report = check_primary::sweep(s, Some("bob@example.org"), &both, NOW, ADMIN, true).unwrap();
    assert_eq!(
        report.found[0].1,
        Found::Retaken(FingerprintSource::Dovecot)
    );
    assert!(ok(&login(s, "bob@example.org", "imap", &bob, NOW, &both)));

    // The directory's reset wipes that user only.
    dir.entries
        .borrow_mut()
        .insert("ann@example.org".into(), Some("hash-two".into()));
    assert_eq!(
        login(s, "ann@example.org", "imap", &ann, NOW + 1, &both),
        Outcome::Refused(Refusal::PrimaryChanged { wiped: 1 })
    );
    assert!(ok(&login(
        s,
        "bob@example.org",
        "imap",
        &bob,
        NOW + 1,
        &both
    )));
}

pub fn generate_and_list_wipe_against_a_stale_fingerprint_first(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    sh.set("alice", "$y$old");
    let (_, old) = gen(s, "alice", &["imap"], "Old", &sh);
    sh.set("alice", "$y$new");
    let listing = admin::list(s, Some("alice"), false, NOW, &sh, ADMIN).unwrap();
    assert_eq!(
        listing.notices,
        vec![Notice::Wiped {
            user: "alice".into(),
            count: 1
        }]
    );
    assert!(listing
        .effects
        .iter()
        .any(|e| *e == apppass_core::effects::Effect::FlushAuthCache("alice".into())));
    assert!(!ok(&login(s, "alice", "imap", &old, NOW, &sh)));
    sh.set("alice", "$y$newer");
    let (_, pw) = gen(s, "alice", &["imap"], "New", &sh);
    sh.set("alice", "$y$newest");
    let g = imap_password(s, "alice", "Newest", &sh).unwrap();
    assert_eq!(
        g.notices,
        vec![Notice::Wiped {
            user: "alice".into(),
            count: 1
        }]
    );
    assert!(!ok(&login(s, "alice", "imap", &pw, NOW, &sh)));
}

pub fn no_primary_password_is_not_a_lock_and_a_first_one_keeps_app_passwords(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    sh.set("alice", "!");
    let g = imap_password(s, "alice", "Phone", &sh).unwrap();
    assert_eq!(
        g.notices,
        vec![Notice::NoPrimaryPassword {
            user: "alice".into()
        }]
    );
    let pw = g.secret.display().to_string();
    assert!(ok(&login(s, "alice", "imap", &pw, NOW, &sh)));
    sh.set("alice", "*");
    assert!(
        ok(&login(s, "alice", "imap", &pw, NOW, &sh)),
        "* is the same state"
    );
    sh.set("alice", "$y$first");
    assert!(
        ok(&login(s, "alice", "imap", &pw, NOW, &sh)),
        "first password set"
    );
    sh.set("alice", "!$y$first");
    assert_eq!(
        login(s, "alice", "imap", &pw, NOW, &sh),
        Outcome::Refused(Refusal::AccountLocked)
    );
    sh.set("alice", "$y$second");
    assert_eq!(
        login(s, "alice", "imap", &pw, NOW, &sh),
        Outcome::Refused(Refusal::PrimaryChanged { wiped: 1 }),
        "the first password was recorded: changing it is a change"
    );
}

pub fn a_removed_account_revokes_its_passwords_with_that_reason(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    sh.set("alice", "$y$x");
    let (_, pw) = gen(s, "alice", &["imap"], "Phone", &sh);
    gen(s, "bob@example.org", &["imap"], "Phone", &sh);
    sh.set("carol", "$y$x");
    let (_, pw2) = gen(s, "carol", &["imap"], "Phone", &sh);
    sh.remove("alice");
    let notices = admin::list(s, Some("alice"), false, NOW, &sh, ADMIN)
        .unwrap()
        .notices;
    assert_eq!(
        notices,
        vec![Notice::UserRemoved {
            user: "alice".into(),
            count: 1
        }]
    );
    let row = only_password(s, "alice", &sh);
    assert_eq!(row.revoked.unwrap().reason.as_deref(), Some("user removed"));
    assert!(matches!(
        login(s, "alice", "imap", &pw, NOW, &sh),
        Outcome::Refused(Refusal::Retired(t)) if t.reason == "user removed"
    ));
    // A removed user seen first at login is revoked there.
    sh.remove("carol");
    assert_eq!(
        login(s, "carol", "imap", &pw2, NOW, &sh),
        Outcome::Refused(Refusal::UserRemoved { revoked: 1 })
    );
}

pub fn an_undelivered_password_is_never_stored(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    let req = GenerateRequest {
        networks: apppass_core::networks::Networks::anywhere(),
        replaces: None,
        user: "alice",
        scope: scope(&["imap"]),
        label: "Phone",
        expires_at: None,
        by: ADMIN,
    };
    let mut broken = |_: &admin::Generated| -> std::io::Result<()> {
        Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    };
    assert!(matches!(
        admin::generate(s, &req, NOW, &mut rng(), &sh, &mut broken),
        Err(AdminError::Undelivered(_))
    ));
    assert!(s.passwords(None).unwrap().is_empty());
    assert!(s.events("alice").unwrap().is_empty());
}

pub fn a_revoke_on_one_connection_is_seen_at_the_next_login_on_another(b: &dyn Backend) {
    let mut admin_side = b.fresh();
    let mut front_end = b.front_end();
    let sh = FakeShadow::default();
    let (id, pw) = gen(admin_side.as_mut(), "alice", &["imap"], "Phone", &sh);
    assert!(ok(&login(
        front_end.as_mut(),
        "alice",
        "imap",
        &pw,
        NOW,
        &sh
    )));
    revocation::revoke(
        admin_side.as_mut(),
        "alice",
        &revocation::RevokeTarget::Id(id),
        None,
        NOW,
        ADMIN,
    )
    .unwrap();
    assert!(matches!(
        login(front_end.as_mut(), "alice", "imap", &pw, NOW + 1, &sh),
        Outcome::Refused(Refusal::Retired(t)) if t.id == id
    ));
}

pub fn a_replaced_key_revokes_what_its_fingerprints_protected(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    sh.set("alice", "$y$x");
    gen(s, "alice", &["imap"], "Phone", &sh);
    gen(s, "alice", &["imap"], "Laptop", &sh);
    let (_, virt) = gen(s, "v@example.org", &["imap"], "Phone", &sh);
    let (revoked, effects) = revocation::revoke_for_new_key(s, NOW + 1, ADMIN).unwrap();
    assert_eq!(revoked, vec![("alice".to_string(), 2)]);
    assert!(effects.iter().count() >= 2, "an audit line and a flush");
    assert!(s.fingerprinted_users().unwrap().is_empty());
    let reasons: Vec<_> = admin::history(s, "alice", NOW + 1)
        .unwrap()
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    assert_eq!(reasons, vec!["key replaced", "key replaced"]);
    assert!(ok(&login(s, "v@example.org", "imap", &virt, NOW + 2, &sh)));
}

pub fn export_and_import_keep_everything_and_import_needs_an_empty_store(b: &dyn Backend) {
    let mut s = b.fresh();
    let sh = FakeShadow::default();
    sh.set("alice", "$y$x");
    let (a, pw) = gen(s.as_mut(), "alice", &["imap", "pop3"], "Phone", &sh);
    let (r, _) = gen_at(s.as_mut(), "bob", &["*"], "Old", &sh, NOW, Some(NOW + 999));
    revocation::revoke(
        s.as_mut(),
        "bob",
        &revocation::RevokeTarget::Id(r),
        Some("gone"),
        NOW + 1,
        ADMIN,
    )
    .unwrap();
    let (_, virt) = gen(s.as_mut(), "v@example.org", &["imap"], "Phone", &sh);
    settings::set_max_active(s.as_mut(), 7).unwrap();
    apppass_core::settings::set_self_service_services(s.as_mut(), Some(&["imap".to_string()]))
        .unwrap();
    assert!(ok(&login(s.as_mut(), "alice", "imap", &pw, NOW + 200, &sh)));
    let snap = s.snapshot().unwrap();
    assert_eq!(snap.passwords.len(), 3);
    assert_eq!(snap.fingerprints.len(), 1);

    // Through the export document, into an empty store of the same kind.
    let text = apppass_core::transfer::export(&snap, NOW + 250);
    let read = apppass_core::transfer::parse(&text).unwrap();
    assert_eq!(read, snap, "the document carries everything");
    let mut t = b.separate();
    apppass_core::transfer::import(t.as_mut(), &read).unwrap();
    assert_eq!(t.snapshot().unwrap(), snap, "everything came across");
    // Fingerprints need the exported store's key beside the new one (the
    // move copies it); a user without one logs in straight away.
    assert!(ok(&login(
        t.as_mut(),
        "v@example.org",
        "imap",
        &virt,
        NOW + 300,
        &sh
    )));
    let (next, _) = gen(t.as_mut(), "carol", &["imap"], "New", &sh);
    assert!(next > a.max(r), "IDs continue after the imported ones");
    // A store that is not empty says so, and is left as it was.
    let before = t.snapshot().unwrap();
    assert!(matches!(
        apppass_core::transfer::import(t.as_mut(), &read),
        Err(apppass_core::transfer::TransferError::NotEmpty { .. })
    ));
    assert_eq!(t.snapshot().unwrap(), before);
}

/// What a login host does with its least-privileged connection: read
/// candidates, record last use, record a first fingerprint, wipe on a
/// changed primary password, revoke a removed user's passwords.
pub fn a_front_end_logs_in_records_use_and_wipes_with_its_own_rights(b: &dyn Backend) {
    let mut admin_side = b.fresh();
    let mut front = b.front_end();
    let sh = FakeShadow::default();
    sh.set("alice", "!");
    let (_, pw) = gen(admin_side.as_mut(), "alice", &["imap"], "Phone", &sh);
    sh.set("carol", "$y$x");
    let (_, carol) = gen(admin_side.as_mut(), "carol", &["imap"], "Phone", &sh);
    assert!(ok(&login(
        front.as_mut(),
        "alice",
        "imap",
        &pw,
        NOW + 100,
        &sh
    )));
    assert_eq!(
        only_password(admin_side.as_mut(), "alice", &sh)
            .last_used
            .map(|u| u.at),
        Some(NOW + 100)
    );
    sh.set("alice", "$y$first");
    assert!(ok(&login(
        front.as_mut(),
        "alice",
        "imap",
        &pw,
        NOW + 200,
        &sh
    )));
    sh.set("alice", "$y$second");
    assert_eq!(
        login(front.as_mut(), "alice", "imap", &pw, NOW + 300, &sh),
        Outcome::Refused(Refusal::PrimaryChanged { wiped: 1 })
    );
    sh.remove("carol");
    assert_eq!(
        login(front.as_mut(), "carol", "imap", &carol, NOW + 400, &sh),
        Outcome::Refused(Refusal::UserRemoved { revoked: 1 })
    );
    let kinds = events(admin_side.as_mut(), "alice", NOW + 500);
    assert_eq!(kinds.last().map(|k| k.0), Some(EventKind::Wiped));
    let last = admin::history(admin_side.as_mut(), "alice", NOW + 500)
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(last.by, Actor::Module, "a wipe at login is the module's");
}

/// Self-service policy lives in the store: the services users may choose,
/// and failed sign-ins counted per user within a window.
pub fn self_service_policy_and_failed_sign_ins_are_kept(b: &dyn Backend) {
    use apppass_core::selfservice::Refusal;
    use apppass_core::signin::{self, Verdict, Via};
    let mut s = b.fresh();
    let s = s.as_mut();
    assert!(
        settings::self_service_services(s).unwrap().is_empty(),
        "off by default"
    );
    let set = settings::set_self_service_services(
        s,
        Some(&[
            "Submission".to_string(),
            "imap".to_string(),
            "imap".to_string(),
        ]),
    )
    .unwrap();
    assert_eq!(set, ["imap", "submission"]);
    assert_eq!(
        settings::self_service_services(s).unwrap(),
        ["imap", "submission"]
    );
    for bad in ["sudo", "sshd", "apppass", "not a service"] {
        assert!(
            settings::set_self_service_services(s, Some(&[bad.to_string()])).is_err(),
            "{bad}"
        );
    }
    assert_eq!(
        settings::self_service_services(s).unwrap(),
        ["imap", "submission"]
    );
    // Attempts take their places before any answer: five under way close
    // the account to a sixth, however its name is spelt.
    let attempts: Vec<_> = (0..5)
        .map(|i| {
            signin::begin(s, "alice", NOW - 100 + i, &mut || false)
                .unwrap()
                .unwrap()
        })
        .collect();
    for name in ["alice", "ALICE", "Alice"] {
        assert!(matches!(
            signin::begin(s, name, NOW, &mut || false).unwrap(),
            Err(Refusal::LockedOut { .. })
        ));
    }
    // The whole sign-in refuses without asking the checker.
    let mut asked = false;
    let mut check = || {
        asked = true;
        Ok(Verdict::Accepted("alice".into()))
    };
    assert!(matches!(
        signin::sign_in(s, "aLiCe", Via::Web, NOW, &mut || false, &mut check).unwrap(),
        Err(Refusal::LockedOut { .. })
    ));
    assert!(!asked, "a locked-out account costs no PAM conversation");
    let right = |name: &str| {
        let name = name.to_string();
        move || Ok(Verdict::Accepted(name.clone()))
    };
    assert_eq!(
        signin::sign_in(s, "bob", Via::Web, NOW, &mut || false, &mut right("bob")).unwrap(),
        Ok("bob".to_string()),
        "another account is not affected"
    );
    // A right one is given back; the wrong ones stay counted.
    let mut attempts = attempts.into_iter();
    attempts.next().unwrap().accepted(s).unwrap();
    attempts.for_each(|a| a.refused(s));
    assert_eq!(
        s.signin_attempts("alice", 0, 0).unwrap(),
        SignInAttempts {
            failed: 4,
            under_way: 0
        }
    );
    let fifth = signin::begin(s, "alice", NOW, &mut || false)
        .unwrap()
        .unwrap();
    fifth.refused(s);
    // Failures alone fill the account: refused at once, with no waiting
    // for attempts that will not settle.
    let mut waited = false;
    assert!(signin::begin(s, "alice", NOW, &mut || {
        waited = true;
        true
    })
    .unwrap()
    .is_err());
    assert!(!waited, "a locked-out account is refused without waiting");
    assert_eq!(
        signin::sign_in(
            s,
            "alice",
            Via::Web,
            NOW + 15 * 60 + 1,
            &mut || false,
            &mut right("alice")
        )
        .unwrap(),
        Ok("alice".to_string()),
        "open again once the failures age out"
    );
    // A checker that cannot be asked costs the account nothing.
    for _ in 0..6 {
        assert!(
            signin::sign_in(s, "dave", Via::Web, NOW, &mut || false, &mut || Err(
                "down".into()
            ))
            .is_err()
        );
    }
    assert!(
        signin::sign_in(s, "dave", Via::Web, NOW, &mut || false, &mut right("dave"))
            .unwrap()
            .is_ok()
    );
    // The checker's own spelling of a name shares its counter.
    for _ in 0..5 {
        let mut wrong = || Ok(Verdict::Refused(Some("Carol@Example.org".into())));
        assert_eq!(
            signin::sign_in(s, "carol", Via::Web, NOW, &mut || false, &mut wrong).unwrap(),
            Err(Refusal::NotAccepted)
        );
    }
    assert!(matches!(
        signin::sign_in(
            s,
            "carol-alias",
            Via::Web,
            NOW,
            &mut || false,
            &mut right("carol@example.org")
        )
        .unwrap(),
        Err(Refusal::LockedOut { .. })
    ));
    // A name no account can have is refused and takes no room.
    let mut never = || -> Result<Verdict, String> { unreachable!("not asked") };
    assert_eq!(
        signin::sign_in(s, "a/b", Via::Web, NOW, &mut || false, &mut never).unwrap(),
        Err(Refusal::NotAccepted)
    );
    assert_eq!(
        s.signin_attempts("a/b", 0, 0).unwrap(),
        SignInAttempts::default()
    );
    // What was typed long ago takes no room: failures outside the window
    // are forgotten for everyone at the next attempt.
    signin::begin(s, "mallory-1", NOW - 3600, &mut || false)
        .unwrap()
        .unwrap()
        .refused(s);
    signin::begin(s, "dave", NOW, &mut || false)
        .unwrap()
        .unwrap()
        .refused(s);
    assert_eq!(s.signin_attempts("mallory-1", 0, 0).unwrap().failed, 0);
    assert_eq!(s.signin_attempts("dave", 0, 0).unwrap().failed, 1);
    // An attempt never settled (its process died) is under way for a
    // while, then counts as a failure.
    let _never_settled = signin::begin(s, "frank", NOW, &mut || false)
        .unwrap()
        .unwrap();
    let seen = |s: &mut dyn Store, at: i64| {
        s.signin_attempts(
            "frank",
            at - signin::WINDOW_SECS,
            at - signin::UNDER_WAY_SECS,
        )
        .unwrap()
    };
    assert_eq!(
        seen(s, NOW),
        SignInAttempts {
            failed: 0,
            under_way: 1
        }
    );
    assert_eq!(
        seen(s, NOW + signin::UNDER_WAY_SECS + 1),
        SignInAttempts {
            failed: 1,
            under_way: 0
        }
    );
    settings::set_self_service_services(s, None).unwrap();
    assert!(settings::self_service_services(s).unwrap().is_empty());
}

/// A store made by `init`, and used, holds exactly the schema apppass
/// makes: `doctor` reports nothing for it.
pub fn a_store_holds_exactly_the_schema_apppass_makes(b: &dyn Backend) {
    let mut s = b.fresh();
    assert_eq!(s.schema_drift().unwrap(), []);
    let sh = FakeShadow::default();
    let (id, _) = gen(s.as_mut(), "alice", &["imap"], "Phone", &sh);
    revocation::revoke(
        s.as_mut(),
        "alice",
        &revocation::RevokeTarget::Id(id),
        None,
        NOW,
        ADMIN,
    )
    .unwrap();
    assert_eq!(b.open().schema_drift().unwrap(), []);
}

/// Where a password logged in from is where its sessions are: the last
/// eight client addresses are kept (recorded at once from a new one, by
/// the login role), a revoke asks for those sessions to end, and a watcher
/// with the login role's rights reads the history by ID and finds the
/// passwords whose fixed expiry passed.
pub fn a_password_remembers_where_it_logged_in_from_and_signs_out_there(b: &dyn Backend) {
    use apppass_core::effects::Effect;
    use apppass_core::store::EventKind;
    let mut s = b.fresh();
    let s = s.as_mut();
    let mut front = b.front_end();
    let front = front.as_mut();
    let sh = FakeShadow::default();
    let (id, pw) = gen(s, "alice", &["imap"], "Phone", &sh);
    let (other, _) = gen(s, "alice", &["imap"], "Laptop", &sh);
    for i in 0..10 {
        let from = format!("192.0.2.{i}");
        assert!(ok(&login_from(
            front,
            "alice",
            &pw,
            NOW + 100 + i,
            &sh,
            &from
        )));
    }
    // A host name names no connection; the same address again moves up.
    assert!(ok(&login_from(
        front,
        "alice",
        &pw,
        NOW + 120,
        &sh,
        "mail.example.org"
    )));
    assert!(ok(&login_from(
        front,
        "alice",
        &pw,
        NOW + 121,
        &sh,
        "192.0.2.3"
    )));
    let rows = s.passwords(Some("alice")).unwrap();
    let mine = rows.iter().find(|p| p.id == id).unwrap();
    let want: Vec<String> = [3, 9, 8, 7, 6, 5, 4, 2]
        .iter()
        .map(|i| format!("192.0.2.{i}"))
        .collect();
    assert_eq!(mine.addresses, want, "the most recent eight, newest first");
    assert!(rows
        .iter()
        .find(|p| p.id == other)
        .unwrap()
        .addresses
        .is_empty());
    // A revoke asks for the cache to be forgotten, then those sessions ended.
    let before = s.last_event_id().unwrap();
    let r = revocation::revoke(
        s,
        "alice",
        &revocation::RevokeTarget::Id(id),
        None,
        NOW + 200,
        ADMIN,
    )
    .unwrap();
    let effects: Vec<&Effect> = r.effects.iter().collect();
    let flush = effects
        .iter()
        .position(|e| matches!(e, Effect::FlushAuthCache(u) if u == "alice"))
        .unwrap();
    let end = effects
        .iter()
        .position(|e| {
            matches!(e, Effect::EndSessions { user, passwords, addresses }
                if user == "alice" && passwords == &[id] && addresses == &want)
        })
        .unwrap();
    assert!(flush < end, "flushed before the sessions end: {effects:?}");
    // The history by ID, as a watcher with the login role reads it.
    let after = front.events_after(before, 100).unwrap();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].user, "alice");
    assert_eq!(after[0].event.kind, EventKind::Revoked);
    assert_eq!(after[0].event.password_id, Some(id));
    assert_eq!(front.last_event_id().unwrap(), after[0].id);
    assert!(front.events_after(after[0].id, 100).unwrap().is_empty());
    let all = front.events_after(0, 100).unwrap();
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "in ID order");
    assert_eq!(front.events_after(0, 2).unwrap().len(), 2, "bounded");
    // Fixed expiry, which no history entry announces.
    let (soon, _) = gen_at(s, "bob", &["imap"], "Tablet", &sh, NOW, Some(NOW + 1000));
    let expiring = |from: i64, until: i64, st: &mut dyn Store| -> Vec<i64> {
        st.expiring(from, until)
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect()
    };
    assert_eq!(expiring(NOW + 500, NOW + 1000, front), [soon]);
    assert!(expiring(NOW + 1000, NOW + 2000, front).is_empty());
    assert!(expiring(NOW, NOW + 999, front).is_empty());
    // Addresses go with the credentials, 30 days after the last login.
    gen_at(s, "carol", &["imap"], "Phone", &sh, NOW + 31 * 86_400, None);
    let rows = s.passwords(Some("alice")).unwrap();
    assert!(rows
        .iter()
        .find(|p| p.id == id)
        .unwrap()
        .addresses
        .is_empty());
}

/// `primary_until=`'s grace period: each login with the primary password
/// is counted per user and service by the login role, the client of the
/// latest kept, and reported the most recent first; `list` of one user
/// names them.
pub fn primary_password_logins_are_counted_per_user_and_service(b: &dyn Backend) {
    use apppass_core::primary_use;
    let mut admin_side = b.fresh();
    let mut front = b.front_end();
    assert_eq!(
        primary_use::report(admin_side.as_mut(), None, None).unwrap(),
        []
    );
    let count = |s: &mut dyn Store, user, service, at, rhost| {
        primary_use::record(s, user, service, at, rhost).unwrap();
    };
    count(front.as_mut(), "alice", "imap", NOW, Some("198.51.100.7"));
    count(
        front.as_mut(),
        "alice",
        "imap",
        NOW + 60,
        Some("198.51.100.8"),
    );
    // Recorded late (a slow host): the latest login's client stays.
    count(
        front.as_mut(),
        "alice",
        "imap",
        NOW + 30,
        Some("198.51.100.9"),
    );
    count(front.as_mut(), "alice", "smtp", NOW + 10, None);
    count(
        front.as_mut(),
        "bob",
        "imap",
        NOW + 120,
        Some(&"h".repeat(300)),
    );
    let all = primary_use::report(admin_side.as_mut(), None, None).unwrap();
    type Row<'a> = (&'a str, &'a str, i64, i64, i64, Option<&'a str>);
    let seen: Vec<Row> = all
        .iter()
        .map(|u| {
            (
                u.user.as_str(),
                u.service.as_str(),
                u.count,
                u.first_at,
                u.last_at,
                u.last_rhost.as_deref(),
            )
        })
        .collect();
    let long = "h".repeat(primary_use::MAX_RHOST);
    assert_eq!(
        seen,
        [
            ("bob", "imap", 1, NOW + 120, NOW + 120, Some(long.as_str())),
            ("alice", "imap", 3, NOW, NOW + 60, Some("198.51.100.8")),
            ("alice", "smtp", 1, NOW + 10, NOW + 10, None),
        ]
    );
    let imap = primary_use::report(admin_side.as_mut(), None, Some("imap")).unwrap();
    assert_eq!(imap.len(), 2);
    let alice = primary_use::report(admin_side.as_mut(), Some("alice"), None).unwrap();
    assert_eq!(alice.len(), 2);

    let sh = FakeShadow::default();
    sh.set("alice", "$y$x");
    let listing = admin::list(admin_side.as_mut(), Some("alice"), false, NOW, &sh, ADMIN).unwrap();
    let told: Vec<String> = listing
        .notices
        .iter()
        .filter(|n| matches!(n, Notice::PrimaryUsed(_)))
        .map(|n| n.to_string())
        .collect();
    assert_eq!(told.len(), 2, "{told:?}");
    assert!(
        told[0].starts_with("alice logged in to imap with the primary password 3 times"),
        "{told:?}"
    );
    assert!(told[0].contains("from 198.51.100.8"), "{told:?}");
    assert_eq!(b.open().schema_drift().unwrap(), []);
}
