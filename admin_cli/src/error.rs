use apppass_core::admin::AdminError;
use apppass_core::login::LoginError;
use apppass_core::store::{Hint, StoreError};
use apppass_protocol::Status;
use std::fmt;

/// One sentence for stderr and the exit code that goes with it.
#[derive(Debug)]
pub enum CliError {
    /// 1: the thing asked about does not hold.
    NotSo(String),
    /// 2: bad flag, bad or duplicate label, bad expiry, limit reached, user refused.
    Usage(String),
    /// 3: store unavailable or refused.
    Store(String),
    /// 4: refused: the primary password was not accepted, self-service is
    /// off, or policy forbids what was asked.
    Refused(String),
    /// How apppassd ended a request, passed on.
    Relayed(Status, String),
}

impl CliError {
    pub fn status(&self) -> Status {
        match self {
            CliError::NotSo(_) => Status::NotSo,
            CliError::Usage(_) => Status::Usage,
            CliError::Store(_) => Status::Unavailable,
            CliError::Refused(_) => Status::Refused,
            CliError::Relayed(status, _) => *status,
        }
    }

    pub fn code(&self) -> u8 {
        self.status().code()
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::NotSo(m)
            | CliError::Usage(m)
            | CliError::Store(m)
            | CliError::Refused(m)
            | CliError::Relayed(_, m) => f.write_str(m),
        }
    }
}

/// The store error's sentence, with what to change on this command line.
pub fn store_message(e: &StoreError) -> String {
    match e.hint() {
        Some(Hint::PointAtStore) => format!("{e}; point --db at the right store"),
        Some(Hint::Privilege) => format!("{e}; run apppass as root or as the store's owner"),
        None => e.to_string(),
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        CliError::Store(store_message(&e))
    }
}

impl From<AdminError> for CliError {
    fn from(e: AdminError) -> Self {
        let text = match &e {
            AdminError::Store(s) => store_message(s),
            AdminError::NotStored(s) => format!(
                "the password printed above was NOT stored and will not work: {}",
                store_message(s)
            ),
            other => other.to_string(),
        };
        match Status::of_admin(&e) {
            Status::Usage => CliError::Usage(text),
            Status::NotSo => CliError::NotSo(text),
            status => CliError::Relayed(status, text),
        }
    }
}

impl From<LoginError> for CliError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::Store(s) => CliError::Store(store_message(&s)),
            other => CliError::Store(other.to_string()),
        }
    }
}
