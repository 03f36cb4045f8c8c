//! apppassd: the privileged helper through which users manage their own
//! app passwords. Each connection is served by a process of its own, which
//! learns who is asking from the kernel, signs them in through PAM with the
//! conversation relayed to them, and performs one operation through core.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod dovecot_auth;
pub mod listener;
pub mod pam;
pub mod protocol;
pub mod session;
pub mod web;
pub mod web_sessions;
