//! Escaping text from outside (user names, labels, remote hosts) before it
//! reaches a log line or a terminal: no control character gets through.

/// Escapes control characters, backslashes, double quotes and invalid UTF-8
/// as `\xNN`, and cuts the result at 512 bytes of input.
pub fn for_log(bytes: &[u8]) -> String {
    const MAX: usize = 512;
    let (bytes, cut) = if bytes.len() > MAX {
        (&bytes[..MAX], true)
    } else {
        (bytes, false)
    };
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() || c == '\\' || c == '"' {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    if cut {
        out.push_str("...");
    }
    out
}

/// The same for a `&str` quoted in an error message.
pub fn for_message(text: &str) -> String {
    for_log(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_bad_bytes_are_escaped() {
        assert_eq!(for_log(b"alice"), "alice");
        assert_eq!(for_log(b"al\nice"), "al\\x0aice");
        assert_eq!(for_log(b"a\x1b[31m"), "a\\x1b[31m");
        assert_eq!(for_log(b"a\\b\"c"), "a\\x5cb\\x22c");
        assert_eq!(for_log(&[b'a', 0xff, b'b']), "a\\xffb");
        assert_eq!(for_log("Zoë ✉".as_bytes()), "Zoë ✉");
        assert_eq!(for_log("a\u{85}b".as_bytes()), "a\\xc2\\x85b");
        assert!(for_log(&[b'x'; 2000]).ends_with("..."));
    }
}
