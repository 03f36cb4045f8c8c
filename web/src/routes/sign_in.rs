//! Signing in, as a conversation with PAM or Dovecot through apppassd: the
//! password typed on the form answers the first question; every further
//! question (a one-time code) is a further page, its apppassd connection
//! kept open in `pending` meanwhile. And signing out.

use crate::app::{ask, Shared};
use crate::csrf;
use crate::daemon::{SignIn, Step, Unreachable};
use crate::error::{see_other, AppError};
use crate::extract::{PostedForm, Visitor};
use crate::form::Form;
use crate::http::{cookie, Client};
use crate::limits::{Full, Ticket};
use crate::pages::{self, sign_in::Note};
use crate::pending::Entry;
use apppass_protocol::{Refused, Request, Status};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::time::Instant;
use zeroize::Zeroizing;

type Page = Result<Response, AppError>;

#[derive(Deserialize)]
pub struct Message {
    done: Option<String>,
    ended: Option<String>,
}

/// The sign-in form, with the cookie holding its CSRF secret (kept when
/// the browser has one already).
fn form_page(
    client: &Client,
    headers: &HeaderMap,
    status: StatusCode,
    user: &str,
    note: Note<'_>,
) -> Response {
    let existing = cookie(headers, client.signin_cookie());
    let secret = existing.clone().unwrap_or_else(csrf::random);
    let mut r = (
        status,
        pages::sign_in::form(&csrf::token(&secret), user, note),
    )
        .into_response();
    if existing.is_none() {
        r.headers_mut().append(
            header::SET_COOKIE,
            client.set_cookie(client.signin_cookie(), &secret),
        );
    }
    r
}

pub async fn page(
    Visitor(client): Visitor,
    headers: HeaderMap,
    Query(q): Query<Message>,
) -> Response {
    let note = if q.ended.is_some() {
        Note::Info("Your session has ended. Sign in again.")
    } else if q.done.as_deref() == Some("signed-out") {
        Note::Info("You are signed out.")
    } else {
        Note::None
    };
    form_page(&client, &headers, StatusCode::OK, "", note)
}

/// The secret of the sign-in cookie the form's CSRF token must match.
fn signin_secret(client: &Client, headers: &HeaderMap, form: &Form) -> Result<String, AppError> {
    let secret = cookie(headers, client.signin_cookie()).ok_or(AppError::Forbidden)?;
    if !csrf::valid(&secret, form.get("csrf")) {
        return Err(AppError::Forbidden);
    }
    Ok(secret)
}

/// Answers PAM's password question with the password typed on the form,
/// once; stops at the first question only the user can answer.
fn drive(
    mut signin: SignIn,
    mut step: Step,
    mut password: Option<Zeroizing<String>>,
) -> Result<(SignIn, Step), Unreachable> {
    loop {
        match &step {
            Step::Prompt { echo: false, .. } if password.is_some() => {
                let pw = password.take().unwrap_or_default();
                step = signin.answer(&pw)?;
            }
            _ => return Ok((signin, step)),
        }
    }
}

