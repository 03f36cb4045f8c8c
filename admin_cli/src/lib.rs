//! The `apppass` command: a clap front end over apppass-core.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod cli;
mod commands;
pub mod error;
mod output;
mod profile_file;
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
    // A user without a store of their own named on the command line
    // manages their own app passwords, through apppassd; doctor reads
    // files only and never asks apppassd.
    let own = apppass_core::sys::euid() != 0
        && cli.db.is_none()
        && cli.config.is_none()
        && !matches!(cli.command, cli::Command::Doctor(_));
    let done = if own {
        selfservice::dispatch(&cli).map(|()| ExitCode::SUCCESS)
    } else {
        commands::dispatch(&cli)
    };
    match done {
        Ok(code) => code,
        Err(e) => {
            eprintln!("apppass: {e}");
            ExitCode::from(e.code())
        }
    }
}
