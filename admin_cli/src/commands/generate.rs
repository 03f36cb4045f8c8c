use crate::cli::{Cli, GenerateArgs};
use crate::error::CliError;
use crate::output::{self, stdout_discarded};
use crate::profile_file::ProfileFile;
use apppass_core::admin::{self, GenerateRequest};
use apppass_core::escape::for_message as esc;
use apppass_core::networks::Networks;
use apppass_core::policy::{self, Scope};
use apppass_core::setup::DeviceSetup;
use apppass_core::sys;
use apppass_device::profile::{ProfileError, ProfileFor};
use apppass_protocol::records::{IssuedRecord, NewPasswordRecord};

pub fn run(cli: &Cli, a: &GenerateArgs) -> Result<(), CliError> {
    let user = super::admin_user(&a.user)?;
    if stdout_discarded() {
        return Err(CliError::Usage(
            "standard output is closed or /dev/null, so the new password would be lost; nothing was stored, run the command again with a working output".into(),
        ));
    }
    policy::check_user(user).map_err(|e| CliError::Usage(e.to_string()))?;
    check_account(a, user)?;
    let now = super::now();
    let scope = if a.any_service {
        Scope::Any
    } else {
        Scope::only(&a.services).map_err(|e| CliError::Usage(e.to_string()))?
    };
    let expires_at = a
        .expires
        .as_deref()
        .map(|e| apppass_core::expiry::parse(e, now))
        .transpose()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let networks = Networks::parse(&a.from).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut profile = match &a.profile {
        Some(path) => Some(ready_profile(cli, path, &scope)?),
        None => None,
    };
    let mut store = super::open(cli)?;
    let req = GenerateRequest {
        user,
        scope,
        networks,
        label: &a.label,
        expires_at,
        by: super::actor(),
        replaces: None,
    };
    let mut deliver = |g: &admin::Generated| {
        if let Some((file, setup)) = profile.as_mut() {
            let shown = g.secret.display();
            let p = ProfileFor {
                user,
                id: g.id,
                label: &g.label,
                services: &g.services,
                password: &shown,
            };
            let bytes = apppass_device::profile_for(setup, &p).map_err(std::io::Error::other)?;
            file.write(&bytes)?;
        }
        output::secret(&NewPasswordRecord::of(g), a.json)
    };
    let g = admin::generate(
        store.as_mut(),
        &req,
        now,
        &mut rand::rngs::OsRng,
        &super::primary(cli)?,
        &mut deliver,
    )?;
    drop(store);
    super::print_notices(&g.notices);
    output::issued(&IssuedRecord::of(&g));
    if let Some((file, _)) = profile {
        output::profile_written(&file.keep());
    }
    super::apply(cli, &g.effects);
    Ok(())
}

/// Before anything is generated: apppass.conf sets up something these
/// services cover, the signing certificate and key work, and `path` is
/// made, new and 0600.
fn ready_profile(
    cli: &Cli,
    path: &std::path::Path,
    scope: &Scope,
) -> Result<(ProfileFile, DeviceSetup), CliError> {
    let setup = super::device_setup(cli)?;
    if apppass_device::profile::parts_in_profile(&setup, &scope.names()).is_empty() {
        return Err(CliError::Usage(format!(
            "{}; nothing was generated",
            ProfileError::NothingToSetUp
        )));
    }
    if let (Some(cert), Some(key)) = (&setup.sign_cert, &setup.sign_key) {
        apppass_device::sign::sign(b"", cert, key)
            .map_err(|e| CliError::Store(format!("{e}; nothing was generated")))?;
    }
    Ok((ProfileFile::create(path)?, setup))
}

/// The passwd checks: catch typos, keep root out unless asked.
fn check_account(a: &GenerateArgs, name: &str) -> Result<(), CliError> {
    let user = esc(name);
    match sys::passwd_uid(name) {
        Ok(Some(0)) if !a.allow_root => Err(CliError::Usage(format!(
            "refusing an app password for {user}: it has uid 0; pass --allow-root if that is really wanted"
        ))),
        Ok(Some(_)) => Ok(()),
        Ok(None) if a.virtual_user => Ok(()),
        Ok(None) => Err(CliError::Usage(format!(
            "there is no user {user} in the passwd database; check the spelling, or pass --virtual for a user that exists only in the mail system"
        ))),
        Err(errno) => Err(CliError::Usage(format!(
            "cannot look up {user} in the passwd database (error {errno}); check NSS, or pass --virtual"
        ))),
    }?;
    if user.chars().any(char::is_uppercase) {
        eprintln!(
            "apppass: warning: {user} has upper-case letters; Dovecot lower-cases login names by default (auth_username_format = %Lu), so a login through Dovecot arrives lower-cased and would not match this password"
        );
    }
    Ok(())
}
