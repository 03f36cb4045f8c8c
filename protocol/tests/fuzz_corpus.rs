//! The daemon_request fuzz corpus, replayed on stable in `make check`.

#[path = "../../fuzz/daemon_properties.rs"]
mod daemon_properties;

#[path = "../../fuzz/replay.rs"]
mod replay;

#[test]
fn daemon_request_corpus() {
    replay::replay("daemon_request", daemon_properties::daemon_request);
}

#[test]
fn random_requests_never_panic() {
    // A cheap stand-in for the fuzzer on stable: structured noise.
    let pieces: [&[u8]; 15] = [
        b"{",
        b"}",
        b"\"v\":2",
        b"\"op\":",
        b"\"list\"",
        b"\"generate\"",
        b",",
        b"[",
        b"]",
        b"\"services\":",
        b"\"check\"",
        b"\"user\":\"a\",\"service\":\"dav\"",
        b"\"password\":",
        b"\n",
        b"\xff",
    ];
    replay::noise(&pieces, 12, daemon_properties::daemon_request);
}
