//! The sign-in form, and the form for each further PAM question.

use super::layout::{alert, notice, page};
use maud::{html, Markup};

pub enum Note<'a> {
    None,
    Error(&'a str),
    Info(&'a str),
}

pub fn form(csrf: &str, user: &str, note: Note<'_>) -> Markup {
    let body = html! {
        h1 { "Sign in" }
        p { "Sign in with your own password to make and revoke app passwords for your mail apps." }
        @match note {
            Note::Error(t) => (alert(t)),
            Note::Info(t) => (notice(t)),
            Note::None => {},
        }
        form method="post" action="/sign-in" {
            input type="hidden" name="csrf" value=(csrf);
            div.field {
                label for="user" { "User name" }
                input #user type="text" name="user" value=(user) required autocomplete="username"
                    autocapitalize="none" spellcheck="false" maxlength="256" autofocus[user.is_empty()];
            }
            div.field {
                label for="password" { "Password" }
                input #password type="password" name="password" required
                    autocomplete="current-password" maxlength="1024" autofocus[!user.is_empty()];
            }
            button.primary type="submit" { "Sign in" }
        }
    };
    page("Sign in", None, body)
}

/// The field's name: the question without its trailing colon.
pub fn prompt_label(prompt: &str) -> String {
    let t = prompt.trim().trim_end_matches(':').trim_end();
    if t.is_empty() {
        "Answer".into()
    } else {
        t.to_owned()
    }
}

/// A further question from PAM (a one-time code): `notes` are what PAM
/// said before asking.
pub fn further(csrf: &str, pending: &str, prompt: &str, echo: bool, notes: &[String]) -> Markup {
    let label = prompt_label(prompt);
    let body = html! {
        h1 { "Sign in" }
        @for n in notes {
            (notice(n))
        }
        form method="post" action="/sign-in/next" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="pending" value=(pending);
            div.field {
                label for="answer" { (label) }
                @if echo {
                    input #answer type="text" name="answer" required autofocus
                        autocomplete="one-time-code" inputmode="numeric" maxlength="1024";
                } @else {
                    input #answer type="password" name="answer" required autofocus maxlength="1024";
                }
            }
            button.primary type="submit" { "Continue" }
        }
        p { a href="/sign-in" { "Start again" } }
    };
    page("Sign in", None, body)
}
