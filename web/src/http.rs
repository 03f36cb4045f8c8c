//! Who the client is and the cookies: the helpers every handler shares.

use axum::extract::connect_info::Connected;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::serve::IncomingStream;
use std::net::{IpAddr, SocketAddr};

/// Who is at the other end of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// A TCP peer, at its address.
    Tcp(SocketAddr),
    /// A peer on the page's Unix socket: the reverse proxy, since only
    /// those who may enter the socket's directory can connect.
    Proxy,
}

impl Connected<IncomingStream<'_, tokio::net::TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        Peer::Tcp(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, tokio::net::UnixListener>> for Peer {
    fn connect_info(_: IncomingStream<'_, tokio::net::UnixListener>) -> Self {
        Peer::Proxy
    }
}

/// For the HTTPS server, which names its peers by address.
impl Connected<SocketAddr> for Peer {
    fn connect_info(peer: SocketAddr) -> Self {
        Peer::Tcp(peer)
    }
}

/// How browsers reach the page: over its own TLS, or through a reverse
/// proxy, whose forwarding headers (`X-Real-IP`, `X-Forwarded-For`,
/// `X-Forwarded-Proto`) are believed: on the page's Unix socket, or from
/// the addresses the administrator named. From anyone else those headers
/// are ignored: a local user who connects to a loopback port could
/// otherwise choose the address the limits and the logs see.
#[derive(Clone, Debug, Default)]
pub struct Frontage {
    /// Whether this process serves HTTPS itself.
    pub tls: bool,
    /// The addresses of the reverse proxies in front (`--trusted-proxy`).
    pub proxies: Vec<IpAddr>,
}

impl Frontage {
    /// Whether `peer` is a proxy whose forwarding headers count.
    fn trusts(&self, peer: IpAddr) -> bool {
        !self.tls && self.proxies.contains(&unmapped(peer))
    }

    /// What the page knows of the browser behind `peer`; `None` when the
    /// proxy on the Unix socket did not say the browser's address in
    /// `X-Real-IP` (every request there must carry it: the limits count by
    /// it). `X-Forwarded-For` does not do there: a proxy that forgot to set
    /// it passes on the one the browser sent.
    pub fn client(&self, headers: &HeaderMap, peer: Peer) -> Option<Client> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let real_ip = || header("x-real-ip").and_then(|v| v.trim().parse().ok());
        let forwarded = || {
            real_ip()
                .or_else(|| {
                    header("x-forwarded-for")
                        .and_then(|v| v.rsplit(',').next())
                        .and_then(|v| v.trim().parse().ok())
                })
                .map(unmapped)
        };
        match peer {
            Peer::Proxy => Some(Client {
                address: real_ip().map(unmapped)?,
                secure: proxy_says_https(headers),
            }),
            Peer::Tcp(peer) if self.trusts(peer.ip()) => Some(Client {
                address: forwarded().unwrap_or(unmapped(peer.ip())),
                secure: proxy_says_https(headers),
            }),
            Peer::Tcp(peer) => Some(Client {
                address: unmapped(peer.ip()),
                secure: self.tls,
            }),
        }
    }

    /// Whether the browser behind `peer` speaks HTTPS (to us or to the
    /// proxy): the page then asks for HSTS.
    pub fn secure(&self, headers: &HeaderMap, peer: Peer) -> bool {
        match peer {
            Peer::Proxy => proxy_says_https(headers),
            Peer::Tcp(_) => self.client(headers, peer).is_some_and(|c| c.secure),
        }
    }
}

/// An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) as IPv4.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// What the page knows of the browser asking.
#[derive(Clone, Copy, Debug)]
pub struct Client {
    /// The browser's address: the peer, or what a trusted proxy says.
    pub address: IpAddr,
    /// Whether the browser speaks HTTPS to us or to the proxy: cookies are
    /// then `Secure` and `__Host-`.
    pub secure: bool,
}

