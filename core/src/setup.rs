//! What a device needs to be set up with an app password: the servers
//! behind the PAM services (`imap_host`, `smtp_port`, `caldav_url`…), the
//! names users see instead of PAM service names, and where a profile's
//! signing certificate lives. Read from apppass.conf; the web page, the
//! profile and autoconfig all draw on this one description.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

/// One kind of account a device sets up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Imap,
    Pop3,
    Smtp,
    Caldav,
    Carddav,
}

impl Part {
    pub const ALL: [Part; 5] = [
        Part::Imap,
        Part::Pop3,
        Part::Smtp,
        Part::Caldav,
        Part::Carddav,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Part::Imap => "imap",
            Part::Pop3 => "pop3",
            Part::Smtp => "smtp",
            Part::Caldav => "caldav",
            Part::Carddav => "carddav",
        }
    }

    /// What users read: "Incoming mail (IMAP)"…
    pub fn title(self) -> &'static str {
        match self {
            Part::Imap => "Incoming mail (IMAP)",
            Part::Pop3 => "Incoming mail (POP3)",
            Part::Smtp => "Outgoing mail (SMTP)",
            Part::Caldav => "Calendars (CalDAV)",
            Part::Carddav => "Contacts (CardDAV)",
        }
    }

    fn parse(word: &str) -> Option<Part> {
        Part::ALL.into_iter().find(|p| p.as_str() == word)
    }

    /// The parts a PAM service of this name stands for when apppass.conf
    /// says nothing (`service_setup.SVC`): the names Dovecot, Postfix and
    /// the DAV wiring use.
    fn by_name(service: &str) -> &'static [Part] {
        match service {
            "imap" | "imaps" => &[Part::Imap],
            "pop3" | "pop3s" => &[Part::Pop3],
            // Dovecot's own PAM service serves IMAP and POP3 alike.
            "dovecot" => &[Part::Imap, Part::Pop3],
            "smtp" | "smtps" | "submission" | "submissions" | "postfix" | "smtpd" => &[Part::Smtp],
            "mail" => &[Part::Imap, Part::Smtp],
            "dav" => &[Part::Caldav, Part::Carddav],
            "caldav" => &[Part::Caldav],
            "carddav" => &[Part::Carddav],
            _ => &[],
        }
    }
}

/// How a client secures the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (993, 995, 465).
    Tls,
    /// Plain, then STARTTLS (143, 110, 587).
    StartTls,
}

impl Security {
    pub fn as_str(self) -> &'static str {
        match self {
            Security::Tls => "SSL/TLS",
            Security::StartTls => "STARTTLS",
        }
    }
}

/// A mail server as a client reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub host: String,
    pub port: u16,
}

impl Server {
    /// TLS from the start on the ports made for it, STARTTLS elsewhere.
    pub fn security(&self) -> Security {
        match self.port {
            993 | 995 | 465 => Security::Tls,
            _ => Security::StartTls,
        }
    }
}

/// A DAV server's address, checked: `https://host[:port]/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DavUrl {
    pub host: String,
    pub port: u16,
    /// Starts and ends with `/`.
    pub path: String,
}

impl DavUrl {
    pub fn url(&self) -> String {
        if self.port == 443 {
            format!("https://{}{}", self.host, self.path)
        } else {
            format!("https://{}:{}{}", self.host, self.port, self.path)
        }
    }
}

/// Everything apppass.conf says about setting up devices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceSetup {
    imap_host: Option<String>,
    imap_port: Option<u16>,
    pop3_host: Option<String>,
    pop3_port: Option<u16>,
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    pub caldav: Option<DavUrl>,
    pub carddav: Option<DavUrl>,
    /// `service_name.SVC`: what users see for PAM service SVC.
    pub names: BTreeMap<String, String>,
    /// `service_setup.SVC`: the parts PAM service SVC stands for.
    pub parts: BTreeMap<String, Vec<Part>>,
    /// The profile's signing certificate (PEM, chain after it) and key.
    pub sign_cert: Option<PathBuf>,
    pub sign_key: Option<PathBuf>,
    /// Where browsers reach apppass-web (for the QR code's link).
    pub web_url: Option<DavUrl>,
}

/// The longest `service_name` shown.
pub const MAX_NAME: usize = 64;

/// The keys this module reads, for the list in an unknown key's error.
pub const KEYS: &str = "imap_host, imap_port, pop3_host, pop3_port, smtp_host, smtp_port, \
     caldav_url, carddav_url, service_name.SVC, service_setup.SVC, profile_sign_cert, \
     profile_sign_key, web_url";

