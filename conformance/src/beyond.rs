//! Scenarios for what goes beyond the hosted services: networks, idle
//! expiry, suspend and resume, rotate, the tripwire.

use crate::support::*;
use apppass_core::admin::{self, AdminError, GenerateRequest};
use apppass_core::hashing::HeapMemory;
use apppass_core::lifecycle::{self, Which};
use apppass_core::login::{authenticate, LoginRequest, Outcome, Refusal};
use apppass_core::networks::Networks;
use apppass_core::secret::NormalizedSecret;
use apppass_core::store::{Actor, EventKind, Status, Store};
use apppass_core::{revocation, settings};

fn login_from(
    s: &mut dyn Store,
    user: &str,
    password: &str,
    rhost: Option<&str>,
    now: i64,
    sh: &FakeShadow,
) -> Outcome {
    let secret = NormalizedSecret::from_candidate(password.as_bytes()).unwrap();
    let req = LoginRequest {
        user,
        service: "imap",
        rhost,
        now,
        side_effects: true,
    };
    authenticate(s, &req, &secret, &mut HeapMemory::default(), sh).unwrap()
}

fn gen_from(
    s: &mut dyn Store,
    user: &str,
    label: &str,
    nets: &[&str],
    sh: &FakeShadow,
) -> (i64, String) {
    let req = GenerateRequest {
        networks: Networks::parse(nets).unwrap(),
        replaces: None,
        user,
        scope: scope(&["imap"]),
        label,
        expires_at: None,
        by: ADMIN,
    };
    let g = admin::generate(s, &req, NOW, &mut rand::rngs::OsRng, sh, &mut accept).unwrap();
    (g.id, g.secret.display().to_string())
}

fn status_of(s: &mut dyn Store, user: &str, id: i64, now: i64, sh: &FakeShadow) -> Status {
    admin::list(s, Some(user), true, now, sh, ADMIN)
        .unwrap()
        .passwords
        .into_iter()
        .find(|p| p.id == id)
        .unwrap()
        .status(now)
}

pub fn networks_limit_where_a_password_logs_in_from(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    let (id, v4) = gen_from(s, "alice", "Office", &["127.0.0.2/32"], &sh);
    let (_, v6) = gen_from(s, "alice", "Six", &["::1/128", "2001:db8::/32"], &sh);
    assert!(ok(&login_from(
        s,
        "alice",
        &v4,
        Some("127.0.0.2"),
        NOW,
        &sh
    )));
    assert!(ok(&login_from(
        s,
        "alice",
        &v4,
        Some("::ffff:127.0.0.2"),
        NOW,
        &sh
    )));
    for elsewhere in [Some("127.0.0.3"), Some("localhost"), Some(""), None] {
        assert_eq!(
            login_from(s, "alice", &v4, elsewhere, NOW, &sh),
            Outcome::Refused(Refusal::OutsideNetworks { id }),
            "{elsewhere:?}"
        );
    }
    assert!(ok(&login_from(s, "alice", &v6, Some("::1"), NOW, &sh)));
    assert!(ok(&login_from(
        s,
        "alice",
        &v6,
        Some("2001:db8:5::9"),
        NOW,
        &sh
    )));
    assert!(!ok(&login_from(
        s,
        "alice",
        &v6,
        Some("127.0.0.1"),
        NOW,
        &sh
    )));
    let listed = admin::list(s, Some("alice"), false, NOW, &sh, ADMIN)
        .unwrap()
        .passwords;
    let nets: Vec<Vec<String>> = listed.iter().map(|p| p.networks.names()).collect();
    assert_eq!(
        nets,
        [
            vec!["127.0.0.2/32".to_string()],
            vec!["::1/128".into(), "2001:db8::/32".into()]
        ]
    );
}

