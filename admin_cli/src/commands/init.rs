use crate::cli::{Cli, InitArgs};
use crate::error::CliError;
use apppass_core::config::StoreChoice;
use apppass_core::escape::for_message as esc;
use apppass_core::revocation;
use apppass_core::store::Store;
use apppass_stores::postgres::PgStore;
use apppass_stores::sqlite::{InitOptions, SqliteStore};

pub fn run(cli: &Cli, a: &InitArgs) -> Result<(), CliError> {
    let euid = apppass_core::sys::euid();
    let choice = super::choice(cli)?;
    let target = apppass_stores::describe(&choice);
    let (mut store, created_key, from, to): (Box<dyn Store>, bool, i64, i64) = match &choice {
        StoreChoice::Sqlite { db, key } => {
            let (store, r) = SqliteStore::init_with(
                db,
                key,
                euid,
                &mut rand::rngs::OsRng,
                InitOptions { new_key: a.new_key },
            )?;
            if r.created_store {
                eprintln!(
                    "apppass: created the store {target} (schema version {})",
                    r.to_version
                );
            }
            (
                Box::new(store),
                r.created_key,
                if r.created_store {
                    r.to_version
                } else {
                    r.from_version
                },
                r.to_version,
            )
        }
        StoreChoice::Postgres {
            conninfo,
            admin_conninfo,
            key,
        } => {
            let admin_side = admin_conninfo.as_ref().unwrap_or(conninfo);
            let (store, r) = PgStore::init(
                admin_side,
                conninfo,
                key,
                euid,
                &mut rand::rngs::OsRng,
                a.new_key,
            )?;
            match &r.login_role {
                Some(role) => eprintln!(
                    "apppass: the login role {} may read passwords, record their use and revoke them on a wipe, nothing more; {} owns the schema",
                    esc(role),
                    esc(&r.admin_role)
                ),
                None => eprintln!(
                    "apppass: warning: conninfo and admin_conninfo log in as the same role ({}): a front end's credentials could create passwords; give the module a role of its own (see README, \"Several hosts: PostgreSQL\")",
                    esc(&r.admin_role)
                ),
            }
            if r.from_version == 0 {
                eprintln!(
                    "apppass: created the schema apppass in {target} (schema version {})",
                    r.to_version
                );
            }
            (
                Box::new(store),
                r.created_key,
                if r.from_version == 0 {
                    r.to_version
                } else {
                    r.from_version
                },
                r.to_version,
            )
        }
    };
    if from != to {
        eprintln!("apppass: migrated {target} from schema version {from} to {to}");
    } else if !created_key {
        eprintln!("apppass: {target} is up to date (schema version {to})");
    }
    if created_key {
        eprintln!(
            "apppass: created the key {}; back it up with the store, and copy it to every host that shares this store",
            choice.key().display()
        );
    }
    let (revoked_for_new_key, effects) = if a.new_key {
        revocation::revoke_for_new_key(store.as_mut(), super::now(), super::actor())?
    } else {
        Default::default()
    };
    drop(store);
    for (user, count) in &revoked_for_new_key {
        eprintln!(
            "apppass: revoked {count} app passwords of {}: their primary-password fingerprint was keyed with the lost key",
            esc(user)
        );
    }
    super::apply(cli, &effects);
    if created_key || from != to {
        apppass_effects::audit::record(&format!("initialised store {} schema={to}", esc(&target)));
    }
    Ok(())
}
