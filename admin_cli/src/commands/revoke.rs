use crate::cli::{Cli, RevokeArgs};
use crate::error::CliError;
use apppass_core::admin::{self, RevokeTarget};
use apppass_core::escape::for_message as esc;

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
    let revoked = admin::revoke(
        store.as_mut(),
        user,
        &target,
        a.reason.as_deref(),
        super::now(),
        super::actor(),
    )?;
    drop(store);
    for (id, label) in &revoked.done {
        eprintln!(
            "apppass: revoked app password {id} ('{}') of {}",
            esc(label),
            esc(user)
        );
    }
    super::apply(cli, &revoked.effects);
    Ok(())
}
