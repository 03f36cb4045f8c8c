use crate::cli::{Cli, InitArgs};
use crate::error::CliError;
use apppass_core::config::{StoreChoice, DEFAULT_CONFIG};
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
    if matches!(choice, StoreChoice::Postgres { .. }) {
        start_watcher(cli.config.as_deref());
    }
    if created_key || from != to {
        apppass_effects::audit::record(&format!("initialised store {} schema={to}", esc(&target)));
    }
    Ok(())
}

/// Every host of a PostgreSQL store runs `apppass watch`, so that a revoke
/// made on any of them signs the password out here too: enabled and
/// started where systemd runs, or said what to run.
fn start_watcher(config: Option<&std::path::Path>) {
    let unit = "apppass-watch.service";
    // The shipped unit watches the store the default configuration names.
    if let Some(other) = config.filter(|c| *c != std::path::Path::new(DEFAULT_CONFIG)) {
        eprintln!(
            "apppass: every host of a PostgreSQL store runs 'apppass watch', so that a revoke made anywhere signs the password out here too; {unit} watches the store {DEFAULT_CONFIG} names, so for this one run 'apppass --config {} watch' and keep it running (a copy of the unit with that ExecStart)",
            esc(&other.display().to_string())
        );
        return;
    }
    let installed = [
        "/lib/systemd/system",
        "/etc/systemd/system",
        "/usr/lib/systemd/system",
    ]
    .iter()
    .any(|d| std::path::Path::new(d).join(unit).exists());
    if std::path::Path::new("/run/systemd/system").is_dir() && installed {
        let done = std::process::Command::new("systemctl")
            .args(["enable", "--now", unit])
            .stdin(std::process::Stdio::null())
            .output();
        match done {
            Ok(out) if out.status.success() => {
                eprintln!("apppass: {unit} is enabled: this host signs out what any host revokes")
            }
            Ok(out) => eprintln!(
                "apppass: warning: could not enable {unit} ({}); run: systemctl enable --now {unit}",
                esc(String::from_utf8_lossy(&out.stderr).trim())
            ),
            Err(e) => eprintln!(
                "apppass: warning: could not run systemctl ({e}); run: systemctl enable --now {unit}"
            ),
        }
    } else {
        eprintln!(
            "apppass: every host of a PostgreSQL store runs 'apppass watch', so that a revoke made anywhere signs the password out here too; start it and keep it running (systemctl enable --now {unit} where systemd runs)"
        );
    }
}
