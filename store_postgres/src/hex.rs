//! bytea in PostgreSQL's text form: `\x` and two hex digits per byte.

pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("\\x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

pub fn decode(text: &str) -> Option<Vec<u8>> {
    let digits = text.strip_prefix("\\x")?;
    if digits.len() % 2 != 0 {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let b = [0u8, 1, 0xab, 0xff];
        assert_eq!(super::encode(&b), "\\x0001abff");
        assert_eq!(super::decode("\\x0001abff").unwrap(), b);
        assert!(super::decode("0001").is_none());
        assert!(super::decode("\\x0").is_none());
        assert!(super::decode("\\xzz").is_none());
    }
}
