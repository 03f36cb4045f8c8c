//! "Set up your device", under a new password: the profile to download
//! and its QR code when apppassd made one, and the server settings to
//! type in by hand for what the password covers.

use apppass_core::setup::{DeviceSetup, Part};
use maud::{html, Markup, PreEscaped};

/// The profile kept for this page, when there is one.
pub struct Download {
    /// The session's link (`/profile/ID`).
    pub href: String,
    /// The QR code (SVG) of the one-time link, when a link could be made.
    pub qr: Option<String>,
}

/// What the section offers besides the settings.
#[derive(Default)]
pub struct Offer {
    pub download: Option<Download>,
    /// Why no profile is offered, when one was asked for.
    pub note: Option<&'static str>,
}

/// The section, or nothing when apppass.conf names no server for the
/// services of the password.
pub fn section(setup: &DeviceSetup, user: &str, services: &[String], offer: &Offer) -> Markup {
    let parts = setup.covered(services);
    if parts.is_empty() {
        return html! {};
    }
    html! {
        section.setup aria-labelledby="setup-heading" {
            h2 #setup-heading { "Set up your device" }
            @if let Some(d) = &offer.download {
                p { "On an iPhone, iPad or Mac, install the profile: it sets up the accounts below with this app password." }
                p { a.button.primary href=(d.href) { "Download profile" } }
                @if let Some(svg) = &d.qr {
                    div.qr-box {
                        // Made by the qrcode crate from shapes and numbers
                        // only: nothing of it comes from a user.
                        (PreEscaped(svg))
                        p.hint { "Or scan this code with the device's camera to open the profile there." }
                    }
                }
                p.hint { "The profile can be downloaded for 10 minutes, until you leave this page; the code works once." }
            }
            @if let Some(n) = offer.note {
                p.hint { (n) }
            }
            p { "In other apps, enter these settings:" }
            div.settings {
                @for part in parts {
                    (settings(setup, user, part))
                }
            }
        }
    }
}

fn settings(setup: &DeviceSetup, user: &str, part: Part) -> Markup {
    let heading = format!("setup-{}", part.as_str());
    let server = match part {
        Part::Imap => setup.imap(),
        Part::Pop3 => setup.pop3(),
        Part::Smtp => setup.smtp(),
        Part::Caldav | Part::Carddav => None,
    };
    let url = match part {
        Part::Caldav => setup.caldav.as_ref(),
        Part::Carddav => setup.carddav.as_ref(),
        _ => None,
    };
    html! {
        article.card aria-labelledby=(heading) {
            h3 #(heading) { (part.title()) }
            dl {
                @if let Some(s) = &server {
                    dt { "Server" } dd { (s.host) }
                    dt { "Port" } dd { (s.port) }
                    dt { "Security" } dd { (s.security().as_str()) }
                }
                @if let Some(u) = url {
                    dt { "URL" } dd { (u.url()) }
                }
                dt { "User name" } dd { (user) }
                dt { "Password" } dd { "the app password above" }
            }
        }
    }
}
