//! The built module exports the six PAM entry points and nothing else, and
//! is marked to stay loaded.

use apppass_e2e::fixture::Fixture;
use std::ffi::CString;
use std::process::Command;

const ENTRY_POINTS: [&str; 6] = [
    "pam_sm_authenticate",
    "pam_sm_setcred",
    "pam_sm_acct_mgmt",
    "pam_sm_open_session",
    "pam_sm_close_session",
    "pam_sm_chauthtok",
];

#[test]
fn dlopen_finds_the_six_entry_points() {
    let f = Fixture::uninitialised();
    let path = CString::new(f.module.to_str().unwrap()).unwrap();
    // SAFETY: dlopen of our own module, whose initialisers are Rust's.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    assert!(!handle.is_null(), "dlopen failed");
    for name in ENTRY_POINTS {
        let sym = CString::new(name).unwrap();
        // SAFETY: handle is live.
        let p = unsafe { libc::dlsym(handle, sym.as_ptr()) };
        assert!(!p.is_null(), "{name} missing");
    }
    let sym = CString::new("rust_eh_personality").unwrap();
    // SAFETY: handle is live.
    assert!(unsafe { libc::dlsym(handle, sym.as_ptr()) }.is_null());
}

#[test]
fn nothing_but_the_entry_points_is_exported() {
    let f = Fixture::uninitialised();
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&f.module)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_owned))
        .collect();
    names.sort();
    let mut want: Vec<String> = ENTRY_POINTS.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(names, want);
}

#[test]
fn the_module_is_linked_nodelete_and_against_the_system_sqlite() {
    let f = Fixture::uninitialised();
    let out = Command::new("readelf")
        .arg("-d")
        .arg(&f.module)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("NODELETE"), "{text}");
    assert!(text.contains("libsqlite3.so.0"), "{text}");
}
