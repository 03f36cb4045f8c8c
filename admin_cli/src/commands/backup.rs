use crate::cli::{BackupArgs, Cli};
use crate::error::CliError;

pub fn run(cli: &Cli, a: &BackupArgs) -> Result<(), CliError> {
    let store = super::open_sqlite(cli, "backup")?;
    let key = store.backup(&a.file)?;
    eprintln!(
        "apppass: wrote {} and its key {}. Keep both together; restoring them brings back passwords revoked after now.",
        a.file.display(),
        key.display()
    );
    apppass_effects::audit::record(&format!("backed up store to {}", a.file.display()));
    Ok(())
}
