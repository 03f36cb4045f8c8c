#![no_main]

#[allow(dead_code)] // each target uses one of the shared checks
#[path = "../properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::expiry(data));
