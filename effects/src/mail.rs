//! The host's MTA for notifications: `sendmail -t -i`, which every MTA on
//! Debian provides. A submission starts with nothing to send; the message
//! goes in one write (it fits the pipe's atomic size), so an apppass killed
//! before that write leaves sendmail an empty input, which it refuses
//! (no recipient), and never half a message.

use apppass_core::notify::message::MAX_MESSAGE;
use apppass_core::notify::outbox::{Handover, Mta};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the MTA may take to take a message.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Sendmail {
    pub program: PathBuf,
}

struct Submission {
    child: Child,
    program: String,
}

impl Mta for Sendmail {
    fn begin(&mut self) -> Result<Box<dyn Handover>, String> {
        let shown = apppass_core::escape::for_message(&self.program.to_string_lossy());
        let child = Command::new(&self.program)
            .args(["-t", "-i"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not run {shown}: {e}"))?;
        Ok(Box::new(Submission {
            child,
            program: shown,
        }))
    }
}

impl Handover for Submission {
    fn send(mut self: Box<Self>, message: &[u8]) -> Result<(), String> {
        if message.len() > MAX_MESSAGE {
            self.abort_child();
            return Err(format!("the message is longer than {MAX_MESSAGE} bytes"));
        }
        let written = match self.child.stdin.take() {
            Some(mut stdin) => stdin.write_all(message),
            None => Err(std::io::Error::other("no pipe to sendmail")),
        };
        if let Err(e) = written {
            self.abort_child();
            return Err(format!("{} did not take the message: {e}", self.program));
        }
        let give_up = Instant::now() + ANSWER_TIMEOUT;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < give_up => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    self.abort_child();
                    return Err(format!(
                        "{} did not answer within {} s",
                        self.program,
                        ANSWER_TIMEOUT.as_secs()
                    ));
                }
                Err(e) => return Err(format!("{}: {e}", self.program)),
            }
        };
        if status.success() {
            return Ok(());
        }
        let mut said = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.by_ref().take(4096).read_to_string(&mut said);
        }
        let first = said.lines().next().unwrap_or("").trim();
        Err(format!(
            "{} exited with {status}{}",
            self.program,
            if first.is_empty() {
                String::new()
            } else {
                format!(": {}", apppass_core::escape::for_message(first))
            }
        ))
    }

    fn abort(mut self: Box<Self>) {
        self.abort_child();
    }
}

impl Submission {
    fn abort_child(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one run of the notifications did.
pub struct Run {
    /// Whether notifications are on in the store.
    pub on: bool,
    pub done: apppass_core::notify::outbox::Delivered,
}

/// The notifications a change calls for, sent: when they are on, what is
/// due is queued and every message due is handed to `sendmail`. While
/// they are off nothing is queued or claimed (`None`), unless `even_off`
/// (`apppass deliver`, `config notify-test`), which still sends what an
/// administrator queued. The command, apppassd and the watcher all send
/// through here.
pub fn send_due(
    store: &mut dyn apppass_core::store::Store,
    sendmail: &std::path::Path,
    now: i64,
    even_off: bool,
) -> Result<Option<Run>, apppass_core::store::StoreError> {
    use apppass_core::notify;
    let on = notify::settings(store)?.mail;
    if on {
        notify::collect::collect(store, now)?;
    } else if !even_off {
        return Ok(None);
    }
    let mut mta = Sendmail {
        program: sendmail.to_path_buf(),
    };
    let done = notify::outbox::deliver(store, &mut mta, now)?;
    Ok(Some(Run { on, done }))
}
