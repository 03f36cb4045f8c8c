//! `suspend`, `resume` and `rotate`.

use crate::cli::{Cli, RotateArgs, SuspendArgs, WhichArgs};
use crate::error::CliError;
use crate::output;
use apppass_core::lifecycle::{self, Which};
use apppass_protocol::records::{IssuedRecord, Named, NewPasswordRecord};

fn which(a: &WhichArgs) -> Result<Which<'_>, CliError> {
    match (a.id, &a.label) {
        (Some(id), None) => Ok(Which::Id(id)),
        (None, Some(label)) => Ok(Which::Label(label)),
        _ => Err(CliError::Usage(
            "name the password by its ID or by --label TEXT".into(),
        )),
    }
}

pub fn suspend(cli: &Cli, a: &SuspendArgs, suspend: bool) -> Result<(), CliError> {
    let user = super::admin_user(&a.which.user)?;
    let which = which(&a.which)?;
    let mut store = super::open(cli)?;
    let done = lifecycle::set_suspended(
        store.as_mut(),
        user,
        which,
        suspend,
        super::now(),
        super::actor(),
    )?;
    drop(store);
    let named = Named {
        id: done.id,
        label: done.label.clone(),
    };
    output::suspended(user, &named, suspend);
    let signed = super::apply(cli, &done.effects);
    if a.json {
        println!(
            "{}",
            crate::render::suspended_json(user, &named, suspend, &super::ended(&signed))
        );
    }
    Ok(())
}

pub fn rotate(cli: &Cli, a: &RotateArgs) -> Result<(), CliError> {
    let user = super::admin_user(&a.which.user)?;
    let which = which(&a.which)?;
    if output::stdout_discarded() {
        return Err(CliError::Usage(
            "standard output is closed or /dev/null, so the new password would be lost; nothing was changed, run the command again with a working output".into(),
        ));
    }
    let mut store = super::open(cli)?;
    let g = lifecycle::rotate(
        store.as_mut(),
        (user, which, super::actor()),
        super::now(),
        &mut rand::rngs::OsRng,
        &super::primary(cli)?,
        &mut |g| output::secret(&NewPasswordRecord::of(g), a.json),
    )?;
    drop(store);
    super::print_notices(&g.notices);
    output::issued(&IssuedRecord::of(&g));
    super::apply(cli, &g.effects);
    Ok(())
}
