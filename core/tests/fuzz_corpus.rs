//! Every input in the fuzz seed corpus, run through the same assertions the
//! `cargo fuzz` targets make, on the stable toolchain: inputs that once
//! found a bug stay fixed without a fuzzer in the loop.

#[path = "../../fuzz/properties.rs"]
mod properties;

#[path = "../../fuzz/replay.rs"]
mod replay;
use replay::replay;

#[test]
fn normalize_corpus() {
    replay("normalize", properties::normalize);
}

#[test]
fn expiry_corpus() {
    replay("expiry", properties::expiry);
}

#[test]
fn module_args_corpus() {
    replay("module_args", properties::module_args);
}

#[test]
fn phc_corpus() {
    replay("phc", properties::phc);
}

#[test]
fn random_module_arguments_and_expiries_never_panic() {
    let pieces: [&[u8]; 12] = [
        b"db=",
        b"config=",
        b"/var/lib/apppass/apppass.db",
        b" ",
        b"debug",
        b"any-service",
        b"=",
        b"..",
        b"\xff",
        b"90d",
        b"2027-01-31",
        b"-",
    ];
    replay::noise(&pieces, 10, properties::module_args);
    replay::noise(&pieces, 10, properties::expiry);
}
