//! Limits on sign-in attempts, kept in memory: per client address (IPv6 by
//! /64, what one client usually holds) and per account, with core's
//! numbers. apppassd keeps its own per-account lock-out in the store,
//! shared with the shell; these stop a client before it costs a PAM
//! conversation.
//!
//! An attempt takes its place before apppassd is asked ([`Limits::begin`])
//! and is counted as a failure unless it is found right
//! ([`Limits::accepted`]): sign-ins sent in parallel cannot get past the
//! limit the way they could if failures were counted afterwards.

use apppass_core::signin::{account_key, MAX_FAILURES, MAX_FAILURES_PER_ADDRESS, WINDOW_SECS};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(WINDOW_SECS as u64);
/// Addresses and names remembered at once; the stalest go first.
const MAX_KEYS: usize = 10_000;

/// One attempt's place in both limits, given back when it was right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

struct Attempts<K> {
    map: HashMap<K, Vec<(Instant, Ticket)>>,
    max: usize,
}

impl<K: Hash + Eq + Clone> Attempts<K> {
    fn new(max: usize) -> Self {
        Attempts {
            map: HashMap::new(),
            max,
        }
    }

    /// How long until `key` may try again; `None`: now.
    fn wait(&mut self, key: &K, now: Instant) -> Option<Duration> {
        let times = self.map.get_mut(key)?;
        times.retain(|(t, _)| now.duration_since(*t) < WINDOW);
        if times.len() < self.max {
            return None;
        }
        let oldest = times.iter().map(|(t, _)| t).min()?;
        Some(WINDOW.saturating_sub(now.duration_since(*oldest)))
    }

    fn record(&mut self, key: K, now: Instant, ticket: Ticket) {
        if self.map.len() >= MAX_KEYS && !self.map.contains_key(&key) {
            self.map
                .retain(|_, t| t.iter().any(|(t, _)| now.duration_since(*t) < WINDOW));
            if self.map.len() >= MAX_KEYS {
                let stalest = self
                    .map
                    .iter()
                    .min_by_key(|(_, t)| t.iter().map(|(t, _)| *t).max())
                    .map(|(k, _)| k.clone());
                if let Some(k) = stalest {
                    self.map.remove(&k);
                }
            }
        }
        let times = self.map.entry(key).or_default();
        times.push((now, ticket));
        if times.len() > self.max {
            times.remove(0);
        }
    }

    fn forget(&mut self, key: &K, ticket: Ticket) {
        if let Some(times) = self.map.get_mut(key) {
            times.retain(|(_, t)| *t != ticket);
            if times.is_empty() {
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
    /// failure until [`Limits::accepted`]; `Err(wait)` when either is at
    /// its limit (and nothing is counted).
    pub fn begin(&mut self, address: IpAddr, user: &str, now: Instant) -> Result<Ticket, Duration> {
        let (address, user) = (bucket(address), account_key(user));
        let a = self.by_address.wait(&address, now);
        let u = self.by_user.wait(&user, now);
        if let Some(wait) = a.max(u) {
            return Err(wait);
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
        assert!(
            l.begin(a, "dave", t).is_err(),
            "no sixth while five are out"
        );
        l.accepted(a, "dave", tickets[0]);
        assert!(l.begin(a, "dave", t).is_ok(), "a right one frees the name");
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
