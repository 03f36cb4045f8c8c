//! Notifications: what is collected into the outbox from the history and
//! the tables, once whoever collects it, and how it is handed to an MTA,
//! once across senders and crashes. The MTA here is a stand-in that keeps
//! what it is given; the end-to-end tests use a real Postfix.

use crate::support::*;
use apppass_core::notify::outbox::{self, Handover, Mta};
use apppass_core::notify::{self, collect::collect};
use apppass_core::revocation::{self, RevokeTarget};
use apppass_core::store::Store;
use std::sync::{Arc, Mutex};

/// Keeps each message it is given; refuses while `refusing` is set.
#[derive(Clone, Default)]
pub struct KeptMail {
    pub sent: Arc<Mutex<Vec<String>>>,
    pub refusing: Arc<Mutex<bool>>,
}

struct Kept(KeptMail);

impl Mta for KeptMail {
    fn begin(&mut self) -> Result<Box<dyn Handover>, String> {
        Ok(Box::new(Kept(self.clone())))
    }
}

impl Handover for Kept {
    fn send(self: Box<Self>, message: &[u8]) -> Result<(), String> {
        if *self.0.refusing.lock().unwrap() {
            return Err("sendmail exited with exit status: 75".into());
        }
        let text = String::from_utf8(message.to_vec()).unwrap();
        self.0.sent.lock().unwrap().push(text);
        Ok(())
    }
    fn abort(self: Box<Self>) {}
}

impl KeptMail {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.sent.lock().unwrap())
    }
}

fn subjects(mails: &[String]) -> Vec<String> {
    let mut s: Vec<String> = mails
        .iter()
        .map(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .unwrap()
                .to_owned()
        })
        .collect();
    s.sort();
    s
}

fn run(s: &mut dyn Store, mta: &mut KeptMail, now: i64) -> outbox::Delivered {
    collect(s, now).unwrap();
    outbox::deliver(s, mta, now).unwrap()
}

