//! `primary = dovecot`: the primary password as Dovecot's passdb holds it,
//! read through Dovecot's auth-master socket with a `PASS` lookup for the
//! service `apppass`. Dovecot never returns the password field in a PASS
//! reply, so the administrator's passdb returns an extra field
//! (`dovecot_primary_field`, `apppass_primary` by default): the password
//! column hashed by Dovecot (`override_fields =
//! apppass_primary=%{sha256:passdb:apppass_primary}`) or by the SQL query,
//! or a change stamp. Its value is fingerprinted; it is never logged.
//!
//! One connection per lookup, one deadline of 2 s for all of it: Dovecot
//! answers in about a millisecond, and a lookup that takes longer fails
//! closed. No thread is started (the PAM module may be loaded into a
//! process that forks).

use super::{DirectorySource, Observed};
use crate::dovecot_wire::{escape, unescape, MAX_LINE};
use crate::store::FingerprintSource;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// How long one lookup may take, connection included.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// The service the lookup names, for a passdb that only apppass sees
/// (`protocol apppass { passdb { … } }`).
pub const SERVICE: &str = "apppass";

/// SHA-256 of nothing, as `%{sha256:…}` of a missing field gives it.
const SHA256_OF_NOTHING: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Dovecot's passdb, asked through `socket` for `field`.
pub struct DovecotPrimary {
    pub socket: PathBuf,
    pub field: String,
}

impl DirectorySource for DovecotPrimary {
    fn source(&self) -> FingerprintSource {
        FingerprintSource::Dovecot
    }

    fn look_up(&self, user: &str) -> Observed {
        match pass_lookup(&self.socket, user, DEADLINE) {
            Ok(Reply::Found(fields)) => {
                let value = fields
                    .iter()
                    .find(|(k, _)| *k == self.field)
                    .and_then(|(_, v)| v.as_ref());
                match value {
                    Some(v) if !v.is_empty() && !v.eq_ignore_ascii_case(SHA256_OF_NOTHING) => {
                        Observed::Value {
                            source: FingerprintSource::Dovecot,
                            material: Zeroizing::new(v.as_bytes().to_vec()),
                        }
                    }
                    _ => Observed::Nothing(FingerprintSource::Dovecot),
                }
            }
            Ok(Reply::NotFound) => Observed::Unknown(FingerprintSource::Dovecot),
            Ok(Reply::Failed) => Observed::Unavailable {
                source: FingerprintSource::Dovecot,
                why: format!(
                    "Dovecot's passdb failed the lookup of the user through {} (its log says why)",
                    self.socket.display()
                ),
            },
            Err(why) => Observed::Unavailable {
                source: FingerprintSource::Dovecot,
                why,
            },
        }
    }
}

/// A PASS lookup's answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// The passdb found the user: its extra fields, a bare key as `None`.
    Found(Vec<(String, Option<Zeroizing<String>>)>),
    NotFound,
    /// The passdb could not decide (a query error, a row without password).
    Failed,
}

/// Asks Dovecot at `socket` for `user`'s passdb fields, within `deadline`.
/// `Err` says why it could not be asked, without a secret.
pub fn pass_lookup(socket: &Path, user: &str, deadline: Duration) -> Result<Reply, String> {
    let until = Instant::now() + deadline;
    let at = || format!("Dovecot's auth-master socket {}", socket.display());
    let mut stream = connect(socket, until, &at)?;
    let request = format!(
        "VERSION\t1\t0\nPASS\t1\t{}\tservice={SERVICE}\n",
        escape(user)
    );
    stream
        .set_write_timeout(Some(left(until, &at)?))
        .map_err(|e| format!("{}: {e}", at()))?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{}: {e}", at()))?;
    let mut lines = Lines {
        stream,
        buf: Zeroizing::new(Vec::new()),
    };
    loop {
        let line = lines.next(until, &at)?;
        let mut fields = line.split('\t');
        let verb = fields.next().unwrap_or_default();
        match verb {
            "VERSION" => {
                if fields.next() != Some("1") {
                    return Err(format!("{} speaks another major protocol version", at()));
                }
                continue;
            }
            "SPID" => continue,
            _ => {}
        }
        if fields.next() != Some("1") {
            // Not the answer to our request.
            continue;
        }
        return Ok(match verb {
            "PASS" => Reply::Found(
                fields
                    .filter(|f| !f.is_empty())
                    .map(|f| match f.split_once('=') {
                        Some((k, v)) => (k.to_owned(), Some(Zeroizing::new(unescape(v)))),
                        None => (f.to_owned(), None),
                    })
                    .collect(),
            ),
            "NOTFOUND" => Reply::NotFound,
            "FAIL" => Reply::Failed,
            other => {
                return Err(format!(
                    "{} answered '{}', not PASS, NOTFOUND or FAIL",
                    at(),
                    crate::escape::for_message(other)
                ))
            }
        });
    }
}

