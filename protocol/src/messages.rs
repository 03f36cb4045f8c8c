//! The messages: a client's request and follow-ups, the daemon's replies.

use crate::records::{
    EndedRecord, EventRecord, IssuedRecord, Named, NewPasswordRecord, PasswordRecord, SetupRecord,
    TripwireRecord,
};
use crate::status::{Refused, Status};
use crate::VERSION;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use zeroize::Zeroizing;

/// What a client asks, on its own passwords (or, for the web page, on the
/// passwords of the user its session belongs to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    Generate {
        services: Vec<String>,
        label: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires: Option<String>,
        /// Networks (`--from`), at most [`apppass_core::networks::MAX_NETWORKS`].
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        from: Vec<String>,
        /// Send a configuration profile with the new password.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        profile: bool,
    },
    List {
        #[serde(default)]
        all: bool,
    },
    Revoke {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        all: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    History {},
    Suspend {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    Resume {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    Rotate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// Send a configuration profile with the new password.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        profile: bool,
    },
    /// The web page signs `user` in; `rhost` is the browser's address.
    WebSignIn {
        user: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rhost: Option<String>,
    },
    WebInfo {},
    WebSignOut {},
    /// What devices are set up with (servers, service names): public, for
    /// the web page's autoconfig; asks for no sign-in.
    Setup {},
    /// pam_apppass.so, running as a `login_checker` without the rights to
    /// open the store, asks apppassd to decide a login as it would: `user`
    /// and `service` as PAM has them, the password normalised (16
    /// letters), `rhost` the client's address.
    Check {
        user: String,
        service: String,
        password: Password,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rhost: Option<String>,
    },
}

/// A candidate password on the wire: zeroized, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Password(pub Zeroizing<String>);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

impl Request {
    /// Whether only the web page may make it.
    pub fn is_web(&self) -> bool {
        matches!(
            self,
            Request::WebSignIn { .. } | Request::WebInfo {} | Request::WebSignOut {}
        )
    }
}

/// A request with the protocol version and the web session it is made in.
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    pub request: Request,
    pub session: Option<Zeroizing<String>>,
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("request", &self.request)
            .field("session", &self.session.as_ref().map(|_| "…"))
            .finish()
    }
}

/// Written straight to the line, never through a `Value`: a `check`
/// carries a password, and no unzeroized copy of it is left behind.
impl Serialize for Envelope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            v: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            session: Option<&'a str>,
            #[serde(flatten)]
            request: &'a Request,
        }
        Wire {
            v: VERSION,
            session: self.session.as_ref().map(|s| s.as_str()),
            request: &self.request,
        }
        .serialize(serializer)
    }
}

/// Why a request line was refused; the sentence goes back to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(pub String);

impl Envelope {
    pub fn new(request: Request) -> Envelope {
        Envelope {
            request,
            session: None,
        }
    }

    pub fn in_session(request: Request, session: &str) -> Envelope {
        Envelope {
            request,
            session: Some(Zeroizing::new(session.to_owned())),
        }
    }

    /// The request as sent: `{"v":2,"session":…,"op":…}`.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Parses an opening request: an object with `"v"` this release
    /// speaks, a known `op`, and perhaps a `"session"` string. Any field
    /// the operation does not take is an error.
    pub fn parse(line: &[u8]) -> Result<Envelope, BadRequest> {
        let mut value: Value = serde_json::from_slice(line)
            .map_err(|e| BadRequest(format!("the request is not JSON ({e})")))?;
        let obj = value
            .as_object_mut()
            .ok_or_else(|| BadRequest("the request is not a JSON object".into()))?;
        match obj.remove("v").and_then(|v| v.as_u64()) {
            Some(VERSION) => {}
            Some(v) => {
                return Err(BadRequest(format!(
                    "this client speaks protocol version {v} and apppassd version {VERSION}: upgrade apppass and apppass-web to apppassd's release"
                )))
            }
            None => return Err(BadRequest("the request has no protocol version \"v\"".into())),
        }
        let session = match obj.remove("session") {
            None => None,
            Some(Value::String(s)) => Some(Zeroizing::new(s)),
            Some(_) => return Err(BadRequest("\"session\" must be a string".into())),
        };
        let request = serde_json::from_value(value).map_err(|e| {
            BadRequest(format!(
                "the request is not one apppassd understands ({})",
                apppass_core::escape::for_message(&e.to_string())
            ))
        })?;
        Ok(Envelope { request, session })
    }
}

