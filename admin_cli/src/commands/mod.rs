//! One function per subcommand.

mod backup;
mod config;
mod generate;
mod history;
mod init;
mod list;
mod revoke;
mod verify;

use crate::cli::{Cli, Command};
use crate::error::CliError;
use apppass_core::store::{Opener, Store};
use std::process::ExitCode;

pub fn dispatch(cli: &Cli) -> Result<ExitCode, CliError> {
    match &cli.command {
        Command::Init => init::run(cli),
        Command::Generate(a) => generate::run(cli, a),
        Command::List(a) => list::run(cli, a),
        Command::Revoke(a) => revoke::run(cli, a),
        Command::History(a) => history::run(cli, a),
        Command::Verify(a) => verify::run(cli, a),
        Command::Config(a) => config::run(cli, a),
        Command::Backup(a) => backup::run(cli, a),
    }
    .map(|()| ExitCode::SUCCESS)
}

pub(crate) fn open(cli: &Cli) -> Result<Store, CliError> {
    Ok(Store::open(
        &cli.db,
        apppass_core::sys::euid(),
        Opener::Admin,
    )?)
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(crate) fn print_notices(notices: &[apppass_core::admin::Notice]) {
    for n in notices {
        eprintln!("apppass: {n}");
        if let apppass_core::admin::Notice::Wiped { user, count } = n {
            crate::audit::record(&format!(
                "wiped {count} app passwords user={} reason=\"primary password changed\"",
                apppass_core::escape::for_message(user)
            ));
        }
    }
}

/// Tells Dovecot to forget cached logins of `user`, so a revoke or a new
/// password takes effect at once. Never fails the command.
pub(crate) fn flush_dovecot(cli: &Cli, user: &str) {
    let doveadm = ["/usr/bin/doveadm", "/usr/local/bin/doveadm"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(doveadm) = doveadm else {
        if cli.dovecot_config.is_some() {
            eprintln!(
                "apppass: --dovecot-config given but doveadm is not installed; no cache flushed"
            );
        }
        return;
    };
    let mut cmd = std::process::Command::new(doveadm);
    if let Some(conf) = &cli.dovecot_config {
        cmd.arg("-c").arg(conf);
    }
    cmd.args(["auth", "cache", "flush", "--", user])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let shown = apppass_core::escape::for_message(user);
    match cmd.status() {
        Ok(s) if s.success() => eprintln!("apppass: flushed Dovecot's auth cache for {shown}"),
        Ok(_) | Err(_) => eprintln!(
            "apppass: could not flush Dovecot's auth cache for {shown} (is Dovecot running? point at its configuration with --dovecot-config)"
        ),
    }
}
