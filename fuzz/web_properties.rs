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