/// What a client sends after its request.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Followup {
    /// The answer to the last prompt.
    Answer(Zeroizing<String>),
    /// Whether the new password was shown (printed, or put on the page).
    Delivered(bool),
}

impl fmt::Debug for Followup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Followup::Answer(_) => f.write_str("Answer(…)"),
            Followup::Delivered(d) => write!(f, "Delivered({d})"),
        }
    }
}

/// What the daemon sends, in order, until `Done` or `Failed`.
#[derive(Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum Reply {
    /// Every place this uid may have is taken: ask again in a moment.
    /// Sent first, then `Failed`.
    Busy,
    /// A question from PAM; answer with [`Followup::Answer`]. `echo`: the
    /// answer may be shown as typed.
    Prompt { text: String, echo: bool },
    /// A message from PAM.
    Info { text: String },
    /// An error message from PAM.
    Error { text: String },
    /// A sentence for the user (a wipe found, no fingerprint kept…).
    Notice { text: String },
    /// The passwords `list` asked for.
    Passwords { passwords: Vec<PasswordRecord> },
    /// The user's history.
    History {
        user: String,
        events: Vec<EventRecord>,
    },
    /// A new password, to show once; answer with [`Followup::Delivered`]:
    /// it is kept only if it was shown.
    NewPassword { password: NewPasswordRecord },
    /// The new password is stored: what it is, without the secret.
    Issued { password: IssuedRecord },
    /// The passwords a revoke took.
    Revoked { user: String, passwords: Vec<Named> },
    /// A password suspended (or resumed, when `suspended` is false).
    Suspended {
        user: String,
        password: Named,
        suspended: bool,
    },
    /// The sessions a change ended (revoke, suspend, rotate), and what
    /// could not be done, each warning naming the command to run.
    SignedOut {
        user: String,
        ended: Vec<EndedRecord>,
        warnings: Vec<String>,
    },
    /// Signed in on the web page: the session's token and the user name
    /// as PAM or Dovecot knows it.
    Session {
        token: Zeroizing<String>,
        user: String,
    },
    /// Who a web session belongs to and what they may choose, with what
    /// devices are set up with.
    WebInfo {
        user: String,
        services: Vec<String>,
        #[serde(default)]
        setup: SetupRecord,
    },
    /// What devices are set up with.
    Setup { setup: SetupRecord },
    /// A `check`: the app password `id` logged in.
    Accepted { id: i64, label: String },
    /// A `check`: refused. `reason` is always `refused`: apppassd logs why
    /// itself, as the caller (a web server's worker) must not learn who has
    /// app passwords or what a password is right for; `tripwire` when the
    /// password presented is one that stopped working.
    Rejected {
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tripwire: Option<TripwireRecord>,
    },
    /// The request was carried out.
    Done,
    /// It was not: the exit code, one sentence, and what kind of refusal.
    Failed {
        status: Status,
        error: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refused: Option<Refused>,
    },
}

