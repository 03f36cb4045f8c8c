//! One function per subcommand.

mod backup;
mod config;
mod generate;
mod history;
mod init;
mod list;
mod restore;
mod revoke;
mod transfer;
mod verify;

use crate::cli::{Cli, Command};
use crate::error::CliError;
use apppass_core::config::StoreChoice;
use apppass_core::effects::{Effect, Effects};
use apppass_core::store::{Opener, Store};
use apppass_stores::sqlite::SqliteStore;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn dispatch(cli: &Cli) -> Result<ExitCode, CliError> {
    match &cli.command {
        Command::Init(a) => init::run(cli, a),
        Command::Generate(a) => generate::run(cli, a),
        Command::List(a) => list::run(cli, a),
        Command::Revoke(a) => revoke::run(cli, a),
        Command::History(a) => history::run(cli, a),
        Command::Verify(a) => verify::run(cli, a),
        Command::Config(a) => config::run(cli, a),
        Command::Backup(a) => backup::run(cli, a),
        Command::Restore(a) => restore::run(cli, a),
        Command::Export(a) => transfer::export(cli, a),
        Command::Import(a) => transfer::import(cli, a),
    }
    .map(|()| ExitCode::SUCCESS)
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

/// Carries out what core asked for: audit lines, then cache flushes.
pub(crate) fn apply(cli: &Cli, effects: &Effects) {
    for e in effects.iter() {
        match e {
            Effect::Audit(line) => crate::audit::record(line),
            Effect::FlushAuthCache(user) => flush_dovecot(cli, user),
        }
    }
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
        eprintln!("apppass: {n}");
    }
}

/// Tells Dovecot to forget cached logins of `user`, so a revoke or a new
/// password takes effect at once. Never fails the command. doveadm exits 0
/// even when it could not reach Dovecot (it prints an `Error:` line and
/// "0 cache entries flushed"), so success is read from its output: no
/// error line and the "N cache entries flushed" line.
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
    // No Dovecot running anywhere: there is no cache to flush. One that
    // runs with a configuration doveadm cannot find is reported below.
    if cli.dovecot_config.is_none() && !dovecot_running() {
        return;
    }
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    if let Some(conf) = &cli.dovecot_config {
        args.push("-c".into());
        args.push(conf.into());
    }
    for a in ["auth", "cache", "flush", "--", user] {
        args.push(a.into());
    }
    let shown = apppass_core::escape::for_message(user);
    let output = std::process::Command::new(doveadm)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output();
    match output.as_ref().map(flush_result) {
        Ok(Ok(count)) => eprintln!(
            "apppass: flushed Dovecot's auth cache for {shown} ({count} entries)"
        ),
        Ok(Err(why)) => eprintln!(
            "apppass: warning: Dovecot's auth cache was NOT flushed for {shown} ({why}); until you run\n  {}\na cached login of {shown} may keep working for up to auth_cache_ttl (give Dovecot's configuration with --dovecot-config FILE if it is not the default)",
            shell_words(doveadm, &args)
        ),
        Err(e) => eprintln!(
            "apppass: warning: could not run {doveadm} ({e}); Dovecot's auth cache was NOT flushed for {shown}"
        ),
    }
}

/// The number of entries doveadm reports flushed, or why it did not flush.
fn flush_result(out: &std::process::Output) -> Result<u64, String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let problem = stderr
        .lines()
        .find(|l| l.starts_with("Error:") || l.starts_with("Fatal:") || l.starts_with("Panic:"));
    if let Some(line) = problem {
        return Err(apppass_core::escape::for_message(line.trim()));
    }
    if !out.status.success() {
        return Err(format!("doveadm exited with {}", out.status));
    }
    stdout
        .lines()
        .find_map(|l| {
            l.strip_suffix(" cache entries flushed")?
                .trim()
                .parse()
                .ok()
        })
        .ok_or_else(|| "doveadm did not confirm the flush".to_string())
}

/// A command line the administrator can paste: every argument quoted
/// where the shell would split or expand it.
fn shell_words(program: &str, args: &[std::ffi::OsString]) -> String {
    let quote = |w: &str| {
        if !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b))
        {
            w.to_string()
        } else {
            format!("'{}'", w.replace('\'', "'\\''"))
        }
    };
    std::iter::once(program.to_string())
        .chain(
            args.iter()
                .map(|a| quote(&apppass_core::escape::for_message(&a.to_string_lossy()))),
        )
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a Dovecot master process runs on this host.
fn dovecot_running() -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return true;
    };
    procs.flatten().any(|p| {
        std::fs::read_to_string(p.path().join("comm")).is_ok_and(|c| c.trim_end() == "dovecot")
    })
}
