#![no_main]

#[path = "../daemon_properties.rs"]
mod daemon_properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| daemon_properties::daemon_request(data));
