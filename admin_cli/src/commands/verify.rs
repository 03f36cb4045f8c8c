use crate::cli::{Cli, VerifyArgs};
use crate::error::CliError;
use apppass_core::escape::for_message as esc;
use apppass_core::hashing::HeapMemory;
use apppass_core::login::{authenticate, LoginRequest, Outcome};
use apppass_core::policy;
use apppass_core::secret::NormalizedSecret;
use std::io::{BufRead, IsTerminal};
use zeroize::Zeroizing;

pub fn run(cli: &Cli, a: &VerifyArgs) -> Result<(), CliError> {
    let service =
        policy::normalize_service(&a.service).map_err(|e| CliError::Usage(e.to_string()))?;
    let typed = read_password()?;
    let not_so = || {
        CliError::NotSo(format!(
            "that is not a valid app password of {} for {}",
            esc(&a.user),
            service
        ))
    };
    let secret = NormalizedSecret::from_candidate(typed.trim_end_matches(['\n', '\r']).as_bytes())
        .ok_or_else(not_so)?;
    let mut store = super::open(cli)?;
    let req = LoginRequest {
        user: &a.user,
        service: &service,
        rhost: None,
        now: super::now(),
        side_effects: false,
    };
    match authenticate(
        store.as_mut(),
        &req,
        &secret,
        &mut HeapMemory::default(),
        &super::primary(cli)?,
    )? {
        Outcome::Success { id, label } => {
            eprintln!(
                "apppass: valid: app password {id} ('{}') of {} for {service}",
                esc(&label),
                esc(&a.user)
            );
            Ok(())
        }
        Outcome::Refused(reason) => {
            eprintln!("apppass: {reason}");
            Err(not_so())
        }
    }
}

fn read_password() -> Result<Zeroizing<String>, CliError> {
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password("App password: ")
            .map(Zeroizing::new)
            .map_err(|e| {
                CliError::Usage(format!("cannot read the password from the terminal: {e}"))
            });
    }
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Usage(format!("cannot read the password from stdin: {e}")))?;
    Ok(line)
}
