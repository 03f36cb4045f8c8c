//! Posted forms (`application/x-www-form-urlencoded`), read with limits:
//! the body is bounded before it gets here, and a form with too many
//! fields, an over-long value, or a value that is not UTF-8 is refused
//! whole. Values may be passwords: they are zeroized when dropped.

use zeroize::Zeroizing;

/// No form of the page has more fields (services are a few checkboxes).
pub const MAX_FIELDS: usize = 64;
/// A label is 64 characters, a password or a code far less than this.
pub const MAX_VALUE: usize = 1024;
/// The largest body the server accepts at all.
pub const MAX_BODY: usize = 16 * 1024;

pub struct Form {
    fields: Vec<(String, Zeroizing<String>)>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct FormError(pub &'static str);

impl Form {
    pub fn parse(body: &[u8]) -> Result<Form, FormError> {
        if body.len() > MAX_BODY {
            return Err(FormError("the form is too large"));
        }
        if std::str::from_utf8(body).is_err() {
            return Err(FormError("the form is not UTF-8"));
        }
        let mut fields = Vec::new();
        for (name, value) in form_urlencoded::parse(body) {
            if fields.len() == MAX_FIELDS {
                return Err(FormError("the form has too many fields"));
            }
            if name.len() > 64 || value.len() > MAX_VALUE {
                return Err(FormError("a field of the form is too long"));
            }
            // A decoded %FF is replaced by U+FFFD: refuse rather than guess.
            if value.contains('\u{FFFD}') || name.contains('\u{FFFD}') {
                return Err(FormError("the form is not UTF-8"));
            }
            fields.push((name.into_owned(), Zeroizing::new(value.into_owned())));
        }
        Ok(Form { fields })
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (checkboxes).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_and_limits_hold() {
        let f = Form::parse(b"label=My+Phone&service=imap&service=submission&x=%C3%A9").unwrap();
        assert_eq!(f.get("label"), Some("My Phone"));
        assert_eq!(f.all("service"), vec!["imap", "submission"]);
        assert_eq!(f.get("x"), Some("é"));
        assert_eq!(f.get("none"), None);
        assert!(Form::parse(b"a=%FF").is_err());
        assert!(Form::parse(&[b'a', b'=', 0xff]).is_err());
        let long = format!("a={}", "x".repeat(MAX_VALUE + 1));
        assert!(Form::parse(long.as_bytes()).is_err());
        let many = vec!["a=1"; MAX_FIELDS + 1].join("&");
        assert!(Form::parse(many.as_bytes()).is_err());
        assert!(Form::parse(&vec![b'a'; MAX_BODY + 1]).is_err());
    }
}