/// A place in the sign-in limits, waiting a little (as apppassd does)
/// while it is taken only by sign-ins still under way; `Err`: what to say.
async fn take_place(app: &Shared, client: &Client, user: &str) -> Result<Ticket, String> {
    let give_up = Instant::now() + apppass_core::signin::PATIENCE;
    loop {
        match app.limits().begin(client.address, user, Instant::now()) {
            Ok(t) => return Ok(t),
            Err(Full::Failed(wait)) => {
                let minutes = wait.as_secs().div_ceil(60).max(1);
                return Err(format!(
                    "Too many failed sign-ins. Try again in {minutes} minutes."
                ));
            }
            Err(Full::UnderWay) if Instant::now() < give_up => {}
            Err(Full::UnderWay) => {
                return Err("Several sign-ins are under way already. Try again in a minute.".into())
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A sign-in's user name as typed and its place in the limits.
#[derive(Clone, Copy)]
struct Attempt<'a> {
    user: &'a str,
    ticket: Ticket,
}

pub async fn first(
    State(app): State<Shared>,
    Visitor(client): Visitor,
    headers: HeaderMap,
    PostedForm(form): PostedForm,
) -> Page {
    let secret = signin_secret(&client, &headers, &form)?;
    let user = form.get("user").unwrap_or_default().trim().to_owned();
    let password = Zeroizing::new(form.get("password").unwrap_or_default().to_owned());
    if user.is_empty() || password.is_empty() {
        return Ok(form_page(
            &client,
            &headers,
            StatusCode::BAD_REQUEST,
            &user,
            Note::Error("Enter your user name and your password."),
        ));
    }
    let ticket = match take_place(&app, &client, &user).await {
        Ok(t) => t,
        Err(text) => {
            return Ok(form_page(
                &client,
                &headers,
                StatusCode::TOO_MANY_REQUESTS,
                &user,
                Note::Error(&text),
            ));
        }
    };
    let (u, rhost) = (user.clone(), client.address.to_string());
    let started = ask(&app, move |d| {
        let (signin, step) = SignIn::start(d, &u, &rhost)?;
        drive(signin, step, Some(password))
    })
    .await;
    let attempt = Attempt {
        user: &user,
        ticket,
    };
    match started {
        Ok((signin, step)) => Ok(finish(
            &app, &client, &headers, &secret, attempt, signin, step,
        )),
        Err(e) => {
            app.limits().abandoned(client.address, &user, ticket);
            Err(e)
        }
    }
}

fn finish(
    app: &Shared,
    client: &Client,
    headers: &HeaderMap,
    secret: &str,
    attempt: Attempt<'_>,
    signin: SignIn,
    step: Step,
) -> Response {
    let Attempt { user, ticket } = attempt;
    match step {
        Step::Done { session, .. } => {
            app.limits().accepted(client.address, user, ticket);
            let mut r = see_other("/");
            r.headers_mut().append(
                header::SET_COOKIE,
                client.set_cookie(client.session_cookie(), &session),
            );
            r.headers_mut().append(
                header::SET_COOKIE,
                client.clear_cookie(client.signin_cookie()),
            );
            r
        }
        Step::Prompt { text, echo, notes } => {
            let entry = Entry {
                signin,
                user: user.to_owned(),
                address: client.address,
                ticket,
                since: Instant::now(),
            };
            match app.pending.insert(entry) {
                Some(id) => (
                    StatusCode::OK,
                    pages::sign_in::further(&csrf::token(secret), &id, &text, echo, &notes),
                )
                    .into_response(),
                None => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    pages::problem(
                        "Busy",
                        "Too many sign-ins are under way. Try again in a minute.",
                    ),
                )
                    .into_response(),
            }
        }
        Step::Failed {
            status: Status::Refused,
            error,
            refused,
        } => {
            app.limits().failed(client.address, user, ticket);
            // The attempt stays counted. A wrong password and an unknown
            // user read the same; a lockout or self-service being off are
            // said as they are.
            let text = match refused {
                Some(Refused::NotAccepted) => "The user name or password is not right.",
                _ => error.as_str(),
            };
            form_page(
                client,
                headers,
                StatusCode::UNAUTHORIZED,
                user,
                Note::Error(text),
            )
        }
        Step::Failed { error, .. } => {
            app.limits().abandoned(client.address, user, ticket);
            AppError::Unavailable(error).into_response()
        }
    }
}

pub async fn next(
    State(app): State<Shared>,
    Visitor(client): Visitor,
    headers: HeaderMap,
    PostedForm(form): PostedForm,
) -> Page {
    let secret = signin_secret(&client, &headers, &form)?;
    let entry = form
        .get("pending")
        .and_then(|id| app.pending.take(id, client.address));
    let Some(entry) = entry else {
        return Ok(form_page(
            &client,
            &headers,
            StatusCode::BAD_REQUEST,
            "",
            Note::Error("The sign-in took too long. Start again."),
        ));
    };
    let answer = Zeroizing::new(form.get("answer").unwrap_or_default().to_owned());
    let mut signin = entry.signin;
    // The sign-in is lost half-way when apppassd is: it stays counted.
    let (signin, step) = ask(&app, move |_| {
        let step = signin.answer(&answer)?;
        drive(signin, step, None)
    })
    .await?;
    let attempt = Attempt {
        user: &entry.user,
        ticket: entry.ticket,
    };
    Ok(finish(
        &app, &client, &headers, &secret, attempt, signin, step,
    ))
}

pub async fn sign_out(
    State(app): State<Shared>,
    Visitor(client): Visitor,
    headers: HeaderMap,
    PostedForm(form): PostedForm,
) -> Response {
    let Some(token) = cookie(&headers, client.session_cookie()) else {
        return see_other("/sign-in");
    };
    if !csrf::valid(&token, form.get("csrf")) {
        return AppError::Forbidden.into_response();
    }
    let t = Zeroizing::new(token);
    if let Err(AppError::Unavailable(e)) =
        ask(&app, move |d| d.call(&t, Request::WebSignOut {})).await
    {
        eprintln!("apppass-web: sign-out: {e}");
    }
    let mut r = see_other("/sign-in?done=signed-out");
    r.headers_mut().append(
        header::SET_COOKIE,
        client.clear_cookie(client.session_cookie()),
    );
    r
}
