//! How a request ended when it did not succeed: the status for the
//! client, one sentence, and what kind of refusal it was.

use apppass_core::admin::AdminError;
use apppass_core::selfservice::Refusal;
use apppass_core::store::StoreError;
use apppass_protocol::{Refused, Reply, Status};

#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: Status,
    pub(crate) text: String,
    pub(crate) refused: Option<Refused>,
}

impl Failure {
    pub(crate) fn new(status: Status, text: impl Into<String>) -> Self {
        Failure {
            status,
            text: text.into(),
            refused: None,
        }
    }

    pub(crate) fn usage(text: impl Into<String>) -> Self {
        Failure::new(Status::Usage, text)
    }

    pub(crate) fn unavailable(text: impl Into<String>) -> Self {
        Failure::new(Status::Unavailable, text)
    }

    pub(crate) fn into_reply(self) -> Reply {
        Reply::Failed {
            status: self.status,
            error: self.text,
            refused: self.refused,
        }
    }
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure {
            status: Status::of_refusal(&r),
            text: r.to_string(),
            refused: Some(Refused::of(&r)),
        }
    }
}

impl From<AdminError> for Failure {
    fn from(e: AdminError) -> Self {
        Failure::new(Status::of_admin(&e), e.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::unavailable(e.to_string())
    }
}
