//! The web_form fuzz corpus, replayed on stable in `make check`, and
//! structured noise in the fuzzer's place.

#[path = "../../fuzz/web_properties.rs"]
mod web_properties;

#[path = "../../fuzz/replay.rs"]
mod replay;

#[test]
fn web_form_corpus() {
    replay::replay("web_form", web_properties::web_form);
}

#[test]
fn random_forms_never_panic_and_keep_their_limits() {
    let pieces: [&[u8]; 14] = [
        b"&",
        b"=",
        b"+",
        b"%",
        b"%2",
        b"%41",
        b"%FF",
        b"%C3%A9",
        b"label",
        b"service",
        b"csrf",
        b"x",
        b"\xff",
        b"%EF%BF%BD",
    ];
    replay::noise(&pieces, 40, web_properties::web_form);
}

#[test]
fn web_link_corpus() {
    replay::replay("web_link", web_properties::web_link);
}

#[test]
fn random_links_never_panic_and_keep_their_limits() {
    let pieces: [&[u8]; 16] = [
        b"A",
        b"z",
        b"-",
        b"_",
        b".",
        b":",
        b"[",
        b"]",
        b"::1",
        b"443",
        b"@",
        b"emailaddress=",
        b"%40",
        b"&",
        b"example.org",
        b"\xc3\xa9",
    ];
    replay::noise(&pieces, 50, web_properties::web_link);
}