impl DeviceSetup {
    /// Takes one apppass.conf line: `Ok(false)` when `key` is not one of
    /// ours; the error is a sentence for "FILE, line N: …".
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        fn once<T>(slot: &mut Option<T>, key: &str, v: T) -> Result<bool, String> {
            if slot.is_some() {
                return Err(format!("{key} is given twice"));
            }
            *slot = Some(v);
            Ok(true)
        }
        match key {
            "imap_host" => once(&mut self.imap_host, key, host(key, value)?),
            "pop3_host" => once(&mut self.pop3_host, key, host(key, value)?),
            "smtp_host" => once(&mut self.smtp_host, key, host(key, value)?),
            "imap_port" => once(&mut self.imap_port, key, port(key, value)?),
            "pop3_port" => once(&mut self.pop3_port, key, port(key, value)?),
            "smtp_port" => once(&mut self.smtp_port, key, port(key, value)?),
            "caldav_url" => once(&mut self.caldav, key, https_url(key, value)?),
            "carddav_url" => once(&mut self.carddav, key, https_url(key, value)?),
            "web_url" => once(&mut self.web_url, key, https_url(key, value)?),
            "profile_sign_cert" => once(&mut self.sign_cert, key, absolute(key, value)?),
            "profile_sign_key" => once(&mut self.sign_key, key, absolute(key, value)?),
            _ => {
                if let Some(service) = key.strip_prefix("service_name.") {
                    let service = service_key(key, service)?;
                    if value.chars().count() > MAX_NAME {
                        return Err(format!("{key} is longer than {MAX_NAME} characters"));
                    }
                    if self.names.insert(service, value.to_owned()).is_some() {
                        return Err(format!("{key} is given twice"));
                    }
                    return Ok(true);
                }
                if let Some(service) = key.strip_prefix("service_setup.") {
                    let service = service_key(key, service)?;
                    let parts = parts(key, value)?;
                    if self.parts.insert(service, parts).is_some() {
                        return Err(format!("{key} is given twice"));
                    }
                    return Ok(true);
                }
                Ok(false)
            }
        }
    }

    /// Checks what only the whole file shows: the key whose line is at
    /// fault, and why.
    pub fn finish(&self) -> Result<(), (&'static str, String)> {
        let pairs = [
            (
                "imap_port",
                self.imap_port.is_some(),
                "imap_host",
                self.imap_host.is_some(),
            ),
            (
                "pop3_port",
                self.pop3_port.is_some(),
                "pop3_host",
                self.pop3_host.is_some(),
            ),
            (
                "smtp_port",
                self.smtp_port.is_some(),
                "smtp_host",
                self.smtp_host.is_some(),
            ),
        ];
        for (port, has_port, host, has_host) in pairs {
            if has_port && !has_host {
                return Err((port, format!("{port} needs {host}")));
            }
        }
        match (&self.sign_cert, &self.sign_key) {
            (Some(_), None) => Err((
                "profile_sign_cert",
                "profile_sign_cert needs profile_sign_key".into(),
            )),
            (None, Some(_)) => Err((
                "profile_sign_key",
                "profile_sign_key needs profile_sign_cert".into(),
            )),
            _ => Ok(()),
        }
    }

    pub fn imap(&self) -> Option<Server> {
        server(&self.imap_host, self.imap_port, 993)
    }

    pub fn pop3(&self) -> Option<Server> {
        server(&self.pop3_host, self.pop3_port, 995)
    }

    pub fn smtp(&self) -> Option<Server> {
        server(&self.smtp_host, self.smtp_port, 465)
    }

    /// Whether a server is named for `part`.
    pub fn has(&self, part: Part) -> bool {
        match part {
            Part::Imap => self.imap_host.is_some(),
            Part::Pop3 => self.pop3_host.is_some(),
            Part::Smtp => self.smtp_host.is_some(),
            Part::Caldav => self.caldav.is_some(),
            Part::Carddav => self.carddav.is_some(),
        }
    }

    /// What users see for PAM service `service`.
    pub fn name_of<'a>(&'a self, service: &'a str) -> &'a str {
        self.names.get(service).map_or(service, String::as_str)
    }

    /// The parts PAM service `service` stands for, configured or not.
    pub fn parts_of(&self, service: &str) -> Vec<Part> {
        if service == "*" {
            // `--any-service`: whatever a device can be set up with.
            return Part::ALL.to_vec();
        }
        match self.parts.get(service) {
            Some(p) => p.clone(),
            None => Part::by_name(service).to_vec(),
        }
    }

    /// The parts a password for `services` sets up: those they stand for
    /// and apppass.conf names a server for, in a fixed order.
    pub fn covered(&self, services: &[String]) -> Vec<Part> {
        let mut parts: Vec<Part> = services
            .iter()
            .flat_map(|s| self.parts_of(s))
            .filter(|p| self.has(*p))
            .collect();
        parts.sort();
        parts.dedup();
        parts
    }

    /// Whether anything at all is configured for devices.
    pub fn any_server(&self) -> bool {
        Part::ALL.into_iter().any(|p| self.has(p))
    }

    /// The settings as `apppass config` shows them: (key, value) pairs.
    pub fn shown(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut put = |k: &str, v: String| out.push((k.to_owned(), v));
        for (key, server) in [
            ("imap", self.imap()),
            ("pop3", self.pop3()),
            ("smtp", self.smtp()),
        ] {
            if let Some(s) = server {
                put(
                    &format!("{key}_host"),
                    format!("{} (port {}, {})", s.host, s.port, s.security().as_str()),
                );
            }
        }
        if let Some(u) = &self.caldav {
            put("caldav_url", u.url());
        }
        if let Some(u) = &self.carddav {
            put("carddav_url", u.url());
        }
        for (svc, name) in &self.names {
            put(&format!("service_name.{svc}"), name.clone());
        }
        for (svc, parts) in &self.parts {
            put(&format!("service_setup.{svc}"), words(parts));
        }
        if let Some(u) = &self.web_url {
            put("web_url", u.url());
        }
        if let Some(p) = &self.sign_cert {
            put("profile_sign_cert", p.display().to_string());
        }
        if let Some(p) = &self.sign_key {
            put("profile_sign_key", p.display().to_string());
        }
        out
    }
}

