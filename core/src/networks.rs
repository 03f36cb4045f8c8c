//! `--from CIDR`: the networks a password may log in from, matched against
//! `PAM_RHOST` read as an IP address. A password with networks never logs
//! in from a host name or without an rhost: a name can be made to resolve
//! anywhere, and a missing rhost says nothing about where a client is.

use ipnet::IpNet;
use std::fmt;
use std::net::IpAddr;

/// At most this many networks per password: a longer list is a mistake,
/// and the list is checked at every login.
pub const MAX_NETWORKS: usize = 32;

/// Where a password may be used from: anywhere (empty), or these networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks(Vec<IpNet>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkError(pub String);

impl fmt::Display for NetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NetworkError {}

impl Networks {
    /// No restriction.
    pub fn anywhere() -> Self {
        Networks(Vec::new())
    }

    /// Parses `--from` values: `192.0.2.0/24`, `2001:db8::/32`, or a bare
    /// address meaning that host alone. Host bits set below the prefix are
    /// refused (`192.0.2.7/24` is more likely a typo than a network).
    pub fn parse<I: IntoIterator<Item = S>, S: AsRef<str>>(items: I) -> Result<Self, NetworkError> {
        let mut nets = Vec::new();
        for item in items {
            let text = item.as_ref().trim();
            let shown = crate::escape::for_message(text);
            let net = if text.contains('/') {
                let net: IpNet = text.parse().map_err(|_| {
                    NetworkError(format!(
                        "'{shown}' is not a network: give an address with a prefix length, such as 192.0.2.0/24 or 2001:db8::/32"
                    ))
                })?;
                if net.trunc() != net {
                    return Err(NetworkError(format!(
                        "'{shown}' has host bits set below its prefix; did you mean {}?",
                        net.trunc()
                    )));
                }
                net
            } else {
                let addr: IpAddr = text.parse().map_err(|_| {
                    NetworkError(format!(
                        "'{shown}' is not an IP address or network (host names are not accepted: give 192.0.2.7, 192.0.2.0/24 or 2001:db8::/32)"
                    ))
                })?;
                IpNet::from(canonical(addr))
            };
            let net = match net {
                IpNet::V6(v6) => match v6.addr().to_ipv4_mapped() {
                    // ::ffff:192.0.2.0/120 is the IPv4 network 192.0.2.0/24.
                    Some(v4) if v6.prefix_len() >= 96 => {
                        IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96)
                            .map_err(|e| NetworkError(e.to_string()))?
                    }
                    _ => net,
                },
                IpNet::V4(_) => net,
            };
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
        if nets.len() > MAX_NETWORKS {
            return Err(NetworkError(format!(
                "{} networks given; at most {MAX_NETWORKS} are allowed per password",
                nets.len()
            )));
        }
        nets.sort();
        Ok(Networks(nets))
    }

    pub fn is_anywhere(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a login whose `PAM_RHOST` is `rhost` may use the password.
    pub fn allows(&self, rhost: Option<&str>) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let Some(addr) = rhost.and_then(parse_rhost) else {
            return false;
        };
        self.0.iter().any(|n| n.contains(&addr))
    }

    /// Stored form: the networks separated by single spaces; empty for anywhere.
    pub fn encode(&self) -> String {
        self.names().join(" ")
    }

    /// The stored form read back. A value the store should never hold
    /// (written by hand, say) is kept as a network nothing matches, so the
    /// password fails closed instead of logging in from anywhere.
    pub fn decode(stored: &str) -> Self {
        let mut nets = Vec::new();
        for word in stored.split(' ').filter(|w| !w.is_empty()) {
            match word.parse::<IpNet>() {
                Ok(n) => nets.push(n),
                Err(_) => nets.push(nowhere()),
            }
        }
        Networks(nets)
    }

