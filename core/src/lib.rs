//! apppass-core: everything apppass decides, without FFI.
//!
//! The PAM module and the CLI are thin shells over this crate. The clock
//! (`now`, Unix seconds) and the randomness come in as arguments so that
//! tests can pin both.
#![deny(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod admin;
pub mod check_primary;
pub mod config;
pub mod doctor;
pub mod dovecot_wire;
pub mod effects;
pub mod escape;
pub mod expiry;
pub mod fingerprint;
pub mod groups;
pub mod hashing;
pub mod lifecycle;
pub mod login;
pub mod module_args;
pub mod networks;
pub mod notify;
pub mod policy;
pub mod primary;
pub mod primary_until;
pub mod primary_use;
pub mod retention;
pub mod revocation;
pub mod scratch;
pub mod secret;
pub mod selfservice;
pub mod sessions;
pub mod settings;
pub mod setup;
pub mod signin;
pub mod store;
pub mod sys;
pub mod time;
pub mod transfer;
pub mod unix_socket;
pub mod watch;

pub use argon2::Block as Argon2Block;
