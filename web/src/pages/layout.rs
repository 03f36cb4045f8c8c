//! The frame of every page, and the message boxes.

use maud::{html, Markup, DOCTYPE};

/// Who is signed in, for the header's sign-out form.
pub struct Header<'a> {
    pub user: &'a str,
    pub csrf: &'a str,
}

pub fn page(title: &str, header: Option<Header<'_>>, body: Markup) -> Markup {
    page_with_script(title, header, body, false)
}

/// `script`: the page loads copy.js (the new-password page only).
pub fn page_with_script(
    title: &str,
    header: Option<Header<'_>>,
    body: Markup,
    script: bool,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · App passwords" }
                link rel="stylesheet" href="/static/style.css";
                link rel="icon" href="/static/icon.svg" type="image/svg+xml";
                @if script {
                    script src="/static/copy.js" defer {}
                }
            }
            body {
                header.top {
                    p.brand { "App passwords" }
                    @if let Some(h) = header {
                        form.signout method="post" action="/sign-out" {
                            span.who { "Signed in as " strong { (h.user) } }
                            input type="hidden" name="csrf" value=(h.csrf);
                            button.quiet type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A refusal or error, read out at once by screen readers.
pub fn alert(text: &str) -> Markup {
    html! { p.alert role="alert" { (text) } }
}

/// A confirmation that something was done.
pub fn notice(text: &str) -> Markup {
    html! { p.notice role="status" { (text) } }
}
