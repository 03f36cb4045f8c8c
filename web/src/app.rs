//! The routes. Every handler is thin: it checks the form and the session,
//! asks apppassd, and renders a page. Nothing here decides a rule about
//! app passwords; apppassd and core do.
// A refused request is an early `Err(Response)`: once per request, so its
// size does not matter and boxing would only add noise.
#![allow(clippy::result_large_err)]

use crate::daemon::{Daemon, Outcome, SignIn, Step, Unreachable, NOT_SIGNED_IN, REFUSED};
use crate::form::{Form, MAX_BODY};
use crate::http::{cookie, Client, Frontage};
use crate::limits::{Full, Limits, Ticket};
use crate::model::{Event, Generated, Info, Password};
use crate::pages::{self, passwords::Draft, sign_in::Note};
use crate::pending::{Entry, Pending};
use crate::{assets, csrf};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::Markup;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use zeroize::Zeroizing;

pub struct App {
    pub daemon: Daemon,
    /// How browsers reach the page (TLS, trusted proxies).
    pub front: Frontage,
    pub limits: Mutex<Limits>,
    pub pending: Pending,
}

type Shared = Arc<App>;

impl App {
    pub fn new(daemon: Daemon, front: Frontage) -> Shared {
        Arc::new(App {
            daemon,
            front,
            limits: Mutex::new(Limits::default()),
            pending: Pending::default(),
        })
    }

    fn limits(&self) -> std::sync::MutexGuard<'_, Limits> {
        self.limits.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-in/next", post(sign_in_next))
        .route("/create", post(create))
        .route("/revoke", post(revoke))
        .route("/revoke-all", post(revoke_all))
        .route("/suspend", post(suspend))
        .route("/resume", post(resume))
        .route("/rotate", post(rotate))
        .route("/history", get(history))
        .route("/sign-out", post(sign_out))
        .route("/static/style.css", get(|| assets::serve(assets::CSS)))
        .route("/static/copy.js", get(|| assets::serve(assets::JS)))
        .route("/static/icon.svg", get(|| assets::serve(assets::ICON)))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            security_headers,
        ))
        .with_state(app)
}

/// What every response carries: no caching, no framing, no inline or
/// foreign script or style, no referrer, and HSTS under HTTPS.
async fn security_headers(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let secure = match req.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(peer)) => app.front.secure(req.headers(), *peer),
        None => app.front.tls,
    };
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut HeaderMap, name: &'static str, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, "cache-control", "no-store");
    set(
        h,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "no-referrer");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(h, "cross-origin-resource-policy", "same-origin");
    if secure {
        set(h, "strict-transport-security", "max-age=63072000");
    }
    res
}

fn html(status: StatusCode, page: Markup) -> Response {
    (status, page).into_response()
}

fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn unavailable(e: &Unreachable) -> Response {
    eprintln!("apppass-web: {e}");
    html(
        StatusCode::SERVICE_UNAVAILABLE,
        pages::problem(
            "Not available",
            "App passwords cannot be managed right now. Try again in a few minutes; if it lasts, tell your administrator.",
        ),
    )
}

fn bad_form(text: &str) -> Response {
    html(StatusCode::BAD_REQUEST, pages::problem("Bad request", text))
}

fn forbidden() -> Response {
    html(
        StatusCode::FORBIDDEN,
        pages::problem(
            "Form expired",
            "This form is no longer valid (it came from an old page or another site). Go back to the start and try again.",
        ),
    )
}

async fn not_found() -> Response {
    html(
        StatusCode::NOT_FOUND,
        pages::problem("Not found", "There is no such page here."),
    )
}

/// Runs `f` with apppassd on the blocking pool.
async fn ask<T: Send + 'static>(
    app: &Shared,
    f: impl FnOnce(&Daemon) -> Result<T, Unreachable> + Send + 'static,
) -> Result<T, Unreachable> {
    let daemon = app.daemon.clone();
    tokio::task::spawn_blocking(move || f(&daemon))
        .await
        .unwrap_or_else(|e| Err(Unreachable(format!("a worker failed ({e})"))))
}

/// A signed-in browser: its session token, the token its forms carry,
/// who it is and what it may choose.
struct Session {
    token: Zeroizing<String>,
    csrf: String,
    info: Info,
}

