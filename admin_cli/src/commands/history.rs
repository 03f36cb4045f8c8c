use crate::cli::{Cli, HistoryArgs};
use crate::error::CliError;
use crate::render;
use apppass_core::admin;

pub fn run(cli: &Cli, a: &HistoryArgs) -> Result<(), CliError> {
    let user = super::admin_user(&a.user)?;
    let mut store = super::open(cli)?;
    let events = admin::history(store.as_mut(), user, super::now())?;
    drop(store);
    if a.json {
        println!("{}", render::events_json(&events));
    } else if events.is_empty() {
        eprintln!(
            "apppass: no history for {}",
            apppass_core::escape::for_message(user)
        );
    } else {
        print!("{}", render::events_table(&events));
    }
    Ok(())
}
