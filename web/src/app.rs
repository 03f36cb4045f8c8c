//! The page's state and its routes. Handlers live by page in `routes`;
//! nothing here decides a rule about app passwords: apppassd and core do.

use crate::daemon::{Daemon, Unreachable};
use crate::error::AppError;
use crate::form::MAX_BODY;
use crate::http::{Frontage, Peer};
use crate::limits::Limits;
use crate::pending::Pending;
use crate::profiles::Profiles;
use crate::routes::{autoconfig, device, history, passwords, sign_in};
use crate::setup_cache::SetupCache;
use crate::{assets, pages};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::{Arc, Mutex};

pub struct App {
    pub daemon: Daemon,
    /// How browsers reach the page (TLS, trusted proxies).
    pub front: Frontage,
    pub limits: Mutex<Limits>,
    pub pending: Pending,
    /// Profiles made with new passwords, waiting to be fetched.
    pub profiles: Profiles,
    /// apppass.conf's device settings, for autoconfig.
    pub setup_cache: SetupCache,
}

pub type Shared = Arc<App>;

impl App {
    pub fn new(daemon: Daemon, front: Frontage) -> Shared {
        Arc::new(App {
            daemon,
            front,
            limits: Mutex::new(Limits::default()),
            pending: Pending::default(),
            profiles: Profiles::default(),
            setup_cache: SetupCache::default(),
        })
    }

    pub fn limits(&self) -> std::sync::MutexGuard<'_, Limits> {
        self.limits.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(passwords::index))
        .route("/sign-in", get(sign_in::page).post(sign_in::first))
        .route("/sign-in/next", post(sign_in::next))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/create", post(passwords::create))
        .route("/revoke", post(passwords::revoke))
        .route("/revoke-all", post(passwords::revoke_all))
        .route("/suspend", post(passwords::suspend))
        .route("/resume", post(passwords::resume))
        .route("/rotate", post(passwords::rotate))
        .route("/history", get(history::page))
        .route("/profile/{id}", get(device::by_session))
        .route("/setup/{token}", get(device::by_token))
        .route(
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            get(autoconfig::serve),
        )
        .route("/mail/config-v1.1.xml", get(autoconfig::serve))
        .route("/static/style.css", get(|| assets::serve(assets::CSS)))
        .route("/static/copy.js", get(|| assets::serve(assets::JS)))
        .route("/static/icon.svg", get(|| assets::serve(assets::ICON)))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            device::leave_page,
        ))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            security_headers,
        ))
        .with_state(app)
}

/// What every response carries: no caching, no framing, no inline or
/// foreign script or style, no referrer, and HSTS under HTTPS.
async fn security_headers(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let secure = match req.extensions().get::<ConnectInfo<Peer>>() {
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

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        pages::problem("Not found", "There is no such page here."),
    )
        .into_response()
}

/// Runs `f` with apppassd on the blocking pool.
pub async fn ask<T: Send + 'static>(
    app: &Shared,
    f: impl FnOnce(&Daemon) -> Result<T, Unreachable> + Send + 'static,
) -> Result<T, AppError> {
    let daemon = app.daemon.clone();
    tokio::task::spawn_blocking(move || f(&daemon))
        .await
        .unwrap_or_else(|e| Err(Unreachable(format!("a worker failed ({e})"))))
        .map_err(AppError::from)
}
