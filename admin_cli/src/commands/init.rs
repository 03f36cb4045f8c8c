use crate::cli::{Cli, InitArgs};
use crate::error::CliError;
use apppass_core::escape::for_message as esc;
use apppass_core::store::{key_path, InitOptions, Store};

pub fn run(cli: &Cli, a: &InitArgs) -> Result<(), CliError> {
    let options = InitOptions {
        new_key: a.new_key,
        now: super::now(),
    };
    let (_, r) = Store::init_with(
        &cli.db,
        apppass_core::sys::euid(),
        &mut rand::rngs::OsRng,
        options,
    )?;
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
    for (user, count) in &r.revoked_for_new_key {
        eprintln!(
            "apppass: revoked {count} app passwords of {}: their primary-password fingerprint was keyed with the lost key",
            esc(user)
        );
        crate::audit::record(&format!(
            "revoked {count} app passwords user={} reason=\"key replaced\"",
            esc(user)
        ));
    }
    if r.created_store || r.created_key || r.from_version != r.to_version {
        crate::audit::record(&format!("initialised store {db} schema={}", r.to_version));
    }
    Ok(())
}
