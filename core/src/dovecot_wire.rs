//! What Dovecot's auth protocols have in common: tab-separated lines, with
//! \001 escaping a tab, a line break, a NUL or itself inside a value. Used
//! by the web page's sign-in (auth-client) and by the primary-password
//! lookup (auth-master).

/// Dovecot's lines fit in 16 KiB.
pub const MAX_LINE: usize = 16 * 1024;

/// `s` escaped as a value of one field.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\x01' => out.push_str("\x011"),
            '\0' => out.push_str("\x010"),
            '\t' => out.push_str("\x01t"),
            '\r' => out.push_str("\x01r"),
            '\n' => out.push_str("\x01n"),
            c => out.push(c),
        }
    }
    out
}

/// A field's value as Dovecot meant it.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\x01' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('\0'),
            Some('1') => out.push('\x01'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('n') | Some('l') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips() {
        let s = "a\tb\nc\x01d\0e\rf";
        assert_eq!(unescape(&escape(s)), s);
        assert!(!escape(s).contains(['\t', '\n', '\0', '\r']));
    }
}