pub fn idle_expiry_is_decided_at_login_and_dated_when_reached(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    let (unused, unused_pw) = gen(s, "alice", &["imap"], "Unused", &sh);
    let (used, used_pw) = gen(s, "alice", &["imap"], "Used", &sh);
    let day = 86_400;
    assert!(ok(&login(
        s,
        "alice",
        "imap",
        &used_pw,
        NOW + 20 * day,
        &sh
    )));
    settings::set_idle_expiry(s, Some(30 * day)).unwrap();
    assert_eq!(settings::idle_expiry(s).unwrap(), Some(30 * day));
    // Day 31: the unused one reached the limit on day 30; the used one,
    // last used on day 20, lives until day 50.
    let mut front = b.front_end();
    assert!(matches!(
        login(front.as_mut(), "alice", "imap", &unused_pw, NOW + 31 * day, &sh),
        Outcome::Refused(Refusal::Retired(t)) if t.id == unused && t.reason == "idle" && t.at == NOW + 30 * day
    ));
    assert!(ok(&login(
        s,
        "alice",
        "imap",
        &used_pw,
        NOW + 31 * day,
        &sh
    )));
    let history = admin::history(s, "alice", NOW + 31 * day).unwrap();
    let expired: Vec<_> = history
        .iter()
        .filter(|e| e.kind == EventKind::Expired)
        .map(|e| (e.password_id, e.at, e.reason.as_deref(), e.by))
        .collect();
    assert_eq!(
        expired,
        [(Some(unused), NOW + 30 * day, Some("idle"), Actor::Module)],
        "recorded once, by the login, dated when the limit was reached"
    );
    assert_eq!(
        status_of(s, "alice", unused, NOW + 31 * day, &sh),
        Status::Expired
    );
    assert_eq!(
        status_of(s, "alice", used, NOW + 31 * day, &sh),
        Status::Active
    );
    // Turning it off does not bring back what expired.
    settings::set_idle_expiry(s, None).unwrap();
    assert!(!ok(&login(
        s,
        "alice",
        "imap",
        &unused_pw,
        NOW + 32 * day,
        &sh
    )));
    assert_eq!(settings::idle_expiry(s).unwrap(), None);
    // A list alone records idle expiry too (no login needed).
    settings::set_idle_expiry(s, Some(30 * day)).unwrap();
    assert_eq!(
        status_of(s, "alice", used, NOW + 81 * day, &sh),
        Status::Expired
    );
}

pub fn suspend_and_resume_keep_the_password_and_its_place(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    let (id, pw) = gen(s, "alice", &["imap"], "Phone", &sh);
    let done =
        lifecycle::set_suspended(s, "alice", Which::Label("PHONE"), true, NOW, ADMIN).unwrap();
    assert_eq!(done.id, id);
    assert_eq!(
        login(s, "alice", "imap", &pw, NOW + 1, &sh),
        Outcome::Refused(Refusal::Suspended { id })
    );
    assert_eq!(status_of(s, "alice", id, NOW + 1, &sh), Status::Suspended);
    assert!(matches!(
        lifecycle::set_suspended(s, "alice", Which::Id(id), true, NOW, ADMIN),
        Err(AdminError::NotFound(m)) if m.contains("suspended, not active")
    ));
    // It keeps its label and counts toward the limit.
    settings::set_max_active(s, 1).unwrap();
    let req = GenerateRequest {
        networks: Networks::anywhere(),
        replaces: None,
        user: "alice",
        scope: scope(&["imap"]),
        label: "Other",
        expires_at: None,
        by: ADMIN,
    };
    assert!(matches!(
        admin::generate(s, &req, NOW, &mut rng(), &sh, &mut accept),
        Err(AdminError::LimitReached { .. })
    ));
    lifecycle::set_suspended(
        s,
        "alice",
        Which::Id(id),
        false,
        NOW + 2,
        Actor::SelfService,
    )
    .unwrap();
    assert!(ok(&login(s, "alice", "imap", &pw, NOW + 3, &sh)));
    let kinds: Vec<_> = admin::history(s, "alice", NOW + 3)
        .unwrap()
        .iter()
        .map(|e| (e.kind, e.by))
        .collect();
    assert_eq!(
        kinds,
        [
            (EventKind::Generated, ADMIN),
            (EventKind::Suspended, ADMIN),
            (EventKind::Resumed, Actor::SelfService)
        ]
    );
    assert!(matches!(
        lifecycle::set_suspended(s, "alice", Which::Id(id + 100), false, NOW, ADMIN),
        Err(AdminError::NotFound(_))
    ));
}

