//! The private Postfix the notification tests deliver through: mail sent
//! with `sendmail -t -i` reaches each recipient once, with its headers and
//! body as sent, and mail sent while the instance is stopped waits in its
//! queue and arrives once it runs again.

use apppass_e2e::fixture::output_with_input;
use apppass_e2e::postfix::{self, body, header, Postfix};
use apppass_e2e::system::require_root;
use std::process::Command;
use std::time::Duration;

const SYSTEM_MAILDROP: &str = "/var/spool/postfix/maildrop";

fn require_postfix(test: &str) -> bool {
    if !require_root(test) {
        return false;
    }
    if !postfix::available() {
        eprintln!("*** SKIPPED {test}: Postfix is not installed (make test-deps)");
        return false;
    }
    true
}

/// `SENDMAIL -t -i` with `message` on stdin, as apppass will run it.
fn send(p: &Postfix, message: &str) {
    let out = output_with_input(
        Command::new(p.sendmail()).args(["-t", "-i"]),
        message.as_bytes(),
    );
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "sendmail: {:?} {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn system_maildrop() -> usize {
    std::fs::read_dir(SYSTEM_MAILDROP).map_or(0, |d| d.count())
}

#[test]
fn mail_reaches_each_recipient_once_and_mail_sent_while_stopped_arrives_after_restart() {
    if !require_postfix(
        "mail_reaches_each_recipient_once_and_mail_sent_while_stopped_arrives_after_restart",
    ) {
        return;
    }
    let before = system_maildrop();
    let p = Postfix::start();
    // A line holding only "." ends the message unless -i is given.
    send(
        &p,
        "To: alice@apppass.test\nFrom: apppass <notify@apppass.test>\n\
         Subject: New app password\n\nA password was created.\n.\nStill the body.\n",
    );
    send(
        &p,
        "To: bob@apppass.test\nFrom: apppass <notify@apppass.test>\n\
         Subject: Passwords revoked\n\nAll your app passwords were revoked.\n",
    );
    let wait = Duration::from_secs(10);
    let alice = p.wait_for("alice@apppass.test", 1, wait);
    let bob = p.wait_for("bob@apppass.test", 1, wait);
    assert_eq!(alice.len(), 1, "{alice:?}");
    assert_eq!(bob.len(), 1, "{bob:?}");
    let a = &alice[0];
    assert_eq!(header(a, "Subject").as_deref(), Some("New app password"));
    assert_eq!(
        header(a, "From").as_deref(),
        Some("apppass <notify@apppass.test>")
    );
    assert_eq!(header(a, "To").as_deref(), Some("alice@apppass.test"));
    assert_eq!(body(a), "A password was created.\n.\nStill the body.\n");
    let b = &bob[0];
    assert_eq!(header(b, "Subject").as_deref(), Some("Passwords revoked"));
    assert_eq!(body(b), "All your app passwords were revoked.\n");

    p.stop();
    send(
        &p,
        "To: carol@apppass.test\nFrom: apppass <notify@apppass.test>\n\
         Subject: Sent while down\n\nQueued.\n",
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(p.mails("carol@apppass.test").is_empty(), "{}", p.log());

    p.start_again();
    let carol = p.wait_for("carol@apppass.test", 1, wait);
    assert_eq!(
        header(&carol[0], "Subject").as_deref(),
        Some("Sent while down")
    );
    // Once: nothing more comes, and the earlier mail was not sent again.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(p.mails("carol@apppass.test").len(), 1, "{}", p.log());
    assert_eq!(p.mails("alice@apppass.test").len(), 1, "{}", p.log());
    assert_eq!(p.mails("bob@apppass.test").len(), 1, "{}", p.log());
    // Nothing went through the system's Postfix.
    assert_eq!(system_maildrop(), before);
}
