//! The new password, shown this once.

use super::layout::{page_with_script, Header};
use super::when;
use apppass_protocol::records::NewPasswordRecord as Generated;
use maud::{html, Markup};

pub fn page_for(user: &str, csrf: &str, g: &Generated) -> Markup {
    let body = html! {
        h1 { "Your new app password" }
        p { "For " strong { (g.issued.label) } ", signing in to " (g.issued.services.join(", ")) "." }
        div.secret {
            code #new-password aria-describedby="new-password-hint" { (g.password.as_str()) }
            button #copy type="button" hidden { "Copy" }
            span #copied role="status" {}
        }
        p #new-password-hint {
            "In the app's account settings, enter it as the password for "
            strong { (user) } ", in place of your own password. "
            "Spaces and dashes do not matter. It is shown only this once: "
            "if you lose it, revoke it and make another."
        }
        @if let Some(e) = g.issued.expires_at {
            p { "It stops working on " (when(e)) "." }
        }
        p { a.button href="/" { "Done" } }
    };
    page_with_script("New app password", Some(Header { user, csrf }), body, true)
}
