//! "Are you sure?" before revoking: no JavaScript dialog, a page.

use super::layout::{page, Header};
use maud::{html, Markup};

/// `which`: the password (id and label), or `None` for all of them.
pub fn revoke(user: &str, csrf: &str, which: Option<(i64, &str)>, count: usize) -> Markup {
    let body = html! {
        @match which {
            Some((id, label)) => {
                h1 { "Revoke “" (label) "”?" }
                p { "Apps using this app password stop signing in at once. This cannot be undone." }
                form method="post" action="/revoke" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="id" value=(id);
                    input type="hidden" name="confirm" value="yes";
                    button.danger type="submit" { "Revoke" }
                    " "
                    a.button.quiet href="/" { "Cancel" }
                }
            }
            None => {
                h1 { "Revoke all " (count) " app passwords?" }
                p { "Every app using one of them stops signing in at once. Your own password is not changed. This cannot be undone." }
                form method="post" action="/revoke-all" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="confirm" value="yes";
                    button.danger type="submit" { "Revoke all" }
                    " "
                    a.button.quiet href="/" { "Cancel" }
                }
            }
        }
    };
    page("Revoke", Some(Header { user, csrf }), body)
}
