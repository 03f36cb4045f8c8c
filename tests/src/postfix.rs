//! A private Postfix under /tmp for the mail notification tests: its own
//! main.cf and master.cf, queue, data directory and log, no listener at
//! all, stopped and removed on drop. The system Postfix (/etc/postfix,
//! /var/spool/postfix, /var/mail) is never read, written or started.
//!
//! Every recipient @[`DOMAIN`] is delivered by virtual(8) as uid/gid 65534
//! (nobody/nogroup: no system user per recipient) into one mbox for the
//! whole domain. virtual(8) would give each recipient a file of their own
//! only through a table listing them: it refuses `$1` in a regexp map
//! ("regular expression substitution is not allowed") and refuses a
//! socketmap ("not allowed for security-sensitive data"). So
//! [`Postfix::mails`] picks a recipient's copies by the `Delivered-To:`
//! header virtual(8) puts on each: one copy per recipient, even when one
//! message names several.
//!
//! Any other domain is bounced at once (`error:` transport, logged with
//! status=bounced) to the envelope sender; `sendmail` run by root sends as
//! root@apppass.test, so the bounce lands in that mailbox. A bounce that
//! cannot be delivered goes to postmaster@apppass.test. An address without
//! a domain gets @apppass.test, in the envelope and in the headers.
//!
//! Postfix needs no `alternate_config_directories` in the system main.cf
//! when root runs it: `postfix -c DIR`, `sendmail -C DIR` and
//! `MAIL_CONFIG=DIR` are trusted for root only. Run by another user,
//! sendmail exits 75 with "unauthorized configuration directory name" and
//! queues nothing. The instance needs the package's users postfix and
//! postdrop, which own its queue as they own the system one.
//!
//! Instances side by side share nothing: pid file, lock, sockets and
//! maildrop are under each one's queue_directory and data_directory.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// The domain this instance delivers.
pub const DOMAIN: &str = "apppass.test";

/// The owner of the mailbox, as virtual(8) writes it.
const MAIL_ID: u32 = 65534;

pub const DIR_PREFIX: &str = "apppass-postfix-";

const POSTFIX: &str = "/usr/sbin/postfix";
const SENDMAIL: &str = "/usr/sbin/sendmail";
const MASTER: &str = "/usr/lib/postfix/sbin/master";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Whether Postfix is installed.
pub fn available() -> bool {
    [POSTFIX, SENDMAIL, MASTER]
        .iter()
        .all(|p| Path::new(p).exists())
}

pub struct Postfix {
    dir: tempfile::TempDir,
}

/// Only what the local submission path and virtual(8) need; `error` and
/// `retry` for the other domains, `bounce` for their bounces.
const MASTER_CF: &str = "\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
flush     unix  n       -       n       1000?   0       flush
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
postlog   unix-dgram n  -       n       -       1       postlogd
";

