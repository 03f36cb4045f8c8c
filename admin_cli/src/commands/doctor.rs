//! `apppass doctor`: core examines, this gathers what core cannot read
//! (doveconf's output, the store's schema) and prints.

use crate::cli::{Cli, DoctorArgs};
use crate::error::CliError;
use apppass_core::doctor::{self, Finding, Inputs, SchemaSeen};
use apppass_core::store::{Opener, StoreError};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, ExitCode};

/// `doveconf -n` on this host, when Dovecot is installed: the configuration
/// as Dovecot itself reads it, includes and defaults resolved.
fn doveconf() -> Option<String> {
    let bin = ["/usr/bin/doveconf", "/usr/sbin/doveconf"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let out = Command::new(bin).arg("-n").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The schema of the store the configuration under `root` names, when the
/// store can be opened: a missing store or key or unsafe permissions are
/// reported by the file checks, and a store only root may read is said so
/// on stderr.
fn schema(root: &Path) -> Option<SchemaSeen> {
    let (choice, file) = doctor::store_under(root)?;
    let seen = apppass_stores::open(&choice, apppass_core::sys::euid(), Opener::Admin).and_then(
        |mut store| {
            let now = super::now();
            let fingerprinted = store.fingerprinted_users()?;
            let mut unfingerprinted: Vec<String> = store
                .passwords(None)?
                .into_iter()
                .filter(|p| p.is_live(now) && !fingerprinted.contains(&p.user))
                .map(|p| p.user)
                .collect();
            unfingerprinted.sort();
            unfingerprinted.dedup();
            Ok(SchemaSeen {
                store: file
                    .as_ref()
                    .map_or_else(|| store.describe(), |f| f.display().to_string()),
                drift: store.schema_drift()?,
                file: file.clone(),
                unfingerprinted,
                entitled_group: apppass_core::settings::entitled_group(store.as_mut())?,
            })
        },
    );
    match seen {
        Ok(seen) => Some(seen),
        // Reported by the file checks already.
        Err(
            StoreError::Missing { .. }
            | StoreError::KeyMissing { .. }
            | StoreError::Unsafe { .. }
            | StoreError::LinkInPath { .. }
            | StoreError::NoDirectory { .. },
        ) => None,
        Err(e) => {
            eprintln!("apppass: doctor could not check the store's schema: {e}");
            None
        }
    }
}

fn place(f: &Finding) -> String {
    match (&f.file, f.line) {
        (Some(p), Some(l)) => format!("{}:{l}: ", p.display()),
        (Some(p), None) => format!("{}: ", p.display()),
        _ => String::new(),
    }
}

pub fn run(_cli: &Cli, a: &DoctorArgs) -> Result<ExitCode, CliError> {
    let root = a.root.as_deref().unwrap_or(Path::new("/"));
    if !root.is_dir() {
        return Err(CliError::Usage(format!(
            "--root {} is not a directory",
            root.display()
        )));
    }
    let inputs = Inputs {
        doveconf: if a.root.is_none() { doveconf() } else { None },
        schema: schema(root),
    };
    let findings = doctor::examine(root, &inputs);
    if a.json {
        let items: Vec<Value> = findings
            .iter()
            .map(|f| {
                json!({
                    "check": f.check,
                    "severity": f.severity.as_str(),
                    "file": f.file.as_ref().map(|p| p.display().to_string()),
                    "line": f.line,
                    "problem": f.problem,
                    "fix": f.fix,
                })
            })
            .collect();
        println!("{}", Value::Array(items));
    } else {
        for f in &findings {
            println!("{}: {}{}", f.severity.as_str(), place(f), f.problem);
            println!("  fix: {}", f.fix);
        }
        if findings.is_empty() {
            eprintln!("apppass: doctor found nothing to fix");
        } else {
            eprintln!("apppass: doctor found {} problem(s)", findings.len());
        }
    }
    Ok(if findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
