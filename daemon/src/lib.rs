//! apppassd: the privileged helper through which users manage their own
//! app passwords. Each connection is served by a process of its own, which
//! learns who is asking from the kernel, signs them in through PAM with the
//! conversation relayed to them, and performs one operation through core.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod check;
mod conn;
pub mod dovecot_auth;
mod failure;
pub mod listener;
mod local;
mod notifications;
mod operations;
pub mod pam;
pub mod serve;
pub mod settings;
mod web;
pub mod web_sessions;
