//! The signed-in page: the form to make an app password and the list of
//! the user's passwords.

use super::layout::{alert, notice, page, Header};
use super::when;
use apppass_core::setup::DeviceSetup;
use apppass_protocol::records::{PasswordRecord as Password, Standing};
use maud::{html, Markup};

/// What the create form held, to show it again after a refusal.
#[derive(Default)]
pub struct Draft<'a> {
    pub label: &'a str,
    pub services: Vec<&'a str>,
    pub expires: &'a str,
    pub networks: &'a str,
}

pub struct View<'a> {
    pub user: &'a str,
    pub csrf: &'a str,
    /// The services the user may choose (self-service-services).
    pub allowed: &'a [String],
    /// What users read for each service (`service_name.*`).
    pub setup: &'a DeviceSetup,
    pub passwords: &'a [Password],
    pub error: Option<&'a str>,
    pub notice: Option<&'a str>,
    pub draft: Draft<'a>,
}

pub fn page_for(v: &View<'_>) -> Markup {
    let (active, inactive): (Vec<&Password>, Vec<&Password>) =
        v.passwords.iter().partition(|p| p.live());
    let body = html! {
        h1 { "Your app passwords" }
        @if let Some(e) = v.error { (alert(e)) }
        @if let Some(n) = v.notice { (notice(n)) }
        (create_form(v))
        section aria-labelledby="active-heading" {
            h2 #active-heading { "In use" }
            @if active.is_empty() {
                p { "You have no app passwords in use." }
            } @else {
                ul.cards {
                    @for p in &active { li { (card(p, v)) } }
                }
                form method="post" action="/revoke-all" {
                    input type="hidden" name="csrf" value=(v.csrf);
                    button.danger type="submit" { "Revoke all" }
                }
            }
        }
        @if !inactive.is_empty() {
            details {
                summary { "Revoked and expired (" (inactive.len()) ")" }
                ul.cards {
                    @for p in &inactive { li { (card(p, v)) } }
                }
            }
        }
        p { a href="/history" { "History of your app passwords" } }
    };
    page(
        "Your app passwords",
        Some(Header {
            user: v.user,
            csrf: v.csrf,
        }),
        body,
    )
}

fn create_form(v: &View<'_>) -> Markup {
    html! {
        section aria-labelledby="create-heading" {
            h2 #create-heading { "Create an app password" }
            form method="post" action="/create" {
                input type="hidden" name="csrf" value=(v.csrf);
                div.field {
                    label for="label" { "Label" }
                    input #label type="text" name="label" required maxlength="64" value=(v.draft.label)
                        aria-describedby="label-hint" autocomplete="off";
                    p.hint #label-hint { "The app or device it is for, such as “iPhone Mail”." }
                }
                fieldset {
                    legend { "Services" }
                    @for s in v.allowed {
                        div.check {
                            input type="checkbox" id={ "service-" (s) } name="service" value=(s)
                                checked[v.draft.services.contains(&s.as_str()) || v.allowed.len() == 1];
                            label for={ "service-" (s) } { (v.setup.name_of(s)) }
                        }
                    }
                }
                div.field {
                    label for="expires" { "Expires" }
                    input #expires type="text" name="expires" maxlength="32" value=(v.draft.expires)
                        aria-describedby="expires-hint" autocomplete="off";
                    p.hint #expires-hint { "Optional: 90d, 12w, 48h, or a date such as 2027-01-31. Empty: until you revoke it." }
                }
                div.field {
                    label for="networks" { "Allowed networks" }
                    input #networks type="text" name="networks" maxlength="1000" value=(v.draft.networks)
                        aria-describedby="networks-hint" autocomplete="off";
                    p.hint #networks-hint { "Optional: the networks the app connects from, such as 192.0.2.0/24 or 2001:db8::/32, separated by spaces or commas. Empty: from anywhere." }
                }
                button.primary type="submit" { "Create app password" }
            }
        }
    }
}

fn card(p: &Password, v: &View<'_>) -> Markup {
    let csrf = v.csrf;
    let heading = format!("pw-{}", p.id);
    let names: Vec<&str> = p.services.iter().map(|s| v.setup.name_of(s)).collect();
    html! {
        article.card aria-labelledby=(heading) {
            h3 #(heading) { (p.label) }
            dl {
                dt { "Services" } dd { (names.join(", ")) }
                dt { "From" } dd { (if p.networks.is_empty() { "anywhere".to_string() } else { p.networks.join(", ") }) }
                dt { "Created" } dd { (when(p.created_at)) }
                dt { "Expires" } dd { (p.expires_at.map_or("never".into(), when)) }
                dt { "Last used" } dd { (last_used(p, v.setup)) }
                dt { "Status" } dd { (status(p)) }
                @if let Some(tried) = p.last_tried_at {
                    dt { "Tried after it stopped" } dd { (when(tried)) }
                }
            }
            @if p.status == Standing::Active {
                form method="post" action="/suspend" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="id" value=(p.id);
                    button type="submit" aria-describedby=(heading) { "Suspend" }
                }
                form method="post" action="/rotate" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="id" value=(p.id);
                    button type="submit" aria-describedby=(heading) { "Replace password" }
                }
            }
            @if p.status == Standing::Suspended {
                form method="post" action="/resume" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="id" value=(p.id);
                    button type="submit" aria-describedby=(heading) { "Resume" }
                }
            }
            @if p.live() {
                form method="post" action="/revoke" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="id" value=(p.id);
                    button.danger type="submit" aria-describedby=(heading) { "Revoke" }
                }
            }
        }
    }
}

fn last_used(p: &Password, setup: &DeviceSetup) -> String {
    let Some(used) = &p.last_used else {
        return "never".into();
    };
    let mut s = when(used.at);
    if let Some(svc) = &used.service {
        s.push_str(&format!(" for {}", setup.name_of(svc)));
    }
    if let Some(from) = &used.rhost {
        s.push_str(&format!(" from {from}"));
    }
    s
}

fn status(p: &Password) -> String {
    if p.status == Standing::NotEntitled {
        // Not the user's doing: say who can change it.
        return "not usable now: your account is not among those allowed app passwords; ask your administrator".into();
    }
    let status = p.status.as_str();
    match (p.revoked_at, &p.revoked_reason) {
        (Some(at), Some(reason)) => format!("{status} {} ({reason})", when(at)),
        (Some(at), None) => format!("{status} {}", when(at)),
        _ => status.to_owned(),
    }
}
