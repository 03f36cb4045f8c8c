//! The request protocol between `apppass` (run by a user) and `apppassd`,
//! version 1: one JSON object per line, in both directions, each at most
//! [`MAX_LINE`] bytes.
//!
//! The client opens with one request:
//!
//! ```text
//! {"v":1,"op":"generate","services":["imap"],"label":"Phone","expires":"90d","from":["192.0.2.0/24"],"json":false}
//! {"v":1,"op":"list","all":false,"json":false}
//! {"v":1,"op":"revoke","id":3}            (or "label":"Phone", or "all":true; "reason" optional)
//! {"v":1,"op":"history","json":false}
//! {"v":1,"op":"suspend","id":3}           (or "label":"Phone"; "resume" likewise)
//! {"v":1,"op":"rotate","id":3,"json":false}
//! ```
//!
//! There is no user in a request: the daemon acts for the uid the kernel
//! reports for the socket's peer. Any field it does not know is an error.
//!
//! The web page (`apppass-web`, and only the uid named by `web_user`) signs
//! users in and then acts through their sessions:
//!
//! ```text
//! {"v":1,"op":"web-sign-in","user":"alice","rhost":"203.0.113.7"}
//!     prompts as below; on success {"session":"TOKEN","user":"alice"}
//! {"v":1,"session":"TOKEN","op":"list","json":true}   (any operation above)
//! {"v":1,"session":"TOKEN","op":"web-info"}   {"stdout":"{\"user\":…,\"services\":[…]}"}
//! {"v":1,"session":"TOKEN","op":"web-sign-out"}
//! ```
//!
//! A session that is unknown, idle for 15 minutes or older than 8 hours
//! ends the exchange with code 5.
//! The daemon then sends, in order, any of
//!
//! ```text
//! {"prompt":"Password: ","echo":false}   the client answers {"answer":"..."}
//! {"info":"..."} / {"error_text":"..."}   PAM messages, shown on stderr
//! {"stderr":"..."}                        a line for stderr
//! {"stdout":"...","confirm":true}         output; with confirm, the client
//!                                         answers {"delivered":true} once printed
//! ```
//!
//! and ends with `{"ok":true}` or `{"ok":false,"code":N,"error":"..."}`
//! (the exit code: 1 not so, 2 usage, 3 store, 4 refused, 5 not signed in).
//!
//! A connection turned away because its uid's places are all taken gets
//! `{"busy":true}` first: the client may ask again in a moment.
//!
//! Each message must arrive whole in time: the request within 10 seconds,
//! an answer to a prompt within 2 minutes, the confirmation of a printed
//! password within 3 seconds (the store waits for it).

use serde::Deserialize;
use serde_json::Value;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

pub const VERSION: u64 = 1;
/// No message of the protocol comes near this.
pub const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum Request {
    Generate {
        services: Vec<String>,
        label: String,
        #[serde(default)]
        expires: Option<String>,
        /// Networks (`--from`), at most [`apppass_core::networks::MAX_NETWORKS`].
        #[serde(default)]
        from: Vec<String>,
        #[serde(default)]
        json: bool,
    },
    List {
        #[serde(default)]
        all: bool,
        #[serde(default)]
        json: bool,
    },
    Revoke {
        #[serde(default)]
        id: Option<i64>,
        #[serde(default)]
        label: Option<String>,
        #[serde(default)]
        all: bool,
        #[serde(default)]
        reason: Option<String>,
    },
    History {
        #[serde(default)]
        json: bool,
    },
    Suspend {
        #[serde(default)]
        id: Option<i64>,
        #[serde(default)]
        label: Option<String>,
    },
    Resume {
        #[serde(default)]
        id: Option<i64>,
        #[serde(default)]
        label: Option<String>,
    },
    Rotate {
        #[serde(default)]
        id: Option<i64>,
        #[serde(default)]
        label: Option<String>,
        #[serde(default)]
        json: bool,
    },
    /// The web page signs `user` in; `rhost` is the browser's address.
    #[serde(rename = "web-sign-in")]
    WebSignIn {
        user: String,
        #[serde(default)]
        rhost: Option<String>,
    },
    #[serde(rename = "web-info")]
    WebInfo {},
    #[serde(rename = "web-sign-out")]
    WebSignOut {},
}

/// A request and the web session it is made in, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub request: Request,
    pub session: Option<String>,
}

/// Why a request line was refused; the sentence goes back to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(pub String);

/// Parses the opening request: an object with `"v": 1`, a known `op`, and
/// perhaps a `"session"` string.
pub fn parse_request(line: &[u8]) -> Result<Envelope, BadRequest> {
    let mut value: Value = serde_json::from_slice(line)
        .map_err(|e| BadRequest(format!("the request is not JSON ({e})")))?;
    let obj = value
        .as_object_mut()
        .ok_or_else(|| BadRequest("the request is not a JSON object".into()))?;
    match obj.remove("v").and_then(|v| v.as_u64()) {
        Some(VERSION) => {}
        Some(v) => {
            return Err(BadRequest(format!(
                "protocol version {v}; this apppassd speaks version {VERSION}: use the apppass of the same release"
            )))
        }
        None => return Err(BadRequest("the request has no protocol version \"v\"".into())),
    }
    let session = match obj.remove("session") {
        None => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(BadRequest("\"session\" must be a string".into())),
    };
    let request = serde_json::from_value(value).map_err(|e| {
        BadRequest(format!(
            "the request is not one apppassd understands ({})",
            apppass_core::escape::for_message(&e.to_string())
        ))
    })?;
    Ok(Envelope { request, session })
}

