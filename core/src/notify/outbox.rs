//! Handing queued notifications to the MTA, each exactly once across
//! crashes and hosts. An entry is claimed by one sender (its host, PID and
//! start time) for [`LEASE_SECS`]; the sender starts the MTA's submission,
//! records in the store that it hands the message over, then writes the
//! message in one piece and waits for the MTA's answer. A sender killed
//! before that record leaves an MTA that got no message (it sends
//! nothing), so another sender tries again; one killed after it leaves a
//! message the MTA has, so the entry counts as sent and is never sent
//! again. A refusal by the MTA is tried again with backoff, and given up
//! (and said so) a day after it was queued.

use super::message::{message, Notification};
use super::{recipient, settings};
use crate::store::{Finish, OutboxEntry, Store, StoreError, WriteError};

/// How long a claim holds against other senders.
pub const LEASE_SECS: i64 = 120;
/// After this long in the outbox, an undeliverable entry is given up.
pub const GIVE_UP_SECS: i64 = 86_400;
/// At most this many entries per run.
const PER_RUN: usize = 100;

/// The host's MTA, one submission at a time.
pub trait Mta {
    /// Starts a submission that sends nothing until [`Handover::send`].
    fn begin(&mut self) -> Result<Box<dyn Handover>, String>;
}

/// A submission under way.
pub trait Handover {
    /// Gives the whole message to the MTA and waits for its answer.
    fn send(self: Box<Self>, message: &[u8]) -> Result<(), String>;
    /// Ends the submission without a message: nothing is sent.
    fn abort(self: Box<Self>);
}

/// Who is sending: this host, this process and its start time, so a
/// claim of a process that is gone is known on its own host at once.
pub fn claimant() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let started = crate::sessions::own_start().unwrap_or(0);
    format!("{host} {} {started}", std::process::id())
}

/// Whether the claim of `by` stopped holding at `now`: its lease ran out,
/// or it is a process of this host that has ended.
fn claim_over(by: &str, until: i64, now: i64, me: &str) -> bool {
    if until <= now {
        return true;
    }
    let mut theirs = by.split(' ');
    let mut mine = me.split(' ');
    let (Some(host), Some(pid), Some(started)) = (theirs.next(), theirs.next(), theirs.next())
    else {
        return false;
    };
    if by == me || Some(host) != mine.next() {
        return false;
    }
    match (pid.parse(), started.parse()) {
        (Ok(pid), Ok(started)) => crate::sessions::process_gone(pid, started),
        _ => false,
    }
}

/// What a run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    pub sent: usize,
    /// Refused by the MTA this time, to be tried again.
    pub retried: Vec<String>,
    /// Given up for good: `(user, kind, why)`.
    pub gave_up: Vec<(String, String, String)>,
    /// Handed over by a sender that stopped before the MTA answered:
    /// counted as sent, never sent twice.
    pub recovered: usize,
}

/// The wait before attempt `attempts + 1`: a minute, doubling, at most an
/// hour.
pub fn backoff(attempts: i64) -> i64 {
    (60_i64 << attempts.clamp(0, 6)).min(3600)
}

/// Claims the next due entry for `me`, settling on the way what senders
/// that stopped mid-way left.
fn claim(
    store: &mut dyn Store,
    me: &str,
    now: i64,
    done: &mut Delivered,
) -> Result<Option<OutboxEntry>, StoreError> {
    let mut chosen = None;
    let mut recovered = 0;
    store
        .write(None, &mut |w| {
            chosen = None;
            recovered = 0;
            for mut e in w.outbox_due(now, 50)? {
                if let (Some(by), Some(until)) = (&e.claimed_by, e.claimed_until) {
                    if !claim_over(by, until, now, me) {
                        continue;
                    }
                }
                if e.handed_at.is_some() {
                    e.sent_at = e.handed_at;
                    e.claimed_by = None;
                    e.claimed_until = None;
                    e.last_error = Some(
                        "handed to the MTA by a sender that stopped before its answer; not sent again"
                            .into(),
                    );
                    w.update_outbox(&e)?;
                    recovered += 1;
                    continue;
                }
                e.claimed_by = Some(me.to_owned());
                e.claimed_until = Some(now + LEASE_SECS);
                w.update_outbox(&e)?;
                chosen = Some(e);
                break;
            }
            // Nothing due: nothing to keep.
            if chosen.is_none() && recovered == 0 {
                return Ok(Finish::Rollback);
            }
            Ok(Finish::Commit)
        })
        .map_err(WriteError::into_store_error)?;
    done.recovered += recovered;
    Ok(chosen)
}