/// Connects within the deadline: a blocking connect to a Unix socket whose
/// backlog is full waits as long as the send timeout allows, which std's
/// `UnixStream::connect` leaves unbounded.
fn connect(socket: &Path, until: Instant, at: &dyn Fn() -> String) -> Result<UnixStream, String> {
    use socket2::{Domain, SockAddr, Socket, Type};
    let fail = |e: std::io::Error| format!("cannot reach {} ({e})", at());
    let s = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(fail)?;
    s.set_write_timeout(Some(left(until, at)?)).map_err(fail)?;
    let address = SockAddr::unix(socket).map_err(fail)?;
    s.connect(&address).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => format!(
            "{} did not accept the connection within {} s",
            at(),
            DEADLINE.as_secs()
        ),
        _ => fail(e),
    })?;
    Ok(s.into())
}

/// The time left before `until`, or the error that says it ran out.
fn left(until: Instant, at: &dyn Fn() -> String) -> Result<Duration, String> {
    let now = Instant::now();
    if now >= until {
        return Err(format!(
            "{} did not answer within {} s",
            at(),
            DEADLINE.as_secs()
        ));
    }
    Ok(until - now)
}

/// Lines read from the socket, each at most [`MAX_LINE`] bytes, all within
/// one deadline. The buffer may hold field values: it is wiped when done.
struct Lines {
    stream: UnixStream,
    buf: Zeroizing<Vec<u8>>,
}

