#![no_main]

#[path = "../web_properties.rs"]
mod web_properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| web_properties::web_link(data));
