//! Thunderbird's autoconfig (`config-v1.1.xml`): server settings only,
//! never a password, for anyone who asks; from apppass.conf through
//! apppassd, kept for a minute.

use crate::app::Shared;
use crate::error::AppError;
use crate::pages;
use crate::setup_cache::SetupCache;
use apppass_core::setup::is_host;
use apppass_device::autoconfig;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The longest query read: an address is at most 254 characters.
const MAX_QUERY: usize = 1024;

pub async fn serve(
    State(app): State<Shared>,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let setup = SetupCache::get(&app).await?;
    let domain = domain_of(query.as_deref());
    Ok(match autoconfig::document(&setup, domain.as_deref()) {
        Some(xml) => {
            let mut r = (StatusCode::OK, xml).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(autoconfig::MEDIA_TYPE),
            );
            r
        }
        None => (
            StatusCode::NOT_FOUND,
            pages::problem("Not found", "No mail server is set up here."),
        )
            .into_response(),
    })
}

/// The domain of `emailaddress=user@domain`, when it is a host name.
pub fn domain_of(query: Option<&str>) -> Option<String> {
    let query = query.filter(|q| q.len() <= MAX_QUERY)?;
    let (_, address) =
        form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "emailaddress")?;
    let (_, domain) = address.rsplit_once('@')?;
    is_host(domain).then(|| domain.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_domain_comes_from_the_address_asked_about() {
        assert_eq!(
            domain_of(Some("emailaddress=ann%40Example.ORG")).as_deref(),
            Some("example.org")
        );
        assert_eq!(
            domain_of(Some("x=1&emailaddress=a@b@mail.example.org")).as_deref(),
            Some("mail.example.org")
        );
        for bad in [
            None,
            Some(""),
            Some("emailaddress=ann"),
            Some("emailaddress=ann@"),
            Some("emailaddress=ann@exa%3Cmple.org"),
            Some("emailaddress=ann@a..b"),
        ] {
            assert_eq!(domain_of(bad), None, "{bad:?}");
        }
        let long = format!("emailaddress=a@{}", "a.".repeat(600));
        assert_eq!(domain_of(Some(&long)), None);
    }
}
