//! Just enough IMAP, POP3, SMTP submission and SSH to log in, from a chosen
//! 127.0.0.x source address (Dovecot slows down an address that failed).

use socket2::{Domain, Socket, Type};
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

pub fn connect(port: u16, source: Ipv4Addr) -> TcpStream {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((source, 0)).into()).unwrap();
    sock.connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)).into(),
        Duration::from_secs(10),
    )
    .unwrap();
    let stream: TcpStream = sock.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
}

fn line(r: &mut BufReader<TcpStream>) -> String {
    let mut s = String::new();
    r.read_line(&mut s).unwrap();
    s
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// IMAP LOGIN: true on `a1 OK`.
pub fn imap_login(port: u16, source: Ipv4Addr, user: &str, password: &str) -> bool {
    let stream = connect(port, source);
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    assert!(line(&mut r).starts_with("* OK"), "IMAP greeting");
    write!(w, "a1 LOGIN {} {}\r\n", quote(user), quote(password)).unwrap();
    loop {
        let l = line(&mut r);
        assert!(!l.is_empty(), "IMAP server closed the connection");
        if let Some(rest) = l.strip_prefix("a1 ") {
            let ok = rest.starts_with("OK");
            let _ = w.write_all(b"a2 LOGOUT\r\n");
            return ok;
        }
    }
}

/// IMAP logins per second: `total` right logins from `threads` clients at
/// once (each its own connection per login). Every one must succeed.
pub fn imap_logins_per_second(
    port: u16,
    source: Ipv4Addr,
    user: &str,
    password: &str,
    total: usize,
    threads: usize,
) -> f64 {
    let each = total / threads;
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || {
                    (0..each)
                        .filter(|_| imap_login(port, source, user, password))
                        .count()
                })
            })
            .collect();
        let ok: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(ok, each * threads, "every right login succeeds");
    });
    (each * threads) as f64 / start.elapsed().as_secs_f64()
}

/// POP3 USER/PASS: true on `+OK` to PASS.
pub fn pop3_login(port: u16, source: Ipv4Addr, user: &str, password: &str) -> bool {
    let stream = connect(port, source);
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    assert!(line(&mut r).starts_with("+OK"), "POP3 greeting");
    write!(w, "USER {user}\r\n").unwrap();
    assert!(line(&mut r).starts_with("+OK"));
    write!(w, "PASS {password}\r\n").unwrap();
    let ok = line(&mut r).starts_with("+OK");
    let _ = w.write_all(b"QUIT\r\n");
    ok
}

fn smtp_reply(r: &mut BufReader<TcpStream>) -> String {
    loop {
        let l = line(r);
        assert!(l.len() >= 4, "SMTP server closed the connection");
        if l.as_bytes()[3] == b' ' {
            return l;
        }
    }
}

/// SMTP AUTH PLAIN on the submission port: true on 235.
pub fn submission_login(port: u16, source: Ipv4Addr, user: &str, password: &str) -> bool {
    let stream = connect(port, source);
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    assert!(smtp_reply(&mut r).starts_with("220"), "SMTP greeting");
    w.write_all(b"EHLO client.test\r\n").unwrap();
    assert!(smtp_reply(&mut r).starts_with("250"));
    let token = base64(format!("\0{user}\0{password}").as_bytes());
    write!(w, "AUTH PLAIN {token}\r\n").unwrap();
    let ok = smtp_reply(&mut r).starts_with("235");
    let _ = w.write_all(b"QUIT\r\n");
    ok
}

fn base64(data: &[u8]) -> String {
    use base64ct::Encoding;
    base64ct::Base64::encode_string(data)
}

/// What Postfix does for SMTP AUTH with `smtpd_sasl_type = dovecot`: one
/// PLAIN request on Dovecot's auth-client socket, with service `smtp`.
pub fn dovecot_sasl(
    socket: &std::path::Path,
    service: &str,
    source: Ipv4Addr,
    user: &str,
    password: &str,
) -> bool {
    let stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    write!(w, "VERSION\t1\t2\nCPID\t{}\n", std::process::id()).unwrap();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        assert!(!l.is_empty(), "auth socket closed");
        if l.starts_with("DONE") {
            break;
        }
    }
    let resp = base64(format!("\0{user}\0{password}").as_bytes());
    writeln!(
        w,
        "AUTH\t1\tPLAIN\tservice={service}\tnologin\tlip=127.0.0.1\trip={source}\tsecured\tresp={resp}"
    )
    .unwrap();
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l.starts_with("OK\t1")
}

#[derive(Clone, Copy, Debug)]
pub enum SshMethod {
    Password,
    KeyboardInteractive,
}

