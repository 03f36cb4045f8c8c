//! Who is asking, as handler arguments: a handler that takes a
//! [`SignedIn`] cannot forget to check the session, and one that takes a
//! [`SignedInForm`] cannot forget the CSRF token.

use crate::app::{ask, Shared};
use crate::csrf;
use crate::daemon::{Info, Outcome};
use crate::error::AppError;
use crate::form::{Form, MAX_BODY};
use crate::http::{cookie, Client, Peer};
use apppass_protocol::{Request, Status};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request as HttpRequest};
use axum::http::request::Parts;
use zeroize::Zeroizing;

/// The browser asking: its address (the peer's, or what a trusted proxy
/// says) and whether it speaks HTTPS.
pub struct Visitor(pub Client);

impl FromRequestParts<Shared> for Visitor {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Self, AppError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<Peer>>()
            .map(|ConnectInfo(peer)| *peer)
            .ok_or_else(|| AppError::Unavailable("no peer address".into()))?;
        app.front
            .client(&parts.headers, peer)
            .map(Visitor)
            .ok_or_else(|| {
                AppError::Unavailable(
                    "a request on the Unix socket came without X-Real-IP; the proxy in front must set it (proxy_set_header X-Real-IP $remote_addr; in nginx)".into(),
                )
            })
    }
}

/// A signed-in browser: its session, the token its forms carry, who it is
/// and what it may choose.
pub struct SignedIn {
    pub client: Client,
    pub token: Zeroizing<String>,
    pub csrf: String,
    pub info: Info,
}

impl FromRequestParts<Shared> for SignedIn {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Self, AppError> {
        let Visitor(client) = Visitor::from_request_parts(parts, app).await?;
        let Some(token) = cookie(&parts.headers, client.session_cookie()) else {
            return Err(AppError::SignIn {
                client,
                ended: false,
            });
        };
        let token = Zeroizing::new(token);
        let t = token.clone();
        let outcome = ask(app, move |d| d.call(&t, Request::WebInfo {})).await?;
        match outcome {
            Outcome::Done(got) => match got.info {
                Some(info) => Ok(SignedIn {
                    csrf: csrf::token(&token),
                    token,
                    info,
                    client,
                }),
                None => Err(AppError::Unavailable(
                    "apppassd's web-info said nothing".into(),
                )),
            },
            Outcome::Failed {
                status: Status::NotSignedIn,
                ..
            } => Err(AppError::SignIn {
                client,
                ended: true,
            }),
            Outcome::Failed { error, .. } => Err(AppError::Unavailable(error)),
        }
    }
}

/// A signed-in POST: the form (bounded), whose CSRF token must be the
/// session's before apppassd is asked anything.
pub struct SignedInForm {
    pub s: SignedIn,
    pub form: Form,
}

impl FromRequest<Shared> for SignedInForm {
    type Rejection = AppError;

    async fn from_request(req: HttpRequest, app: &Shared) -> Result<Self, AppError> {
        let (mut parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_BODY)
            .await
            .map_err(|_| AppError::TooLarge)?;
        let form = Form::parse(&bytes).map_err(|e| AppError::BadForm(e.0.into()))?;
        let Visitor(client) = Visitor::from_request_parts(&mut parts, app).await?;
        let Some(token) = cookie(&parts.headers, client.session_cookie()) else {
            return Err(AppError::SignIn {
                client,
                ended: false,
            });
        };
        if !csrf::valid(&token, form.get("csrf")) {
            return Err(AppError::Forbidden);
        }
        let s = SignedIn::from_request_parts(&mut parts, app).await?;
        Ok(SignedInForm { s, form })
    }
}

/// A posted form, bounded, for the pages before a session exists.
pub struct PostedForm(pub Form);

impl FromRequest<Shared> for PostedForm {
    type Rejection = AppError;

    async fn from_request(req: HttpRequest, _: &Shared) -> Result<Self, AppError> {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
            .await
            .map_err(|_| AppError::TooLarge)?;
        Form::parse(&bytes)
            .map(PostedForm)
            .map_err(|e| AppError::BadForm(e.0.into()))
    }
}
