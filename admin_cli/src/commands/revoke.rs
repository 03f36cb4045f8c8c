use crate::cli::{Cli, RevokeArgs};
use crate::error::CliError;
use apppass_core::admin::{self, RevokeTarget};
use apppass_core::escape::for_message as esc;

pub fn run(cli: &Cli, a: &RevokeArgs) -> Result<(), CliError> {
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
    let done = admin::revoke(
        &mut store,
        &a.user,
        &target,
        a.reason.as_deref(),
        super::now(),
    )?;
    drop(store);
    let reason = a.reason.as_deref().unwrap_or(admin::DEFAULT_REVOKE_REASON);
    for (id, label) in &done {
        eprintln!(
            "apppass: revoked app password {id} ('{}') of {}",
            esc(label),
            esc(&a.user)
        );
        crate::audit::record(&format!(
            "revoked app password id={id} user={} label=\"{}\" reason=\"{}\"",
            esc(&a.user),
            esc(label),
            esc(reason)
        ));
    }
    super::flush_dovecot(cli, &a.user);
    Ok(())
}
