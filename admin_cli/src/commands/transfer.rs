//! `export` and `import`: a whole store as one JSON file.

use crate::cli::{Cli, TransferArgs};
use crate::error::CliError;
use apppass_core::escape::for_message as esc;
use apppass_core::transfer::{self, TransferError};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;

/// An export of a million passwords is a few hundred MiB; more is not one.
const MAX_IMPORT_BYTES: u64 = 1 << 30;

pub fn export(cli: &Cli, a: &TransferArgs) -> Result<(), CliError> {
    let mut store = super::open(cli)?;
    let snap = store.snapshot()?;
    let text = transfer::export(&snap, super::now());
    let io = |e: std::io::Error| {
        CliError::Store(format!(
            "cannot write {}: {e}",
            esc(&a.file.display().to_string())
        ))
    };
    // Hashes are in it: private, never over an existing file or a link.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&a.file)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => CliError::Usage(format!(
                "{} already exists; choose a new file name so nothing is overwritten",
                esc(&a.file.display().to_string())
            )),
            _ => io(e),
        })?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&a.file);
        return Err(io(e));
    }
    eprintln!(
        "apppass: exported {} passwords, {} history events and {} fingerprints from {} to {}; it holds password hashes: keep it private, and take the key file with it",
        snap.passwords.len(),
        snap.events.len(),
        snap.fingerprints.len(),
        store.describe(),
        esc(&a.file.display().to_string())
    );
    apppass_effects::audit::record(&format!(
        "exported store to {}",
        esc(&a.file.display().to_string())
    ));
    Ok(())
}

pub fn import(cli: &Cli, a: &TransferArgs) -> Result<(), CliError> {
    let shown = esc(&a.file.display().to_string());
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&a.file)
        .map_err(|e| CliError::Usage(format!("cannot read {shown}: {e}")))?;
    let mut text = zeroize::Zeroizing::new(String::new());
    file.take(MAX_IMPORT_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| CliError::Usage(format!("cannot read {shown} as text: {e}")))?;
    if text.len() as u64 > MAX_IMPORT_BYTES {
        return Err(CliError::Usage(format!(
            "{shown} is larger than 1 GiB: not an apppass export"
        )));
    }
    let snap = transfer::parse(&text).map_err(|e| CliError::Usage(format!("{shown}: {e}")))?;
    let mut store = super::open(cli)?;
    transfer::import(store.as_mut(), &snap).map_err(|e| match e {
        TransferError::Store(s) => CliError::from(s),
        other => CliError::Usage(other.to_string()),
    })?;
    eprintln!(
        "apppass: imported {} passwords, {} history events and {} fingerprints into {}",
        snap.passwords.len(),
        snap.events.len(),
        snap.fingerprints.len(),
        store.describe()
    );
    apppass_effects::audit::record(&format!("imported store from {shown}"));
    Ok(())
}