impl Lines {
    fn next(
        &mut self,
        until: Instant,
        at: &dyn Fn() -> String,
    ) -> Result<Zeroizing<String>, String> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let rest = self.buf.split_off(end + 1);
                let mut line = std::mem::replace(&mut *self.buf, rest);
                line.pop();
                let text = String::from_utf8(line)
                    .map_err(|_| format!("{} sent something not UTF-8", at()))?;
                return Ok(Zeroizing::new(text));
            }
            if self.buf.len() > MAX_LINE {
                return Err(format!("{} sent an over-long line", at()));
            }
            self.stream
                .set_read_timeout(Some(left(until, at)?))
                .map_err(|e| format!("{}: {e}", at()))?;
            let mut chunk = Zeroizing::new([0u8; 4096]);
            let n = match self.stream.read(&mut chunk[..]) {
                Ok(0) => return Err(format!("{} closed the connection", at())),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(format!(
                        "{} did not answer within {} s",
                        at(),
                        DEADLINE.as_secs()
                    ))
                }
                Err(e) => return Err(format!("{}: {e}", at())),
            };
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A stand-in auth-master answering one connection with `reply` (after
    /// `delay`), which returns what the client sent.
    fn serve(
        reply: &'static str,
        delay: Duration,
    ) -> (tempfile::TempDir, std::thread::JoinHandle<String>) {
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(dir.path().join("auth-master")).unwrap();
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while got.iter().filter(|&&b| b == b'\n').count() < 2 {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            std::thread::sleep(delay);
            let _ = s.write_all(reply.as_bytes());
            String::from_utf8(got).unwrap()
        });
        (dir, handle)
    }

    fn source(dir: &tempfile::TempDir) -> DovecotPrimary {
        DovecotPrimary {
            socket: dir.path().join("auth-master"),
            field: "apppass_primary".into(),
        }
    }

    fn material(o: Observed) -> Option<Vec<u8>> {
        match o {
            Observed::Value { material, .. } => Some(material.to_vec()),
            _ => None,
        }
    }

    #[test]
    fn the_field_is_read_from_a_pass_reply_and_the_request_is_well_formed() {
        let (dir, h) = serve(
            "VERSION\t1\t1\nSPID\t42\nPASS\t1\tuser=ann@example.org\tapppass_primary=4eba\x01t9\tother=x\n",
            Duration::ZERO,
        );
        let got = material(source(&dir).look_up("ann@example.org"));
        assert_eq!(got.as_deref(), Some(&b"4eba\t9"[..]));
        let sent = h.join().unwrap();
        assert_eq!(
            sent,
            "VERSION\t1\t0\nPASS\t1\tann@example.org\tservice=apppass\n"
        );
    }

    #[test]
    fn a_missing_empty_or_hashed_empty_field_gives_nothing() {
        for reply in [
            "VERSION\t1\t1\nPASS\t1\tuser=ann\n",
            "VERSION\t1\t1\nPASS\t1\tuser=ann\t\n",
            "VERSION\t1\t1\nPASS\t1\tuser=ann\tapppass_primary\n",
            "VERSION\t1\t1\nPASS\t1\tuser=ann\tapppass_primary=\n",
            "VERSION\t1\t1\nPASS\t1\tuser=ann\tapppass_primary=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n",
        ] {
            let (dir, h) = serve(reply, Duration::ZERO);
            assert!(
                matches!(
                    source(&dir).look_up("ann"),
                    Observed::Nothing(FingerprintSource::Dovecot)
                ),
                "{reply:?}"
            );
            h.join().unwrap();
        }
    }

    #[test]
    fn notfound_is_unknown_and_fail_garbage_silence_or_no_socket_are_unavailable() {
        let (dir, h) = serve("VERSION\t1\t1\nNOTFOUND\t1\n", Duration::ZERO);
        assert!(matches!(
            source(&dir).look_up("ann"),
            Observed::Unknown(FingerprintSource::Dovecot)
        ));
        h.join().unwrap();
        for reply in [
            "VERSION\t1\t1\nFAIL\t1\n",
            "VERSION\t2\t0\nPASS\t1\tapppass_primary=x\n",
            "VERSION\t1\t1\nUSER\t1\tapppass_primary=x\n",
            "VERSION\t1\t1\n",
        ] {
            let (dir, h) = serve(reply, Duration::ZERO);
            assert!(
                matches!(source(&dir).look_up("ann"), Observed::Unavailable { .. }),
                "{reply:?}"
            );
            h.join().unwrap();
        }
        let gone = DovecotPrimary {
            socket: "/nonexistent/auth-master".into(),
            field: "apppass_primary".into(),
        };
        assert!(matches!(gone.look_up("ann"), Observed::Unavailable { .. }));
    }

    #[test]
    fn a_slow_answer_is_unavailable_after_the_deadline() {
        let (dir, h) = serve(
            "VERSION\t1\t1\nPASS\t1\tapppass_primary=x\n",
            Duration::from_millis(600),
        );
        let started = Instant::now();
        let r = pass_lookup(
            &dir.path().join("auth-master"),
            "ann",
            Duration::from_millis(200),
        );
        assert!(r.is_err(), "{r:?}");
        assert!(started.elapsed() < Duration::from_millis(500));
        h.join().unwrap();
    }

    #[test]
    fn a_user_name_cannot_add_a_field_or_a_request() {
        let (dir, h) = serve("VERSION\t1\t1\nNOTFOUND\t1\n", Duration::ZERO);
        let _ = source(&dir).look_up("ann\tservice=imap\nPASS\t2\troot");
        let sent = h.join().unwrap();
        assert_eq!(sent.matches('\n').count(), 2, "{sent:?}");
        assert_eq!(sent.matches('\t').count(), 5, "{sent:?}");
    }
}