impl DeviceSetup {
    /// The settings as apppass.conf lines (without the signing key's and
    /// certificate's places), for a process that cannot read the file.
    pub fn lines(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut put = |k: &str, v: String| out.push((k.to_owned(), v));
        for (key, host, port) in [
            ("imap", &self.imap_host, self.imap_port),
            ("pop3", &self.pop3_host, self.pop3_port),
            ("smtp", &self.smtp_host, self.smtp_port),
        ] {
            if let Some(h) = host {
                put(&format!("{key}_host"), h.clone());
            }
            if let Some(p) = port {
                put(&format!("{key}_port"), p.to_string());
            }
        }
        for (key, url) in [
            ("caldav_url", &self.caldav),
            ("carddav_url", &self.carddav),
            ("web_url", &self.web_url),
        ] {
            if let Some(u) = url {
                put(key, u.url());
            }
        }
        for (svc, name) in &self.names {
            put(&format!("service_name.{svc}"), name.clone());
        }
        for (svc, parts) in &self.parts {
            put(&format!("service_setup.{svc}"), words(parts));
        }
        out
    }

    /// Settings from [`DeviceSetup::lines`]; a line that does not read
    /// back is left out.
    pub fn from_lines(lines: &[(String, String)]) -> DeviceSetup {
        let mut setup = DeviceSetup::default();
        for (k, v) in lines {
            let _ = setup.set(k, v);
        }
        setup
    }
}

/// A `service_setup` value: the parts by name, or `none`.
fn words(parts: &[Part]) -> String {
    if parts.is_empty() {
        return "none".into();
    }
    let words: Vec<&str> = parts.iter().map(|p| p.as_str()).collect();
    words.join(" ")
}

fn server(host: &Option<String>, port: Option<u16>, default: u16) -> Option<Server> {
    host.as_ref().map(|h| Server {
        host: h.clone(),
        port: port.unwrap_or(default),
    })
}

/// A DNS name or an IP address, as a client connects to it.
pub fn is_host(value: &str) -> bool {
    if value.parse::<IpAddr>().is_ok() {
        return true;
    }
    value.len() <= 253
        && !value.is_empty()
        && value.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn host(key: &str, value: &str) -> Result<String, String> {
    if is_host(value) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(format!(
            "{key} must be a host name such as mail.example.org or an IP address, not '{}'",
            crate::escape::for_message(value)
        ))
    }
}

fn port(key: &str, value: &str) -> Result<u16, String> {
    match value.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!(
            "{key} must be a port number from 1 to 65535, not '{}'",
            crate::escape::for_message(value)
        )),
    }
}

fn absolute(key: &str, value: &str) -> Result<PathBuf, String> {
    if value.starts_with('/') {
        Ok(PathBuf::from(value))
    } else {
        Err(format!("{key} needs an absolute path"))
    }
}

/// `https://host[:port][/path]`; the path of unreserved characters,
/// percent escapes and the few marks a path needs.
pub fn parse_https_url(value: &str) -> Option<DavUrl> {
    let rest = value.strip_prefix("https://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    // An IPv6 literal is bracketed: its colons are not the port's.
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (inner, after) = v6.split_once(']')?;
            inner.parse::<std::net::Ipv6Addr>().ok()?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0)?,
                None if after.is_empty() => 443,
                None => return None,
            };
            (&authority[..inner.len() + 2], port)
        }
        None => {
            let (host, port) = match authority.split_once(':') {
                Some((h, p)) => (h, p.parse::<u16>().ok().filter(|p| *p > 0)?),
                None => (authority, 443),
            };
            if !is_host(host) || host.contains(':') {
                return None;
            }
            (host, port)
        }
    };
    let path_ok = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~/%!$&'()*+,;=:@".contains(&b));
    if !path_ok {
        return None;
    }
    let path = if path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    };
    Some(DavUrl {
        host: host.to_ascii_lowercase(),
        port,
        path,
    })
}

