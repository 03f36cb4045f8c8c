//! The seam between what apppass decides (core) and where it keeps it (a
//! backend crate). A backend persists atomically and reports what it holds;
//! every rule — the limit, unique labels, which passwords a revoke or a
//! wipe takes, what the history says — is decided in core.

use super::model::{
    Actor, Candidate, Credential, Event, EventKind, LastUse, LoggedEvent, NetworkCheck,
    NewOutboxEntry, NewPassword, OutboxEntry, Password, PrimaryUse, Recorded, SignInAttempts,
    Snapshot,
};
use super::{Key, SchemaDrift, StoreError};

/// Whether a write transaction's work is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Commit,
    /// Core refused what was asked (limit, duplicate label, output lost):
    /// nothing of it may stay.
    Rollback,
}

/// Why a write transaction did not commit.
#[derive(Debug)]
pub enum WriteError {
    /// Before or during the work: nothing was written.
    Store(StoreError),
    /// The work was done but the commit failed: nothing was written, and
    /// anything already handed out (a printed password) is void.
    Commit(StoreError),
}

impl From<StoreError> for WriteError {
    fn from(e: StoreError) -> Self {
        WriteError::Store(e)
    }
}

impl WriteError {
    pub fn into_store_error(self) -> StoreError {
        match self {
            WriteError::Store(e) | WriteError::Commit(e) => e,
        }
    }
}

/// A store of app passwords. Synchronous: the PAM module may not start a
/// thread. Reads see committed data only.
pub trait Store {
    /// The store as log lines and messages name it: an SQLite path, or
    /// "PostgreSQL at host:port" — never a conninfo.
    fn describe(&self) -> String;

    /// The key that made this store's fingerprints (checked at open).
    fn key(&self) -> &Key;

    /// The passwords of `user` whose credentials are still kept: every
    /// unrevoked one, and revoked or expired ones not yet erased.
    fn candidates(&mut self, user: &str) -> Result<Vec<Candidate>, StoreError>;

    /// The fingerprint recorded for `user`, and where it was taken from.
    fn fingerprint(&mut self, user: &str) -> Result<Option<Recorded>, StoreError>;

    /// Records a login with an unrevoked password, and its client address
    /// among the password's addresses when `used.rhost` is an IP address
    /// (the most recent [`crate::retention::MAX_ADDRESSES`] kept, none
    /// older than [`crate::retention::KEEP_ADDRESS_SECS`]). Best effort: a
    /// short wait for locks; the caller ignores a failure. With `network`,
    /// in the same transaction and before the address is added: its event
    /// is added to the history when the password has remembered addresses
    /// and none of them is in `network.cidr`.
    fn record_use(
        &mut self,
        id: i64,
        used: &LastUse,
        network: Option<&NetworkCheck>,
    ) -> Result<(), StoreError>;

    /// Ends an unrevoked password of `user` at `at` (idle expiry): its
    /// expiry becomes `at` unless it already ends sooner, and the history
    /// gets `expired` with `reason`, by the module. Only ever shortens a
    /// life, so the login role may call it. Returns whether it changed
    /// anything. Its own short transaction; best effort at a login.
    fn expire(&mut self, user: &str, id: i64, at: i64, reason: &str) -> Result<bool, StoreError>;

    /// The tripwire: records that password `id` of `user` was presented at
    /// `at` after it stopped working, and adds `event` to the history
    /// unless a `used-after-revoke` event for it is dated at or after
    /// `event_unless_since`. Its own short transaction; best effort.
    fn record_tried(
        &mut self,
        user: &str,
        id: i64,
        at: i64,
        event_unless_since: i64,
        event: &Event,
    ) -> Result<(), StoreError>;

    /// Counts a login of `user` to `service` with the primary password at
    /// `at`, from `rhost` (the last one kept), under `primary_until=`.
    /// Best effort, as [`Store::record_use`]; the login role may call it.
    fn record_primary_use(
        &mut self,
        user: &str,
        service: &str,
        at: i64,
        rhost: Option<&str>,
    ) -> Result<(), StoreError>;

    /// The primary-password logins recorded, of `user` or of everyone, in
    /// no particular order.
    fn primary_uses(&mut self, user: Option<&str>) -> Result<Vec<PrimaryUse>, StoreError>;

    /// The notifications queued for `user`, sent or not, oldest first.
    fn outbox(&mut self, user: &str) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Every password of `user` (or of everyone), revoked ones too, ordered
    /// by user then ID.
    fn passwords(&mut self, user: Option<&str>) -> Result<Vec<Password>, StoreError>;

    /// The recorded history of `user`, oldest first.
    fn events(&mut self, user: &str) -> Result<Vec<Event>, StoreError>;

    /// The history's entries after the one with ID `after`, in ID order,
    /// at most `limit`: what a watcher has not handled yet.
    fn events_after(&mut self, after: i64, limit: usize) -> Result<Vec<LoggedEvent>, StoreError>;

    /// The newest history entry's ID (0 for none).
    fn last_event_id(&mut self) -> Result<i64, StoreError>;

    /// The unrevoked passwords whose fixed expiry falls in `(after, until]`.
    fn expiring(&mut self, after: i64, until: i64) -> Result<Vec<Password>, StoreError>;

    /// Waits up to `timeout` for a change to the history to be announced:
    /// `Ok(true)` when one may have happened (look with
    /// [`Store::events_after`]). PostgreSQL listens on the channel
    /// `apppass`, where every history entry is announced; a store that
    /// announces nothing waits a moment and says to look.
    fn wait_for_change(&mut self, timeout: std::time::Duration) -> Result<bool, StoreError>;

    fn setting(&mut self, name: &str) -> Result<Option<i64>, StoreError>;

