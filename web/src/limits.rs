//! Limits on sign-in attempts, kept in memory: per client address (IPv6 by
//! /64, what one client usually holds) and per account, with core's
//! numbers. apppassd keeps its own per-account lock-out in the store,
//! shared with the shell; these stop a client before it costs a PAM
//! conversation.
//!
//! An attempt takes its place before apppassd is asked ([`Limits::begin`])
//! and is counted as a failure unless it is found right
//! ([`Limits::accepted`]): sign-ins sent in parallel cannot get past the
//! limit the way they could if failures were counted afterwards. When the
//! places are full only because attempts are still under way, the next
//! one is told to wait ([`Full::UnderWay`]) rather than refused: several
//! sign-ins at once of one person are not failures.

use apppass_core::signin::{account_key, MAX_FAILURES, MAX_FAILURES_PER_ADDRESS, WINDOW_SECS};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(WINDOW_SECS as u64);
/// Addresses and names remembered at once; the stalest go first.
const MAX_KEYS: usize = 10_000;

/// An attempt not settled after this long counts as failed (its sign-in
/// is long over: the page gives up on a waiting one after two minutes).
const UNDER_WAY: Duration = Duration::from_secs(180);

/// One attempt's place in both limits, given back when it was right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

/// Why an attempt found no place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Failures fill the window: try again after this long.
    Failed(Duration),
    /// Some places are held by attempts still under way: ask again in a
    /// moment.
    UnderWay,
}

#[derive(Debug, Clone, Copy)]
struct Place {
    at: Instant,
    ticket: Ticket,
    settled: bool,
}

impl Place {
    fn failed(&self, now: Instant) -> bool {
        self.settled || now.duration_since(self.at) >= UNDER_WAY
    }
}

struct Attempts<K> {
    map: HashMap<K, Vec<Place>>,
    max: usize,
}

impl<K: Hash + Eq + Clone> Attempts<K> {
    fn new(max: usize) -> Self {
        Attempts {
            map: HashMap::new(),
            max,
        }
    }

    /// Whether `key` may try now.
    fn full(&mut self, key: &K, now: Instant) -> Option<Full> {
        let places = self.map.get_mut(key)?;
        places.retain(|p| now.duration_since(p.at) < WINDOW);
        if places.len() < self.max {
            return None;
        }
        if places.iter().any(|p| !p.failed(now)) {
            return Some(Full::UnderWay);
        }
        let oldest = places.iter().map(|p| p.at).min()?;
        Some(Full::Failed(
            WINDOW.saturating_sub(now.duration_since(oldest)),
        ))
    }

    fn record(&mut self, key: K, now: Instant, ticket: Ticket) {
        if self.map.len() >= MAX_KEYS && !self.map.contains_key(&key) {
            self.map
                .retain(|_, t| t.iter().any(|p| now.duration_since(p.at) < WINDOW));
            if self.map.len() >= MAX_KEYS {
                let stalest = self
                    .map
                    .iter()
                    .min_by_key(|(_, t)| t.iter().map(|p| p.at).max())
                    .map(|(k, _)| k.clone());
                if let Some(k) = stalest {
                    self.map.remove(&k);
                }
            }
        }
        let places = self.map.entry(key).or_default();
        places.push(Place {
            at: now,
            ticket,
            settled: false,
        });
        if places.len() > self.max {
            places.remove(0);
        }
    }

    fn settle(&mut self, key: &K, ticket: Ticket) {
        if let Some(p) = self
            .map
            .get_mut(key)
            .and_then(|places| places.iter_mut().find(|p| p.ticket == ticket))
        {
            p.settled = true;
        }
    }

    fn forget(&mut self, key: &K, ticket: Ticket) {
        if let Some(places) = self.map.get_mut(key) {
            places.retain(|p| p.ticket != ticket);
            if places.is_empty() {
                self.map.remove(key);
            }
        }
    }
}

pub struct Limits {
    by_address: Attempts<IpAddr>,
    by_user: Attempts<String>,
    next: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            by_address: Attempts::new(MAX_FAILURES_PER_ADDRESS),
            by_user: Attempts::new(MAX_FAILURES),
            next: 0,
        }
    }
}

