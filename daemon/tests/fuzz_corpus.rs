//! The daemon_request fuzz corpus, replayed on stable in `make check`.

#[path = "../../fuzz/daemon_properties.rs"]
mod daemon_properties;

#[test]
fn daemon_request_corpus() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/daemon_request");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| daemon_properties::daemon_request(&data));
        assert!(outcome.is_ok(), "{} fails daemon_request", path.display());
        count += 1;
    }
    assert!(count >= 10, "{}: only {count} inputs", dir.display());
}

#[test]
fn random_requests_never_panic() {
    // A cheap stand-in for the fuzzer on stable: structured noise.
    let pieces: [&[u8]; 12] = [
        b"{",
        b"}",
        b"\"v\":1",
        b"\"op\":",
        b"\"list\"",
        b"\"generate\"",
        b",",
        b"[",
        b"]",
        b"\"services\":",
        b"\n",
        b"\xff",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        let mut input = Vec::new();
        for _ in 0..(seed % 12) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            input.extend_from_slice(pieces[(seed % 12) as usize]);
        }
        daemon_properties::daemon_request(&input);
    }
}
