fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    // Export only the pam_sm_* entry points.
    println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={dir}/exports.map");
    // Stay mapped after pam_end: a long-lived host (Dovecot's auth worker)
    // then loads, relocates and initialises the module and libsqlite3 once
    // instead of on every login.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo:rerun-if-changed=exports.map");
}