/// The address a limit counts: IPv6 addresses by their /64.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

impl Limits {
    /// Takes a place for a sign-in of `user` from `address`, counted as a
    /// failure until [`Limits::accepted`]; `Err` when either is full (and
    /// nothing is counted).
    pub fn begin(&mut self, address: IpAddr, user: &str, now: Instant) -> Result<Ticket, Full> {
        let (address, user) = (bucket(address), account_key(user));
        match (
            self.by_address.full(&address, now),
            self.by_user.full(&user, now),
        ) {
            (None, None) => {}
            (Some(Full::Failed(a)), Some(Full::Failed(u))) => return Err(Full::Failed(a.max(u))),
            (Some(Full::Failed(w)), _) | (_, Some(Full::Failed(w))) => return Err(Full::Failed(w)),
            _ => return Err(Full::UnderWay),
        }
        self.next += 1;
        let ticket = Ticket(self.next);
        self.by_address.record(address, now, ticket);
        self.by_user.record(user, now, ticket);
        Ok(ticket)
    }

    /// The sign-in was right: it counts for neither limit, and the account
    /// starts afresh.
    pub fn accepted(&mut self, address: IpAddr, user: &str, ticket: Ticket) {
        self.by_address.forget(&bucket(address), ticket);
        self.by_user.map.remove(&account_key(user));
    }

    /// The password was wrong: the attempt stays counted, as a failure.
    pub fn failed(&mut self, address: IpAddr, user: &str, ticket: Ticket) {
        self.by_address.settle(&bucket(address), ticket);
        self.by_user.settle(&account_key(user), ticket);
    }

    /// The sign-in could not be carried out (apppassd could not be asked):
    /// not a guess, so it counts for neither limit.
    pub fn abandoned(&mut self, address: IpAddr, user: &str, ticket: Ticket) {
        self.by_address.forget(&bucket(address), ticket);
        self.by_user.forget(&account_key(user), ticket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names_are_limited_separately() {
        let mut l = Limits::default();
        let t = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(l.begin(a, "alice", t).is_ok());
        }
        assert!(l.begin(a, "alice", t).is_err(), "the name is closed");
        assert!(l.begin(b, "alice", t).is_err(), "from anywhere");
        assert!(l.begin(b, "ALICE", t).is_err(), "however it is spelt");
        assert!(l.begin(a, "bob", t).is_ok(), "another name still may");
        for i in 0..MAX_FAILURES_PER_ADDRESS {
            let _ = l.begin(a, &format!("u{i}"), t);
        }
        assert!(l.begin(a, "carol", t).is_err(), "the address is closed");
        assert!(l.begin(b, "carol", t).is_ok());
        assert!(l.begin(a, "carol", t + WINDOW).is_ok(), "the window passes");
    }

    #[test]
    fn attempts_under_way_count_and_a_right_one_is_given_back() {
        let mut l = Limits::default();
        let t = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        // Parallel attempts take their places before any answer.
        let tickets: Vec<_> = (0..MAX_FAILURES)
            .map(|_| l.begin(a, "dave", t).unwrap())
            .collect();
        assert_eq!(
            l.begin(a, "dave", t),
            Err(Full::UnderWay),
            "no sixth while five are out: it waits"
        );
        l.accepted(a, "dave", tickets[0]);
        assert!(l.begin(a, "dave", t).is_ok(), "a right one frees the name");
        // Five that fail refuse the next, with the time to wait.
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            let ticket = l.begin(b, "erin", t).unwrap();
            l.failed(b, "erin", ticket);
        }
        assert!(
            matches!(l.begin(b, "erin", t), Err(Full::Failed(_))),
            "failures refuse"
        );
    }

    #[test]
    fn ipv6_is_counted_by_its_64() {
        let mut l = Limits::default();
        let t = Instant::now();
        for i in 0..MAX_FAILURES_PER_ADDRESS {
            let ip: IpAddr = format!("2001:db8:1:2::{i:x}").parse().unwrap();
            let _ = l.begin(ip, &format!("u{i}"), t);
        }
        let near: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        let far: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(l.begin(near, "x", t).is_err());
        assert!(l.begin(far, "x", t).is_ok());
    }
}