/// `ssh USER@127.0.0.1 true` through sshpass, which answers one password
/// prompt: a second prompt counts as failure.
pub fn ssh_login(
    port: u16,
    source: Ipv4Addr,
    user: &str,
    password: &str,
    method: SshMethod,
) -> bool {
    let method = match method {
        SshMethod::Password => "password",
        SshMethod::KeyboardInteractive => "keyboard-interactive",
    };
    let status = Command::new("sshpass")
        .args([
            "-p",
            password,
            "ssh",
            "-p",
            &port.to_string(),
            "-b",
            &source.to_string(),
        ])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "GSSAPIAuthentication=no",
            "-o",
            &format!("PreferredAuthentications={method}"),
            "-o",
            "NumberOfPasswordPrompts=1",
            "-o",
            "ConnectTimeout=20",
            "-o",
            "LogLevel=ERROR",
        ])
        .arg(format!("{user}@127.0.0.1"))
        .arg("true")
        .status()
        .unwrap();
    status.success()
}

/// An IMAP client that stays logged in, as a phone's mail app does: logged
/// in, INBOX selected, idling, until the server ends the connection.
pub struct ImapSession {
    w: TcpStream,
    r: BufReader<TcpStream>,
    next_tag: u32,
    idling: Option<String>,
}

/// How a connection ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// From the start of the wait to the end of the connection.
    pub after: Duration,
    /// The server's `* BYE` line, when it said goodbye before closing.
    pub bye: Option<String>,
}

impl ImapSession {
    /// Logs in with `password` from `source`, selects INBOX and idles.
    /// `None` when the login is refused.
    pub fn open(port: u16, source: Ipv4Addr, user: &str, password: &str) -> Option<ImapSession> {
        let stream = connect(port, source);
        let mut s = ImapSession {
            w: stream.try_clone().unwrap(),
            r: BufReader::new(stream),
            next_tag: 1,
            idling: None,
        };
        assert!(line(&mut s.r).starts_with("* OK"), "IMAP greeting");
        if !s.command(&format!("LOGIN {} {}", quote(user), quote(password))) {
            return None;
        }
        assert!(s.command("SELECT INBOX"), "SELECT INBOX");
        s.idle();
        Some(s)
    }

    /// Sends `text` with the next tag; whether the server answered OK.
    fn command(&mut self, text: &str) -> bool {
        let tag = format!("a{}", self.next_tag);
        self.next_tag += 1;
        write!(self.w, "{tag} {text}\r\n").unwrap();
        loop {
            let l = line(&mut self.r);
            assert!(!l.is_empty(), "IMAP server closed the connection");
            if let Some(rest) = l.strip_prefix(&format!("{tag} ")) {
                return rest.starts_with("OK");
            }
        }
    }

    fn idle(&mut self) {
        let tag = format!("a{}", self.next_tag);
        self.next_tag += 1;
        write!(self.w, "{tag} IDLE\r\n").unwrap();
        let l = line(&mut self.r);
        assert!(l.starts_with('+'), "IDLE: {l}");
        self.idling = Some(tag);
    }

    /// Waits up to `timeout` for the server to end the connection.
    pub fn closed_within(&mut self, timeout: Duration) -> Option<Closed> {
        let start = std::time::Instant::now();
        let mut bye = None;
        loop {
            let left = timeout.checked_sub(start.elapsed())?;
            self.r
                .get_ref()
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            let mut l = String::new();
            match self.r.read_line(&mut l) {
                Ok(0) => {
                    return Some(Closed {
                        after: start.elapsed(),
                        bye,
                    })
                }
                Ok(_) if l.starts_with("* BYE") => bye = Some(l.trim_end().to_string()),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return None
                }
                // A reset is an end too.
                Err(_) => {
                    return Some(Closed {
                        after: start.elapsed(),
                        bye,
                    })
                }
            }
        }
    }

    /// Ends IDLE and sends NOOP: whether the connection still works.
    pub fn noop(&mut self) -> bool {
        self.r
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        if let Some(tag) = self.idling.take() {
            if self.w.write_all(b"DONE\r\n").is_err() {
                return false;
            }
            loop {
                let mut l = String::new();
                match self.r.read_line(&mut l) {
                    Ok(n) if n > 0 => {
                        if l.starts_with(&format!("{tag} ")) {
                            break;
                        }
                    }
                    _ => return false,
                }
            }
        }
        let tag = format!("a{}", self.next_tag);
        self.next_tag += 1;
        if write!(self.w, "{tag} NOOP\r\n").is_err() {
            return false;
        }
        loop {
            let mut l = String::new();
            match self.r.read_line(&mut l) {
                Ok(n) if n > 0 => {
                    if let Some(rest) = l.strip_prefix(&format!("{tag} ")) {
                        return rest.starts_with("OK");
                    }
                }
                _ => return false,
            }
        }
    }
}
