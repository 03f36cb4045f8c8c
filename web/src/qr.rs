//! The QR code on the new-password page: a link a phone's camera opens,
//! drawn as inline SVG (shapes with presentation attributes only, so the
//! Content-Security-Policy needs neither inline style nor script).

use apppass_core::setup::{is_host, DeviceSetup};
use axum::http::{header, HeaderMap};
use qrcode::render::svg;
use qrcode::QrCode;

/// Where phones reach this page, without a trailing `/`: apppass.conf's
/// `web_url`, else the scheme the browser speaks and its `Host` header
/// when that is a plain `host[:port]`; `None` when neither can be
/// trusted to make a link.
pub fn link_base(setup: &DeviceSetup, secure: bool, headers: &HeaderMap) -> Option<String> {
    if let Some(url) = &setup.web_url {
        return Some(url.url().trim_end_matches('/').to_owned());
    }
    let host = headers.get(header::HOST)?.to_str().ok()?;
    if !host_and_port(host) {
        return None;
    }
    // The link carries the profile, password inside: plain HTTP only to
    // this very machine (a page tried out on loopback), never across a
    // network.
    if !secure && !loopback(host) {
        return None;
    }
    let scheme = if secure { "https" } else { "http" };
    Some(format!("{scheme}://{}", host.to_ascii_lowercase()))
}

/// Whether `host[:port]` names this machine.
fn loopback(host_port: &str) -> bool {
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`, nothing else.
pub fn host_and_port(value: &str) -> bool {
    if value.len() > 260 {
        return false;
    }
    let port_ok = |p: &str| {
        p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok_and(|p| p > 0)
    };
    if let Some(v6) = value.strip_prefix('[') {
        let Some((inner, rest)) = v6.split_once(']') else {
            return false;
        };
        return inner.parse::<std::net::Ipv6Addr>().is_ok()
            && (rest.is_empty() || rest.strip_prefix(':').is_some_and(port_ok));
    }
    let (host, port) = match value.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (value, None),
    };
    // A bare IPv6 address has more colons: not a host here.
    is_host(host) && !host.contains(':') && port.is_none_or(port_ok)
}

/// The SVG for `link`, or `None` when it does not fit a QR code.
pub fn svg(link: &str) -> Option<String> {
    let code = QrCode::new(link.as_bytes()).ok()?;
    let drawn = code
        .render::<svg::Color>()
        .min_dimensions(232, 232)
        .dark_color(svg::Color("#000"))
        .light_color(svg::Color("#fff"))
        .build();
    // Inline in HTML: no XML declaration; named for screen readers.
    let at = drawn.find("<svg ")?;
    Some(drawn[at..].replacen(
        "<svg ",
        "<svg class=\"qr\" role=\"img\" aria-label=\"QR code that opens the profile\" ",
        1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_host(h: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::HOST, HeaderValue::from_str(h).unwrap());
        m
    }

    #[test]
    fn the_link_comes_from_web_url_or_a_plain_host_header() {
        let mut setup = DeviceSetup::default();
        let h = with_host("Mail.Example.org:8443");
        assert_eq!(
            link_base(&setup, true, &h).as_deref(),
            Some("https://mail.example.org:8443")
        );
        assert_eq!(
            link_base(&setup, false, &with_host("127.0.0.1:8380")).as_deref(),
            Some("http://127.0.0.1:8380")
        );
        // Plain HTTP across a network would carry the password in clear.
        for remote in ["mail.example.org", "192.0.2.7:8380", "[2001:db8::1]"] {
            assert!(
                link_base(&setup, false, &with_host(remote)).is_none(),
                "{remote}"
            );
        }
        assert!(link_base(&setup, false, &with_host("[::1]:8380")).is_some());
        assert!(link_base(&setup, false, &with_host("localhost")).is_some());
        assert_eq!(
            link_base(&setup, true, &with_host("[2001:db8::1]:443")).as_deref(),
            Some("https://[2001:db8::1]:443")
        );
        for bad in [
            "evil.example/x",
            "a b",
            "host:0",
            "host:99999",
            "host:",
            "user@host",
            "2001:db8::1",
            "[zz]",
            "",
        ] {
            assert!(link_base(&setup, true, &with_host(bad)).is_none(), "{bad}");
        }
        assert!(link_base(&setup, true, &HeaderMap::new()).is_none());
        setup
            .set("web_url", "https://apppass.example.org/")
            .unwrap();
        assert_eq!(
            link_base(&setup, false, &with_host("other")).as_deref(),
            Some("https://apppass.example.org")
        );
    }

    #[test]
    fn the_svg_is_inline_and_without_style() {
        let s = svg("https://mail.example.org/setup/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            .unwrap();
        assert!(s.starts_with("<svg class=\"qr\" role=\"img\""), "{s}");
        assert!(s.ends_with("</svg>"));
        assert!(!s.contains("style") && !s.contains("<?xml") && !s.contains("script"));
        assert!(svg(&"x".repeat(8000)).is_none());
    }
}
