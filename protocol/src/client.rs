//! The one blocking client of apppassd, used by `apppass` (run by a user)
//! and by `apppass-web`: connect, send the request, read the replies,
//! answer prompts and confirm a new password.

use crate::codec::{Channel, RecvError};
use crate::messages::{Envelope, Followup, Reply};
use std::io;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// How long a write to apppassd may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where apppassd listens and how long to wait for it.
#[derive(Clone, Debug)]
pub struct Client {
    pub socket: PathBuf,
    /// For the first reply, which comes when apppassd takes the connection
    /// (it may queue it behind others), and for asking again while it says
    /// it is busy.
    pub patience: Duration,
    /// For each later reply (a prompt may wait for the store, PAM or a
    /// person's answer to the one before).
    pub each_reply: Duration,
}

/// Why apppassd could not be asked, or stopped making sense.
#[derive(Debug)]
pub enum ClientError {
    /// The socket is not there or nobody listens on it.
    Unreachable(io::Error),
    /// apppassd stayed busy (or silent) for the whole patience.
    Busy,
    /// The conversation broke off: apppassd went away, timed out or sent
    /// something this client does not understand.
    Broken(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Unreachable(e) => write!(f, "cannot reach apppassd ({e})"),
            ClientError::Busy => f.write_str("apppassd stayed busy"),
            ClientError::Broken(why) => write!(f, "apppassd: {why}"),
        }
    }
}

impl std::error::Error for ClientError {}

fn broken(e: impl std::fmt::Display) -> ClientError {
    ClientError::Broken(e.to_string())
}

impl Client {
    /// Sends `request` and reads the first reply, asking again (backing
    /// off, with a little jitter per process) while apppassd says it is
    /// busy, for at most [`Client::patience`].
    pub fn start(&self, request: &Envelope) -> Result<Conversation, ClientError> {
        self.begin(request, false)
    }

    /// As [`Client::start`], but nothing is sent unless the socket's owner,
    /// the process that listens on it, is root, as apppassd is (systemd's
    /// socket or apppassd itself); otherwise `Unreachable`. For the module,
    /// whose `socket=` may point anywhere and whose request carries a
    /// password.
    pub fn start_root_only(&self, request: &Envelope) -> Result<Conversation, ClientError> {
        self.begin(request, true)
    }

    fn begin(&self, request: &Envelope, root_only: bool) -> Result<Conversation, ClientError> {
        let give_up = Instant::now() + self.patience;
        let mut wait = Duration::from_millis(40 + u64::from(std::process::id() % 40));
        loop {
            let left = give_up.saturating_duration_since(Instant::now());
            match self.try_once(request, left, root_only)? {
                Some(c) => return Ok(c),
                None if Instant::now() + wait < give_up => {
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
                None => return Err(ClientError::Busy),
            }
        }
    }

    /// One connection; `None` when apppassd was too busy to take it.
    fn try_once(
        &self,
        request: &Envelope,
        within: Duration,
        root_only: bool,
    ) -> Result<Option<Conversation>, ClientError> {
        let stream = connect(&self.socket, within)?;
        if root_only {
            root_peer(&stream)?;
        }
        let mut channel = Channel::new(stream);
        // A busy apppassd answers and hangs up without reading: its answer
        // is there to read even when sending failed.
        let sent = channel.send(request, WRITE_TIMEOUT);
        let first = match channel.recv::<Reply>(within) {
            Ok(Reply::Busy) => return Ok(None),
            Ok(reply) => reply,
            Err(RecvError::TimedOut) => return Err(ClientError::Busy),
            Err(e) => {
                sent.map_err(broken)?;
                return Err(broken(e));
            }
        };
        sent.map_err(broken)?;
        Ok(Some(Conversation {
            channel,
            first: Some(first),
            each_reply: self.each_reply,
        }))
    }
}

/// Whether root listens at the other end, as the kernel says.
fn root_peer(stream: &UnixStream) -> Result<(), ClientError> {
    let why = match apppass_core::unix_socket::peer_uid(stream) {
        Some(0) => return Ok(()),
        Some(uid) => format!("uid {uid} listens there, not root, so it is not apppassd"),
        None => "the kernel did not say who listens there".to_owned(),
    };
    Err(ClientError::Unreachable(io::Error::new(
        io::ErrorKind::PermissionDenied,
        why,
    )))
}

/// Connects within `within`: a blocking connect to a Unix socket whose
/// backlog is full (apppassd at its cap) waits as long as the send timeout
/// allows, which std's `UnixStream::connect` leaves unbounded.
fn connect(socket: &Path, within: Duration) -> Result<UnixStream, ClientError> {
    use socket2::{Domain, SockAddr, Socket, Type};
    let s = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(ClientError::Unreachable)?;
    s.set_write_timeout(Some(within.max(Duration::from_millis(1))))
        .map_err(ClientError::Unreachable)?;
    let address = SockAddr::unix(socket).map_err(ClientError::Unreachable)?;
    match s.connect(&address) {
        Ok(()) => Ok(s.into()),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Err(ClientError::Busy)
        }
        Err(e) => Err(ClientError::Unreachable(e)),
    }
}

/// A request under way.
pub struct Conversation {
    channel: Channel,
    first: Option<Reply>,
    each_reply: Duration,
}

impl Conversation {
    /// The next reply.
    pub fn reply(&mut self) -> Result<Reply, ClientError> {
        match self.first.take() {
            Some(r) => Ok(r),
            None => self.channel.recv(self.each_reply).map_err(broken),
        }
    }

    /// Answers the prompt asked last.
    pub fn answer(&mut self, answer: &str) -> Result<(), ClientError> {
        let msg = Followup::Answer(Zeroizing::new(answer.to_owned()));
        self.channel.send(&msg, WRITE_TIMEOUT).map_err(broken)
    }

    /// Says whether the new password was shown; it is kept only if so.
    pub fn delivered(&mut self, shown: bool) -> Result<(), ClientError> {
        self.channel
            .send(&Followup::Delivered(shown), WRITE_TIMEOUT)
            .map_err(broken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_socket_root_listens_on_is_trusted() {
        // A pair's peer is this very process.
        let (ours, _theirs) = UnixStream::pair().unwrap();
        let trusted = root_peer(&ours);
        if apppass_core::sys::euid() == 0 {
            assert!(trusted.is_ok());
        } else {
            let Err(ClientError::Unreachable(e)) = trusted else {
                panic!("trusted a socket of uid {}", apppass_core::sys::euid());
            };
            assert!(e.to_string().contains("not root"), "{e}");
        }
    }
}