    /// A setting whose value is text (a list of services, say).
    fn text_setting(&mut self, name: &str) -> Result<Option<String>, StoreError>;

    /// The self-service sign-ins of `user` (an account key, see `signin`)
    /// counted since `since`: attempts begun before `under_way_since` and
    /// never settled count as failed.
    fn signin_attempts(
        &mut self,
        user: &str,
        since: i64,
        under_way_since: i64,
    ) -> Result<SignInAttempts, StoreError>;

    /// Users with a recorded fingerprint.
    fn fingerprinted_users(&mut self) -> Result<Vec<String>, StoreError>;

    /// Everything, for `export`.
    fn snapshot(&mut self) -> Result<Snapshot, StoreError>;

    /// Where the schema is not the one apppass made (see
    /// [`SchemaDrift`]), most telling first; empty when it is exactly that.
    fn schema_drift(&mut self) -> Result<Vec<SchemaDrift>, StoreError>;

    /// Runs `work` in one write transaction, serialised against every other
    /// writer for `user` (or for the whole store with `None`), and commits
    /// it if `work` says so. Killed at any instant, the store holds all of
    /// it or none of it.
    fn write(
        &mut self,
        user: Option<&str>,
        work: &mut dyn FnMut(&mut dyn Writer) -> Result<Finish, StoreError>,
    ) -> Result<(), WriteError>;
}

/// What a write transaction may do.
pub trait Writer {
    /// The unrevoked passwords of `user`, as of this transaction.
    fn unrevoked(&mut self, user: &str) -> Result<Vec<Password>, StoreError>;

    fn setting(&mut self, name: &str) -> Result<Option<i64>, StoreError>;

    fn fingerprint(&mut self, user: &str) -> Result<Option<Recorded>, StoreError>;

    /// Stores a new password and returns its ID (never reused).
    fn insert_password(&mut self, new: &NewPassword) -> Result<i64, StoreError>;

    fn add_event(&mut self, user: &str, event: &Event) -> Result<(), StoreError>;

    /// Revokes one unrevoked password of `user`: the row and its credential
    /// kept (the credential until [`Writer::erase_retired`] takes it), and
    /// the history line `kind` with `reason` added, as one step (the login
    /// role may revoke).
    fn revoke(
        &mut self,
        user: &str,
        id: i64,
        at: i64,
        reason: &str,
        kind: EventKind,
        by: Actor,
    ) -> Result<(), StoreError>;

    /// Erases the credentials of passwords revoked, or expired, before
    /// `before` (the tripwire keeps them until then). Returns how many.
    fn erase_retired(&mut self, before: i64) -> Result<usize, StoreError>;

    /// Suspends (`Some(at)`) or resumes (`None`) an unrevoked password of
    /// `user`. Returns whether it changed anything.
    fn set_suspended(&mut self, user: &str, id: i64, at: Option<i64>) -> Result<bool, StoreError>;

    /// Records or replaces the fingerprint of `user`.
    fn set_fingerprint(&mut self, user: &str, fp: &Recorded, at: i64) -> Result<(), StoreError>;

    fn forget_fingerprint(&mut self, user: &str) -> Result<(), StoreError>;

    fn set_setting(&mut self, name: &str, value: i64) -> Result<(), StoreError>;

    /// Sets a text setting, or removes it with `None`.
    fn set_text_setting(&mut self, name: &str, value: Option<&str>) -> Result<(), StoreError>;

    /// The self-service sign-ins counted since `since`, for `user` or (with
    /// `None`) for everyone, as [`Store::signin_attempts`] counts them.
    fn signin_attempts(
        &mut self,
        user: Option<&str>,
        since: i64,
        under_way_since: i64,
    ) -> Result<SignInAttempts, StoreError>;

    /// Records a self-service sign-in of `user` begun at `at`, under way
    /// until settled or taken back, and forgets everyone's attempts older
    /// than `forget_before`: what strangers type takes no room for longer
    /// than the window it counts in.
    fn begin_signin(&mut self, user: &str, at: i64, forget_before: i64) -> Result<(), StoreError>;

    /// Records a failed sign-in of `user` at `at`, settled already (and
    /// forgets as [`Writer::begin_signin`] does).
    fn record_signin_failure(
        &mut self,
        user: &str,
        at: i64,
        forget_before: i64,
    ) -> Result<(), StoreError>;

    /// Settles one sign-in of `user` begun at `at` as failed (a wrong
    /// password); nothing when there is none under way.
    fn settle_signin(&mut self, user: &str, at: i64) -> Result<(), StoreError>;

    /// Takes back one sign-in of `user` begun at `at` (a right password, or
    /// one that could not be checked); nothing when there is none.
    fn take_back_signin(&mut self, user: &str, at: i64) -> Result<(), StoreError>;

    /// Stores a password exactly as exported: its ID, times, revocation
    /// and last use kept; new IDs continue after it.
    fn restore_password(
        &mut self,
        password: &Password,
        credential: Option<&Credential>,
    ) -> Result<(), StoreError>;

    /// Queues a notification unless one with its key is queued already;
    /// returns whether it was queued.
    fn enqueue(&mut self, entry: &NewOutboxEntry) -> Result<bool, StoreError>;

    /// Entries neither sent nor given up whose `next_at` has come, the
    /// oldest first, at most `limit`, claimed or not.
    fn outbox_due(&mut self, now: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Writes back an entry's delivery state (every field after `queued_at`).
    fn update_outbox(&mut self, entry: &OutboxEntry) -> Result<(), StoreError>;

    /// Whether the store holds no password, event, fingerprint or setting.
    fn is_empty(&mut self) -> Result<bool, StoreError>;
}
