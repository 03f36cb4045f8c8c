//! What apppassd must do with any bytes a client sends: parse the request
//! or refuse it with a printable, bounded sentence; never panic; never read
//! a line longer than the limit. Shared by the `daemon_request` fuzz target
//! and protocol/tests/fuzz_corpus.rs.

use apppass_protocol::codec::{Channel, MAX_MESSAGE};
use apppass_protocol::Envelope;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

pub fn daemon_request(data: &[u8]) {
    if let Err(e) = Envelope::parse(data) {
        assert!(!e.0.is_empty());
        assert!(e.0.len() < 4096, "a bounded sentence");
        assert!(!e.0.chars().any(char::is_control), "{:?}", e.0);
    }
    // The same bytes as they would come down the socket.
    let (mut client, daemon) = UnixStream::pair().expect("a socket pair");
    client
        .write_all(data)
        .expect("the socket takes a small input");
    drop(client);
    let mut channel = Channel::new(daemon);
    while let Ok(line) = channel.recv_line(Duration::from_secs(1)) {
        assert!(line.len() <= MAX_MESSAGE);
        assert!(!line.contains(&b'\n'));
    }
}