impl Client {
    /// The session cookie's name.
    pub fn session_cookie(&self) -> &'static str {
        if self.secure {
            "__Host-apppass"
        } else {
            "apppass"
        }
    }

    /// The sign-in form's cookie (its CSRF secret).
    pub fn signin_cookie(&self) -> &'static str {
        if self.secure {
            "__Host-apppass-signin"
        } else {
            "apppass-signin"
        }
    }

    /// A `Set-Cookie` value: for this browser session only, never to
    /// scripts or other sites.
    pub fn set_cookie(&self, name: &str, value: &str) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    pub fn clear_cookie(&self, name: &str) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// Whether the proxy in front says the browser speaks HTTPS to it.
fn proxy_says_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// The value of cookie `name`, if the browser sent one that looks like ours.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_named_proxy_names_the_client() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "198.51.100.7, 203.0.113.9".parse().unwrap(),
        );
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let behind = Frontage {
            tls: false,
            proxies: vec!["127.0.0.1".parse().unwrap()],
        };
        let c = behind.client(&h, Peer::Tcp(peer)).unwrap();
        assert_eq!(c.address.to_string(), "203.0.113.9");
        assert!(c.secure);
        assert_eq!(c.session_cookie(), "__Host-apppass");
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:5000".parse().unwrap();
        assert_eq!(
            behind
                .client(&h, Peer::Tcp(mapped))
                .unwrap()
                .address
                .to_string(),
            "203.0.113.9"
        );
        // Anyone else connecting to the port is who they are.
        let c = behind
            .client(&h, Peer::Tcp("127.0.0.2:5000".parse().unwrap()))
            .unwrap();
        assert_eq!(c.address.to_string(), "127.0.0.2");
        assert!(!c.secure);
        let c = Frontage::default().client(&h, Peer::Tcp(peer)).unwrap();
        assert_eq!(
            c.address.to_string(),
            "127.0.0.1",
            "no proxy named: none believed"
        );
        assert_eq!(c.session_cookie(), "apppass");
        let tls = Frontage {
            tls: true,
            proxies: vec!["192.0.2.1".parse().unwrap()],
        };
        let c = tls
            .client(&h, Peer::Tcp("192.0.2.1:5000".parse().unwrap()))
            .unwrap();
        assert_eq!(c.address.to_string(), "192.0.2.1");
        assert!(c.secure);
    }

    #[test]
    fn the_proxy_on_the_unix_socket_must_name_the_client() {
        let front = Frontage::default();
        let mut h = HeaderMap::new();
        assert!(front.client(&h, Peer::Proxy).is_none(), "no address said");
        h.insert("x-forwarded-for", "198.51.100.7".parse().unwrap());
        assert!(
            front.client(&h, Peer::Proxy).is_none(),
            "X-Forwarded-For alone may be the browser's own"
        );
        h.insert("x-real-ip", "198.51.100.7".parse().unwrap());
        let c = front.client(&h, Peer::Proxy).unwrap();
        assert_eq!(c.address.to_string(), "198.51.100.7");
        assert!(!c.secure);
        h.insert("x-real-ip", "::ffff:203.0.113.9".parse().unwrap());
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        let c = front.client(&h, Peer::Proxy).unwrap();
        assert_eq!(c.address.to_string(), "203.0.113.9");
        assert!(c.secure && front.secure(&h, Peer::Proxy));
    }

    #[test]
    fn cookies_are_found_and_odd_ones_ignored() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; apppass=abc_DEF-9; x=\"q\"".parse().unwrap(),
        );
        assert_eq!(cookie(&h, "apppass").as_deref(), Some("abc_DEF-9"));
        assert_eq!(cookie(&h, "x"), None);
        assert_eq!(cookie(&h, "none"), None);
        let tls = Frontage {
            tls: true,
            proxies: Vec::new(),
        };
        let c = tls
            .client(&HeaderMap::new(), Peer::Tcp("127.0.0.1:1".parse().unwrap()))
            .unwrap();
        let v = c.set_cookie("__Host-apppass", "t");
        assert_eq!(
            v.to_str().unwrap(),
            "__Host-apppass=t; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
    }
}
