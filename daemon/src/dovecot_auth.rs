//! Checks a virtual mail user's password against Dovecot's passdb through
//! its authentication socket (`auth-client`), speaking the auth protocol
//! v1: handshake, one `AUTH … PLAIN`, then `OK` or `FAIL`. Their primary
//! password lives in Dovecot, not in /etc/shadow, so PAM cannot check it.

use apppass_core::dovecot_wire::{escape, unescape, MAX_LINE};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;
use zeroize::Zeroizing;

/// Dovecot answers in milliseconds; its own failure delay is 2 s.
const TIMEOUT: Duration = Duration::from_secs(15);

pub use apppass_core::signin::Verdict;

/// Asks Dovecot at `socket` whether `password` is `user`'s, for the PAM-
/// style service `service`, from `rhost`. `Err` when Dovecot cannot be
/// asked (the caller fails closed).
pub fn authenticate(
    socket: &Path,
    service: &str,
    user: &str,
    password: &str,
    rhost: Option<IpAddr>,
) -> Result<Verdict, String> {
    let stream = UnixStream::connect(socket).map_err(|e| {
        format!(
            "cannot reach Dovecot's auth socket {} ({e})",
            socket.display()
        )
    })?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    writer
        .write_all(format!("VERSION\t1\t2\nCPID\t{}\n", std::process::id()).as_bytes())
        .map_err(|e| format!("Dovecot's auth socket: {e}"))?;
    let mut plain = false;
    loop {
        let line = read_line(&mut reader)?;
        let mut fields = line.split('\t');
        match fields.next() {
            Some("VERSION") if fields.next() != Some("1") => {
                return Err("Dovecot's auth socket speaks another major protocol version".into())
            }
            Some("MECH") if fields.next() == Some("PLAIN") => plain = true,
            Some("DONE") => break,
            _ => {}
        }
    }
    if !plain {
        return Err(
            "Dovecot offers no PLAIN mechanism on its auth socket (auth_mechanisms)".into(),
        );
    }
    // PLAIN: authorization id empty, then user and password, NUL-separated.
    let mut raw = Zeroizing::new(Vec::with_capacity(user.len() + password.len() + 2));
    raw.push(0);
    raw.extend_from_slice(user.as_bytes());
    raw.push(0);
    raw.extend_from_slice(password.as_bytes());
    let resp = Zeroizing::new(<base64ct::Base64 as base64ct::Encoding>::encode_string(
        raw.as_slice(),
    ));
    // Our own limits on sign-in attempts stand in for Dovecot's penalty,
    // which would hold this process for seconds; `nologin`: no mail
    // session follows.
    let mut request = Zeroizing::new(format!(
        "AUTH\t1\tPLAIN\tservice={}\tsecured\tno-penalty\tnologin",
        escape(service)
    ));
    if let Some(ip) = rhost {
        request.push_str(&format!("\trip={ip}"));
    }
    request.push_str(&format!("\tresp={}\n", resp.as_str()));
    writer
        .write_all(request.as_bytes())
        .map_err(|e| format!("Dovecot's auth socket: {e}"))?;
    loop {
        let line = read_line(&mut reader)?;
        let mut fields = line.split('\t');
        let (verb, id) = (fields.next(), fields.next());
        if id != Some("1") {
            continue;
        }
        let name = fields.find_map(|f| f.strip_prefix("user=")).map(unescape);
        return Ok(match verb {
            Some("OK") => Verdict::Accepted(name.unwrap_or_else(|| user.to_owned())),
            Some("FAIL") => Verdict::Refused(name),
            // A PLAIN exchange never continues; anything else is refused.
            _ => Verdict::Refused(None),
        });
    }
}

fn read_line<R: BufRead>(r: &mut R) -> Result<String, String> {
    let mut line = Vec::new();
    let n = Read::take(&mut *r, MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("Dovecot's auth socket: {e}"))?;
    if n == 0 || line.last() != Some(&b'\n') {
        return Err("Dovecot's auth socket closed the connection or sent an over-long line".into());
    }
    line.pop();
    String::from_utf8(line).map_err(|_| "Dovecot's auth socket sent something not UTF-8".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A stand-in Dovecot answering one connection with `reply`, which
    /// returns what the client sent.
    fn serve(reply: &'static str) -> (tempfile::TempDir, std::thread::JoinHandle<String>) {
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(dir.path().join("auth-client")).unwrap();
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nSPID\t1\nCUID\t1\nCOOKIE\tab\nDONE\n")
                .unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !String::from_utf8_lossy(&got).contains("resp=") || !got.ends_with(b"\n") {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(reply.as_bytes()).unwrap();
            String::from_utf8(got).unwrap()
        });
        (dir, handle)
    }

    #[test]
    fn ok_and_fail_are_read_and_the_request_is_well_formed() {
        let (dir, h) = serve("OK\t1\tuser=ann@example.org\n");
        let v = authenticate(
            &dir.path().join("auth-client"),
            "apppass-web",
            "ann@example.org",
            "pw\tx",
            Some("192.0.2.1".parse().unwrap()),
        )
        .unwrap();
        assert_eq!(v, Verdict::Accepted("ann@example.org".into()));
        let sent = h.join().unwrap();
        assert!(sent.starts_with("VERSION\t1\t2\nCPID\t"), "{sent}");
        assert!(sent.contains("AUTH\t1\tPLAIN\tservice=apppass-web\t"));
        assert!(sent.contains("\trip=192.0.2.1\t"));
        let resp = sent.split("resp=").nth(1).unwrap().trim_end();
        let raw = <base64ct::Base64 as base64ct::Encoding>::decode_vec(resp).unwrap();
        assert_eq!(raw, b"\0ann@example.org\0pw\tx");

        let (dir, h) = serve("FAIL\t1\tuser=ann\n");
        let v = authenticate(&dir.path().join("auth-client"), "s", "ann", "bad", None).unwrap();
        assert_eq!(v, Verdict::Refused(Some("ann".into())));
        h.join().unwrap();
    }

    #[test]
    fn an_absent_socket_is_an_error_not_a_refusal() {
        assert!(authenticate(Path::new("/nonexistent/auth"), "s", "u", "p", None).is_err());
    }
}
