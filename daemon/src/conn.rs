//! One client's connection, spoken in the protocol's messages, with the
//! deadlines a client must keep: its request within 10 seconds, an answer
//! to a prompt within 2 minutes (a person types it), and the confirmation
//! that a new password was shown within 3 seconds (the store's write lock
//! is held meanwhile, so a client must never hold it for long: an
//! administrator's revoke waits 10 seconds for the lock). Each message
//! must arrive whole in time, however slowly it is trickled.

use crate::failure::Failure;
use crate::pam::Message;
use apppass_protocol::codec::Channel;
use apppass_protocol::messages::BadRequest;
use apppass_protocol::records::NewPasswordRecord;
use apppass_protocol::{Envelope, Followup, Reply};
use std::os::unix::net::UnixStream;
use std::time::Duration;
use zeroize::Zeroizing;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(3);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// An answer to a PAM prompt is a password or a code.
const MAX_ANSWER: usize = 1024;

pub(crate) struct Conn {
    channel: Channel,
}

impl Conn {
    pub(crate) fn new(stream: UnixStream) -> Conn {
        Conn {
            channel: Channel::new(stream),
        }
    }

    /// The opening request.
    pub(crate) fn request(&mut self) -> Result<Envelope, Failure> {
        let line = self
            .channel
            .recv_line(REQUEST_TIMEOUT)
            .map_err(|e| Failure::usage(format!("no usable request ({e})")))?;
        Envelope::parse(&line).map_err(|BadRequest(e)| Failure::usage(e))
    }

    pub(crate) fn send(&mut self, reply: &Reply) -> Result<(), Failure> {
        self.channel
            .send(reply, WRITE_TIMEOUT)
            .map_err(|_| Failure::usage("the client went away"))
    }

    /// The PAM conversation: each message goes to the client, each prompt
    /// waits for its answer. `None` ends it (client gone, too slow, an
    /// answer that is not one).
    pub(crate) fn relay(&mut self) -> impl FnMut(Message<'_>) -> Option<Zeroizing<String>> + '_ {
        move |m: Message<'_>| {
            let reply = match m {
                Message::Prompt { text, echo } => Reply::Prompt {
                    text: text.to_owned(),
                    echo,
                },
                Message::Info(t) => Reply::Info { text: t.to_owned() },
                Message::Error(t) => Reply::Error { text: t.to_owned() },
            };
            self.channel.send(&reply, WRITE_TIMEOUT).ok()?;
            let Message::Prompt { .. } = m else {
                return Some(Zeroizing::new(String::new()));
            };
            match self.channel.recv::<Followup>(ANSWER_TIMEOUT).ok()? {
                Followup::Answer(a) if a.len() <= MAX_ANSWER => Some(a),
                _ => None,
            }
        }
    }

    /// Hands a new password to the client inside the write transaction:
    /// kept only once the client says, in time, that it showed it.
    pub(crate) fn deliver(&mut self, password: NewPasswordRecord) -> std::io::Result<()> {
        let reply = Reply::NewPassword { password };
        self.channel.send(&reply, WRITE_TIMEOUT)?;
        match self.channel.recv::<Followup>(CONFIRM_TIMEOUT) {
            Ok(Followup::Delivered(true)) => Ok(()),
            Ok(_) => Err(std::io::Error::other("the client did not show it")),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        }
    }
}
