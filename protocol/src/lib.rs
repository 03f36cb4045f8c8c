//! The protocol between `apppass` (run by a user), `apppass-web` and
//! `apppassd`: the messages as Rust types, the exit codes they carry, one
//! codec and one blocking client. The daemon answers with data, never with
//! text made for a terminal; each front end renders it.
//!
//! Version 2, JSON lines, each message at most [`codec::MAX_MESSAGE`]
//! bytes. The client opens with one [`Envelope`]:
//!
//! ```text
//! {"v":2,"op":"generate","services":["imap"],"label":"Phone","expires":"90d","from":["192.0.2.0/24"]}
//! {"v":2,"op":"list","all":false}
//! {"v":2,"op":"revoke","id":3}            (or "label":"Phone", or "all":true; "reason" optional)
//! {"v":2,"op":"history"}
//! {"v":2,"op":"suspend","id":3}           (or "label":"Phone"; "resume" likewise)
//! {"v":2,"op":"rotate","id":3}            ("profile":true with generate or rotate: a configuration profile too)
//! {"v":2,"op":"setup"}                    (what devices are set up with; public, no sign-in)
//! {"v":2,"op":"web-sign-in","user":"alice","rhost":"203.0.113.7"}
//! {"v":2,"session":"TOKEN","op":"list","all":true}   (the web page, in a session)
//! {"v":2,"session":"TOKEN","op":"web-info"}
//! {"v":2,"session":"TOKEN","op":"web-sign-out"}
//! {"v":2,"op":"check","user":"alice","service":"dav","password":"…","rhost":"203.0.113.7"}
//! ```
//!
//! There is no user in a request: apppassd acts for the uid the kernel
//! reports, or for a web session's user. The exception, `check`, changes
//! nothing of the user's own: pam_apppass.so running as a `login_checker`
//! (apppass.conf) asks for a login to be decided, and gets `accepted` or
//! `rejected`, then `done`. The daemon then sends [`Reply`]
//! lines, each `{"reply":KIND,...}`, ending with `done` or `failed`; the
//! client answers a `prompt` with `{"answer":"..."}` and a `new-password`
//! with `{"delivered":true}` once it has shown it (it is kept only then).
#![forbid(unsafe_code)]

pub mod client;
pub mod codec;
pub mod messages;
pub mod records;
pub mod status;

pub use messages::{Envelope, Followup, Reply, Request};
pub use status::{Refused, Status};

/// Where apppassd listens (the socket unit's path).
pub const DEFAULT_SOCKET: &str = "/run/apppass/apppassd.sock";

/// The protocol version this release speaks.
pub const VERSION: u64 = 2;
