use crate::cli::{Cli, InitArgs};
use crate::error::CliError;
use apppass_core::admin;
use apppass_core::escape::for_message as esc;
use apppass_core::store::key_path;
use apppass_store_sqlite::{InitOptions, SqliteStore};

pub fn run(cli: &Cli, a: &InitArgs) -> Result<(), CliError> {
    let options = InitOptions { new_key: a.new_key };
    let (mut store, r) = SqliteStore::init_with(
        &cli.db,
        &key_path(&cli.db),
        apppass_core::sys::euid(),
        &mut rand::rngs::OsRng,
        options,
    )?;
    let (revoked_for_new_key, effects) = if a.new_key {
        admin::revoke_for_new_key(&mut store, super::now())?
    } else {
        Default::default()
    };
    drop(store);
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
    for (user, count) in &revoked_for_new_key {
        eprintln!(
            "apppass: revoked {count} app passwords of {}: their primary-password fingerprint was keyed with the lost key",
            esc(user)
        );
    }
    super::apply(cli, &effects);
    if r.created_store || r.created_key || r.from_version != r.to_version {
        crate::audit::record(&format!("initialised store {db} schema={}", r.to_version));
    }
    Ok(())
}
