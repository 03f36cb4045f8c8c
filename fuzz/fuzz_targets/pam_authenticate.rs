#![no_main]

#[path = "../pam_properties.rs"]
mod pam_properties;

// Needs the main build first (make build): the module and apppass.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pam_properties::login(data));
