//! The web page's only way to anything: apppassd's socket, spoken as in
//! apppassd's protocol module (one JSON object per line). Blocking; the
//! handlers call it on tokio's blocking pool.

use serde_json::{json, Value};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

/// apppassd's lines stay under this.
const MAX_LINE: usize = 16 * 1024;
/// A store or PAM may be slow, never this slow.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The exit codes apppassd ends an exchange with.
pub const REFUSED: u8 = 4;
pub const NOT_SIGNED_IN: u8 = 5;

#[derive(Clone, Debug)]
pub struct Daemon {
    pub socket: PathBuf,
}

/// How one request ended.
pub enum Outcome {
    /// Done; what it printed (JSON for the requests the page makes) and
    /// the lines it had for stderr.
    Done {
        stdout: Zeroizing<String>,
        notes: Vec<String>,
    },
    /// Refused or failed: apppassd's code and sentence.
    Failed { code: u8, error: String },
}

/// apppassd could not be asked at all.
#[derive(Debug)]
pub struct Unreachable(pub String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn unreachable(e: io::Error) -> Unreachable {
    Unreachable(format!("apppassd: {e}"))
}

impl Daemon {
    fn connect(&self) -> Result<UnixStream, Unreachable> {
        let s = UnixStream::connect(&self.socket).map_err(|e| {
            Unreachable(format!(
                "cannot reach apppassd at {} ({e})",
                self.socket.display()
            ))
        })?;
        s.set_read_timeout(Some(TIMEOUT)).map_err(unreachable)?;
        s.set_write_timeout(Some(TIMEOUT)).map_err(unreachable)?;
        Ok(s)
    }

    /// One request in the session `session`: `request` is an object with
    /// `op` and its fields.
    pub fn call(&self, session: &str, mut request: Value) -> Result<Outcome, Unreachable> {
        let mut s = self.connect()?;
        if let Some(o) = request.as_object_mut() {
            o.insert("v".into(), json!(1));
            o.insert("session".into(), json!(session));
        }
        write(&mut s, &request).map_err(unreachable)?;
        let mut stdout = Zeroizing::new(String::new());
        let mut notes = Vec::new();
        loop {
            let msg = read(&mut s).map_err(unreachable)?;
            if let Some(text) = msg.get("stdout").and_then(Value::as_str) {
                stdout.push_str(text);
                if msg.get("confirm") == Some(&Value::Bool(true)) {
                    // The password is in hand: it is shown on the page next.
                    write(&mut s, &json!({"delivered": true})).map_err(unreachable)?;
                }
            } else if let Some(text) = msg.get("stderr").and_then(Value::as_str) {
                notes.push(text.strip_prefix("apppass: ").unwrap_or(text).to_owned());
            } else if let Some(ok) = msg.get("ok").and_then(Value::as_bool) {
                return Ok(finish(ok, &msg, stdout, notes));
            } else if msg.get("prompt").is_some() {
                return Err(Unreachable(
                    "apppassd asked for a password inside a session".into(),
                ));
            }
        }
    }
}

fn finish(ok: bool, msg: &Value, stdout: Zeroizing<String>, notes: Vec<String>) -> Outcome {
    if ok {
        Outcome::Done { stdout, notes }
    } else {
        let (code, error) = failure(msg);
        Outcome::Failed { code, error }
    }
}

/// The code and sentence of `{"ok":false,...}`.
fn failure(msg: &Value) -> (u8, String) {
    (
        msg.get("code")
            .and_then(Value::as_u64)
            .map_or(3, |c| c.min(255) as u8),
        msg.get("error")
            .and_then(Value::as_str)
            .unwrap_or("apppassd failed")
            .to_owned(),
    )
}

/// A sign-in under way: a connection whose apppassd process waits in PAM
/// for the next answer.
pub struct SignIn {
    stream: UnixStream,
}

/// Where a sign-in stands.
pub enum Step {
    /// PAM asks something; `notes` are its messages before the question.
    Prompt {
        text: String,
        echo: bool,
        notes: Vec<String>,
    },
    /// Signed in: the session token and the user name as PAM/Dovecot have it.
    Done {
        session: Zeroizing<String>,
        user: String,
    },
    /// Not accepted (code 4), or failed.
    Failed { code: u8, error: String },
}

impl SignIn {
    pub fn start(daemon: &Daemon, user: &str, rhost: &str) -> Result<(SignIn, Step), Unreachable> {
        let mut stream = daemon.connect()?;
        write(
            &mut stream,
            &json!({"v": 1, "op": "web-sign-in", "user": user, "rhost": rhost}),
        )
        .map_err(unreachable)?;
        let mut s = SignIn { stream };
        let step = s.next()?;
        Ok((s, step))
    }

    /// Answers the question asked last.
    pub fn answer(&mut self, answer: &str) -> Result<Step, Unreachable> {
        write(&mut self.stream, &json!({"answer": answer})).map_err(unreachable)?;
        self.next()
    }

    fn next(&mut self) -> Result<Step, Unreachable> {
        let mut notes = Vec::new();
        let mut session: Option<(Zeroizing<String>, String)> = None;
        loop {
            let msg = read(&mut self.stream).map_err(unreachable)?;
            if let Some(text) = msg.get("prompt").and_then(Value::as_str) {
                let echo = msg.get("echo") == Some(&Value::Bool(true));
                return Ok(Step::Prompt {
                    text: text.to_owned(),
                    echo,
                    notes,
                });
            }
            if let Some(t) = msg
                .get("info")
                .or_else(|| msg.get("error_text"))
                .and_then(Value::as_str)
            {
                notes.push(t.to_owned());
            } else if let Some(token) = msg.get("session").and_then(Value::as_str) {
                let user = msg.get("user").and_then(Value::as_str).unwrap_or_default();
                session = Some((Zeroizing::new(token.to_owned()), user.to_owned()));
            } else if let Some(ok) = msg.get("ok").and_then(Value::as_bool) {
                return Ok(match (ok, session) {
                    (true, Some((session, user))) => Step::Done { session, user },
                    (true, None) => Step::Failed {
                        code: 3,
                        error: "apppassd made no session".into(),
                    },
                    (false, _) => {
                        let (code, error) = failure(&msg);
                        Step::Failed { code, error }
                    }
                });
            }
        }
    }
}

fn write(s: &mut UnixStream, msg: &Value) -> io::Result<()> {
    let mut line = Zeroizing::new(serde_json::to_vec(msg).map_err(io::Error::other)?);
    line.push(b'\n');
    s.write_all(&line)
}

/// One message: a line of at most [`MAX_LINE`] bytes, a JSON object.
fn read(s: &mut UnixStream) -> io::Result<Value> {
    let mut line = Zeroizing::new(Vec::new());
    let mut byte = [0u8; 1];
    loop {
        if s.read(&mut byte)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "apppassd closed the connection",
            ));
        }
        if byte[0] == b'\n' {
            break;
        }
        if line.len() >= MAX_LINE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a line from apppassd is too long",
            ));
        }
        line.push(byte[0]);
    }
    serde_json::from_slice(&line).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
