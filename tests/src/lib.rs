//! Test harness: drives the built `pam_apppass.so` through the system's
//! libpam, runs the built `apppass`, and makes private PAM configurations,
//! stores and (as root) system users.

pub mod apppassd;
pub mod browser;
pub mod clients;
pub mod dav;
pub mod debian13;
pub mod dovecot;
pub mod draw;
pub mod fail2ban;
pub mod fake_clock;
pub mod fixture;
pub mod pam;
pub mod pgbouncer;
pub mod postfix;
pub mod postgres;
pub mod qr_code;
pub mod slapd;
pub mod sqlpassdb;
pub mod sshd;
pub mod sweep;
pub mod system;
pub mod tcp_proxy;
pub mod watcher;
pub mod web;