/// Reads one line of at most [`MAX_LINE`] bytes (without the newline).
/// A longer line, end of input before a newline, or a timeout is an error.
pub fn read_line<R: Read>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match r.read(&mut byte)? {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer went away",
                ))
            }
            _ if byte[0] == b'\n' => return Ok(line),
            _ if line.len() >= MAX_LINE => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a line is too long",
                ))
            }
            _ => line.push(byte[0]),
        }
    }
}

/// Reads one line, as [`read_line`], that must arrive whole within
/// `limit`: a client that trickles its bytes gets no more time than one
/// that sends them at once.
pub fn read_line_within(stream: &mut UnixStream, limit: Duration) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + limit;
    let mut timed = Deadline { stream, deadline };
    read_line(&mut timed)
}

/// A stream whose reads all end by one deadline.
struct Deadline<'a> {
    stream: &'a mut UnixStream,
    deadline: Instant,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the message did not arrive in time",
            ));
        }
        self.stream.set_read_timeout(Some(left))?;
        match self.stream.read(buf) {
            // A socket's read timeout shows as EAGAIN.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the message did not arrive in time",
            )),
            r => r,
        }
    }
}

/// Writes one message as a line.
pub fn write_message<W: Write>(w: &mut W, msg: &Value) -> io::Result<()> {
    let mut text = serde_json::to_vec(msg).map_err(io::Error::other)?;
    text.push(b'\n');
    w.write_all(&text)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_anything_else_is_refused() {
        assert_eq!(
            parse_request(br#"{"v":1,"op":"list"}"#).unwrap(),
            Envelope {
                request: Request::List {
                    all: false,
                    json: false
                },
                session: None
            }
        );
        assert!(matches!(
            parse_request(br#"{"v":1,"op":"generate","services":["imap"],"label":"P"}"#),
            Ok(Envelope {
                request: Request::Generate { .. },
                ..
            })
        ));
        assert!(matches!(
            parse_request(br#"{"v":1,"op":"generate","services":["imap"],"label":"P","from":["10.0.0.0/8"]}"#),
            Ok(Envelope { request: Request::Generate { from, .. }, .. }) if from == ["10.0.0.0/8"]
        ));
        assert!(matches!(
            parse_request(br#"{"v":1,"op":"suspend","label":"P"}"#),
            Ok(Envelope {
                request: Request::Suspend { .. },
                ..
            })
        ));
        assert!(matches!(
            parse_request(br#"{"v":1,"op":"rotate","id":4,"json":true}"#),
            Ok(Envelope {
                request: Request::Rotate {
                    id: Some(4),
                    json: true,
                    ..
                },
                ..
            })
        ));
        let web = parse_request(br#"{"v":1,"session":"abc","op":"web-info"}"#).unwrap();
        assert_eq!(web.request, Request::WebInfo {});
        assert_eq!(web.session.as_deref(), Some("abc"));
        assert!(matches!(
            parse_request(br#"{"v":1,"op":"web-sign-in","user":"alice","rhost":"::1"}"#),
            Ok(Envelope {
                request: Request::WebSignIn { .. },
                session: None
            })
        ));
        for bad in [
            &br#"{"op":"list"}"#[..],
            br#"{"v":2,"op":"list"}"#,
            br#"{"v":1,"op":"list","user":"root"}"#,
            br#"{"v":1,"op":"list","uid":0}"#,
            br#"{"v":1,"op":"drop"}"#,
            br#"[1,2]"#,
            b"\xff\xfe",
            br#"{"v":1,"op":"revoke","id":"3; DROP"}"#,
            br#"{"v":1,"op":"list","session":7}"#,
            br#"{"v":1,"op":"web-sign-out","user":"bob"}"#,
            br#"{"v":1,"op":"web-sign-in"}"#,
            br#"{"v":1,"op":"rotate","id":3,"user":"bob"}"#,
            br#"{"v":1,"op":"generate","services":["imap"],"label":"P","from":"10.0.0.0/8"}"#,
        ] {
            assert!(
                parse_request(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_trickled_line_gets_no_more_time_than_a_whole_one() {
        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        let trickle = std::thread::spawn(move || {
            for b in br#"{"v":1,"op":"list"}"#.iter().cycle().take(40) {
                if theirs.write_all(&[*b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let start = Instant::now();
        let got = read_line_within(&mut ours, Duration::from_millis(500));
        assert_eq!(got.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() < Duration::from_millis(900));
        drop(ours);
        trickle.join().unwrap();
    }

    #[test]
    fn lines_are_bounded() {
        let long = vec![b'a'; MAX_LINE + 10];
        assert!(read_line(&mut &long[..]).is_err());
        assert!(read_line(&mut &b"no newline"[..]).is_err());
        assert_eq!(read_line(&mut &b"ok\nrest"[..]).unwrap(), b"ok");
    }
}
