use crate::cli::{Cli, Report, ReportArgs};
use crate::error::CliError;
use crate::{output, render};
use apppass_core::primary_use;

pub fn run(cli: &Cli, a: &ReportArgs) -> Result<(), CliError> {
    match &a.report {
        Report::PrimaryUse(p) => {
            let mut store = super::open(cli)?;
            let uses = primary_use::report(store.as_mut(), None, p.service.as_deref())?;
            drop(store);
            if p.json {
                println!("{}", render::primary_uses_json(&uses));
            } else if uses.is_empty() {
                output::notice(&format!(
                    "no login with the primary password recorded{}",
                    match &p.service {
                        Some(s) => format!(" for {}", apppass_core::escape::for_message(s)),
                        None => String::new(),
                    }
                ));
            } else {
                print!("{}", render::primary_uses_table(&uses));
            }
            Ok(())
        }
    }
}