/// Back to the sign-in page, forgetting the session when it has ended.
fn to_sign_in(client: &Client, ended: bool) -> Response {
    if !ended {
        return see_other("/sign-in");
    }
    let mut r = see_other("/sign-in?ended=1");
    r.headers_mut().append(
        header::SET_COOKIE,
        client.clear_cookie(client.session_cookie()),
    );
    r
}

async fn session(app: &Shared, client: &Client, headers: &HeaderMap) -> Result<Session, Response> {
    let Some(token) = cookie(headers, client.session_cookie()) else {
        return Err(to_sign_in(client, false));
    };
    let token = Zeroizing::new(token);
    let t = token.clone();
    match ask(app, move |d| d.call(&t, json!({"op": "web-info"}))).await {
        Ok(Outcome::Done { stdout, .. }) => match serde_json::from_str::<Info>(&stdout) {
            Ok(info) => Ok(Session {
                csrf: csrf::token(&token),
                token,
                info,
            }),
            Err(e) => Err(unavailable(&Unreachable(format!(
                "apppassd's web-info is not understood ({e})"
            )))),
        },
        Ok(Outcome::Failed { code, .. }) if code == NOT_SIGNED_IN => Err(to_sign_in(client, true)),
        Ok(Outcome::Failed { error, .. }) => Err(unavailable(&Unreachable(error))),
        Err(e) => Err(unavailable(&e)),
    }
}

/// [`session`] for a POST: the form must carry the session's CSRF token.
async fn session_for_post(
    app: &Shared,
    client: &Client,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Session, Response> {
    let Some(token) = cookie(headers, client.session_cookie()) else {
        return Err(to_sign_in(client, false));
    };
    if !csrf::valid(&token, form.get("csrf")) {
        return Err(forbidden());
    }
    session(app, client, headers).await
}

/// What every signed-in POST starts with: who asks, the form (bounded),
/// and the session its CSRF token belongs to.
async fn signed_in_post(
    app: &Shared,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Client, Form, Session), Response> {
    let client = app.front.client(headers, peer);
    let form = form(body)?;
    let s = session_for_post(app, &client, headers, &form).await?;
    Ok((client, form, s))
}

/// Carries out a confirmed revoke (or a suspend, a resume): back to the
/// list with `done`, or the list with apppassd's refusal.
async fn revoke_now(
    app: &Shared,
    client: &Client,
    s: &Session,
    request: Value,
    done: &str,
) -> Response {
    match call(app, client, s, request).await {
        Answer::Json(_) => see_other(done),
        Answer::Refused(e) => {
            list_page(
                app,
                client,
                s,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&sentence(&e)),
                None,
                Draft::default(),
            )
            .await
        }
        Answer::Gone(r) => r,
    }
}

/// apppassd's answer to a request in a session, as JSON.
enum Answer {
    Json(Value),
    Refused(String),
    Gone(Response),
}

async fn call(app: &Shared, client: &Client, s: &Session, request: Value) -> Answer {
    let t = s.token.clone();
    match ask(app, move |d| d.call(&t, request)).await {
        Ok(Outcome::Done { stdout, .. }) if stdout.trim().is_empty() => Answer::Json(Value::Null),
        Ok(Outcome::Done { stdout, .. }) => match serde_json::from_str(&stdout) {
            Ok(v) => Answer::Json(v),
            Err(e) => Answer::Gone(unavailable(&Unreachable(format!(
                "apppassd's answer is not understood ({e})"
            )))),
        },
        Ok(Outcome::Failed { code, .. }) if code == NOT_SIGNED_IN => {
            Answer::Gone(to_sign_in(client, true))
        }
        Ok(Outcome::Failed { code, error }) if code <= REFUSED => Answer::Refused(error),
        Ok(Outcome::Failed { error, .. }) => Answer::Gone(unavailable(&Unreachable(error))),
        Err(e) => Answer::Gone(unavailable(&e)),
    }
}