impl Postfix {
    /// A new instance, running when this returns (0.3 s).
    pub fn start() -> Postfix {
        crate::sweep::leftovers();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
            .tempdir()
            .unwrap();
        // postfix reaches the queue, nobody the mailbox directory.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        let d = dir.path();
        for sub in ["etc", "spool", "mail"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        std::os::unix::fs::chown(d.join("mail"), Some(MAIL_ID), Some(MAIL_ID)).unwrap();
        std::fs::set_permissions(d.join("mail"), std::fs::Permissions::from_mode(0o700)).unwrap();
        let name = format!(
            "postfix-t{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let ds = d.display();
        // postfix start creates the queue's subdirectories and the data
        // directory with their owners; the queue directory must exist.
        let main_cf = format!(
            "compatibility_level = 3.6
config_directory = {ds}/etc
queue_directory = {ds}/spool
data_directory = {ds}/data
syslog_name = {name}
maillog_file = {ds}/maillog
maillog_file_prefixes = {ds}
myhostname = mta.{DOMAIN}
mydomain = {DOMAIN}
myorigin = {DOMAIN}
mydestination =
master_service_disable = inet
inet_interfaces = loopback-only
inet_protocols = ipv4
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_base = {ds}/mail
virtual_mailbox_maps = static:mbox
virtual_mailbox_lock = flock
virtual_uid_maps = static:{MAIL_ID}
virtual_gid_maps = static:{MAIL_ID}
default_transport = error:5.1.2 this test mail system delivers only to @{DOMAIN}
relay_transport = $default_transport
local_transport = $default_transport
notify_classes = 2bounce, resource, software
alias_maps =
alias_database =
biff = no
"
        );
        std::fs::write(d.join("etc/main.cf"), main_cf).unwrap();
        std::fs::write(d.join("etc/master.cf"), MASTER_CF).unwrap();
        // Every Postfix command waits, 300 ms at a time, until a main.cf
        // younger than a second has aged (it may be mid-edit): dated back,
        // a new instance starts in 0.3 s instead of 2.
        let past = SystemTime::now() - Duration::from_secs(10);
        for f in ["etc/main.cf", "etc/master.cf"] {
            File::options()
                .write(true)
                .open(d.join(f))
                .unwrap()
                .set_modified(past)
                .unwrap();
        }
        let wrapper = d.join("sendmail");
        std::fs::write(
            &wrapper,
            format!("#!/bin/sh\nexec {SENDMAIL} -C '{ds}/etc' \"$@\"\n"),
        )
        .unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let p = Postfix { dir };
        p.launch();
        p
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    fn launch(&self) {
        // Not output(): the daemonised master would hold the pipes open.
        let errors = self.dir.path().join("start.err");
        let status = Command::new(POSTFIX)
            .arg("-c")
            .arg(self.config())
            .arg("start")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&errors).unwrap())
            .status()
            .unwrap();
        // master -w: start returns once the master is up, sockets made.
        assert!(
            status.success(),
            "postfix start: {}\n{}",
            std::fs::read_to_string(&errors).unwrap_or_default(),
            self.log()
        );
    }

    /// Whether this instance's master runs (`master -t` exits 0 when not).
    pub fn running(&self) -> bool {
        !Command::new(MASTER)
            .arg("-c")
            .arg(self.config())
            .arg("-t")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Stops the instance; its queue and mailbox stay.
    ///
    /// While it is stopped, `sendmail -t -i` through [`Postfix::sendmail`]
    /// still exits 0 at once, prints nothing and logs nothing: postdrop
    /// leaves the message in the maildrop queue, and pickup delivers it,
    /// once, 0.2 to 1.3 s after [`Postfix::start_again`].
    pub fn stop(&self) {
        self.postfix_stop();
        // postfix stop waits (up to 5 s) for the master to let its lock go.
        assert!(!self.running(), "postfix did not stop:\n{}", self.log());
    }

    /// `postfix stop` for this instance, whatever it says.
    fn postfix_stop(&self) {
        let _ = Command::new(POSTFIX)
            .arg("-c")
            .arg(self.config())
            .arg("stop")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Starts it again after [`Postfix::stop`], with its queue as it was.
    pub fn start_again(&self) {
        self.launch();
    }

    /// A script that runs /usr/sbin/sendmail with this instance's
    /// configuration, passing its arguments on: the SENDMAIL command for
    /// the code under test. Root only (see the module's note).
    pub fn sendmail(&self) -> PathBuf {
        self.dir.path().join("sendmail")
    }

    /// Every message delivered to `recipient` so far, oldest first, each
    /// its full text as stored: the headers Postfix added (Return-Path,
    /// X-Original-To, Delivered-To, Received), the message's own, the body.
    /// Body lines that began with "From " read ">From ", as mbox keeps them.
    pub fn mails(&self, recipient: &str) -> Vec<String> {
        split_mbox(&self.mbox())
            .into_iter()
            .filter(|m| {
                header(m, "Delivered-To").is_some_and(|to| to.eq_ignore_ascii_case(recipient))
            })
            .collect()
    }

    /// Waits until at least `n` messages reached `recipient` and returns
    /// them all; panics with the end of Postfix's log after `timeout`.
    pub fn wait_for(&self, recipient: &str, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let mails = self.mails(recipient);
            if mails.len() >= n {
                return mails;
            }
            if Instant::now() >= deadline {
                let log = self.log();
                let lines: Vec<&str> = log.lines().collect();
                panic!(
                    "{n} mail(s) for {recipient} expected within {timeout:?}, {} arrived; Postfix's log ends:\n{}",
                    mails.len(),
                    lines[lines.len().saturating_sub(40)..].join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Postfix's own log (maillog_file, written by postlogd; no syslog).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// The domain's mbox, read under a shared lock: virtual(8) appends
    /// under an exclusive flock, so no message is read half written.
    fn mbox(&self) -> String {
        let Ok(mut file) = File::open(self.dir.path().join("mail/mbox")) else {
            return String::new();
        };
        // SAFETY: flock on a descriptor owned by `file`, which outlives the
        // call; the lock goes when `file` is closed at the end of this fn.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH) };
        assert_eq!(locked, 0, "flock: {}", std::io::Error::last_os_error());
        let mut text = String::new();
        std::io::Read::read_to_string(&mut file, &mut text).unwrap();
        text
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        self.postfix_stop();
    }
}

/// Stops an instance a killed test process left behind.
pub fn sweep(dir: &Path) {
    let _ = Command::new(POSTFIX)
        .arg("-c")
        .arg(dir.join("etc"))
        .arg("stop")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The messages of an mbox as virtual(8) writes it: each after a "From "
/// line and followed by one empty line, which are left out. Postfix quotes
/// body lines starting "From ", so every such line starts a message.
pub fn split_mbox(text: &str) -> Vec<String> {
    let mut messages = Vec::new();
    let mut current: Option<String> = None;
    for line in text.split_inclusive('\n') {
        if line.starts_with("From ") {
            messages.extend(current.replace(String::new()));
        } else if let Some(m) = current.as_mut() {
            m.push_str(line);
        }
    }
    messages.extend(current);
    for m in &mut messages {
        if m.ends_with("\n\n") {
            m.pop();
        }
    }
    messages
}

/// The first `name:` header of a message, unfolded and trimmed.
pub fn header(message: &str, name: &str) -> Option<String> {
    let head = message.split("\n\n").next().unwrap_or("");
    let mut value: Option<String> = None;
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(v) = value.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if value.is_some() {
            break;
        } else if let Some((n, v)) = line.split_once(':') {
            if n.eq_ignore_ascii_case(name) {
                value = Some(v.trim().to_string());
            }
        }
    }
    value
}

/// A message's body: everything after the first empty line.
pub fn body(message: &str) -> &str {
    message.split_once("\n\n").map_or("", |(_, b)| b)
}

#[cfg(test)]
mod tests {
    use super::{body, header, split_mbox};

    #[test]
    fn an_mbox_splits_into_messages_with_their_headers_and_bodies() {
        let mbox = "From root@apppass.test  Mon Dec  7 15:17:20 2026\n\
                    Delivered-To: bob@apppass.test\nSubject: one\n  folded\n\n\
                    >From the body\n\n\n\
                    From root@apppass.test  Mon Dec  7 15:17:21 2026\n\
                    Delivered-To: alice@apppass.test\nSubject: two\n\nend\n\n";
        let m = split_mbox(mbox);
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(header(&m[0], "subject").as_deref(), Some("one folded"));
        assert_eq!(body(&m[0]), ">From the body\n\n");
        assert_eq!(
            header(&m[1], "Delivered-To").as_deref(),
            Some("alice@apppass.test")
        );
        assert_eq!(body(&m[1]), "end\n");
        assert_eq!(header(&m[1], "To"), None);
    }
}
