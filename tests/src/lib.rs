//! Test harness: drives the built `pam_apppass.so` through the system's
//! libpam, runs the built `apppass`, and makes private PAM configurations,
//! stores and (as root) system users.

pub mod fixture;
pub mod pam;
pub mod system;