async fn passwords(app: &Shared, client: &Client, s: &Session) -> Result<Vec<Password>, Response> {
    match call(
        app,
        client,
        s,
        json!({"op": "list", "all": true, "json": true}),
    )
    .await
    {
        Answer::Json(v) => serde_json::from_value(v)
            .map_err(|e| unavailable(&Unreachable(format!("apppassd's list: {e}")))),
        Answer::Refused(e) => Err(unavailable(&Unreachable(e))),
        Answer::Gone(r) => Err(r),
    }
}

/// The signed-in page, perhaps with a message and the refused form.
async fn list_page(
    app: &Shared,
    client: &Client,
    s: &Session,
    status: StatusCode,
    error: Option<&str>,
    notice: Option<&str>,
    draft: Draft<'_>,
) -> Response {
    let list = match passwords(app, client, s).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let view = pages::passwords::View {
        user: &s.info.user,
        csrf: &s.csrf,
        allowed: &s.info.services,
        passwords: &list,
        error,
        notice,
        draft,
    };
    html(status, pages::passwords::page_for(&view))
}

fn form(body: &Bytes) -> Result<Form, Response> {
    Form::parse(body).map_err(|e| bad_form(e.0))
}

#[derive(Deserialize)]
struct Message {
    done: Option<String>,
    ended: Option<String>,
}

async fn index(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<Message>,
) -> Response {
    let client = app.front.client(&headers, peer);
    let s = match session(&app, &client, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
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
        return html(
            StatusCode::OK,
            pages::problem(
                "Turned off",
                "Making your own app passwords is turned off on this server; ask your administrator.",
            ),
        );
    }
    list_page(
        &app,
        &client,
        &s,
        StatusCode::OK,
        None,
        notice,
        Draft::default(),
    )
    .await
}

/// The sign-in form, with the cookie holding its CSRF secret (kept when
/// the browser has one already).
fn sign_in_form(
    client: &Client,
    headers: &HeaderMap,
    status: StatusCode,
    user: &str,
    note: Note<'_>,
) -> Response {
    let existing = cookie(headers, client.signin_cookie());
    let secret = existing.clone().unwrap_or_else(csrf::random);
    let mut r = html(
        status,
        pages::sign_in::form(&csrf::token(&secret), user, note),
    );
    if existing.is_none() {
        r.headers_mut().append(
            header::SET_COOKIE,
            client.set_cookie(client.signin_cookie(), &secret),
        );
    }
    r
}

async fn sign_in_page(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<Message>,
) -> Response {
    let client = app.front.client(&headers, peer);
    let note = if q.ended.is_some() {
        Note::Info("Your session has ended. Sign in again.")
    } else if q.done.as_deref() == Some("signed-out") {
        Note::Info("You are signed out.")
    } else {
        Note::None
    };
    sign_in_form(&client, &headers, StatusCode::OK, "", note)
}

