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
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20_000 {
        let mut input = Vec::new();
        for _ in 0..(seed % 40) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            input.extend_from_slice(pieces[(seed % 14) as usize]);
        }
        web_properties::web_form(&input);
    }
}