/// Each kind of change is mailed once, with its facts and never a secret;
/// nothing before `notify mail`; collecting twice, or on two connections,
/// queues once.
pub fn notifications_are_collected_once_and_carry_no_secret(b: &dyn Backend) {
    let mut s = b.fresh();
    let mut other = b.open();
    let sh = FakeShadow::default();
    sh.set("alice", "$y$one");
    let mut mta = KeptMail::default();
    let (_, before) = gen(s.as_mut(), "alice", &["imap"], "Before", &sh);
    notify::set_mode(s.as_mut(), true).unwrap();
    notify::set_domain(s.as_mut(), Some("example.org")).unwrap();
    assert_eq!(
        run(s.as_mut(), &mut mta, NOW).sent,
        0,
        "what came before is not mailed"
    );

    let (id, secret) = gen(s.as_mut(), "alice", &["imap"], "iPhone Mail", &sh);
    collect(other.as_mut(), NOW + 1).unwrap();
    let done = run(s.as_mut(), &mut mta, NOW + 1);
    assert_eq!(done.sent, 1);
    let mails = mta.take();
    assert!(
        mails[0].starts_with("To: alice@example.org\n"),
        "{}",
        mails[0]
    );
    assert!(
        mails[0].contains(&format!("'iPhone Mail' (ID {id})")),
        "{}",
        mails[0]
    );
    assert!(mails[0].contains("by an administrator"), "{}", mails[0]);
    for m in &mails {
        assert!(
            !m.contains(&secret) && !m.contains(&before),
            "a secret in {m}"
        );
        assert!(!m.contains("$argon2"), "a hash in {m}");
    }
    assert_eq!(run(s.as_mut(), &mut mta, NOW + 2).sent, 0);

    // Revoking one of two is no notification; revoking what is left is.
    revocation::revoke(
        s.as_mut(),
        "alice",
        &RevokeTarget::Label("Before"),
        None,
        NOW + 3,
        ADMIN,
    )
    .unwrap();
    assert_eq!(run(s.as_mut(), &mut mta, NOW + 3).sent, 0);
    gen(s.as_mut(), "alice", &["imap"], "Laptop", &sh);
    mta.take();
    run(s.as_mut(), &mut mta, NOW + 4);
    mta.take();
    revocation::revoke(
        s.as_mut(),
        "alice",
        &RevokeTarget::All,
        Some("phone lost"),
        NOW + 5,
        ADMIN,
    )
    .unwrap();
    run(s.as_mut(), &mut mta, NOW + 5);
    let mails = mta.take();
    assert_eq!(
        subjects(&mails),
        ["All app passwords of alice were revoked"]
    );
    assert!(mails[0].contains("All 2 app passwords") && mails[0].contains("phone lost"));

    // The tripwire, once a day; a wipe.
    assert!(!ok(&login(
        s.as_mut(),
        "alice",
        "imap",
        &secret,
        NOW + 6,
        &sh
    )));
    assert!(!ok(&login(
        s.as_mut(),
        "alice",
        "imap",
        &secret,
        NOW + 7,
        &sh
    )));
    run(s.as_mut(), &mut mta, NOW + 7);
    assert_eq!(
        subjects(&mta.take()),
        ["Someone used a revoked app password of alice"]
    );
    gen(s.as_mut(), "alice", &["imap"], "Tablet", &sh);
    sh.set("alice", "$y$two");
    let listed = apppass_core::admin::list(s.as_mut(), Some("alice"), false, NOW + 8, &sh, ADMIN);
    assert!(listed.is_ok());
    run(s.as_mut(), &mut mta, NOW + 8);
    assert_eq!(
        subjects(&mta.take()),
        [
            "New app password 'Tablet' for alice",
            "Your primary password changed: app passwords of alice revoked"
        ]
    );

    // A login from a new network, after one from another: once; from the
    // same /24 again, nothing.
    let (_, roam) = gen(s.as_mut(), "alice", &["imap"], "Roaming", &sh);
    run(s.as_mut(), &mut mta, NOW + 8);
    mta.take();
    assert!(ok(&login_from(
        s.as_mut(),
        "alice",
        &roam,
        NOW + 8,
        &sh,
        "192.0.2.10"
    )));
    assert!(ok(&login_from(
        s.as_mut(),
        "alice",
        &roam,
        NOW + 8,
        &sh,
        "192.0.2.11"
    )));
    assert!(ok(&login_from(
        s.as_mut(),
        "alice",
        &roam,
        NOW + 8,
        &sh,
        "198.51.100.20"
    )));
    assert!(ok(&login_from(
        s.as_mut(),
        "alice",
        &roam,
        NOW + 8,
        &sh,
        "198.51.100.21"
    )));
    run(s.as_mut(), &mut mta, NOW + 8);
    let mails = mta.take();
    assert_eq!(
        subjects(&mails),
        ["App password 'Roaming' of alice used from a new network"]
    );
    assert!(mails[0].contains("from 198.51.100.20,"), "{}", mails[0]);

    // A password ending within a week, once; the primary password used,
    // once a week per service.
    let week = 7 * 86_400;
    gen_at(
        s.as_mut(),
        "alice",
        &["imap"],
        "Short",
        &sh,
        NOW + 9,
        Some(NOW + week),
    );
    apppass_core::primary_use::record(s.as_mut(), "alice", "imap", NOW + 9, Some("198.51.100.7"))
        .unwrap();
    run(s.as_mut(), &mut mta, NOW + 9);
    run(other.as_mut(), &mut mta, NOW + 10);
    let mails = mta.take();
    assert_eq!(
        subjects(&mails),
        [
            "App password 'Short' of alice expires soon",
            "New app password 'Short' for alice",
            "Your primary password was used for imap: set up an app password"
        ]
    );
    apppass_core::primary_use::record(s.as_mut(), "alice", "imap", NOW + 11, None).unwrap();
    assert_eq!(run(s.as_mut(), &mut mta, NOW + 11).sent, 0);
    let mails: Vec<_> = s.outbox("alice").unwrap();
    assert!(mails.iter().all(|m| m.sent_at.is_some()), "{mails:?}");
}

