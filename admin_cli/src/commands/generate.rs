use crate::cli::{Cli, GenerateArgs};
use crate::error::CliError;
use crate::render;
use apppass_core::admin::{self, GenerateRequest};
use apppass_core::escape::for_message as esc;
use apppass_core::policy::{self, Scope};
use apppass_core::sys::{self, SystemShadow};

pub fn run(cli: &Cli, a: &GenerateArgs) -> Result<(), CliError> {
    policy::check_user(&a.user).map_err(|e| CliError::Usage(e.to_string()))?;
    check_account(a)?;
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
    let mut store = super::open(cli)?;
    let req = GenerateRequest {
        user: &a.user,
        scope,
        label: &a.label,
        expires_at,
    };
    let g = admin::generate(&mut store, &req, now, &mut rand::rngs::OsRng, &SystemShadow)?;
    drop(store);
    super::print_notices(&g.notices);
    if a.json {
        println!("{}", render::generated_json(&g));
    } else {
        println!("{}", g.secret.display().as_str());
    }
    eprintln!(
        "apppass: app password {} for {} ({}), labelled '{}', {}. It is shown only this once.",
        g.id,
        esc(&g.user),
        g.services.join(", "),
        esc(&g.label),
        match g.expires_at {
            Some(t) => format!("valid until {}", apppass_core::time::rfc3339(t)),
            None => "no expiry".into(),
        }
    );
    crate::audit::record(&format!(
        "generated app password id={} user={} label=\"{}\" services={}",
        g.id,
        esc(&g.user),
        esc(&g.label),
        g.services.join(",")
    ));
    super::flush_dovecot(cli, &g.user);
    Ok(())
}

/// The passwd checks: catch typos, keep root out unless asked.
fn check_account(a: &GenerateArgs) -> Result<(), CliError> {
    let user = esc(&a.user);
    match sys::passwd_uid(&a.user) {
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
    if a.user.chars().any(char::is_uppercase) {
        eprintln!(
            "apppass: warning: {user} has upper-case letters; Dovecot lower-cases logins by default (auth_username_format = %Lu), so such a login would never match"
        );
    }
    Ok(())
}
