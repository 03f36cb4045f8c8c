//! `apppass export` / `apppass import`: a whole store as one JSON document,
//! the same for every backend, so a store moves from SQLite to PostgreSQL
//! (or back) with its IDs, hashes, history, fingerprints and settings. The
//! key is not in it: it is copied beside the new store as a file.
//!
//! The document holds password hashes: it is written 0600 and never over
//! an existing file by the CLI, and never logged.

use crate::networks::Networks;
use crate::policy::Scope;
use crate::store::{
    Actor, Credential, Event, EventKind, FingerprintRow, FingerprintSource, Finish, LastUse,
    Password, Recorded, Revocation, Snapshot, Store, StoreError, WriteError,
};
use serde_json::{json, Map, Value};
use std::fmt;
use zeroize::Zeroizing;

pub const FORMAT: &str = "apppass-export";
pub const VERSION: i64 = 1;

#[derive(Debug)]
pub enum TransferError {
    /// The document is not an export this apppass reads.
    Format(String),
    /// The target store already holds data.
    NotEmpty {
        target: String,
    },
    Store(StoreError),
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::Format(m) => write!(f, "not a usable apppass export: {m}"),
            TransferError::NotEmpty { target } => write!(
                f,
                "the store {target} is not empty; import only into a store just made with 'apppass init'"
            ),
            TransferError::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for TransferError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TransferError::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for TransferError {
    fn from(e: StoreError) -> Self {
        TransferError::Store(e)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The whole store as a JSON document (times in Unix seconds, exactly).
pub fn export(snap: &Snapshot, now: i64) -> Zeroizing<String> {
    let passwords: Vec<Value> = snap
        .passwords
        .iter()
        .map(|(p, c)| {
            json!({
                "id": p.id,
                "user": p.user,
                "label": p.label,
                "services": p.scope.names(),
                "networks": p.networks.names(),
                "created_at": p.created_at,
                "suspended_at": p.suspended_at,
                "last_tried_at": p.last_tried_at,
                "expires_at": p.expires_at,
                "revoked_at": p.revoked.as_ref().map(|r| r.at),
                "revoked_reason": p.revoked.as_ref().and_then(|r| r.reason.clone()),
                "last_used_at": p.last_used.as_ref().map(|u| u.at),
                "last_used_service": p.last_used.as_ref().and_then(|u| u.service.clone()),
                "last_used_rhost": p.last_used.as_ref().and_then(|u| u.rhost.clone()),
                "phc": c.as_ref().map(|c| c.phc.clone()),
                "tag": c.as_ref().map(|c| c.tag),
                "tag_salt": c.as_ref().map(|c| hex(&c.tag_salt)),
            })
        })
        .collect();
    let events: Vec<Value> = snap
        .events
        .iter()
        .map(|(user, e)| {
            json!({
                "user": user,
                "at": e.at,
                "event": e.kind.as_str(),
                "id": e.password_id,
                "label": e.label,
                "reason": e.reason,
                "by": e.by.encode(),
            })
        })
        .collect();
    let fingerprints: Vec<Value> = snap
        .fingerprints
        .iter()
        .map(|f| {
            json!({"user": f.user, "fingerprint": hex(&f.recorded.fp),
                   "source": f.recorded.source.as_str(), "taken_at": f.taken_at})
        })
        .collect();
    let settings: Map<String, Value> = snap
        .settings
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let text_settings: Map<String, Value> = snap
        .text_settings
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let doc = json!({
        "format": FORMAT,
        "version": VERSION,
        "exported_at": now,
        "passwords": passwords,
        "events": events,
        "fingerprints": fingerprints,
        "settings": settings,
        "text_settings": text_settings,
    });
    Zeroizing::new(serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n")
}

struct Fields<'a> {
    obj: &'a Map<String, Value>,
    what: String,
}

impl Fields<'_> {
    fn bad(&self, field: &str) -> TransferError {
        TransferError::Format(format!(
            "{}: field '{field}' is missing or of the wrong type",
            self.what
        ))
    }
    fn text(&self, f: &str) -> Result<String, TransferError> {
        self.obj
            .get(f)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| self.bad(f))
    }
    fn opt_text(&self, f: &str) -> Result<Option<String>, TransferError> {
        match self.obj.get(f) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.bad(f)),
        }
    }
    fn int(&self, f: &str) -> Result<i64, TransferError> {
        self.obj
            .get(f)
            .and_then(Value::as_i64)
            .ok_or_else(|| self.bad(f))
    }
    fn opt_int(&self, f: &str) -> Result<Option<i64>, TransferError> {
        match self.obj.get(f) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| self.bad(f)),
        }
    }
}

fn objects<'a>(doc: &'a Value, key: &str) -> Result<Vec<Fields<'a>>, TransferError> {
    let list = doc
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| TransferError::Format(format!("'{key}' is missing or not a list")))?;
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_object()
                .map(|obj| Fields {
                    obj,
                    what: format!("{key}[{i}]"),
                })
                .ok_or_else(|| TransferError::Format(format!("{key}[{i}] is not an object")))
        })
        .collect()
}

