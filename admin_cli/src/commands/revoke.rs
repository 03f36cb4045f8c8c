use crate::cli::{Cli, RevokeArgs};
use crate::error::CliError;
use crate::output;
use apppass_core::revocation::{self, RevokeTarget};
use apppass_protocol::records::Named;

pub fn run(cli: &Cli, a: &RevokeArgs) -> Result<(), CliError> {
    let user = super::admin_user(&a.user)?;
    let target = match (&a.id, &a.label, a.all) {
        (Some(id), None, false) => RevokeTarget::Id(*id),
        (None, Some(label), false) => RevokeTarget::Label(label),
        (None, None, true) => RevokeTarget::All,
        _ => {
            return Err(CliError::Usage(
                "name exactly one of an ID, --label TEXT or --all".into(),
            ))
        }
    };
    let mut store = super::open(cli)?;
    let revoked = revocation::revoke(
        store.as_mut(),
        user,
        &target,
        a.reason.as_deref(),
        super::now(),
        super::actor(),
    )?;
    drop(store);
    let named = Named::all(&revoked.done);
    output::revoked(user, &named);
    let signed = super::apply(cli, &revoked.effects);
    if a.json {
        println!(
            "{}",
            crate::render::revoked_json(user, &named, &super::ended(&signed))
        );
    }
    Ok(())
}
