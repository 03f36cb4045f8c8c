use crate::cli::{Cli, ListArgs};
use crate::error::CliError;
use crate::render;
use apppass_core::admin;
use apppass_core::sys::SystemShadow;

pub fn run(cli: &Cli, a: &ListArgs) -> Result<(), CliError> {
    let now = super::now();
    let mut store = super::open(cli)?;
    let listing = admin::list(
        store.as_mut(),
        a.user.as_deref(),
        a.all,
        now,
        &SystemShadow,
        super::actor(),
    )?;
    drop(store);
    super::print_notices(&listing.notices);
    super::apply(cli, &listing.effects);
    let rows = listing.passwords;
    if a.json {
        println!("{}", render::passwords_json(&rows, now));
    } else if rows.is_empty() {
        eprintln!(
            "apppass: no {}app passwords",
            if a.all { "" } else { "active " }
        );
    } else {
        print!("{}", render::passwords_table(&rows, now, a.all));
    }
    Ok(())
}
