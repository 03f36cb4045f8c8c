//! `apppass watch`: on each host, sign out what a change anywhere took out
//! of service, as core's `watch` decides. Reconnects by itself, keeps its
//! position in the history in a file, and says what it did on stderr (the
//! journal) and in the audit log.

use crate::cli::{Cli, WatchArgs};
use crate::error::CliError;
use apppass_core::store::{Opener, Store, StoreError};
use apppass_core::watch::{self, Holes, Position, BATCH, EXPIRY_EVERY_SECS, LOOK_EVERY_SECS};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

/// How often notification mails are sent from here, and after a failure.
const NOTIFY_EVERY_SECS: i64 = 30;
const NOTIFY_RETRY_SECS: i64 = 600;

/// The longest wait before connecting again to a store that went away.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub fn run(cli: &Cli, a: &WatchArgs) -> Result<(), CliError> {
    if apppass_core::sys::euid() != 0 {
        return Err(CliError::Usage(
            "apppass watch ends other users' sessions and must run as root".into(),
        ));
    }
    let choice = super::choice(cli)?;
    if !a.once {
        write_pid(&a.pid_file)?;
    }
    let mut position = read_position(&a.state)?;
    // Kept across reconnections: an entry may commit while we are away.
    let mut holes = Holes::default();
    let mut backoff = Duration::from_secs(1);
    let mut lost = false;
    loop {
        let mut store =
            match apppass_stores::open(&choice, apppass_core::sys::euid(), Opener::Watcher) {
                Ok(s) => s,
                Err(e) if a.once => return Err(e.into()),
                Err(e) => {
                    lost = true;
                    say(&format!(
                        "cannot read the store ({e}); trying again in {} s",
                        backoff.as_secs()
                    ));
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
        backoff = Duration::from_secs(1);
        if let Some(p) = position {
            say(&format!(
                "{} {} again; catching up after history entry {}",
                if lost { "reached" } else { "watching" },
                store.describe(),
                p.event
            ));
        }
        match follow(cli, a, store.as_mut(), &mut position, &mut holes) {
            Ok(()) => return Ok(()),
            Err(e) if a.once => return Err(e.into()),
            Err(e) => {
                lost = true;
                say(&format!("lost the store ({e}); connecting again"));
            }
        }
    }
}

/// Catches up, then (unless `--once`) waits for changes and catches up
/// again, until the store fails.
fn follow(
    cli: &Cli,
    a: &WatchArgs,
    store: &mut dyn Store,
    position: &mut Option<Position>,
    holes: &mut Holes,
) -> Result<(), StoreError> {
    let pos = match position {
        Some(p) => p,
        None => {
            // A first start begins now: what happened before is history.
            let p = Position {
                event: store.last_event_id()?,
                expiry: super::now(),
            };
            save(&a.state, &p);
            say(&format!(
                "watching {} from history entry {}",
                store.describe(),
                p.event
            ));
            position.insert(p)
        }
    };
    // When the expiry time was last written down: not on every look,
    // which would write the file every few seconds.
    let mut expiry_saved = pos.expiry;
    // Notification mails are sent from here too, every half minute, with
    // the rights apppass.conf gives the command (a host without them
    // leaves it to one that has: apppass-deliver.timer there).
    let mut mail_at = super::now();
    loop {
        late_entries(cli, store, holes)?;
        loop {
            let events = store.events_after(pos.event, BATCH)?;
            let Some(last) = events.last().map(|e| e.id) else {
                break;
            };
            holes.note(pos.event, &events, super::now());
            let effects = watch::effects_of(store, &events)?;
            act(cli, &effects);
            pos.event = last;
            save(&a.state, pos);
        }
        let now = super::now();
        if now > pos.expiry && (a.once || now >= pos.expiry.saturating_add(EXPIRY_EVERY_SECS)) {
            let effects = watch::expired_effects(store, pos.expiry, now)?;
            act(cli, &effects);
            pos.expiry = now;
            if a.once || !effects.0.is_empty() || now - expiry_saved >= 60 {
                save(&a.state, pos);
                expiry_saved = now;
            }
        }
        if now >= mail_at && !a.once {
            mail_at = now + NOTIFY_EVERY_SECS;
            if let Err(e) = super::notify_now(cli, false) {
                say(&format!(
                    "notification mails not sent from here ({e}); trying again in {} minutes",
                    NOTIFY_RETRY_SECS / 60
                ));
                mail_at = now + NOTIFY_RETRY_SECS;
            }
        }
        if a.once {
            return Ok(());
        }
        store.wait_for_change(Duration::from_secs(LOOK_EVERY_SECS))?;
    }
}

/// Handles the entries that committed after later ones had been read
/// (see [`Holes`]): each ID still missing is looked up on its own.
fn late_entries(cli: &Cli, store: &mut dyn Store, holes: &mut Holes) -> Result<(), StoreError> {
    if holes.is_empty() {
        return Ok(());
    }
    let mut found = Vec::new();
    for id in holes.ids() {
        let next = store.events_after(id - 1, 1)?;
        found.extend(next.into_iter().filter(|e| e.id == id));
    }
    found.retain(|e| holes.fill(e));
    if !found.is_empty() {
        act(cli, &watch::effects_of(store, &found)?);
    }
    holes.expire(super::now());
    Ok(())
}

/// Carries the effects out here and says which sessions ended.
fn act(cli: &Cli, effects: &apppass_core::effects::Effects) {
    for s in apppass_effects::apply(effects, cli.dovecot_config.as_deref(), "apppass-watch", "") {
        if !s.ended.is_empty() {
            say(&s.to_string());
        }
        for w in &s.warnings {
            say(&format!("warning: {w}"));
        }
    }
}

fn say(line: &str) {
    eprintln!("apppass watch: {line}");
}

fn read_position(state: &Path) -> Result<Option<Position>, CliError> {
    match std::fs::read_to_string(state) {
        Ok(text) => Position::decode(&text).map(Some).ok_or_else(|| {
            CliError::Usage(format!(
                "{} does not hold a watcher's position; remove it to start watching from now",
                state.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::Store(format!(
            "cannot read {}: {e}",
            state.display()
        ))),
    }
}

/// Writes the position whole (a temporary file renamed over it), or says
/// why not: the watcher goes on, and catches up again after a restart.
fn save(state: &Path, p: &Position) {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = state.parent().filter(|d| !d.exists()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let tmp = state.with_extension("new");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(p.encode().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, state)
    };
    if let Err(e) = write() {
        say(&format!(
            "cannot keep the position in {}: {e}",
            state.display()
        ));
    }
}

fn write_pid(pid_file: &Path) -> Result<(), CliError> {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = pid_file.parent().filter(|d| !d.exists()) {
            std::fs::DirBuilder::new().mode(0o755).create(dir)?;
        }
        std::fs::write(pid_file, format!("{}\n", std::process::id()))
    };
    write().map_err(|e| CliError::Store(format!("cannot write {}: {e}", pid_file.display())))
}
