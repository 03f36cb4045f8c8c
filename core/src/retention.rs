//! How long what stopped working is kept, and when it is let go. No job
//! runs in the background: idle expiry is decided at each login and list,
//! and retired credentials are erased by the next change to the store's
//! passwords.

use crate::store::{Finish, Store, StoreError, WriteError, Writer};

/// A revoked, expired or wiped password's hash and tag feed the tripwire
/// this long, then are erased.
pub const KEEP_RETIRED_SECS: i64 = 30 * 86_400;

/// The tripwire's history line for one password is written at most this often.
pub const TRIPWIRE_EVENT_EVERY_SECS: i64 = 86_400;

/// `last_tried_at` is written at most this often per password, so a device
/// polling with a revoked password does not turn every attempt into a write.
pub const TRIED_THROTTLE_SECS: i64 = 60;

/// A password remembers this many client addresses it logged in from...
pub const MAX_ADDRESSES: usize = 8;
/// ...each for this long after its last login from there: where to look
/// for its sessions when it is taken out of service.
pub const KEEP_ADDRESS_SECS: i64 = 30 * 86_400;
// The stores forget addresses when they erase retired credentials.
const _: () = assert!(KEEP_ADDRESS_SECS == KEEP_RETIRED_SECS);

/// The reason recorded for a password that expired from disuse.
pub const REASON_IDLE: &str = "idle";

/// When a password not used since `last_used_at` (or, never used, since
/// `created_at`) reaches the idle limit `idle`.
pub fn idle_deadline(created_at: i64, last_used_at: Option<i64>, idle: i64) -> i64 {
    last_used_at.unwrap_or(created_at).max(created_at) + idle
}

/// Runs `work` in one write transaction, after erasing the credentials
/// that stopped working more than [`KEEP_RETIRED_SECS`] before `now`.
pub fn write(
    store: &mut dyn Store,
    user: Option<&str>,
    now: i64,
    work: &mut dyn FnMut(&mut dyn Writer) -> Result<Finish, StoreError>,
) -> Result<(), WriteError> {
    store.write(user, &mut |w| {
        w.erase_retired(now - KEEP_RETIRED_SECS)?;
        work(w)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_counts_from_last_use_or_creation() {
        assert_eq!(idle_deadline(100, None, 10), 110);
        assert_eq!(idle_deadline(100, Some(150), 10), 160);
        // A last use before creation (a clock stepped back) never shortens it.
        assert_eq!(idle_deadline(100, Some(50), 10), 110);
    }
}