fn save(store: &mut dyn Store, e: &OutboxEntry) -> Result<(), StoreError> {
    store
        .write(None, &mut |w| {
            w.update_outbox(e)?;
            Ok(Finish::Commit)
        })
        .map_err(WriteError::into_store_error)
}

/// Hands every due entry to `mta`, at most [`PER_RUN`]. A store error
/// stops the run (what was claimed is taken up again when its claim ends).
pub fn deliver(
    store: &mut dyn Store,
    mta: &mut dyn Mta,
    now: i64,
) -> Result<Delivered, StoreError> {
    let me = claimant();
    let config = settings(store)?;
    let mut done = Delivered::default();
    for _ in 0..PER_RUN {
        let Some(mut e) = claim(store, &me, now, &mut done)? else {
            break;
        };
        let unsendable = |why: &str| format!("cannot be mailed: {why}");
        let built = match (
            Notification::parse(&e.kind, &e.facts),
            recipient(&e.user, config.domain.as_deref()),
        ) {
            (Some(n), Some(to)) => Ok(message(
                &to,
                config.from.as_deref(),
                &e.user,
                &n,
                e.at,
                &format!("apppass.{}.{}@{}", e.id, e.queued_at, host_part(&me)),
            )),
            (None, _) => Err(unsendable("written by a newer apppass")),
            (_, None) => Err(unsendable("the user name is no mail address (set notify-domain, or the name holds characters a header cannot)")),
        };
        let outcome = match built {
            Err(why) => Err((why, true)),
            Ok(msg) => hand_over(store, mta, &mut e, &msg, now)?,
        };
        e.claimed_by = None;
        e.claimed_until = None;
        match outcome {
            Ok(()) => {
                e.sent_at = Some(now);
                e.last_error = None;
                done.sent += 1;
            }
            Err((why, for_good)) => {
                e.handed_at = None;
                e.attempts += 1;
                e.last_error = Some(why.clone());
                if for_good || now - e.queued_at >= GIVE_UP_SECS {
                    e.gave_up_at = Some(now);
                    done.gave_up.push((e.user.clone(), e.kind.clone(), why));
                } else {
                    e.next_at = now + backoff(e.attempts - 1);
                    done.retried.push(why);
                }
            }
        }
        save(store, &e)?;
    }
    Ok(done)
}

fn host_part(me: &str) -> &str {
    match me.split(' ').next() {
        Some(h) if !h.is_empty() => h,
        _ => "localhost",
    }
}

/// Starts the submission, records the handover, sends. `Err((why,
/// false))`: the MTA refused or could not be started, to be tried again.
fn hand_over(
    store: &mut dyn Store,
    mta: &mut dyn Mta,
    e: &mut OutboxEntry,
    msg: &[u8],
    now: i64,
) -> Result<Result<(), (String, bool)>, StoreError> {
    let submission = match mta.begin() {
        Ok(s) => s,
        Err(why) => return Ok(Err((why, false))),
    };
    e.handed_at = Some(now);
    if let Err(err) = save(store, e) {
        submission.abort();
        return Err(err);
    }
    Ok(submission.send(msg).map_err(|why| (why, false)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_minute_to_an_hour() {
        assert_eq!(backoff(0), 60);
        assert_eq!(backoff(1), 120);
        assert_eq!(backoff(5), 1920);
        assert_eq!(backoff(6), 3600);
        assert_eq!(backoff(40), 3600);
    }

    #[test]
    fn a_claim_holds_until_its_lease_ends_or_its_process_on_this_host_is_gone() {
        let me = claimant();
        assert!(claim_over("other-host 1 1", 100, 100, &me));
        assert!(!claim_over("other-host 1 1", 200, 100, &me));
        assert!(!claim_over(&me, 200, 100, &me));
        let host = me.split(' ').next().unwrap();
        // PID 1 did not start at tick 1 here (or is not visible): gone or
        // unknown, never taken for this process.
        let gone = format!("{host} 999999999 1");
        assert!(claim_over(&gone, 200, 100, &me));
    }
}