pub fn rotate_replaces_the_secret_and_keeps_everything_else(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    let req = GenerateRequest {
        networks: Networks::parse(["203.0.113.0/24"]).unwrap(),
        replaces: None,
        user: "alice",
        scope: scope(&["imap", "submission"]),
        label: "Phone",
        expires_at: Some(NOW + 90 * 86_400),
        by: ADMIN,
    };
    let old = admin::generate(s, &req, NOW, &mut rng(), &sh, &mut accept).unwrap();
    let old_pw = old.secret.display().to_string();
    // At the limit, rotating still works: the old one makes room.
    settings::set_max_active(s, 1).unwrap();
    let new = lifecycle::rotate(
        s,
        ("alice", Which::Id(old.id), ADMIN),
        NOW + 5,
        &mut rand::rngs::OsRng,
        &sh,
        &mut accept,
    )
    .unwrap();
    assert_ne!(new.id, old.id);
    assert_eq!(new.replaced, Some(old.id));
    assert_eq!(
        (
            new.label.as_str(),
            new.services.clone(),
            new.networks.clone(),
            new.expires_at
        ),
        (
            "Phone",
            vec!["imap".to_string(), "submission".into()],
            vec!["203.0.113.0/24".to_string()],
            Some(NOW + 90 * 86_400)
        )
    );
    let new_pw = new.secret.display().to_string();
    assert!(ok(&login(s, "alice", "imap", &new_pw, NOW + 6, &sh)));
    assert!(matches!(
        login(s, "alice", "imap", &old_pw, NOW + 6, &sh),
        Outcome::Refused(Refusal::Retired(t)) if t.reason == admin::REASON_ROTATED
    ));
    let h = admin::history(s, "alice", NOW + 6).unwrap();
    let tail: Vec<_> = h
        .iter()
        .skip(1)
        .filter(|e| e.kind != EventKind::UsedAfterRevoke)
        .map(|e| (e.kind, e.password_id, e.reason.clone()))
        .collect();
    assert_eq!(
        tail,
        [
            (
                EventKind::Revoked,
                Some(old.id),
                Some("rotated".to_string())
            ),
            (
                EventKind::Generated,
                Some(new.id),
                Some(format!("replaces ID {}", old.id))
            )
        ],
        "one history entry each"
    );
    // A delivery that fails changes nothing: the old one stays revoked? No: nothing happened.
    let mut broken = |_: &admin::Generated| -> std::io::Result<()> {
        Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    };
    assert!(lifecycle::rotate(
        s,
        ("alice", Which::Label("phone"), ADMIN),
        NOW + 7,
        &mut rand::rngs::OsRng,
        &sh,
        &mut broken
    )
    .is_err());
    assert!(
        ok(&login(s, "alice", "imap", &new_pw, NOW + 8, &sh)),
        "still the one that works"
    );
    // Only an active password can be rotated.
    lifecycle::set_suspended(s, "alice", Which::Id(new.id), true, NOW + 9, ADMIN).unwrap();
    assert!(matches!(
        lifecycle::rotate(
            s,
            ("alice", Which::Id(new.id), ADMIN),
            NOW + 10,
            &mut rand::rngs::OsRng,
            &sh,
            &mut accept
        ),
        Err(AdminError::NotFound(_))
    ));
}

pub fn the_tripwire_names_a_retired_password_and_records_it_once_a_day(b: &dyn Backend) {
    let mut s = b.fresh();
    let s = s.as_mut();
    let sh = FakeShadow::default();
    let (id, pw) = gen(s, "alice", &["imap"], "Old phone", &sh);
    revocation::revoke(
        s,
        "alice",
        &revocation::RevokeTarget::Id(id),
        Some("phone lost"),
        NOW + 10,
        ADMIN,
    )
    .unwrap();
    let mut front = b.front_end();
    let tripped = |o: &Outcome| {
        matches!(o, Outcome::Refused(Refusal::Retired(t))
        if t.id == id && t.label == "Old phone" && t.at == NOW + 10 && t.reason == "phone lost")
    };
    for minute in 0..3 {
        let o = login(
            front.as_mut(),
            "alice",
            "imap",
            &pw,
            NOW + 100 + minute * 61,
            &sh,
        );
        assert!(tripped(&o), "{o:?}");
    }
    // The next day, once more.
    assert!(tripped(&login(
        front.as_mut(),
        "alice",
        "pop3",
        &pw,
        NOW + 100 + 86_400,
        &sh
    )));
    let events: Vec<_> = admin::history(s, "alice", NOW + 200_000)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EventKind::UsedAfterRevoke)
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].at, NOW + 100);
    assert_eq!(events[0].password_id, Some(id));
    assert_eq!(events[0].by, Actor::Module);
    assert_eq!(
        events[0].reason.as_deref(),
        Some("presented to imap from 203.0.113.7")
    );
    let row = only_password(s, "alice", &sh);
    assert_eq!(row.last_tried_at, Some(NOW + 100 + 86_400));
    // A wrong password is refused as before, without a trace.
    assert_eq!(
        login(
            front.as_mut(),
            "alice",
            "imap",
            "aaaa-bbbb-cccc-dddd",
            NOW + 200_000,
            &sh
        ),
        Outcome::Refused(Refusal::NoPasswords)
    );
    // An expired one trips it too, with its expiry date.
    let (eid, epw) = gen_at(s, "alice", &["imap"], "Short", &sh, NOW, Some(NOW + 3600));
    assert!(matches!(
        login(front.as_mut(), "alice", "imap", &epw, NOW + 7200, &sh),
        Outcome::Refused(Refusal::Retired(t)) if t.id == eid && t.reason == "expired" && t.at == NOW + 3600
    ));
}