/// Reads an export, checking every field; nothing is written here.
/// `networks` of an exported password; absent in exports made before
/// `--from` existed, meaning anywhere.
fn networks(f: &Fields<'_>) -> Result<Networks, TransferError> {
    let Some(value) = f.obj.get("networks") else {
        return Ok(Networks::anywhere());
    };
    let items = value
        .as_array()
        .ok_or_else(|| f.bad("networks"))?
        .iter()
        .map(|v| v.as_str().ok_or_else(|| f.bad("networks")))
        .collect::<Result<Vec<_>, _>>()?;
    Networks::parse(items).map_err(|e| TransferError::Format(format!("{}: {e}", f.what)))
}

pub fn parse(text: &str) -> Result<Snapshot, TransferError> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| TransferError::Format(format!("not JSON ({e})")))?;
    if doc.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(TransferError::Format(format!(
            "'format' is not \"{FORMAT}\""
        )));
    }
    match doc.get("version").and_then(Value::as_i64) {
        Some(VERSION) => {}
        Some(v) => {
            return Err(TransferError::Format(format!(
                "version {v}; this apppass reads version {VERSION} (upgrade apppass)"
            )))
        }
        None => return Err(TransferError::Format("'version' is missing".into())),
    }
    let mut snap = Snapshot::default();
    for f in objects(&doc, "passwords")? {
        let services: Vec<String> = f
            .obj
            .get("services")
            .and_then(Value::as_array)
            .ok_or_else(|| f.bad("services"))?
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| f.bad("services"))
            })
            .collect::<Result<_, _>>()?;
        let scope = if services == ["*"] {
            Scope::Any
        } else {
            Scope::only(&services).map_err(|e| TransferError::Format(format!("{}: {e}", f.what)))?
        };
        let user = f.text("user")?;
        crate::policy::check_user(&user)
            .map_err(|e| TransferError::Format(format!("{}: {e}", f.what)))?;
        let revoked = f
            .opt_int("revoked_at")?
            .map(|at| Revocation { at, reason: None });
        // The rules generate applies: an export is text anyone can edit.
        let label = f.text("label")?;
        crate::policy::check_label(&label)
            .map_err(|e| TransferError::Format(format!("{}: {e}", f.what)))?;
        let mut p = Password {
            addresses: Vec::new(),
            id: f.int("id")?,
            user,
            label,
            scope,
            networks: networks(&f)?,
            created_at: f.int("created_at")?,
            expires_at: f.opt_int("expires_at")?,
            suspended_at: f.opt_int("suspended_at")?,
            revoked,
            last_used: None,
            last_tried_at: f.opt_int("last_tried_at")?,
        };
        if let Some(r) = p.revoked.as_mut() {
            r.reason = f.opt_text("revoked_reason")?;
        }
        if let Some(at) = f.opt_int("last_used_at")? {
            p.last_used = Some(LastUse {
                at,
                service: f.opt_text("last_used_service")?,
                rhost: f.opt_text("last_used_rhost")?,
            });
        }
        let cred = match f.opt_text("phc")? {
            Some(phc) => {
                crate::hashing::StoredHash::parse(&phc)
                    .map_err(|e| TransferError::Format(format!("{}: {e}", f.what)))?;
                let tag = u16::try_from(f.int("tag")?).map_err(|_| f.bad("tag"))?;
                let salt = unhex(&f.text("tag_salt")?).ok_or_else(|| f.bad("tag_salt"))?;
                Some(Credential {
                    phc,
                    tag,
                    tag_salt: salt,
                })
            }
            None => None,
        };
        if cred.is_none() && p.revoked.is_none() && p.expires_at.is_none() {
            return Err(TransferError::Format(format!(
                "{}: a password that has neither been revoked nor expired needs its hash",
                f.what
            )));
        }
        snap.passwords.push((p, cred));
    }
    for f in objects(&doc, "events")? {
        let name = f.text("event")?;
        let kind = EventKind::parse(&name).ok_or_else(|| f.bad("event"))?;
        let by = Actor::decode(&f.text("by")?).ok_or_else(|| f.bad("by"))?;
        let user = f.text("user")?;
        let label = f.opt_text("label")?;
        crate::policy::check_user(&user)
            .and_then(|()| label.as_deref().map_or(Ok(()), crate::policy::check_label))
            .map_err(|e| TransferError::Format(format!("{}: {e}", f.what)))?;
        snap.events.push((
            user,
            Event {
                at: f.int("at")?,
                kind,
                password_id: f.opt_int("id")?,
                label,
                reason: f.opt_text("reason")?,
                by,
            },
        ));
    }
    for f in objects(&doc, "fingerprints")? {
        let fp: [u8; 32] = unhex(&f.text("fingerprint")?)
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| f.bad("fingerprint"))?;
        let user = f.text("user")?;
        crate::policy::check_user(&user)
            .map_err(|e| TransferError::Format(format!("{}: {e}", f.what)))?;
        // An export made before sources were recorded holds shadow's.
        let source = match f.opt_text("source")? {
            None => FingerprintSource::Shadow,
            Some(s) => FingerprintSource::parse(&s).ok_or_else(|| f.bad("source"))?,
        };
        snap.fingerprints.push(FingerprintRow {
            user,
            recorded: Recorded { fp, source },
            taken_at: f.int("taken_at")?,
        });
    }
    let settings = doc
        .get("settings")
        .and_then(Value::as_object)
        .ok_or_else(|| TransferError::Format("'settings' is missing or not an object".into()))?;
    for (k, v) in settings {
        let v = v
            .as_i64()
            .ok_or_else(|| TransferError::Format(format!("setting '{k}' is not a number")))?;
        snap.settings.push((k.clone(), v));
    }
    // Absent from exports of apppass before text settings existed.
    if let Some(text) = doc.get("text_settings") {
        let text = text
            .as_object()
            .ok_or_else(|| TransferError::Format("'text_settings' is not an object".into()))?;
        for (k, v) in text {
            let v = v
                .as_str()
                .ok_or_else(|| TransferError::Format(format!("setting '{k}' is not text")))?;
            snap.text_settings.push((k.clone(), v.to_owned()));
        }
    }
    Ok(snap)
}

