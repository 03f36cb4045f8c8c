//! Escaping text from outside (user names, labels, remote hosts) before it
//! reaches a log line or a terminal: no control character gets through, and
//! a value in a log line cannot pass for another field.

/// Input beyond this many bytes is cut and marked `...`.
const MAX: usize = 512;

/// Escapes one value of a `key=value` log line: control characters,
/// whitespace, `=`, backslashes, double quotes, invisible format characters
/// and invalid UTF-8 as `\xNN`, cut at 512 bytes of input. The result is a
/// single token with no `=` in it, so however the value was chosen it
/// cannot imitate another field (`x rhost=203.0.113.66` becomes
/// `x\x20rhost\x3d203.0.113.66`), and a filter can match it as `\S*`.
pub fn for_log(bytes: &[u8]) -> String {
    escape(bytes, |c| {
        shown_in_message(c) && !c.is_whitespace() && c != '=' && !invisible(c)
    })
}

/// [`for_log`] for a `&str`: a value in an audit line.
pub fn field(value: &str) -> String {
    for_log(value.as_bytes())
}

/// A `&str` quoted in an error message or printed on a terminal: control
/// characters, backslashes and double quotes escaped as in [`for_log`];
/// spaces and `=` stay as they are, for reading.
pub fn for_message(text: &str) -> String {
    bytes_for_message(text.as_bytes())
}

/// The same for bytes that may not be UTF-8 (module arguments).
pub fn bytes_for_message(bytes: &[u8]) -> String {
    escape(bytes, shown_in_message)
}

fn shown_in_message(c: char) -> bool {
    !(c.is_control() || c == '\\' || c == '"')
}

/// Characters that show as nothing: zero-width spaces and joiners,
/// direction marks and overrides, the byte order mark. Unescaped, `ali` and
/// `ali\u{200b}` read as the same user.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{61c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
    )
}

/// Every byte of a character `keep` refuses, and every invalid byte, as
/// `\xNN`; the rest as it is.
fn escape(bytes: &[u8], keep: impl Fn(char) -> bool) -> String {
    let (bytes, cut) = if bytes.len() > MAX {
        (&bytes[..MAX], true)
    } else {
        (bytes, false)
    };
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if keep(c) {
                out.push(c);
            } else {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
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
        assert_eq!(for_log("Zoë✉".as_bytes()), "Zoë✉");
        assert_eq!(for_log("a\u{85}b".as_bytes()), "a\\xc2\\x85b");
        assert!(for_log(&[b'x'; 2000]).ends_with("..."));
    }

    #[test]
    fn a_log_value_cannot_imitate_another_field() {
        assert_eq!(
            for_log(b"x rhost=203.0.113.66"),
            "x\\x20rhost\\x3d203.0.113.66"
        );
        assert_eq!(for_log(b"a\tb"), "a\\x09b");
        assert_eq!(for_log("a\u{a0}b".as_bytes()), "a\\xc2\\xa0b");
        assert_eq!(for_log("a\u{2028}b".as_bytes()), "a\\xe2\\x80\\xa8b");
        assert_eq!(for_log("a\u{3000}b".as_bytes()), "a\\xe3\\x80\\x80b");
        assert_eq!(for_log("ali\u{200b}ce".as_bytes()), "ali\\xe2\\x80\\x8bce");
        assert_eq!(for_log("\u{202e}x".as_bytes()), "\\xe2\\x80\\xaex");
        assert_eq!(for_log("Zoë ✉".as_bytes()), "Zoë\\x20✉");
        assert_eq!(for_log(b""), "");
        // The escape character is itself escaped: the escaped text of a
        // space and of the text `\x20` differ.
        assert_eq!(for_log(b"\\x20"), "\\x5cx20");
        // Lines built from escaped values split into exactly their fields.
        let hostile = b"t ruser= rhost=203.0.113.66  user=z\n";
        let line = format!(
            "tty={} ruser={} rhost=198.51.100.23  user={}",
            for_log(hostile),
            for_log(hostile),
            for_log(hostile)
        );
        let keys: Vec<&str> = line
            .split_whitespace()
            .map(|f| f.split_once('=').unwrap().0)
            .collect();
        assert_eq!(keys, ["tty", "ruser", "rhost", "user"]);
        assert_eq!(line.matches("rhost=").count(), 1, "{line}");
    }

    #[test]
    fn no_character_survives_that_a_filter_reads_as_a_separator() {
        // Every Unicode scalar value, alone and between letters: what is
        // left unescaped is neither whitespace (Rust's and Python's `\s`,
        // which fail2ban uses, agree on these) nor `=`, a quote, a
        // backslash or a control character.
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let mut buf = [0u8; 4];
            let text = format!("a{}b", c.encode_utf8(&mut buf));
            let out = for_log(text.as_bytes());
            let body = &out[1..out.len() - 1];
            assert!(
                body.chars()
                    .all(|d| !d.is_whitespace() && !d.is_control() && !matches!(d, '=' | '"')),
                "U+{:04X} gave {out}",
                c as u32
            );
            assert!(body == c.to_string() || body.starts_with("\\x"), "{out}");
        }
    }

    #[test]
    fn messages_keep_spaces_and_equals_signs_for_reading() {
        assert_eq!(for_message("Old phone a=b"), "Old phone a=b");
        assert_eq!(for_message("a\"b\\c\nd"), "a\\x22b\\x5cc\\x0ad");
        assert_eq!(bytes_for_message(&[b'd', b'b', b'=', 0xff]), "db=\\xff");
    }
}
