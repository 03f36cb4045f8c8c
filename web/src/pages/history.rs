//! The history of the user's app passwords.

use super::layout::{page, Header};
use super::when;
use apppass_core::setup::DeviceSetup;
use apppass_protocol::records::EventRecord as Event;
use maud::{html, Markup};

pub fn page_for(user: &str, csrf: &str, setup: &DeviceSetup, events: &[Event]) -> Markup {
    let body = html! {
        h1 { "History" }
        @if events.is_empty() {
            p { "Nothing has happened to your app passwords yet." }
        } @else {
            div.scroll {
                table {
                    thead { tr { th scope="col" { "When" } th scope="col" { "What" } th scope="col" { "App password" } th scope="col" { "By" } } }
                    tbody {
                        @for e in events {
                            tr {
                                td { (when(e.at)) }
                                td { (e.event) @if let Some(r) = &e.reason { " (" (reason(r, setup)) ")" } }
                                td { (e.label.as_deref().unwrap_or("")) @if let Some(id) = e.id { " #" (id) } }
                                td { (by(&e.by)) }
                            }
                        }
                    }
                }
            }
        }
        p { a href="/" { "Back to your app passwords" } }
    };
    page("History", Some(Header { user, csrf }), body)
}

fn by(who: &str) -> &str {
    match who {
        "self" => "you, with apppass",
        "web" => "you, on this page",
        "admin" => "an administrator",
        "module" => "the system",
        other => other,
    }
}

/// A reason as the page shows it: the PAM service in the tripwire's
/// "presented to SVC from HOST" by the name users know it by.
fn reason(text: &str, setup: &DeviceSetup) -> String {
    let Some(rest) = text.strip_prefix("presented to ") else {
        return text.to_owned();
    };
    let (service, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    let sep = if tail.is_empty() { "" } else { " " };
    format!("presented to {}{sep}{tail}", setup.name_of(service))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tripwire_names_the_service_as_users_know_it() {
        let mut setup = DeviceSetup::default();
        setup.set("service_name.imap", "Reading mail").unwrap();
        assert_eq!(
            reason("presented to imap from 192.0.2.1", &setup),
            "presented to Reading mail from 192.0.2.1"
        );
        assert_eq!(
            reason("presented to imap", &setup),
            "presented to Reading mail"
        );
        assert_eq!(reason("presented to smtp", &setup), "presented to smtp");
        assert_eq!(reason("rotated", &setup), "rotated");
    }
}
