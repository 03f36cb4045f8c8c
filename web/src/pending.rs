//! Sign-ins waiting for a further answer (a one-time code): the apppassd
//! connection stays open between the two page loads, found again by a
//! random id in the form. Bounded in number and in time (apppassd itself
//! gives up on an unanswered prompt after two minutes).

use crate::daemon::SignIn;
use crate::limits::Ticket;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_PENDING: usize = 256;
pub const TTL: Duration = Duration::from_secs(110);

pub struct Entry {
    pub signin: SignIn,
    pub user: String,
    pub address: IpAddr,
    /// Its place in the sign-in limits.
    pub ticket: Ticket,
    pub since: Instant,
}

#[derive(Default)]
pub struct Pending {
    map: Mutex<HashMap<String, Entry>>,
}

impl Pending {
    /// Keeps `entry`; its id, or `None` when too many sign-ins wait.
    pub fn insert(&self, entry: Entry) -> Option<String> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, e| e.since.elapsed() < TTL);
        if map.len() >= MAX_PENDING {
            return None;
        }
        let id = crate::csrf::random();
        map.insert(id.clone(), entry);
        Some(id)
    }

    /// Takes the sign-in `id` if it is still waiting and `address` is the
    /// one that started it.
    pub fn take(&self, id: &str, address: IpAddr) -> Option<Entry> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.remove(id)?;
        (entry.since.elapsed() < TTL && entry.address == address).then_some(entry)
    }
}
