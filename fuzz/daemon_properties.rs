//! What apppassd must do with any bytes a client sends: parse the request
//! or refuse it with a printable, bounded sentence; never panic; never read
//! a line longer than the limit. Shared by the `daemon_request` fuzz target
//! and daemon/tests/fuzz_corpus.rs.

use apppassd::protocol::{parse_request, read_line, MAX_LINE};

pub fn daemon_request(data: &[u8]) {
    if let Err(e) = parse_request(data) {
        assert!(!e.0.is_empty());
        assert!(e.0.len() < 4096, "a bounded sentence");
        assert!(!e.0.chars().any(char::is_control), "{:?}", e.0);
    }
    let mut input = data;
    while let Ok(line) = read_line(&mut input) {
        assert!(line.len() <= MAX_LINE);
        assert!(!line.contains(&b'\n'));
    }
}
