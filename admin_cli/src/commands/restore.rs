use crate::cli::{Cli, RestoreArgs};
use crate::error::CliError;
use apppass_core::escape::for_message as esc;
use apppass_stores::sqlite::SqliteStore;

pub fn run(cli: &Cli, a: &RestoreArgs) -> Result<(), CliError> {
    let db = super::sqlite_path(cli, "restore")?;
    let (store, report) =
        SqliteStore::restore(&db, &a.file, apppass_core::sys::euid(), super::now())?;
    drop(store);
    if let Some(aside) = &report.moved_aside {
        eprintln!(
            "apppass: the store {} could not be opened; moved it aside to {}",
            db.display(),
            aside.display()
        );
    }
    if let Some(old) = &report.old_key {
        eprintln!(
            "apppass: the key beside the store was a different one; kept it as {}",
            old.display()
        );
    }
    eprintln!(
        "apppass: restored {} from {} and its key",
        db.display(),
        a.file.display()
    );
    apppass_effects::audit::record(&format!("restored store from {}", a.file.display()));
    if !report.revived.is_empty() {
        eprintln!(
            "apppass: {} app passwords revoked after the backup was taken are active again; revoke them again with:",
            report.revived.len()
        );
        for (id, user, label) in &report.revived {
            eprintln!(
                "  apppass revoke '{}' {id}    # '{}'",
                esc(user).replace('\'', "'\\''"),
                esc(label)
            );
        }
    }
    Ok(())
}
