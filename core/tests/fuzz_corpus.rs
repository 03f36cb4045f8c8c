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
