use crate::cli::Cli;
use crate::error::CliError;
use apppass_core::store::{key_path, Store};

pub fn run(cli: &Cli) -> Result<(), CliError> {
    let (_, r) = Store::init(&cli.db, apppass_core::sys::euid(), &mut rand::rngs::OsRng)?;
    let db = cli.db.display();
    if r.created_store {
        eprintln!(
            "apppass: created the store {db} (schema version {})",
            r.to_version
        );
    } else if r.from_version != r.to_version {
        eprintln!(
            "apppass: migrated {db} from schema version {} to {}",
            r.from_version, r.to_version
        );
    } else {
        eprintln!(
            "apppass: {db} is up to date (schema version {})",
            r.to_version
        );
    }
    if r.created_key {
        eprintln!(
            "apppass: created the key {}; back it up with the store (apppass backup)",
            key_path(&cli.db).display()
        );
    }
    if r.created_store || r.created_key || r.from_version != r.to_version {
        crate::audit::record(&format!("initialised store {db} schema={}", r.to_version));
    }
    Ok(())
}
