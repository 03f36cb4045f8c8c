//! The page's own files, compiled in: no CDN, nothing read from disk.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

pub struct Asset {
    pub body: &'static str,
    pub content_type: &'static str,
}

pub const CSS: Asset = Asset {
    body: include_str!("../static/style.css"),
    content_type: "text/css; charset=utf-8",
};
pub const JS: Asset = Asset {
    body: include_str!("../static/copy.js"),
    content_type: "text/javascript; charset=utf-8",
};
pub const ICON: Asset = Asset {
    body: include_str!("../static/icon.svg"),
    content_type: "image/svg+xml",
};

pub async fn serve(asset: Asset) -> Response {
    let mut r = asset.body.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    r
}
