//! `apppass check-primary [USER]`: the sweep core's `check_primary` makes,
//! reported user by user on stderr (or as JSON on stdout), with the wipes'
//! effects carried out on this host. Exit 3 when a user could not be
//! checked (its source did not answer), so a timer's failure shows.

use crate::cli::{CheckPrimaryArgs, Cli};
use crate::error::CliError;
use apppass_core::check_primary::{self, Found};
use apppass_core::escape::for_message as esc;
use apppass_core::fingerprint;
use serde_json::json;

pub fn run(cli: &Cli, a: &CheckPrimaryArgs) -> Result<(), CliError> {
    if apppass_core::sys::euid() != 0 {
        return Err(CliError::Usage(
            "apppass check-primary reads every user's primary password and must run as root".into(),
        ));
    }
    let primary = super::primary(cli)?;
    let mut store = super::open(cli)?;
    let report = check_primary::sweep(
        store.as_mut(),
        a.user.as_deref(),
        &primary,
        super::now(),
        super::actor(),
        a.retake,
    )?;
    drop(store);
    let signed_out = super::apply(cli, &report.effects);
    let mut not_checked = 0;
    let (mut wiped, mut taken, mut without) = (0, 0, 0);
    for (user, found) in &report.found {
        let line = match found {
            Found::Unchanged => None,
            Found::Wiped(n) => {
                wiped += 1;
                Some(format!(
                    "the primary password changed: revoked {n} app passwords (reason '{}')",
                    fingerprint::REASON_PRIMARY_CHANGED
                ))
            }
            Found::Taken(s) => {
                taken += 1;
                Some(format!("fingerprint taken from {}", fingerprint::name(*s)))
            }
            Found::Retaken(s) => {
                taken += 1;
                Some(format!("fingerprint taken again from {}", fingerprint::name(*s)))
            }
            Found::NoFingerprint(why) => {
                without += 1;
                Some(format!("no fingerprint: {why}"))
            }
            Found::Locked => Some("the account is locked (passwd -l); nothing revoked".into()),
            Found::Gone => Some(format!(
                "/etc/shadow here no longer knows the account; nothing revoked (if it was removed: apppass revoke {} --all)",
                esc(user)
            )),
            Found::NotChecked(why) => {
                not_checked += 1;
                Some(format!("not checked: {why}; nothing revoked"))
            }
        };
        if let (Some(line), false) = (line, a.json) {
            eprintln!("apppass: {}: {line}", esc(user));
        }
    }
    if a.json {
        let rows: Vec<_> = report
            .found
            .iter()
            .map(|(user, found)| {
                let (result, revoked, source, why) = match found {
                    Found::Unchanged => ("unchanged", 0, None, None),
                    Found::Wiped(n) => ("wiped", *n, None, None),
                    Found::Taken(s) => ("taken", 0, Some(s.as_str()), None),
                    Found::Retaken(s) => ("retaken", 0, Some(s.as_str()), None),
                    Found::NoFingerprint(w) => ("no-fingerprint", 0, None, Some(w.as_str())),
                    Found::Locked => ("locked", 0, None, None),
                    Found::Gone => ("gone", 0, None, None),
                    Found::NotChecked(w) => ("not-checked", 0, None, Some(w.as_str())),
                };
                // The sessions a wipe ended on this host, as revoke --json
                // lists them.
                let ended: Vec<_> = signed_out
                    .iter()
                    .filter(|s| &s.user == user)
                    .flat_map(|s| s.ended.iter())
                    .collect();
                json!({"user": user, "result": result, "revoked": revoked,
                       "source": source, "why": why, "sessions_ended": ended})
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else {
        eprintln!(
            "apppass: checked {} users: {wiped} wiped, {taken} fingerprints taken, {without} without a fingerprint, {not_checked} not checked",
            report.found.len()
        );
    }
    if not_checked > 0 {
        return Err(CliError::Store(format!(
            "{not_checked} users could not be checked; nothing of theirs was revoked, and the next run checks them again"
        )));
    }
    Ok(())
}
