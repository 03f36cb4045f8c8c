//! The HTML, written with maud: checked when compiled, escaped by default.

pub mod confirm;
pub mod created;
pub mod history;
pub mod layout;
pub mod passwords;
pub mod setup;
pub mod sign_in;

use maud::{html, Markup};

/// A time as the page shows it: `2026-11-22 10:04 UTC`.
pub fn when(t: i64) -> String {
    format!("{} UTC", apppass_core::time::short(t))
}

/// A page for a request that cannot be served (bad form, apppassd away).
pub fn problem(title: &str, text: &str) -> Markup {
    layout::page(
        title,
        None,
        html! {
            h1 { (title) }
            (layout::alert(text))
            p { a href="/" { "Back to the start" } }
        },
    )
}
