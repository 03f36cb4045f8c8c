use crate::cli::{Cli, ListArgs};
use crate::error::CliError;
use crate::output;
use apppass_core::admin;
use apppass_protocol::records::PasswordRecord;

pub fn run(cli: &Cli, a: &ListArgs) -> Result<(), CliError> {
    let now = super::now();
    let mut store = super::open(cli)?;
    let listing = admin::list(
        store.as_mut(),
        a.user.as_deref(),
        a.all,
        now,
        &super::primary(cli)?,
        super::actor(),
    )?;
    drop(store);
    super::print_notices(&listing.notices);
    super::apply(cli, &listing.effects);
    let rows = PasswordRecord::all_of(&listing, now);
    output::list(&rows, a.all, a.json);
    Ok(())
}
