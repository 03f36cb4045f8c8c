//! One function per subcommand.

mod backup;
mod check_primary;
mod config;
mod doctor;
mod generate;
mod history;
mod init;
mod lifecycle;
mod list;
mod report;
mod restore;
mod revoke;
mod transfer;
mod verify;
mod watch;

use crate::cli::{Cli, Command};
use crate::error::CliError;
use apppass_core::config::StoreChoice;
use apppass_core::effects::Effects;
use apppass_core::store::{Opener, Store};
use apppass_stores::sqlite::SqliteStore;
use std::path::PathBuf;
use std::process::ExitCode;

/// Runs a command on the store itself (root, or a store named with --db or
/// --config); `doctor` reads files only, for anyone.
pub fn dispatch(cli: &Cli) -> Result<ExitCode, CliError> {
    let done = run(cli)?;
    // What the change calls for is mailed now; a failure to is said, and
    // the change stands.
    if matches!(
        cli.command,
        Command::Generate(_)
            | Command::List(_)
            | Command::Revoke(_)
            | Command::CheckPrimary(_)
            | Command::Rotate(_)
    ) {
        if let Err(e) = notify_now(cli, false) {
            crate::output::notice(&format!("warning: notifications not sent now: {e}"));
        }
    }
    Ok(done)
}

fn run(cli: &Cli) -> Result<ExitCode, CliError> {
    match &cli.command {
        Command::Deliver => return notify_now(cli, true).map(|()| ExitCode::SUCCESS),
        Command::Init(a) => init::run(cli, a),
        Command::Generate(a) => generate::run(cli, a),
        Command::List(a) => list::run(cli, a),
        Command::Revoke(a) => revoke::run(cli, a),
        Command::History(a) => history::run(cli, a),
        Command::CheckPrimary(a) => check_primary::run(cli, a),
        Command::Suspend(a) => lifecycle::suspend(cli, a, true),
        Command::Resume(a) => lifecycle::suspend(cli, a, false),
        Command::Rotate(a) => lifecycle::rotate(cli, a),
        Command::Verify(a) => verify::run(cli, a),
        Command::Config(a) => config::run(cli, a),
        Command::Report(a) => report::run(cli, a),
        Command::Backup(a) => backup::run(cli, a),
        Command::Restore(a) => restore::run(cli, a),
        Command::Export(a) => transfer::export(cli, a),
        Command::Import(a) => transfer::import(cli, a),
        Command::Doctor(a) => return doctor::run(cli, a),
        Command::Watch(a) => watch::run(cli, a),
    }
    .map(|()| ExitCode::SUCCESS)
}

/// Queues what is due and hands it to the MTA; with `loud`, says what was
/// done even when nothing was.
pub(crate) fn notify_now(cli: &Cli, loud: bool) -> Result<(), CliError> {
    let config = apppass_core::config::resolve_config(
        cli.config.as_deref(),
        cli.db.as_deref(),
        apppass_core::sys::euid(),
    )
    .map_err(|e| CliError::Store(format!("unusable configuration: {e}")))?;
    let mut store = open(cli)?;
    let Some(run) = apppass_effects::mail::send_due(store.as_mut(), &config.sendmail, now(), loud)?
    else {
        // Off: nothing is queued, and what was is left to `deliver`.
        return Ok(());
    };
    crate::output::delivered(&run.done, loud, run.on);
    Ok(())
}

/// The store `--db`, `--config` or the configuration file names.
pub(crate) fn choice(cli: &Cli) -> Result<StoreChoice, CliError> {
    apppass_core::config::resolve(
        cli.config.as_deref(),
        cli.db.as_deref(),
        apppass_core::sys::euid(),
    )
    .map_err(|e| CliError::Store(format!("unusable configuration: {e}")))
}

/// Where the primary password is read from, as apppass.conf says
/// (`primary`); /etc/shadow with `--db` alone.
pub(crate) fn primary(cli: &Cli) -> Result<apppass_core::primary::Configured, CliError> {
    let config = apppass_core::config::resolve_config(
        cli.config.as_deref(),
        cli.db.as_deref(),
        apppass_core::sys::euid(),
    )
    .map_err(|e| CliError::Store(format!("unusable configuration: {e}")))?;
    Ok(apppass_stores::primary(&config.primary))
}

/// What devices are set up with, as apppass.conf says; nothing with
/// `--db` alone.
pub(crate) fn device_setup(cli: &Cli) -> Result<apppass_core::setup::DeviceSetup, CliError> {
    let config = apppass_core::config::resolve_config(
        cli.config.as_deref(),
        cli.db.as_deref(),
        apppass_core::sys::euid(),
    )
    .map_err(|e| CliError::Store(format!("unusable configuration: {e}")))?;
    Ok(config.setup)
}

/// The store the command line names, behind core's trait.
pub(crate) fn open(cli: &Cli) -> Result<Box<dyn Store>, CliError> {
    Ok(apppass_stores::open(
        &choice(cli)?,
        apppass_core::sys::euid(),
        Opener::Admin,
    )?)
}

/// The SQLite store's file, for what only an SQLite store does (backup,
/// restore); a usage error for a PostgreSQL store.
pub(crate) fn sqlite_path(cli: &Cli, command: &str) -> Result<PathBuf, CliError> {
    match choice(cli)? {
        // backup and restore keep the key beside the store, as `key`.
        StoreChoice::Sqlite { db, key } if key != apppass_core::store::key_path(&db) => {
            Err(CliError::Usage(format!(
                "'{command}' keeps the key beside the store, and the configuration puts it at {}; copy the store and that key file yourself (or use 'apppass export')",
                key.display()
            )))
        }
        StoreChoice::Sqlite { db, .. } => Ok(db),
        StoreChoice::Postgres { .. } => Err(CliError::Usage(format!(
            "'{command}' copies an SQLite store's files, and this store is PostgreSQL: back it up with pg_dump (or 'apppass export FILE') and keep its key file"
        ))),
    }
}

/// The SQLite store itself, for what only SQLite does (backup).
pub(crate) fn open_sqlite(cli: &Cli, command: &str) -> Result<SqliteStore, CliError> {
    Ok(SqliteStore::open(
        &sqlite_path(cli, command)?,
        apppass_core::sys::euid(),
        Opener::Admin,
    )?)
}

/// Carries out what core asked for (audit lines, cache flushes, sessions
/// ended) and says on stderr which sessions ended; returns them.
pub(crate) fn apply(cli: &Cli, effects: &Effects) -> Vec<crate::output::SignedOut> {
    apppass_effects::apply(effects, cli.dovecot_config.as_deref(), "apppass", "")
        .into_iter()
        .inspect(crate::output::signed_out)
        .collect()
}

/// The sessions `signed` ended, in one list.
pub(crate) fn ended(
    signed: &[crate::output::SignedOut],
) -> Vec<apppass_protocol::records::EndedRecord> {
    signed.iter().flat_map(|s| s.ended.clone()).collect()
}

/// The USER argument an administrator's command needs.
pub(crate) fn admin_user(user: &Option<String>) -> Result<&str, CliError> {
    user.as_deref()
        .ok_or_else(|| CliError::Usage("name the USER whose app passwords this is about".into()))
}

/// Who this command acts as, for the history.
pub(crate) fn actor() -> apppass_core::store::Actor {
    apppass_core::store::Actor::Admin(Some(apppass_core::sys::uid()))
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(crate) fn print_notices(notices: &[apppass_core::admin::Notice]) {
    for n in notices {
        crate::output::notice(&n.to_string());
    }
}
