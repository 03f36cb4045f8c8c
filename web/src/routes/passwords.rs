//! The signed-in page: the list, the create form, and what each password's
//! buttons do (revoke with a confirmation, suspend, resume, replace).

use super::{call, device, sentence};
use crate::app::Shared;
use crate::error::{see_other, AppError};
use crate::extract::{SignedIn, SignedInForm};
use crate::form::Form;
use crate::pages::{self, passwords::Draft};
use apppass_device::profile::parts_in_profile;
use apppass_protocol::records::{NewPasswordRecord, PasswordRecord};
use apppass_protocol::Request;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

type Page = Result<Response, AppError>;

fn html(status: StatusCode, page: maud::Markup) -> Response {
    (status, page).into_response()
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn index(State(app): State<Shared>, s: SignedIn, Query(q): Query<Done>) -> Page {
    let notice = match q.done.as_deref() {
        Some("revoked") => {
            Some("The app password was revoked. Apps using it can no longer sign in.")
        }
        Some("revoked-all") => Some("All your app passwords were revoked."),
        Some("suspended") => Some(
            "The app password was suspended. Apps using it cannot sign in until you resume it.",
        ),
        Some("resumed") => Some("The app password was resumed. Apps using it can sign in again."),
        _ => None,
    };
    if s.info.services.is_empty() {
        return Ok(html(
            StatusCode::OK,
            pages::problem(
                "Turned off",
                "Making your own app passwords is turned off on this server; ask your administrator.",
            ),
        ));
    }
    list_page(&app, &s, StatusCode::OK, None, notice, Draft::default()).await
}

/// Every password of the user, revoked and expired ones too.
async fn passwords(app: &Shared, s: &SignedIn) -> Result<Vec<PasswordRecord>, AppError> {
    match call(app, s, Request::List { all: true }).await? {
        Ok(got) => got
            .passwords
            .ok_or_else(|| AppError::Unavailable("apppassd sent no list".into())),
        Err(e) => Err(AppError::Unavailable(e)),
    }
}

/// The signed-in page, perhaps with a message and the refused form.
async fn list_page(
    app: &Shared,
    s: &SignedIn,
    status: StatusCode,
    error: Option<&str>,
    notice: Option<&str>,
    draft: Draft<'_>,
) -> Page {
    let list = passwords(app, s).await?;
    let view = pages::passwords::View {
        user: &s.info.user,
        csrf: &s.csrf,
        allowed: &s.info.services,
        setup: &s.info.setup,
        passwords: &list,
        error,
        notice,
        draft,
    };
    Ok(html(status, pages::passwords::page_for(&view)))
}

/// The list again with apppassd's refusal.
async fn refused(app: &Shared, s: &SignedIn, why: &str) -> Page {
    let text = sentence(why);
    list_page(
        app,
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some(&text),
        None,
        Draft::default(),
    )
    .await
}

pub async fn create(State(app): State<Shared>, headers: HeaderMap, f: SignedInForm) -> Page {
    let SignedInForm { s, form } = f;
    let label = form.get("label").unwrap_or_default().trim();
    let services = form.all("service");
    let expires = form.get("expires").unwrap_or_default().trim();
    let networks = form.get("networks").unwrap_or_default().trim();
    let draft = || Draft {
        label,
        services: services.clone(),
        expires,
        networks,
    };
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let problem = if label.is_empty() {
        Some("Give the app password a label, such as the app or device it is for.")
    } else if services.is_empty() {
        Some("Choose at least one service.")
    } else {
        None
    };
    if let Some(text) = problem {
        return list_page(&app, &s, unprocessable, Some(text), None, draft()).await;
    }
    let chosen: Vec<String> = services.iter().map(|s| s.to_string()).collect();
    // A profile only where it would set something up.
    let profile = !parts_in_profile(&s.info.setup, &chosen).is_empty();
    let request = Request::Generate {
        services: chosen,
        label: label.to_owned(),
        expires: (!expires.is_empty()).then(|| expires.to_owned()),
        from: networks
            .split([' ', ','])
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect(),
        profile,
    };
    match call(&app, &s, request).await? {
        Err(e) => {
            let text = sentence(&e);
            list_page(&app, &s, unprocessable, Some(&text), None, draft()).await
        }
        Ok(got) => show_new_password(&app, &s, &headers, got.new_password, profile),
    }
}

/// The page that shows a new password once (after create or replace),
/// with the profile apppassd made when `asked`.
fn show_new_password(
    app: &Shared,
    s: &SignedIn,
    headers: &HeaderMap,
    new: Option<NewPasswordRecord>,
    asked: bool,
) -> Page {
    let mut g = new.ok_or_else(|| AppError::Unavailable("apppassd sent no new password".into()))?;
    let offer = device::keep_profile(app, s, headers, &mut g, asked);
    let page = pages::created::Created {
        user: &s.info.user,
        csrf: &s.csrf,
        setup: &s.info.setup,
        password: &g,
        offer,
    };
    Ok(html(StatusCode::OK, pages::created::page_for(&page)))
}

/// The password a form names by its hidden `id`.
fn form_id(form: &Form) -> Result<i64, AppError> {
    form.get("id")
        .and_then(|i| i.parse::<i64>().ok())
        .ok_or_else(|| AppError::BadForm("The form names no app password.".into()))
}

/// Carries out a confirmed revoke (or a suspend, a resume): back to the
/// list with `done`, or the list with apppassd's refusal.
async fn act(app: &Shared, s: &SignedIn, request: Request, done: &str) -> Page {
    match call(app, s, request).await? {
        Ok(_) => Ok(see_other(done)),
        Err(e) => refused(app, s, &e).await,
    }
}

/// Suspend and resume are undone as easily as done: no confirmation.
pub async fn suspend(State(app): State<Shared>, f: SignedInForm) -> Page {
    let id = form_id(&f.form)?;
    let request = Request::Suspend {
        id: Some(id),
        label: None,
    };
    act(&app, &f.s, request, "/?done=suspended").await
}

pub async fn resume(State(app): State<Shared>, f: SignedInForm) -> Page {
    let id = form_id(&f.form)?;
    let request = Request::Resume {
        id: Some(id),
        label: None,
    };
    act(&app, &f.s, request, "/?done=resumed").await
}

/// A new secret for the same label, services, networks and expiry, shown
/// once; the old one stops working at once.
pub async fn rotate(State(app): State<Shared>, headers: HeaderMap, f: SignedInForm) -> Page {
    let id = form_id(&f.form)?;
    // A profile only where it would set something up: the password's
    // services decide, and only the list says what they are.
    let profile = f.s.info.setup.any_server()
        && passwords(&app, &f.s)
            .await?
            .iter()
            .find(|p| p.id == id)
            .is_some_and(|p| !parts_in_profile(&f.s.info.setup, &p.services).is_empty());
    let request = Request::Rotate {
        id: Some(id),
        label: None,
        profile,
    };
    match call(&app, &f.s, request).await? {
        Err(e) => refused(&app, &f.s, &e).await,
        Ok(got) => show_new_password(&app, &f.s, &headers, got.new_password, profile),
    }
}

pub async fn revoke(State(app): State<Shared>, f: SignedInForm) -> Page {
    let SignedInForm { s, form } = f;
    let id = form_id(&form)?;
    if form.get("confirm") == Some("yes") {
        let request = Request::Revoke {
            id: Some(id),
            label: None,
            all: false,
            reason: None,
        };
        return act(&app, &s, request, "/?done=revoked").await;
    }
    let list = passwords(&app, &s).await?;
    match list.iter().find(|p| p.id == id && p.live()) {
        Some(p) => Ok(html(
            StatusCode::OK,
            pages::confirm::revoke(&s.info.user, &s.csrf, Some((p.id, &p.label)), 1),
        )),
        None => {
            list_page(
                &app,
                &s,
                StatusCode::NOT_FOUND,
                Some("That app password is not one of yours, or it is revoked already."),
                None,
                Draft::default(),
            )
            .await
        }
    }
}

pub async fn revoke_all(State(app): State<Shared>, f: SignedInForm) -> Page {
    let SignedInForm { s, form } = f;
    if form.get("confirm") == Some("yes") {
        let request = Request::Revoke {
            id: None,
            label: None,
            all: true,
            reason: None,
        };
        return act(&app, &s, request, "/?done=revoked-all").await;
    }
    let list = passwords(&app, &s).await?;
    let count = list.iter().filter(|p| p.live()).count();
    if count == 0 {
        return list_page(
            &app,
            &s,
            StatusCode::OK,
            None,
            Some("You have no app passwords in use."),
            Draft::default(),
        )
        .await;
    }
    Ok(html(
        StatusCode::OK,
        pages::confirm::revoke(&s.info.user, &s.csrf, None, count),
    ))
}
