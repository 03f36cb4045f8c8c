//! Replays a fuzz seed corpus on the stable toolchain: each input in
//! fuzz/corpus/TARGET through the same assertions the `cargo fuzz` target
//! makes, so inputs that once found a bug stay fixed without a fuzzer.
//! Included by each crate's tests/fuzz_corpus.rs.

use std::path::Path;

pub fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} fails {target}", path.display());
        count += 1;
    }
    assert!(count >= 10, "{}: only {count} inputs", dir.display());
}

/// A cheap stand-in for the fuzzer on stable: 20,000 inputs, each up to
/// `max_pieces` of `pieces` picked by a fixed xorshift sequence.
pub fn noise(pieces: &[&[u8]], max_pieces: u64, check: fn(&[u8])) {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        let mut input = Vec::new();
        for _ in 0..(seed % max_pieces) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            input.extend_from_slice(pieces[(seed % pieces.len() as u64) as usize]);
        }
        check(&input);
    }
}
