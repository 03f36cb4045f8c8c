//! The handlers, one file per page: each checks its form, asks apppassd
//! through `daemon`, and renders a page from `pages`.

pub mod autoconfig;
pub mod device;
pub mod history;
pub mod passwords;
pub mod sign_in;

use crate::app::{ask, Shared};
use crate::daemon::{Outcome, Received};
use crate::error::AppError;
use crate::extract::SignedIn;
use apppass_protocol::{Request, Status};

/// Asks apppassd to do `request` in the session: what it sent back, or
/// (inner `Err`) the sentence it refused with.
pub(crate) async fn call(
    app: &Shared,
    s: &SignedIn,
    request: Request,
) -> Result<Result<Received, String>, AppError> {
    let token = s.token.clone();
    match ask(app, move |d| d.call(&token, request)).await? {
        Outcome::Done(got) => Ok(Ok(*got)),
        Outcome::Failed {
            status: Status::NotSignedIn,
            ..
        } => Err(AppError::SignIn {
            client: s.client,
            ended: true,
        }),
        Outcome::Failed { error, .. } => Ok(Err(error)),
    }
}

/// apppassd's sentence for a person on a web page: without the command
/// line's prefix, ending with a full stop. (It may start with a user
/// name, so its case is left alone.)
pub(crate) fn sentence(text: &str) -> String {
    let mut out = text.trim().trim_start_matches("apppass: ").to_owned();
    if !out.ends_with(['.', ')']) {
        out.push('.');
    }
    out
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