fn https_url(key: &str, value: &str) -> Result<DavUrl, String> {
    parse_https_url(value).ok_or_else(|| {
        format!(
            "{key} must be an https:// URL such as https://dav.example.org/, not '{}'",
            crate::escape::for_message(value)
        )
    })
}

fn service_key(key: &str, service: &str) -> Result<String, String> {
    crate::policy::normalize_service(service).map_err(|_| {
        format!(
            "{} does not name a PAM service after the dot",
            crate::escape::for_message(key)
        )
    })
}

fn parts(key: &str, value: &str) -> Result<Vec<Part>, String> {
    if value == "none" {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for word in value.split([' ', ',']).filter(|w| !w.is_empty()) {
        let Some(p) = Part::parse(word) else {
            return Err(format!(
                "{key} takes imap, pop3, smtp, caldav, carddav or none, not '{}'",
                crate::escape::for_message(word)
            ));
        };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(lines: &[(&str, &str)]) -> Result<DeviceSetup, String> {
        let mut s = DeviceSetup::default();
        for (k, v) in lines {
            assert!(s.set(k, v)?, "{k} unknown");
        }
        s.finish().map_err(|(_, m)| m)?;
        Ok(s)
    }

    #[test]
    fn ports_default_and_security_follows_the_port() {
        let s = setup(&[
            ("imap_host", "Mail.Example.org"),
            ("smtp_host", "mail.example.org"),
            ("smtp_port", "587"),
        ])
        .unwrap();
        assert_eq!(
            s.imap(),
            Some(Server {
                host: "mail.example.org".into(),
                port: 993
            })
        );
        assert_eq!(s.imap().unwrap().security(), Security::Tls);
        assert_eq!(s.smtp().unwrap().security(), Security::StartTls);
        assert_eq!(s.pop3(), None);
    }

    #[test]
    fn malformed_hosts_urls_and_ports_are_refused() {
        for (k, v) in [
            ("imap_host", "mail example.org"),
            ("imap_host", "mail.example.org/x"),
            ("imap_host", "-mail.example.org"),
            ("imap_host", "<script>"),
            ("smtp_port", "0"),
            ("smtp_port", "70000"),
            ("caldav_url", "http://dav.example.org/"),
            ("caldav_url", "https://dav example.org/"),
            ("caldav_url", "https://dav.example.org/\"x"),
            ("caldav_url", "https://dav.example.org:0/"),
            ("carddav_url", "dav.example.org"),
            ("service_setup.imap", "imap ftp"),
            ("service_name.bad/name", "x"),
            ("profile_sign_key", "relative.pem"),
        ] {
            assert!(setup(&[(k, v)]).is_err(), "{k} = {v} was taken");
        }
        assert!(setup(&[("imap_port", "993")]).is_err());
        assert!(setup(&[("profile_sign_cert", "/etc/c.pem")]).is_err());
        assert!(setup(&[("imap_host", "a.b"), ("imap_host", "c.d")]).is_err());
    }

    #[test]
    fn urls_keep_host_port_and_path() {
        let u = parse_https_url("https://DAV.example.org:8443/radicale").unwrap();
        assert_eq!(u.url(), "https://dav.example.org:8443/radicale/");
        let u = parse_https_url("https://[::1]/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("[::1]", 443));
        assert!(parse_https_url("https://::1/").is_none());
    }

    #[test]
    fn services_cover_the_parts_configured() {
        let s = setup(&[
            ("imap_host", "mail.example.org"),
            ("smtp_host", "mail.example.org"),
            ("caldav_url", "https://dav.example.org/"),
            ("service_setup.webmail", "imap smtp"),
            ("service_name.imap", "Reading mail (IMAP)"),
        ])
        .unwrap();
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(s.covered(&v(&["dovecot"])), vec![Part::Imap]);
        assert_eq!(
            s.covered(&v(&["submission", "imap"])),
            vec![Part::Imap, Part::Smtp]
        );
        assert_eq!(s.covered(&v(&["dav"])), vec![Part::Caldav]);
        assert_eq!(s.covered(&v(&["webmail"])), vec![Part::Imap, Part::Smtp]);
        assert_eq!(s.covered(&v(&["sshd"])), vec![]);
        assert_eq!(s.name_of("imap"), "Reading mail (IMAP)");
        assert_eq!(s.name_of("sshd"), "sshd");
    }
}
