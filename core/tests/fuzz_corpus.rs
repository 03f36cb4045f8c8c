//! Every input in the fuzz seed corpus, run through the same assertions the
//! `cargo fuzz` targets make, on the stable toolchain: inputs that once
//! found a bug stay fixed without a fuzzer in the loop.

#[path = "../../fuzz/properties.rs"]
mod properties;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
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
