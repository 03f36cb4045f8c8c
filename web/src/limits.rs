//! Limits on sign-in attempts, kept in memory: failures per client address
//! (IPv6 by /64, what one client usually holds) and per user name. apppassd
//! keeps its own per-user lockout in the store, shared with the shell;
//! these stop a client before it costs a PAM conversation.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const MAX_PER_ADDRESS: usize = 10;
pub const MAX_PER_USER: usize = 5;
/// Addresses and names remembered at once; the stalest go first.
const MAX_KEYS: usize = 10_000;

struct Failures<K> {
    map: HashMap<K, Vec<Instant>>,
    max: usize,
}

impl<K: Hash + Eq + Clone> Failures<K> {
    fn new(max: usize) -> Self {
        Failures {
            map: HashMap::new(),
            max,
        }
    }

    /// How long until `key` may try again; `None`: now.
    fn wait(&mut self, key: &K, now: Instant) -> Option<Duration> {
        let times = self.map.get_mut(key)?;
        times.retain(|t| now.duration_since(*t) < WINDOW);
        if times.len() < self.max {
            return None;
        }
        let oldest = times.iter().min()?;
        Some(WINDOW.saturating_sub(now.duration_since(*oldest)))
    }

    fn record(&mut self, key: K, now: Instant) {
        if self.map.len() >= MAX_KEYS && !self.map.contains_key(&key) {
            self.map
                .retain(|_, t| t.iter().any(|t| now.duration_since(*t) < WINDOW));
            if self.map.len() >= MAX_KEYS {
                let stalest = self
                    .map
                    .iter()
                    .min_by_key(|(_, t)| t.iter().max().copied())
                    .map(|(k, _)| k.clone());
                if let Some(k) = stalest {
                    self.map.remove(&k);
                }
            }
        }
        let times = self.map.entry(key).or_default();
        times.push(now);
        if times.len() > self.max {
            times.remove(0);
        }
    }

    fn clear(&mut self, key: &K) {
        self.map.remove(key);
    }
}

pub struct Limits {
    by_address: Failures<IpAddr>,
    by_user: Failures<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            by_address: Failures::new(MAX_PER_ADDRESS),
            by_user: Failures::new(MAX_PER_USER),
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
    /// How long `address` or `user` must wait before another sign-in.
    pub fn wait(&mut self, address: IpAddr, user: &str, now: Instant) -> Option<Duration> {
        let a = self.by_address.wait(&bucket(address), now);
        let u = self.by_user.wait(&user.to_owned(), now);
        a.max(u)
    }

    pub fn failed(&mut self, address: IpAddr, user: &str, now: Instant) {
        self.by_address.record(bucket(address), now);
        self.by_user.record(user.to_owned(), now);
    }

    /// A user who got in starts afresh; their address keeps its count.
    pub fn succeeded(&mut self, user: &str) {
        self.by_user.clear(&user.to_owned());
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
        for _ in 0..MAX_PER_USER {
            assert_eq!(l.wait(a, "alice", t), None);
            l.failed(a, "alice", t);
        }
        assert!(l.wait(a, "alice", t).is_some(), "the name is closed");
        assert!(l.wait(b, "alice", t).is_some(), "from anywhere");
        assert_eq!(l.wait(a, "bob", t), None, "another name still may");
        for i in 0..MAX_PER_ADDRESS {
            l.failed(a, &format!("u{i}"), t);
        }
        assert!(l.wait(a, "carol", t).is_some(), "the address is closed");
        assert_eq!(l.wait(b, "carol", t), None);
        assert_eq!(l.wait(a, "carol", t + WINDOW), None, "the window passes");
    }

    #[test]
    fn ipv6_is_counted_by_its_64() {
        let mut l = Limits::default();
        let t = Instant::now();
        for i in 0..MAX_PER_ADDRESS {
            let ip: IpAddr = format!("2001:db8:1:2::{i:x}").parse().unwrap();
            l.failed(ip, &format!("u{i}"), t);
        }
        let near: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        let far: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(l.wait(near, "x", t).is_some());
        assert_eq!(l.wait(far, "x", t), None);
    }
}