/// What the sign-in forms start with: the form (bounded) and the secret of
/// the sign-in cookie its CSRF token must match.
fn sign_in_post(
    client: &Client,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Form, String), Response> {
    let form = form(body)?;
    let secret = cookie(headers, client.signin_cookie()).ok_or_else(forbidden)?;
    if !csrf::valid(&secret, form.get("csrf")) {
        return Err(forbidden());
    }
    Ok((form, secret))
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

async fn sign_in(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client = app.front.client(&headers, peer);
    let (form, secret) = match sign_in_post(&client, &headers, &body) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let user = form.get("user").unwrap_or_default().trim().to_owned();
    let password = Zeroizing::new(form.get("password").unwrap_or_default().to_owned());
    if user.is_empty() || password.is_empty() {
        return sign_in_form(
            &client,
            &headers,
            StatusCode::BAD_REQUEST,
            &user,
            Note::Error("Enter your user name and your password."),
        );
    }
    let ticket = match take_place(&app, &client, &user).await {
        Ok(t) => t,
        Err(text) => {
            return sign_in_form(
                &client,
                &headers,
                StatusCode::TOO_MANY_REQUESTS,
                &user,
                Note::Error(&text),
            );
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
        Ok((signin, step)) => {
            finish_sign_in(&app, &client, &headers, &secret, attempt, signin, step)
        }
        Err(e) => {
            app.limits().abandoned(client.address, &user, ticket);
            unavailable(&e)
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

fn finish_sign_in(
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
                Some(id) => html(
                    StatusCode::OK,
                    pages::sign_in::further(&csrf::token(secret), &id, &text, echo, &notes),
                ),
                None => html(
                    StatusCode::SERVICE_UNAVAILABLE,
                    pages::problem(
                        "Busy",
                        "Too many sign-ins are under way. Try again in a minute.",
                    ),
                ),
            }
        }
        Step::Failed { code, error } if code == REFUSED => {
            app.limits().failed(client.address, user, ticket);
            // The attempt stays counted. A wrong password and an unknown
            // user read the same; a lockout or self-service being off are
            // said as they are.
            let text = if error.starts_with("sign-in failed") {
                "The user name or password is not right."
            } else {
                error.as_str()
            };
            sign_in_form(
                client,
                headers,
                StatusCode::UNAUTHORIZED,
                user,
                Note::Error(text),
            )
        }
        Step::Failed { error, .. } => {
            app.limits().abandoned(client.address, user, ticket);
            unavailable(&Unreachable(error))
        }
    }
}

async fn sign_in_next(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client = app.front.client(&headers, peer);
    let (form, secret) = match sign_in_post(&client, &headers, &body) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let entry = form
        .get("pending")
        .and_then(|id| app.pending.take(id, client.address));
    let Some(entry) = entry else {
        return sign_in_form(
            &client,
            &headers,
            StatusCode::BAD_REQUEST,
            "",
            Note::Error("The sign-in took too long. Start again."),
        );
    };
    let answer = Zeroizing::new(form.get("answer").unwrap_or_default().to_owned());
    let mut signin = entry.signin;
    let result = ask(&app, move |_| {
        let step = signin.answer(&answer)?;
        drive(signin, step, None)
    })
    .await;
    let attempt = Attempt {
        user: &entry.user,
        ticket: entry.ticket,
    };
    match result {
        Ok((signin, step)) => {
            finish_sign_in(&app, &client, &headers, &secret, attempt, signin, step)
        }
        // The sign-in is lost half-way: it stays counted.
        Err(e) => unavailable(&e),
    }
}

async fn create(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (client, form, s) = match signed_in_post(&app, peer, &headers, &body).await {
        Ok(t) => t,
        Err(r) => return r,
    };
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
        return list_page(&app, &client, &s, unprocessable, Some(text), None, draft()).await;
    }
    let mut request = json!({"op": "generate", "services": services, "label": label, "json": true});
    if !expires.is_empty() {
        request["expires"] = json!(expires);
    }
    let from: Vec<&str> = networks
        .split([' ', ','])
        .filter(|n| !n.is_empty())
        .collect();
    if !from.is_empty() {
        request["from"] = json!(from);
    }
    match call(&app, &client, &s, request).await {
        Answer::Refused(e) => {
            let text = sentence(&e);
            list_page(&app, &client, &s, unprocessable, Some(&text), None, draft()).await
        }
        answer => show_new_password(&s, answer),
    }
}

/// The page that shows a new password once (after create or replace).
fn show_new_password(s: &Session, answer: Answer) -> Response {
    match answer {
        Answer::Json(v) => match serde_json::from_value::<Generated>(v) {
            Ok(g) => html(
                StatusCode::OK,
                pages::created::page_for(&s.info.user, &s.csrf, &g),
            ),
            Err(e) => unavailable(&Unreachable(format!("apppassd's new password: {e}"))),
        },
        Answer::Refused(e) => unavailable(&Unreachable(e)),
        Answer::Gone(r) => r,
    }
}

/// The password a form names by its hidden `id`.
fn form_id(form: &Form) -> Result<i64, Response> {
    form.get("id")
        .and_then(|i| i.parse::<i64>().ok())
        .ok_or_else(|| bad_form("The form names no app password."))
}

async fn suspend(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    set_suspended(app, peer, headers, body, true).await
}

async fn resume(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    set_suspended(app, peer, headers, body, false).await
}

/// Suspend and resume are undone as easily as done: no confirmation.
async fn set_suspended(
    app: Shared,
    peer: SocketAddr,
    headers: HeaderMap,
    body: Bytes,
    suspend: bool,
) -> Response {
    let (client, form, s) = match signed_in_post(&app, peer, &headers, &body).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let id = match form_id(&form) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let (op, done) = if suspend {
        ("suspend", "/?done=suspended")
    } else {
        ("resume", "/?done=resumed")
    };
    revoke_now(&app, &client, &s, json!({"op": op, "id": id}), done).await
}

/// A new secret for the same label, services, networks and expiry, shown
/// once; the old one stops working at once.
async fn rotate(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (client, form, s) = match signed_in_post(&app, peer, &headers, &body).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let id = match form_id(&form) {
        Ok(id) => id,
        Err(r) => return r,
    };
    match call(
        &app,
        &client,
        &s,
        json!({"op": "rotate", "id": id, "json": true}),
    )
    .await
    {
        Answer::Refused(e) => {
            list_page(
                &app,
                &client,
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&sentence(&e)),
                None,
                Draft::default(),
            )
            .await
        }
        answer => show_new_password(&s, answer),
    }
}

