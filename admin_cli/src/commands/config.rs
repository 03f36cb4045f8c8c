use crate::cli::{Cli, ConfigArgs, Setting};
use crate::error::CliError;
use apppass_core::admin;

pub fn run(cli: &Cli, a: &ConfigArgs) -> Result<(), CliError> {
    let mut store = super::open(cli)?;
    match (a.name, a.value) {
        (None, None) | (Some(Setting::MaxActive), None) => {
            let v = admin::max_active(store.as_mut())?;
            if a.name.is_some() {
                println!("{v}");
            } else {
                println!("max-active {v}");
            }
        }
        (Some(Setting::MaxActive), Some(n)) => {
            admin::set_max_active(store.as_mut(), n)?;
            eprintln!("apppass: max-active is now {n}");
            crate::audit::record(&format!("set max-active={n}"));
        }
        (None, Some(_)) => {
            return Err(CliError::Usage(
                "name the setting to change, e.g. 'config max-active 30'".into(),
            ))
        }
    }
    Ok(())
}