impl Reply {
    pub fn failed(status: Status, error: impl Into<String>) -> Reply {
        Reply::Failed {
            status,
            error: error.into(),
            refused: None,
        }
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The kind only: a reply may carry a password or a session.
        let kind = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("reply").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        write!(f, "Reply({kind})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Envelope, BadRequest> {
        Envelope::parse(s.as_bytes())
    }

    #[test]
    fn requests_round_trip_and_anything_else_is_refused() {
        for request in [
            Request::Generate {
                services: vec!["imap".into()],
                label: "P".into(),
                expires: Some("90d".into()),
                from: vec!["10.0.0.0/8".into()],
                profile: true,
            },
            Request::List { all: true },
            Request::Revoke {
                id: None,
                label: None,
                all: true,
                reason: Some("lost".into()),
            },
            Request::History {},
            Request::Suspend {
                id: Some(3),
                label: None,
            },
            Request::Rotate {
                id: None,
                label: Some("P".into()),
                profile: false,
            },
            Request::Setup {},
            Request::WebSignIn {
                user: "alice".into(),
                rhost: Some("::1".into()),
            },
            Request::Check {
                user: "alice".into(),
                service: "dav".into(),
                password: Password(Zeroizing::new("abcdefghijklmnop".into())),
                rhost: Some("203.0.113.7".into()),
            },
        ] {
            let sent = Envelope::new(request).to_value().to_string();
            let got = parse(&sent).unwrap();
            assert_eq!(got.to_value().to_string(), sent);
        }
        let web = parse(r#"{"v":2,"session":"abc","op":"web-info"}"#).unwrap();
        assert_eq!(web.request, Request::WebInfo {});
        assert_eq!(web.session.as_deref().map(String::as_str), Some("abc"));
        for bad in [
            r#"{"op":"list"}"#,
            r#"{"v":2,"op":"list","user":"root"}"#,
            r#"{"v":2,"op":"list","uid":0}"#,
            r#"{"v":2,"op":"list","json":true}"#,
            r#"{"v":2,"op":"drop"}"#,
            r#"[1,2]"#,
            "\u{fffd}",
            r#"{"v":2,"op":"revoke","id":"3; DROP"}"#,
            r#"{"v":2,"op":"list","session":7}"#,
            r#"{"v":2,"op":"web-sign-out","user":"bob"}"#,
            r#"{"v":2,"op":"web-sign-in"}"#,
            r#"{"v":2,"op":"rotate","id":3,"user":"bob"}"#,
            r#"{"v":2,"op":"generate","services":["imap"],"label":"P","from":"10.0.0.0/8"}"#,
            r#"{"v":2,"op":"check","user":"a","service":"dav"}"#,
            r#"{"v":2,"op":"check","user":"a","service":"dav","password":7}"#,
            r#"{"v":2,"op":"check","user":"a","service":"dav","password":"x","uid":0}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_check_is_written_whole_and_never_shows_its_password() {
        let check = Envelope::new(Request::Check {
            user: "alice".into(),
            service: "dav".into(),
            password: Password(Zeroizing::new("abcdefghijklmnop".into())),
            rhost: None,
        });
        assert!(!format!("{check:?}").contains("abcdefghijklmnop"));
        let in_session = Envelope::in_session(Request::List { all: true }, "tok");
        for e in [check, in_session] {
            let line = serde_json::to_string(&e).unwrap();
            assert!(line.starts_with(r#"{"v":2,"#), "{line}");
            assert_eq!(parse(&line).unwrap(), e);
        }
    }

    #[test]
    fn an_old_client_is_told_to_upgrade() {
        let e = parse(r#"{"v":1,"op":"list","all":false,"json":false}"#).unwrap_err();
        assert!(e.0.contains("upgrade"), "{}", e.0);
    }

    #[test]
    fn replies_and_followups_have_their_wire_shape() {
        let r = serde_json::to_string(&Reply::Prompt {
            text: "Password: ".into(),
            echo: false,
        })
        .unwrap();
        assert_eq!(r, r#"{"reply":"prompt","text":"Password: ","echo":false}"#);
        let r = serde_json::to_string(&Reply::failed(Status::Refused, "no")).unwrap();
        assert_eq!(r, r#"{"reply":"failed","status":4,"error":"no"}"#);
        assert_eq!(
            serde_json::to_string(&Followup::Answer(Zeroizing::new("pw".into()))).unwrap(),
            r#"{"answer":"pw"}"#
        );
        assert_eq!(
            serde_json::to_string(&Followup::Delivered(true)).unwrap(),
            r#"{"delivered":true}"#
        );
        assert!(serde_json::from_str::<Followup>(r#"{"answer":"x","more":1}"#).is_err());
        let busy: Reply = serde_json::from_str(r#"{"reply":"busy"}"#).unwrap();
        assert!(matches!(busy, Reply::Busy));
        assert_eq!(format!("{busy:?}"), "Reply(busy)");
    }
}