/// apppassd's sentence for a person on a web page: without the command
/// line's prefix, ending with a full stop. (It may start with a user
/// name, so its case is left alone.)
fn sentence(text: &str) -> String {
    let mut out = text.trim().trim_start_matches("apppass: ").to_owned();
    if !out.ends_with(['.', ')']) {
        out.push('.');
    }
    out
}

async fn revoke(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (client, form, s) = match signed_in_post(&app, peer, &headers, &body).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(id) = form.get("id").and_then(|i| i.parse::<i64>().ok()) else {
        return bad_form("The form names no app password.");
    };
    if form.get("confirm") == Some("yes") {
        let request = json!({"op": "revoke", "id": id});
        return revoke_now(&app, &client, &s, request, "/?done=revoked").await;
    }
    let list = match passwords(&app, &client, &s).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    match list.iter().find(|p| p.id == id && p.live()) {
        Some(p) => html(
            StatusCode::OK,
            pages::confirm::revoke(&s.info.user, &s.csrf, Some((p.id, &p.label)), 1),
        ),
        None => {
            list_page(
                &app,
                &client,
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

async fn revoke_all(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (client, form, s) = match signed_in_post(&app, peer, &headers, &body).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    if form.get("confirm") == Some("yes") {
        let request = json!({"op": "revoke", "all": true});
        return revoke_now(&app, &client, &s, request, "/?done=revoked-all").await;
    }
    let list = match passwords(&app, &client, &s).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let count = list.iter().filter(|p| p.live()).count();
    if count == 0 {
        return list_page(
            &app,
            &client,
            &s,
            StatusCode::OK,
            None,
            Some("You have no app passwords in use."),
            Draft::default(),
        )
        .await;
    }
    html(
        StatusCode::OK,
        pages::confirm::revoke(&s.info.user, &s.csrf, None, count),
    )
}

async fn history(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let client = app.front.client(&headers, peer);
    let s = match session(&app, &client, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match call(&app, &client, &s, json!({"op": "history", "json": true})).await {
        Answer::Json(v) => match serde_json::from_value::<Vec<Event>>(v) {
            Ok(events) => html(
                StatusCode::OK,
                pages::history::page_for(&s.info.user, &s.csrf, &events),
            ),
            Err(e) => unavailable(&Unreachable(format!("apppassd's history: {e}"))),
        },
        Answer::Refused(e) => unavailable(&Unreachable(e)),
        Answer::Gone(r) => r,
    }
}

async fn sign_out(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client = app.front.client(&headers, peer);
    let form = match form(&body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(token) = cookie(&headers, client.session_cookie()) else {
        return see_other("/sign-in");
    };
    if !csrf::valid(&token, form.get("csrf")) {
        return forbidden();
    }
    let t = Zeroizing::new(token);
    if let Err(e) = ask(&app, move |d| d.call(&t, json!({"op": "web-sign-out"}))).await {
        eprintln!("apppass-web: sign-out: {e}");
    }
    let mut r = see_other("/sign-in?done=signed-out");
    r.headers_mut().append(
        header::SET_COOKIE,
        client.clear_cookie(client.session_cookie()),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_sentences_read_as_sentences() {
        assert_eq!(
            sentence("apppass: bob already has 'Phone'"),
            "bob already has 'Phone'."
        );
        assert_eq!(sentence("x (y)"), "x (y)");
    }
}
