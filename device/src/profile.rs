//! An Apple configuration profile (`application/x-apple-aspen-config`)
//! that sets up a device's mail, calendars and contacts with one app
//! password: an Email payload (IMAP or POP3, with SMTP), CalDAV and
//! CardDAV payloads, for the parts the password's services cover.

use apppass_core::setup::{DavUrl, DeviceSetup, Part, Server};
use plist::{Dictionary, Value};
use zeroize::Zeroizing;

/// The media type a profile is served with.
pub const MEDIA_TYPE: &str = "application/x-apple-aspen-config";

/// What a profile is made for.
pub struct ProfileFor<'a> {
    pub user: &'a str,
    /// The password's ID and label.
    pub id: i64,
    pub label: &'a str,
    pub services: &'a [String],
    /// The password as shown (`abcd-efgh-…`).
    pub password: &'a str,
}

/// Why no profile could be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileError {
    /// The password's services cover nothing a profile sets up.
    NothingToSetUp,
    /// The property list could not be written (never expected).
    Write(String),
}

impl std::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProfileError::NothingToSetUp => f.write_str(
                "no profile: apppass.conf names no server (imap_host, smtp_host, caldav_url…) for the services this password covers",
            ),
            ProfileError::Write(e) => write!(f, "cannot write the profile ({e})"),
        }
    }
}

impl std::error::Error for ProfileError {}

/// The parts of `setup` a profile for `services` holds: mail needs an
/// incoming server covered and an outgoing server named.
pub fn parts_in_profile(setup: &DeviceSetup, services: &[String]) -> Vec<Part> {
    let covered = setup.covered(services);
    let incoming = covered.contains(&Part::Imap) || covered.contains(&Part::Pop3);
    covered
        .into_iter()
        .filter(|p| match p {
            Part::Imap | Part::Pop3 | Part::Smtp => incoming && setup.smtp().is_some(),
            Part::Caldav | Part::Carddav => true,
        })
        .collect()
}

/// The profile, as an XML property list (unsigned).
pub fn build(setup: &DeviceSetup, p: &ProfileFor) -> Result<Zeroizing<Vec<u8>>, ProfileError> {
    let parts = parts_in_profile(setup, p.services);
    if parts.is_empty() {
        return Err(ProfileError::NothingToSetUp);
    }
    let label = printable(p.label);
    let user = printable(p.user);
    let base = format!("{}.apppass.{}", reverse_host(setup), p.id);
    let mut content = Vec::new();
    if let (Some(incoming), Some(smtp)) = (incoming(setup, &parts), setup.smtp()) {
        content.push(email(
            &base,
            &label,
            &user,
            p.password,
            incoming,
            &smtp,
            parts.contains(&Part::Smtp),
        ));
    }
    if let Some(url) = setup
        .caldav
        .as_ref()
        .filter(|_| parts.contains(&Part::Caldav))
    {
        content.push(dav(
            "CalDAV",
            "com.apple.caldav.account",
            &base,
            &label,
            &user,
            p.password,
            url,
        ));
    }
    if let Some(url) = setup
        .carddav
        .as_ref()
        .filter(|_| parts.contains(&Part::Carddav))
    {
        content.push(dav(
            "CardDAV",
            "com.apple.carddav.account",
            &base,
            &label,
            &user,
            p.password,
            url,
        ));
    }
    let mut top = Dictionary::new();
    top.insert("PayloadContent".into(), Value::Array(content));
    top.insert(
        "PayloadDescription".into(),
        format!("Sets up {user}'s accounts with the app password '{label}'.").into(),
    );
    top.insert(
        "PayloadDisplayName".into(),
        format!("{label} ({user})").into(),
    );
    top.insert("PayloadIdentifier".into(), base.clone().into());
    top.insert("PayloadRemovalDisallowed".into(), false.into());
    top.insert("PayloadType".into(), "Configuration".into());
    top.insert("PayloadUUID".into(), uuid().into());
    top.insert("PayloadVersion".into(), 1.into());
    let mut out = Zeroizing::new(Vec::new());
    Value::Dictionary(top)
        .to_writer_xml(&mut *out)
        .map_err(|e| ProfileError::Write(e.to_string()))?;
    // The dictionary held the password in plain Strings: the plist crate
    // owns them now and drops them unzeroed; what we keep is zeroized.
    Ok(out)
}

/// The incoming server the profile sets up: IMAP before POP3.
fn incoming(setup: &DeviceSetup, parts: &[Part]) -> Option<(&'static str, Server)> {
    if parts.contains(&Part::Imap) {
        setup.imap().map(|s| ("EmailTypeIMAP", s))
    } else if parts.contains(&Part::Pop3) {
        setup.pop3().map(|s| ("EmailTypePOP", s))
    } else {
        None
    }
}

