//! What apppass-web must do with any body a browser (or anyone) posts:
//! read the form within its limits or refuse it whole with a fixed
//! sentence; never panic. Shared by the `web_form` fuzz target and
//! web/tests/fuzz_corpus.rs.

use apppass_web::form::{Form, MAX_BODY, MAX_FIELDS, MAX_VALUE};

pub fn web_form(data: &[u8]) {
    match Form::parse(data) {
        Err(e) => {
            assert!(!e.0.is_empty());
            assert!(!e.0.chars().any(char::is_control), "{:?}", e.0);
        }
        Ok(form) => {
            assert!(data.len() <= MAX_BODY, "a body over the limit was read");
            assert!(
                std::str::from_utf8(data).is_ok(),
                "a body not UTF-8 was read"
            );
            // Every name the body holds reads back within the limits, and
            // get() is the first of all().
            let names: Vec<String> = form_names(data);
            assert!(names.len() <= MAX_FIELDS, "{} fields", names.len());
            for name in &names {
                let all = form.all(name);
                assert!(!all.is_empty(), "{name:?} was lost");
                assert_eq!(form.get(name), all.first().copied());
                for v in all {
                    assert!(v.len() <= MAX_VALUE);
                    assert!(!v.contains('\u{FFFD}'));
                }
            }
        }
    }
}

/// The field names of a urlencoded body, decoded as the parser decodes
/// them (the same crate: what is checked here is the form's own limits).
fn form_names(data: &[u8]) -> Vec<String> {
    form_urlencoded::parse(data)
        .map(|(name, _)| name.into_owned())
        .collect()
}

/// What apppass-web must do with any path segment or query it is sent
/// for device setup: a profile id or token is looked up only when it is
/// exactly the 43 URL-safe characters made here; a Host header makes a QR
/// link only when it is a plain host[:port]; autoconfig's emailaddress
/// yields a host name or nothing. Never a panic. Shared by the
/// `web_link` fuzz target and web/tests/fuzz_corpus.rs.
pub fn web_link(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if apppass_web::profiles::well_formed(text) {
        assert_eq!(text.len(), apppass_web::profiles::KEY_LEN);
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
    if apppass_web::qr::host_and_port(text) {
        assert!(text.len() <= 260, "{text:?}");
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)),
            "{text:?}"
        );
    }
    if let Some(domain) = apppass_web::routes::autoconfig::domain_of(Some(text)) {
        assert!(apppass_core::setup::is_host(&domain), "{domain:?}");
        assert_eq!(domain, domain.to_ascii_lowercase());
        assert!(!domain.contains(['@', '<', '&', '"']), "{domain:?}");
    }
}
