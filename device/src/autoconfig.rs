//! Thunderbird's autoconfig (`config-v1.1.xml`): the server settings for
//! mail, calendars and contacts, never a password. Clients fetch it from
//! `/.well-known/autoconfig/mail/config-v1.1.xml` or
//! `/mail/config-v1.1.xml` before asking the user for anything.

use apppass_core::setup::{DavUrl, DeviceSetup, Security, Server};
use std::fmt::Write;

/// The media type autoconfig is served with.
pub const MEDIA_TYPE: &str = "application/xml; charset=utf-8";

/// The document, or `None` when apppass.conf names no mail server.
/// `domain`: the mail domain asked about (the part after `@` of the
/// address the client was given), when it is a plausible host name.
pub fn document(setup: &DeviceSetup, domain: Option<&str>) -> Option<String> {
    let (imap, pop3, smtp) = (setup.imap(), setup.pop3(), setup.smtp());
    if imap.is_none() && pop3.is_none() && smtp.is_none() {
        return None;
    }
    let first = [&imap, &pop3, &smtp]
        .into_iter()
        .flatten()
        .next()
        .map(|s| s.host.clone())
        .unwrap_or_default();
    let domain = domain
        .filter(|d| apppass_core::setup::is_host(d))
        .map(str::to_ascii_lowercase)
        .unwrap_or(first);
    let login = "%EMAILLOCALPART%";
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n");
    let _ = writeln!(x, "  <emailProvider id=\"{}\">", esc(&domain));
    let _ = writeln!(x, "    <domain>{}</domain>", esc(&domain));
    let _ = writeln!(x, "    <displayName>{}</displayName>", esc(&domain));
    if let Some(s) = &imap {
        server(&mut x, "incomingServer", "imap", s, login);
    }
    if let Some(s) = &pop3 {
        server(&mut x, "incomingServer", "pop3", s, login);
    }
    if let Some(s) = &smtp {
        server(&mut x, "outgoingServer", "smtp", s, login);
    }
    x.push_str("  </emailProvider>\n");
    if let Some(u) = &setup.carddav {
        dav(&mut x, "addressBook", "carddav", u, login);
    }
    if let Some(u) = &setup.caldav {
        dav(&mut x, "calendar", "caldav", u, login);
    }
    x.push_str("</clientConfig>\n");
    Some(x)
}

fn server(x: &mut String, tag: &str, kind: &str, s: &Server, login: &str) {
    let socket = match s.security() {
        Security::Tls => "SSL",
        Security::StartTls => "STARTTLS",
    };
    let _ = write!(
        x,
        "    <{tag} type=\"{kind}\">\n      <hostname>{}</hostname>\n      <port>{}</port>\n      \
         <socketType>{socket}</socketType>\n      <username>{login}</username>\n      \
         <authentication>password-cleartext</authentication>\n    </{tag}>\n",
        esc(&s.host),
        s.port
    );
}

fn dav(x: &mut String, tag: &str, kind: &str, u: &DavUrl, login: &str) {
    let _ = write!(
        x,
        "  <{tag} type=\"{kind}\">\n    <username>{login}</username>\n    \
         <authentication>http-basic</authentication>\n    <serverURL>{}</serverURL>\n  </{tag}>\n",
        esc(&u.url())
    );
}

/// Escapes text for XML content and attributes. Hosts and URLs are
/// checked at load and hold none of these; this is the second fence.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_come_from_the_settings_and_no_password_is_named() {
        let mut s = DeviceSetup::default();
        for (k, v) in [
            ("imap_host", "imap.example.org"),
            ("smtp_host", "smtp.example.org"),
            ("smtp_port", "587"),
            ("caldav_url", "https://dav.example.org/"),
        ] {
            s.set(k, v).unwrap();
        }
        let doc = document(&s, Some("Example.org")).unwrap();
        let xml = roxmltree::Document::parse(&doc).unwrap();
        let provider = xml
            .descendants()
            .find(|n| n.has_tag_name("emailProvider"))
            .unwrap();
        assert_eq!(provider.attribute("id"), Some("example.org"));
        let text = |server: &str, field: &str| {
            xml.descendants()
                .find(|n| n.has_tag_name(server))
                .and_then(|n| n.descendants().find(|c| c.has_tag_name(field)))
                .and_then(|n| n.text())
                .map(str::to_owned)
        };
        assert_eq!(
            text("incomingServer", "hostname").as_deref(),
            Some("imap.example.org")
        );
        assert_eq!(text("incomingServer", "socketType").as_deref(), Some("SSL"));
        assert_eq!(text("outgoingServer", "port").as_deref(), Some("587"));
        assert_eq!(
            text("outgoingServer", "socketType").as_deref(),
            Some("STARTTLS")
        );
        assert_eq!(
            text("calendar", "serverURL").as_deref(),
            Some("https://dav.example.org/")
        );
        assert!(!doc.to_lowercase().contains("<password"));
        // A domain that is not a host name is not echoed.
        let doc = document(&s, Some("<x>")).unwrap();
        assert!(doc.contains("id=\"imap.example.org\""));
        assert!(document(&DeviceSetup::default(), None).is_none());
    }
}
