//! RFC 4515: a user name put into a search filter as a value, so that
//! `*)(uid=*` or `al*` match nobody instead of everyone or alice.

/// `value` with `*`, `(`, `)`, `\`, NUL and every byte outside printable
/// ASCII written as `\XX`.
pub fn filter_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if matches!(b, b'*' | b'(' | b')' | b'\\' | 0) || !(0x20..0x7f).contains(&b) {
            out.push_str(&format!("\\{b:02x}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// `template` with each `%u` replaced by the escaped user name.
pub fn filter(template: &str, user: &str) -> String {
    template.replace("%u", &filter_value(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_could_widen_a_filter_is_escaped() {
        assert_eq!(filter_value("alice"), "alice");
        assert_eq!(filter_value("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
        assert_eq!(filter_value("al*"), "al\\2a");
        assert_eq!(filter_value("a\\"), "a\\5c");
        assert_eq!(filter_value("a\0b"), "a\\00b");
        assert_eq!(filter_value("zoë"), "zo\\c3\\ab");
        assert_eq!(
            filter("(&(objectClass=person)(uid=%u))", "*"),
            "(&(objectClass=person)(uid=\\2a))"
        );
    }
}
