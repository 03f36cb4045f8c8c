//! apppass-web: the self-service web page. It runs as an unprivileged user
//! of its own and reaches nothing but apppassd's socket: it cannot read the
//! store, the key or /etc/shadow. See `apppass-web(8)`.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

pub mod app;
pub mod assets;
pub mod csrf;
pub mod daemon;
pub mod error;
pub mod extract;
pub mod form;
pub mod http;
pub mod limits;
pub mod listen;
pub mod pages;
pub mod pending;
pub mod profiles;
pub mod qr;
pub mod routes;
pub mod setup_cache;
