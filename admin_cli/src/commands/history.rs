use crate::cli::{Cli, HistoryArgs};
use crate::error::CliError;
use crate::output;
use apppass_core::admin;
use apppass_protocol::records::EventRecord;

pub fn run(cli: &Cli, a: &HistoryArgs) -> Result<(), CliError> {
    let user = super::admin_user(&a.user)?;
    let mut store = super::open(cli)?;
    let events = admin::history(store.as_mut(), user, super::now())?;
    let mails = store.outbox(user)?;
    drop(store);
    let events = EventRecord::history(&events, &mails);
    output::history(user, &events, a.json);
    Ok(())
}
