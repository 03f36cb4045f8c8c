//! The history of the user's app passwords.

use super::call;
use crate::app::Shared;
use crate::error::AppError;
use crate::extract::SignedIn;
use crate::pages;
use apppass_protocol::Request;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub async fn page(State(app): State<Shared>, s: SignedIn) -> Result<Response, AppError> {
    match call(&app, &s, Request::History {}).await? {
        Ok(got) => {
            let events = got
                .events
                .ok_or_else(|| AppError::Unavailable("apppassd sent no history".into()))?;
            let page = pages::history::page_for(&s.info.user, &s.csrf, &s.info.setup, &events);
            Ok((StatusCode::OK, page).into_response())
        }
        Err(e) => Err(AppError::Unavailable(e)),
    }
}
