use crate::cli::{Cli, GenerateArgs};
use crate::error::CliError;
use crate::render;
use apppass_core::admin::{self, GenerateRequest};
use apppass_core::escape::for_message as esc;
use apppass_core::networks::Networks;
use apppass_core::policy::{self, Scope};
use apppass_core::sys::{self, SystemShadow};
use std::io::Write;

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
    let mut deliver = |g: &admin::Generated| print_secret(g, a.json);
    let g = admin::generate(
        store.as_mut(),
        &req,
        now,
        &mut rand::rngs::OsRng,
        &SystemShadow,
        &mut deliver,
    )?;
    drop(store);
    super::print_notices(&g.notices);
    eprintln!("apppass: {}", render::generated_summary(&g));
    super::apply(cli, &g.effects);
    Ok(())
}

/// Prints a new password on stdout, alone or as JSON. Called inside the
/// write transaction: if stdout is closed, full or a broken pipe, the
/// password is not stored.
pub(crate) fn print_secret(g: &admin::Generated, json: bool) -> std::io::Result<()> {
    let text = if json {
        zeroize::Zeroizing::new(render::generated_json(g))
    } else {
        g.secret.display()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
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

/// Whether what is printed on stdout goes nowhere. A closed stdout counts:
/// the Rust runtime reopens a closed standard descriptor on /dev/null.
pub(crate) fn stdout_discarded() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
        return true;
    };
    let (Ok(out), Ok(null)) = (
        std::fs::File::from(fd).metadata(),
        std::fs::metadata("/dev/null"),
    ) else {
        return false;
    };
    out.file_type().is_char_device() && out.rdev() == null.rdev()
}
