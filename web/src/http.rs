//! Who the client is and the cookies: the helpers every handler shares.

use axum::http::{header, HeaderMap, HeaderValue};
use std::net::{IpAddr, SocketAddr};

/// What the page knows of the browser asking.
#[derive(Clone, Copy, Debug)]
pub struct Client {
    /// The browser's address: the peer under TLS; behind a proxy on
    /// loopback, what the proxy says (X-Real-IP, else the last
    /// X-Forwarded-For entry).
    pub address: IpAddr,
    /// Whether the browser speaks HTTPS to us or to the proxy: cookies are
    /// then `Secure` and `__Host-`.
    pub secure: bool,
}

impl Client {
    pub fn new(headers: &HeaderMap, peer: SocketAddr, tls: bool) -> Client {
        if tls {
            return Client {
                address: peer.ip(),
                secure: true,
            };
        }
        // Plain HTTP is served on loopback only: whoever connects is the
        // proxy (or a local user, who can reach apppassd anyway).
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let forwarded = header("x-real-ip")
            .and_then(|v| v.trim().parse().ok())
            .or_else(|| {
                header("x-forwarded-for")
                    .and_then(|v| v.rsplit(',').next())
                    .and_then(|v| v.trim().parse().ok())
            });
        Client {
            address: forwarded.unwrap_or(peer.ip()),
            secure: proxy_says_https(headers),
        }
    }

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
pub fn proxy_says_https(headers: &HeaderMap) -> bool {
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
    fn the_proxy_names_the_client_only_over_plain_http() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "198.51.100.7, 203.0.113.9".parse().unwrap(),
        );
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let c = Client::new(&h, peer, false);
        assert_eq!(c.address.to_string(), "203.0.113.9");
        assert!(c.secure);
        assert_eq!(c.session_cookie(), "__Host-apppass");
        let c = Client::new(&h, "192.0.2.1:5000".parse().unwrap(), true);
        assert_eq!(c.address.to_string(), "192.0.2.1");
        let c = Client::new(&HeaderMap::new(), peer, false);
        assert!(!c.secure);
        assert_eq!(c.session_cookie(), "apppass");
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
        let c = Client::new(&HeaderMap::new(), "127.0.0.1:1".parse().unwrap(), true);
        let v = c.set_cookie("__Host-apppass", "t");
        assert_eq!(
            v.to_str().unwrap(),
            "__Host-apppass=t; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
    }
}
