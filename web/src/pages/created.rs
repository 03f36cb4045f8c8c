//! The new password, shown this once, and how to set up a device with it.

use super::layout::{page_with_script, Header};
use super::setup::{self, Offer};
use super::when;
use apppass_core::setup::DeviceSetup;
use apppass_protocol::records::NewPasswordRecord as Generated;
use maud::{html, Markup};

pub struct Created<'a> {
    pub user: &'a str,
    pub csrf: &'a str,
    pub setup: &'a DeviceSetup,
    pub password: &'a Generated,
    pub offer: Offer,
}

pub fn page_for(c: &Created<'_>) -> Markup {
    let g = c.password;
    let names: Vec<&str> = g
        .issued
        .services
        .iter()
        .map(|s| c.setup.name_of(s))
        .collect();
    let body = html! {
        h1 { "Your new app password" }
        p { "For " strong { (g.issued.label) } ", signing in to " (names.join(", ")) "." }
        div.secret {
            code #new-password aria-describedby="new-password-hint" { (g.password.as_str()) }
            button #copy type="button" hidden { "Copy" }
            span #copied role="status" {}
        }
        p #new-password-hint {
            "In the app's account settings, enter it as the password for "
            strong { (c.user) } ", in place of your own password. "
            "Spaces and dashes do not matter. It is shown only this once: "
            "if you lose it, revoke it and make another."
        }
        @if let Some(e) = g.issued.expires_at {
            p { "It stops working on " (when(e)) "." }
        }
        (setup::section(c.setup, c.user, &g.issued.services, &c.offer))
        p { a.button href="/" { "Done" } }
    };
    page_with_script(
        "New app password",
        Some(Header {
            user: c.user,
            csrf: c.csrf,
        }),
        body,
        true,
    )
}
