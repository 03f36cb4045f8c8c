//! One JSON object per line, each at most [`MAX_MESSAGE`] bytes, each
//! read whole within a deadline: a peer that trickles its bytes gets no
//! more time than one that sends them at once. Lines may hold a password
//! (an answer to a prompt, a new app password): every buffer that held
//! one is zeroized.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// The longest message either side accepts: a user's whole list or
/// history (thousands of entries) fits; nothing else comes near it.
pub const MAX_MESSAGE: usize = 1024 * 1024;
/// Read from the socket in pieces of this size.
const CHUNK: usize = 4096;

/// Why a message could not be read.
#[derive(Debug)]
pub enum RecvError {
    /// The peer went away, or the socket failed.
    Io(io::Error),
    /// The message did not arrive whole in time.
    TimedOut,
    /// Longer than [`MAX_MESSAGE`].
    TooLong,
    /// Not a message of this protocol.
    Malformed(String),
}

impl std::fmt::Display for RecvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecvError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                f.write_str("the other side closed the connection")
            }
            RecvError::Io(e) => write!(f, "{e}"),
            RecvError::TimedOut => f.write_str("the message did not arrive in time"),
            RecvError::TooLong => f.write_str("a message is too long"),
            RecvError::Malformed(why) => write!(f, "a message is not understood ({why})"),
        }
    }
}

impl std::error::Error for RecvError {}

/// A connection spoken in lines.
pub struct Channel {
    stream: UnixStream,
    /// Bytes read past the last line.
    pending: Zeroizing<Vec<u8>>,
}

impl Channel {
    pub fn new(stream: UnixStream) -> Channel {
        Channel {
            stream,
            pending: Zeroizing::new(Vec::with_capacity(CHUNK)),
        }
    }

    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// Sends one message. `within` bounds the write (a peer that stops
    /// reading cannot hold the sender); a peer that hung up is an error,
    /// never SIGPIPE (the module's host may not ignore it).
    pub fn send<T: Serialize>(&mut self, msg: &T, within: Duration) -> io::Result<()> {
        let mut line = Zeroizing::new(Vec::with_capacity(CHUNK));
        serde_json::to_writer(&mut *line, msg).map_err(io::Error::other)?;
        line.push(b'\n');
        self.stream.set_write_timeout(Some(within))?;
        apppass_core::unix_socket::send_all(&self.stream, &line)
    }

    /// Reads one message that must arrive whole within `within`.
    pub fn recv<T: DeserializeOwned>(&mut self, within: Duration) -> Result<T, RecvError> {
        let line = self.recv_line(within)?;
        serde_json::from_slice(&line).map_err(|e| RecvError::Malformed(e.to_string()))
    }

    /// Reads one line, without its newline.
    pub fn recv_line(&mut self, within: Duration) -> Result<Zeroizing<Vec<u8>>, RecvError> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(at) = self.pending.iter().position(|&b| b == b'\n') {
                if at > MAX_MESSAGE {
                    return Err(RecvError::TooLong);
                }
                let mut line = Zeroizing::new(Vec::with_capacity(at));
                line.extend_from_slice(&self.pending[..at]);
                self.pending.drain(..=at);
                return Ok(line);
            }
            if self.pending.len() > MAX_MESSAGE {
                return Err(RecvError::TooLong);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RecvError::TimedOut);
            }
            self.stream
                .set_read_timeout(Some(left))
                .map_err(RecvError::Io)?;
            let mut chunk = Zeroizing::new([0u8; CHUNK]);
            match self.stream.read(&mut chunk[..]) {
                Ok(0) => {
                    return Err(RecvError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the other side closed the connection",
                    )))
                }
                Ok(n) => self.keep(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A socket's read timeout shows as EAGAIN.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(RecvError::TimedOut),
                Err(e) => return Err(RecvError::Io(e)),
            }
        }
    }

    /// Appends to what is pending, growing it so that no copy of a secret
    /// is left behind unzeroized in a freed allocation.
    fn keep(&mut self, bytes: &[u8]) {
        let needed = self.pending.len() + bytes.len();
        if needed > self.pending.capacity() {
            let mut bigger =
                Zeroizing::new(Vec::with_capacity(needed.max(2 * self.pending.capacity())));
            bigger.extend_from_slice(&self.pending);
            self.pending = bigger;
        }
        self.pending.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::io::Write;

    #[test]
    fn messages_go_both_ways_and_lines_are_bounded() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut a, mut b) = (Channel::new(a), Channel::new(b));
        let t = Duration::from_secs(2);
        a.send(&serde_json::json!({"x": 1}), t).unwrap();
        a.send(&serde_json::json!({"y": "two"}), t).unwrap();
        assert_eq!(b.recv::<Value>(t).unwrap()["x"], 1);
        assert_eq!(b.recv::<Value>(t).unwrap()["y"], "two");
        let writer = std::thread::spawn(move || {
            let mut s = a.stream;
            let _ = s.write_all(&vec![b'a'; MAX_MESSAGE + CHUNK * 2]);
        });
        assert!(matches!(b.recv_line(t), Err(RecvError::TooLong)));
        drop(b);
        writer.join().unwrap();
    }

    #[test]
    fn a_trickled_line_gets_no_more_time_than_a_whole_one() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let trickle = std::thread::spawn(move || {
            for b in br#"{"op":"list"}"#.iter().cycle().take(40) {
                if theirs.write_all(&[*b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let mut ours = Channel::new(ours);
        let start = Instant::now();
        let got = ours.recv_line(Duration::from_millis(500));
        assert!(matches!(got, Err(RecvError::TimedOut)), "{got:?}");
        assert!(start.elapsed() < Duration::from_millis(900));
        drop(ours);
        trickle.join().unwrap();
    }

    #[test]
    fn a_peer_that_goes_away_is_an_error() {
        let (a, b) = UnixStream::pair().unwrap();
        let mut b = Channel::new(b);
        {
            let mut a = a;
            a.write_all(b"{\"half\":").unwrap();
        }
        assert!(matches!(
            b.recv_line(Duration::from_secs(1)),
            Err(RecvError::Io(_))
        ));
    }
}