    /// As `list` shows them: `192.0.2.0/24`, `2001:db8::/32`.
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

/// 0.0.0.0/32: no client's address.
fn nowhere() -> IpNet {
    IpNet::from(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// An IPv4 address seen through an IPv4-mapped IPv6 socket
/// (`::ffff:192.0.2.7`) is that IPv4 address.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// `PAM_RHOST` as an address: Dovecot gives the client's IP, sshd too with
/// `UseDNS no`. Brackets (`[2001:db8::1]`) are accepted; a scoped address
/// (`fe80::1%eth0`) or a host name is not an address here.
/// The network a client address is counted in for "a network it never
/// logged in from": its /24 for IPv4, its /64 for IPv6 (what one site or
/// one provider's customer usually holds).
pub fn network_of(address: &str) -> Option<String> {
    let ip: IpAddr = address.parse().ok()?;
    let prefix = if ip.is_ipv4() { 24 } else { 64 };
    IpNet::new(ip, prefix).ok().map(|n| n.trunc().to_string())
}

/// Whether `address` lies in `cidr` (both as [`network_of`] writes them);
/// `false` for anything that does not parse.
pub fn in_network(address: &str, cidr: &str) -> bool {
    match (address.parse::<IpAddr>(), cidr.parse::<IpNet>()) {
        (Ok(ip), Ok(net)) => net.contains(&ip),
        _ => false,
    }
}

pub fn parse_rhost(rhost: &str) -> Option<IpAddr> {
    let bare = rhost
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(rhost);
    bare.parse::<IpAddr>().ok().map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(items: &[&str]) -> Networks {
        Networks::parse(items).unwrap()
    }

    #[test]
    fn v4_networks_match_addresses_inside_only() {
        let n = nets(&["127.0.0.2/32", "10.0.0.0/8"]);
        assert!(n.allows(Some("127.0.0.2")));
        assert!(!n.allows(Some("127.0.0.3")));
        assert!(n.allows(Some("10.200.3.4")));
        assert!(n.allows(Some("::ffff:10.1.1.1")), "an IPv4-mapped client");
        assert!(!n.allows(Some("11.0.0.1")));
    }

    #[test]
    fn v6_networks_match_v6_addresses() {
        let n = nets(&["::1/128", "2001:db8::/32"]);
        assert!(n.allows(Some("::1")));
        assert!(n.allows(Some("[2001:db8:1::5]")));
        assert!(!n.allows(Some("2001:db9::1")));
        assert!(!n.allows(Some("127.0.0.1")));
    }

    #[test]
    fn host_names_and_missing_rhosts_are_refused_when_networks_are_set() {
        let n = nets(&["0.0.0.0/0", "::/0"]);
        assert!(!n.allows(Some("localhost")));
        assert!(!n.allows(Some("mail.example.org")));
        assert!(!n.allows(Some("fe80::1%eth0")));
        assert!(!n.allows(Some("")));
        assert!(!n.allows(None));
        assert!(Networks::anywhere().allows(None));
        assert!(Networks::anywhere().allows(Some("localhost")));
    }

    #[test]
    fn bare_addresses_mean_one_host_and_typos_are_refused() {
        assert_eq!(nets(&["192.0.2.7"]).names(), ["192.0.2.7/32"]);
        assert_eq!(nets(&["::ffff:192.0.2.7"]).names(), ["192.0.2.7/32"]);
        assert_eq!(nets(&["::ffff:192.0.2.0/120"]).names(), ["192.0.2.0/24"]);
        assert_eq!(nets(&["2001:db8::1"]).names(), ["2001:db8::1/128"]);
        for bad in [
            "192.0.2.7/24",
            "example.org",
            "10.0.0.0/33",
            "10.0.0/8",
            "",
            "1.2.3.4/",
        ] {
            assert!(Networks::parse([bad]).is_err(), "{bad:?}");
        }
        let too_many: Vec<String> = (0..33).map(|i| format!("10.0.{i}.0/24")).collect();
        assert!(Networks::parse(&too_many).is_err());
    }

    #[test]
    fn stored_form_round_trips_and_damage_fails_closed() {
        let n = nets(&["2001:db8::/32", "10.0.0.0/8", "10.0.0.0/8"]);
        assert_eq!(n.encode(), "10.0.0.0/8 2001:db8::/32");
        assert_eq!(Networks::decode(&n.encode()), n);
        assert_eq!(Networks::decode(""), Networks::anywhere());
        let damaged = Networks::decode("not-a-network");
        assert!(!damaged.is_anywhere());
        assert!(!damaged.allows(Some("127.0.0.1")));
        assert_eq!(damaged.names(), ["0.0.0.0/32"]);
    }
}