fn common(d: &mut Dictionary, kind: &str, id: String, name: &str) {
    d.insert("PayloadType".into(), kind.into());
    d.insert("PayloadVersion".into(), 1.into());
    d.insert("PayloadIdentifier".into(), id.into());
    d.insert("PayloadUUID".into(), uuid().into());
    d.insert("PayloadDisplayName".into(), name.into());
}

fn email(
    base: &str,
    label: &str,
    user: &str,
    password: &str,
    (kind, incoming): (&'static str, Server),
    smtp: &Server,
    smtp_covered: bool,
) -> Value {
    let mut d = Dictionary::new();
    common(
        &mut d,
        "com.apple.mail.managed",
        format!("{base}.email"),
        "Mail",
    );
    d.insert("EmailAccountDescription".into(), label.into());
    d.insert("EmailAccountName".into(), user.into());
    d.insert("EmailAccountType".into(), kind.into());
    if user.contains('@') {
        d.insert("EmailAddress".into(), user.into());
    }
    d.insert(
        "IncomingMailServerAuthentication".into(),
        "EmailAuthPassword".into(),
    );
    d.insert(
        "IncomingMailServerHostName".into(),
        incoming.host.clone().into(),
    );
    d.insert(
        "IncomingMailServerPortNumber".into(),
        u64::from(incoming.port).into(),
    );
    // Apple's UseSSL means TLS: implicit on 993/995/465, STARTTLS elsewhere.
    d.insert("IncomingMailServerUseSSL".into(), true.into());
    d.insert("IncomingMailServerUsername".into(), user.into());
    d.insert("IncomingPassword".into(), password.into());
    d.insert(
        "OutgoingMailServerAuthentication".into(),
        "EmailAuthPassword".into(),
    );
    d.insert(
        "OutgoingMailServerHostName".into(),
        smtp.host.clone().into(),
    );
    d.insert(
        "OutgoingMailServerPortNumber".into(),
        u64::from(smtp.port).into(),
    );
    d.insert("OutgoingMailServerUseSSL".into(), true.into());
    d.insert("OutgoingMailServerUsername".into(), user.into());
    // Sending with this password only where it covers SMTP; elsewhere the
    // device asks for the outgoing password itself.
    if smtp_covered {
        d.insert("OutgoingPassword".into(), password.into());
    }
    d.insert(
        "OutgoingPasswordSameAsIncomingPassword".into(),
        smtp_covered.into(),
    );
    Value::Dictionary(d)
}

fn dav(
    prefix: &str,
    kind: &str,
    base: &str,
    label: &str,
    user: &str,
    password: &str,
    url: &DavUrl,
) -> Value {
    let mut d = Dictionary::new();
    let short = prefix.to_ascii_lowercase();
    let name = if prefix == "CalDAV" {
        "Calendars"
    } else {
        "Contacts"
    };
    common(&mut d, kind, format!("{base}.{short}"), name);
    d.insert(
        format!("{prefix}AccountDescription"),
        format!("{label} ({name})").into(),
    );
    d.insert(
        format!("{prefix}HostName"),
        url.host.trim_matches(['[', ']']).into(),
    );
    d.insert(format!("{prefix}Port"), u64::from(url.port).into());
    d.insert(format!("{prefix}PrincipalURL"), url.url().into());
    d.insert(format!("{prefix}UseSSL"), true.into());
    d.insert(format!("{prefix}Username"), user.into());
    d.insert(format!("{prefix}Password"), password.into());
    Value::Dictionary(d)
}

/// The first server's name, reversed (`org.example.mail`): Apple's
/// identifiers are reverse DNS names.
fn reverse_host(setup: &DeviceSetup) -> String {
    let host = [setup.imap(), setup.pop3(), setup.smtp()]
        .into_iter()
        .flatten()
        .map(|s| s.host)
        .chain(
            setup
                .caldav
                .iter()
                .chain(setup.carddav.iter())
                .map(|u| u.host.clone()),
        )
        .find(|h| h.parse::<std::net::IpAddr>().is_err() && !h.starts_with('['))
        .unwrap_or_else(|| "localhost".into());
    host.rsplit('.').collect::<Vec<_>>().join(".")
}

fn uuid() -> String {
    uuid::Uuid::new_v4()
        .hyphenated()
        .to_string()
        .to_ascii_uppercase()
}

/// Text XML 1.0 can hold: a control character (which no label or user
/// name should carry, but the profile must stay well-formed whatever it
/// is given) becomes a space.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{FFFE}' | '\u{FFFF}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(lines: &[(&str, &str)]) -> DeviceSetup {
        let mut s = DeviceSetup::default();
        for (k, v) in lines {
            assert!(s.set(k, v).unwrap());
        }
        s
    }

    fn full() -> DeviceSetup {
        setup(&[
            ("imap_host", "imap.example.org"),
            ("smtp_host", "smtp.example.org"),
            ("smtp_port", "587"),
            ("caldav_url", "https://dav.example.org/cal/"),
            ("carddav_url", "https://dav.example.org:8443/card/"),
        ])
    }

    fn services(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    fn dict(v: &Value) -> &Dictionary {
        v.as_dictionary().unwrap()
    }

    fn payloads(bytes: &[u8]) -> (Dictionary, Vec<Dictionary>) {
        let top = Value::from_reader_xml(bytes).unwrap();
        let top = dict(&top).clone();
        let content = top["PayloadContent"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| dict(p).clone())
            .collect();
        (top, content)
    }

    #[test]
    fn mail_calendars_and_contacts_carry_the_password_and_the_hosts() {
        let svc = services(&["imap", "submission", "dav"]);
        let p = ProfileFor {
            user: "ann@example.org",
            id: 7,
            label: "Phone",
            services: &svc,
            password: "abcd-efgh-ijkl-mnop",
        };
        let bytes = build(&full(), &p).unwrap();
        let (top, content) = payloads(&bytes);
        assert_eq!(top["PayloadType"].as_string(), Some("Configuration"));
        assert_eq!(
            top["PayloadIdentifier"].as_string(),
            Some("org.example.imap.apppass.7")
        );
        let kinds: Vec<_> = content
            .iter()
            .map(|d| d["PayloadType"].as_string().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "com.apple.mail.managed",
                "com.apple.caldav.account",
                "com.apple.carddav.account"
            ]
        );
        let mail = &content[0];
        assert_eq!(
            mail["IncomingMailServerHostName"].as_string(),
            Some("imap.example.org")
        );
        assert_eq!(
            mail["IncomingMailServerPortNumber"].as_unsigned_integer(),
            Some(993)
        );
        assert_eq!(
            mail["OutgoingMailServerPortNumber"].as_unsigned_integer(),
            Some(587)
        );
        assert_eq!(
            mail["IncomingPassword"].as_string(),
            Some("abcd-efgh-ijkl-mnop")
        );
        assert_eq!(
            mail["OutgoingPassword"].as_string(),
            Some("abcd-efgh-ijkl-mnop")
        );
        assert_eq!(mail["EmailAddress"].as_string(), Some("ann@example.org"));
        assert_eq!(content[2]["CardDAVPort"].as_unsigned_integer(), Some(8443));
        assert_eq!(
            content[1]["CalDAVPassword"].as_string(),
            Some("abcd-efgh-ijkl-mnop")
        );
        let mut uuids: Vec<_> = content
            .iter()
            .map(|d| d["PayloadUUID"].as_string().unwrap())
            .collect();
        uuids.push(top["PayloadUUID"].as_string().unwrap());
        uuids.sort();
        uuids.dedup();
        assert_eq!(uuids.len(), 4, "every PayloadUUID is its own");
        let again = build(&full(), &p).unwrap();
        assert_ne!(payloads(&again).0["PayloadUUID"], top["PayloadUUID"]);
    }

    #[test]
    fn only_the_covered_parts_are_set_up() {
        let svc = services(&["dovecot"]);
        let p = ProfileFor {
            user: "bob",
            id: 1,
            label: "Laptop",
            services: &svc,
            password: "x",
        };
        let (_, content) = payloads(&build(&full(), &p).unwrap());
        assert_eq!(content.len(), 1);
        assert!(
            !content[0].contains_key("OutgoingPassword"),
            "SMTP is not covered"
        );
        assert!(!content[0].contains_key("EmailAddress"));
        let svc = services(&["sshd"]);
        let p = ProfileFor {
            services: &svc,
            ..p
        };
        assert_eq!(
            build(&full(), &p).unwrap_err(),
            ProfileError::NothingToSetUp
        );
    }

    #[test]
    fn markup_and_control_characters_in_a_label_keep_the_xml_well_formed() {
        let svc = services(&["imap"]);
        for label in [
            "<b>&amp;</b>]]>",
            "tab\there\u{7}bell",
            "\"quote' </string>",
        ] {
            let p = ProfileFor {
                user: "bob",
                id: 1,
                label,
                services: &svc,
                password: "pw",
            };
            let bytes = build(&full(), &p).unwrap();
            let (top, content) = payloads(&bytes);
            let shown = top["PayloadDisplayName"].as_string().unwrap();
            assert!(shown.starts_with(&printable(label)), "{shown:?}");
            assert_eq!(content[0]["IncomingPassword"].as_string(), Some("pw"));
        }
    }
}
