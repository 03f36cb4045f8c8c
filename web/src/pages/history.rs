//! The history of the user's app passwords.

use super::layout::{page, Header};
use super::when;
use apppass_protocol::records::EventRecord as Event;
use maud::{html, Markup};

pub fn page_for(user: &str, csrf: &str, events: &[Event]) -> Markup {
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
                                td { (e.event) @if let Some(r) = &e.reason { " (" (r) ")" } }
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