/// Loads `snap` into `store`, which must be empty, in one transaction.
pub fn import(store: &mut dyn Store, snap: &Snapshot) -> Result<(), TransferError> {
    let mut not_empty = false;
    let written = store.write(None, &mut |w| {
        if !w.is_empty()? {
            not_empty = true;
            return Ok(Finish::Rollback);
        }
        for (p, c) in &snap.passwords {
            w.restore_password(p, c.as_ref())?;
        }
        for (user, e) in &snap.events {
            w.add_event(user, e)?;
        }
        for f in &snap.fingerprints {
            w.set_fingerprint(&f.user, &f.recorded, f.taken_at)?;
        }
        for (name, value) in &snap.settings {
            w.set_setting(name, *value)?;
        }
        for (name, value) in &snap.text_settings {
            w.set_text_setting(name, Some(value))?;
        }
        Ok(Finish::Commit)
    });
    written.map_err(WriteError::into_store_error)?;
    if not_empty {
        return Err(TransferError::NotEmpty {
            target: store.describe(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: &str = "c2FsdHNhbHRzYWx0c2FsdA";
    const OUT: &str = "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

    /// An export of one password of alice with `label` and `phc`, and one
    /// history line with `event_label`.
    fn doc(label: &str, phc: &str, event_label: &str) -> String {
        json!({
            "format": FORMAT,
            "version": VERSION,
            "exported_at": 0,
            "passwords": [{
                "id": 1, "user": "alice", "label": label, "services": ["imap"],
                "created_at": 1, "phc": phc, "tag": 7,
                "tag_salt": "00112233445566778899aabbccddeeff",
            }],
            "events": [{
                "user": "alice", "at": 1, "event": "generated", "id": 1,
                "label": event_label, "by": "admin",
            }],
            "fingerprints": [],
            "settings": {},
        })
        .to_string()
    }

    fn phc(m: u32, t: u32) -> String {
        format!("$argon2id$v=19$m={m},t={t},p=1${SALT}${OUT}")
    }

    fn refusal(text: &str) -> String {
        match parse(text) {
            Err(TransferError::Format(m)) => m,
            other => panic!("accepted or failed otherwise: {:?}", other.err()),
        }
    }

    #[test]
    fn an_export_as_apppass_writes_it_is_read() {
        let snap = parse(&doc("Phone", &phc(19456, 2), "Phone")).unwrap();
        assert_eq!(snap.passwords[0].0.label, "Phone");
    }

    #[test]
    fn import_refuses_labels_generate_refuses() {
        let long = "x".repeat(65);
        for bad in ["Ph\u{7}one", "Phone\n", "", " Phone", long.as_str()] {
            let m = refusal(&doc(bad, &phc(19456, 2), "Phone"));
            assert!(m.starts_with("passwords[0]: the label"), "{bad:?}: {m}");
        }
        let m = refusal(&doc("Phone", &phc(19456, 2), "Ph\u{1b}[2Jone"));
        assert_eq!(m, "events[0]: the label contains a control character");
    }

    #[test]
    fn import_refuses_argon2_parameters_below_the_floor() {
        for (m, t) in [(8, 1), (19456, 1), (4096, 2)] {
            let msg = refusal(&doc("Phone", &phc(m, t), "Phone"));
            assert!(
                msg.contains(&format!("m={m} t={t} p=1 is below the floor")),
                "{msg}"
            );
            assert!(!msg.contains(OUT), "no hash in the message: {msg}");
        }
    }
}
