//! Every way a request ends other than its page: one type, turned into the
//! response it calls for, so a handler says `?` instead of returning early
//! by hand.

use crate::http::Client;
use crate::pages;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub enum AppError {
    /// apppassd could not be asked, or failed: logged, and a page saying
    /// to try again later.
    Unavailable(String),
    /// A form that cannot be read.
    BadForm(String),
    /// A body over the page's limit.
    TooLarge,
    /// A form without its CSRF token: from an old page or another site.
    Forbidden,
    /// Back to the sign-in page; `ended` forgets the session's cookie.
    SignIn { client: Client, ended: bool },
}

impl From<crate::daemon::Unreachable> for AppError {
    fn from(e: crate::daemon::Unreachable) -> Self {
        AppError::Unavailable(e.0)
    }
}

pub fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Unavailable(why) => {
                eprintln!("apppass-web: {why}");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    pages::problem(
                        "Not available",
                        "App passwords cannot be managed right now. Try again in a few minutes; if it lasts, tell your administrator.",
                    ),
                )
                    .into_response()
            }
            AppError::BadForm(text) => {
                (StatusCode::BAD_REQUEST, pages::problem("Bad request", &text)).into_response()
            }
            AppError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                pages::problem("Bad request", "the form is too large"),
            )
                .into_response(),
            AppError::Forbidden => (
                StatusCode::FORBIDDEN,
                pages::problem(
                    "Form expired",
                    "This form is no longer valid (it came from an old page or another site). Go back to the start and try again.",
                ),
            )
                .into_response(),
            AppError::SignIn { ended: false, .. } => see_other("/sign-in"),
            AppError::SignIn { client, ended: true } => {
                let mut r = see_other("/sign-in?ended=1");
                r.headers_mut().append(
                    header::SET_COOKIE,
                    client.clear_cookie(client.session_cookie()),
                );
                r
            }
        }
    }
}
