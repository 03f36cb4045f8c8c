//! A long-lived PAM host driven one login at a time, so that a test can
//! change the world between two logins of one process: each line read on
//! stdin is a password, and each login's PAM code is printed on a line of
//! its own.
//!
//! pam-steps CONFDIR SERVICE USER

use apppass_e2e::pam::login;
use std::io::{BufRead, Write};
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: pam-steps CONFDIR SERVICE USER");
        std::process::exit(2);
    }
    let (confdir, service, user) = (Path::new(&args[1]), &args[2], &args[3]);
    let mut out = std::io::stdout().lock();
    for password in std::io::stdin().lock().lines() {
        let (rc, _) = login(confdir, service, user, password.unwrap().as_bytes());
        writeln!(out, "{rc}").unwrap();
        out.flush().unwrap();
    }
}