/// An MTA that refuses is tried again with backoff, then given up after a
/// day; a sender that stopped after handing a message over leaves it
/// counted as sent; senders side by side send each message once.
pub fn the_outbox_sends_each_mail_once_retries_and_gives_up(b: &dyn Backend) {
    let mut s = b.fresh();
    let sh = FakeShadow::default();
    sh.set("bob", "$y$one");
    notify::set_mode(s.as_mut(), true).unwrap();
    let mut mta = KeptMail::default();
    *mta.refusing.lock().unwrap() = true;
    gen(s.as_mut(), "bob", &["imap"], "One", &sh);
    let done = run(s.as_mut(), &mut mta, NOW);
    assert_eq!((done.sent, done.retried.len()), (0, 1));
    let e = s.outbox("bob").unwrap().remove(0);
    assert_eq!((e.attempts, e.next_at, e.handed_at), (1, NOW + 60, None));
    assert_eq!(
        run(s.as_mut(), &mut mta, NOW + 30).retried.len(),
        0,
        "not yet due"
    );
    *mta.refusing.lock().unwrap() = false;
    assert_eq!(run(s.as_mut(), &mut mta, NOW + 60).sent, 1);
    assert_eq!(run(s.as_mut(), &mut mta, NOW + 999).sent, 0);
    mta.take();

    *mta.refusing.lock().unwrap() = true;
    gen(s.as_mut(), "bob", &["imap"], "Two", &sh);
    let mut at = NOW + 1000;
    let mut gave_up = Vec::new();
    while gave_up.is_empty() && at < NOW + 3 * 86_400 {
        gave_up = run(s.as_mut(), &mut mta, at).gave_up;
        at += 3600;
    }
    assert_eq!(gave_up.len(), 1, "given up after a day");
    assert!(at - NOW - 1000 >= 86_400 && at - NOW - 1000 <= 86_400 + 2 * 3600);
    *mta.refusing.lock().unwrap() = false;
    assert_eq!(run(s.as_mut(), &mut mta, at).sent, 0);

    // Handed over by a sender that is gone: sent, not sent again.
    gen(s.as_mut(), "bob", &["imap"], "Three", &sh);
    collect(s.as_mut(), at).unwrap();
    s.write(None, &mut |w| {
        for mut e in w.outbox_due(at, 10)? {
            e.claimed_by = Some("elsewhere 1 1".into());
            e.claimed_until = Some(at + 60);
            e.handed_at = Some(at);
            w.update_outbox(&e)?;
        }
        Ok(apppass_core::store::Finish::Commit)
    })
    .unwrap();
    assert_eq!(
        run(s.as_mut(), &mut mta, at + 30).recovered,
        0,
        "its claim holds"
    );
    let done = run(s.as_mut(), &mut mta, at + 61);
    assert_eq!((done.sent, done.recovered), (0, 1));
    assert!(mta.take().is_empty());

    // Two senders side by side, twenty mails: each sent once.
    for i in 0..20 {
        gen(s.as_mut(), "bob", &["imap"], &format!("Many {i}"), &sh);
    }
    collect(s.as_mut(), at + 100).unwrap();
    let sent = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            let (sent, mta) = (&sent, &mta);
            scope.spawn(move || {
                let mut st = b.open();
                let mut m = mta.clone();
                let n = outbox::deliver(st.as_mut(), &mut m, at + 100).unwrap().sent;
                sent.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
            });
        }
    });
    let sent = sent.into_inner();
    assert_eq!(sent, 20);
    assert_eq!(mta.take().len(), 20);
}
