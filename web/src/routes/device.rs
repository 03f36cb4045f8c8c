//! The configuration profile made with a new password: kept for the page
//! that shows it, served to that session's "Download profile" link and
//! once to the QR code's link, and dropped when the session leaves the
//! page. Nothing here logs a profile, a link or a password.

use crate::app::Shared;
use crate::error::AppError;
use crate::extract::SignedIn;
use crate::pages::{self, setup::Download, setup::Offer};
use crate::profiles::{self, Found, Profile};
use crate::qr;
use apppass_device::profile::MEDIA_TYPE;
use apppass_protocol::records::NewPasswordRecord;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;
use zeroize::Zeroizing;

/// Keeps the profile apppassd sent with `g` for this session's page, and
/// says what the page offers: the link, the QR code, or why neither.
pub fn keep_profile(
    app: &Shared,
    s: &SignedIn,
    headers: &HeaderMap,
    g: &mut NewPasswordRecord,
    asked: bool,
) -> Offer {
    let Some(bytes) = g.take_profile() else {
        return Offer {
            download: None,
            // apppassd logged why; the settings below still work.
            note: asked
                .then_some("No profile could be made this time: enter the settings by hand."),
        };
    };
    let profile = Profile {
        bytes,
        filename: profiles::filename(&g.issued.label),
    };
    let Some(made) = app
        .profiles
        .insert(&s.token, &s.info.user, profile, Instant::now())
    else {
        return Offer {
            download: None,
            note: Some("The profile cannot be offered right now: enter the settings by hand."),
        };
    };
    let qr = qr::link_base(&s.info.setup, s.client.secure, headers).and_then(|base| {
        let link = Zeroizing::new(format!("{base}/setup/{}", made.token.as_str()));
        qr::svg(&link)
    });
    Offer {
        download: Some(Download {
            href: format!("/profile/{}", made.id),
            qr,
        }),
        note: None,
    }
}

/// The session's own link: only the session that made the profile gets
/// it; to any other the id does not exist.
pub async fn by_session(
    State(app): State<Shared>,
    Path(id): Path<String>,
    s: SignedIn,
) -> Result<Response, AppError> {
    if !profiles::well_formed(&id) {
        return Ok(not_found());
    }
    Ok(
        match app.profiles.by_session(&s.token, &id, Instant::now()) {
            Found::Profile(p) => serve(p),
            Found::Gone => gone(),
            Found::Unknown => not_found(),
        },
    )
}

/// The QR code's link: no session, once. A HEAD request (a link
/// previewer, a scanner) gets the headers and uses nothing up.
pub async fn by_token(
    State(app): State<Shared>,
    method: Method,
    Path(token): Path<String>,
) -> Response {
    if !profiles::well_formed(&token) {
        return not_found();
    }
    let peek = method == Method::HEAD;
    match app.profiles.by_token(&token, Instant::now(), peek) {
        Found::Profile(p) => serve(p),
        Found::Gone => gone(),
        Found::Unknown => not_found(),
    }
}

fn serve(p: Profile) -> Response {
    let mut r = (StatusCode::OK, p.bytes.to_vec()).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
    // The name is letters, digits, dashes and underscores only.
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", p.filename)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

fn gone() -> Response {
    (
        StatusCode::GONE,
        pages::problem(
            "Link used",
            "This profile link was used already, or it expired: it works once, for 10 minutes, while the page that showed it is open. To set up another device, make an app password for it.",
        ),
    )
        .into_response()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        pages::problem("Not found", "There is no such page here."),
    )
        .into_response()
}

/// The requests that do not leave the page showing a profile: its own
/// style sheet, script and icon, and the profile's links.
fn stays_on_page(method: &Method, path: &str) -> bool {
    (method == Method::GET || method == Method::HEAD)
        && (path.starts_with("/static/")
            || path.starts_with("/profile/")
            || path.starts_with("/setup/")
            || path == "/favicon.ico")
}

/// Any other request of a session (another page, a form, signing out)
/// leaves the page: the session's profile links stop working. One place
/// for every route, before its handler runs.
pub async fn leave_page(State(app): State<Shared>, req: Request, next: Next) -> Response {
    if !stays_on_page(req.method(), req.uri().path()) {
        // Both names: which one is the session's depends on HTTPS, and a
        // cookie that is no session's drops nothing.
        for name in ["apppass", "__Host-apppass"] {
            if let Some(token) = crate::http::cookie(req.headers(), name) {
                app.profiles.leave(&token, Instant::now());
            }
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_pages_own_files_and_the_profile_links_stay_on_it() {
        for p in [
            "/static/style.css",
            "/profile/x",
            "/setup/x",
            "/favicon.ico",
        ] {
            assert!(stays_on_page(&Method::GET, p), "{p}");
            assert!(!stays_on_page(&Method::POST, p), "{p}");
        }
        for p in ["/", "/history", "/sign-in", "/create", "/nothing"] {
            assert!(!stays_on_page(&Method::GET, p), "{p}");
        }
    }
}
