//! The `apppass` command: a clap front end over apppass-core.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod audit;
pub mod cli;
mod commands;
pub mod dovecot;
pub mod effects;
pub mod error;
pub mod render;
mod selfservice;

use clap::Parser;
use std::process::ExitCode;

pub fn run() -> ExitCode {
    // Files the CLI creates (store, key, backups) are for root's eyes only.
    // SAFETY: umask has no preconditions and cannot fail.
    unsafe { libc::umask(0o077) };
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // clap exits 0 for --help/--version and 2 for usage errors.
            e.exit();
        }
    };
    match commands::dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("apppass: {e}");
            ExitCode::from(e.code())
        }
    }
}
