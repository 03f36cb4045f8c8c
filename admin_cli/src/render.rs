//! Tables for people, JSON for scripts, from the protocol's records: the
//! same text whether the command read the store itself or apppassd did.
//! Times in JSON are RFC 3339 UTC.

use apppass_core::escape::for_message as esc;
use apppass_core::store::PrimaryUse;
use apppass_core::time::{rfc3339, short};
use apppass_protocol::records::{
    EndedRecord, EventRecord, IssuedRecord, Named, NewPasswordRecord, PasswordRecord,
};
use serde_json::{json, Value};

fn time(t: Option<i64>) -> Value {
    t.map_or(Value::Null, |t| Value::String(rfc3339(t)))
}

pub fn generated_json(n: &NewPasswordRecord) -> String {
    let g = &n.issued;
    json!({
        "id": g.id,
        "user": g.user,
        "label": g.label,
        "services": g.services,
        "networks": g.networks,
        "password": n.password.as_str(),
        "created_at": rfc3339(g.created_at),
        "expires_at": time(g.expires_at),
        "replaces": g.replaces,
    })
    .to_string()
}

/// The line on stderr after a password was issued.
pub fn generated_summary(g: &IssuedRecord) -> String {
    format!(
        "app password {} for {} ({}{}), labelled '{}', {}{}. It is shown only this once.",
        g.id,
        esc(&g.user),
        g.services.join(", "),
        if g.networks.is_empty() {
            String::new()
        } else {
            format!(", from {} only", g.networks.join(", "))
        },
        esc(&g.label),
        match g.expires_at {
            Some(t) => format!("valid until {}", rfc3339(t)),
            None => "no expiry".into(),
        },
        match g.replaces {
            Some(old) => format!("; it replaces app password {old}, revoked now"),
            None => String::new(),
        }
    )
}

fn sessions_json(ended: &[EndedRecord]) -> Value {
    serde_json::to_value(ended).unwrap_or(Value::Array(Vec::new()))
}

/// What `revoke --json` prints: the passwords revoked and the sessions
/// that ended on this host.
pub fn revoked_json(user: &str, revoked: &[Named], ended: &[EndedRecord]) -> String {
    json!({
        "user": user,
        "revoked": revoked,
        "sessions_ended": sessions_json(ended),
    })
    .to_string()
}

/// What `suspend --json` and `resume --json` print.
pub fn suspended_json(user: &str, p: &Named, suspended: bool, ended: &[EndedRecord]) -> String {
    json!({
        "user": user,
        "id": p.id,
        "label": p.label,
        "status": if suspended { "suspended" } else { "active" },
        "sessions_ended": sessions_json(ended),
    })
    .to_string()
}

pub fn passwords_json(rows: &[PasswordRecord]) -> String {
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            let used = r.last_used.as_ref();
            json!({
                "id": r.id,
                "user": r.user,
                "label": r.label,
                "services": r.services,
                "networks": r.networks,
                "created_at": rfc3339(r.created_at),
                "expires_at": time(r.expires_at),
                "last_used_at": time(used.map(|u| u.at)),
                "last_used_service": used.and_then(|u| u.service.as_deref()),
                "last_used_rhost": used.and_then(|u| u.rhost.as_deref()),
                "addresses": r.addresses,
                "revoked_at": time(r.revoked_at),
                "revoked_reason": r.revoked_reason.as_deref(),
                "suspended_at": time(r.suspended_at),
                "last_tried_at": time(r.last_tried_at),
                "status": r.status.as_str(),
            })
        })
        .collect();
    Value::Array(items).to_string()
}

pub fn events_json(events: &[EventRecord]) -> String {
    let items: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "at": rfc3339(e.at),
                "event": e.event,
                "id": e.id,
                "label": e.label,
                "reason": e.reason,
                "by": e.by,
                "by_uid": e.by_uid,
            })
        })
        .collect();
    Value::Array(items).to_string()
}

/// `report primary-use --json`.
pub fn primary_uses_json(uses: &[PrimaryUse]) -> String {
    let items: Vec<Value> = uses
        .iter()
        .map(|u| {
            json!({
                "user": u.user,
                "service": u.service,
                "count": u.count,
                "first_at": rfc3339(u.first_at),
                "last_at": rfc3339(u.last_at),
                "last_rhost": u.last_rhost,
            })
        })
        .collect();
    Value::Array(items).to_string()
}

/// `report primary-use`, for people.
pub fn primary_uses_table(uses: &[PrimaryUse]) -> String {
    let body = uses
        .iter()
        .map(|u| {
            vec![
                esc(&u.user),
                esc(&u.service),
                u.count.to_string(),
                short(u.first_at),
                short(u.last_at),
                u.last_rhost.as_deref().map_or("-".into(), esc),
            ]
        })
        .collect();
    table(
        &[
            "USER",
            "SERVICE",
            "LOGINS",
            "FIRST (UTC)",
            "LAST (UTC)",
            "LAST FROM",
        ],
        body,
    )
}

fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let last = cells.len() - 1;
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = *w));
            }
        }
        out.push('\n');
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
    }
    out
}

fn or_dash(t: Option<i64>) -> String {
    t.map_or("-".into(), short)
}

/// With `reasons` (for `list --all`), the last columns say when each
/// stopped password was last presented and why it was revoked. A FROM
/// column appears when some password is limited to networks.
pub fn passwords_table(rows: &[PasswordRecord], reasons: bool) -> String {
    let networks = rows.iter().any(PasswordRecord::has_networks);
    let body = rows
        .iter()
        .map(|r| {
            let used = match &r.last_used {
                Some(u) => format!(
                    "{}{}{}",
                    short(u.at),
                    u.service
                        .as_deref()
                        .map(|s| format!(" {}", esc(s)))
                        .unwrap_or_default(),
                    u.rhost
                        .as_deref()
                        .map(|h| format!(" from {}", esc(h)))
                        .unwrap_or_default()
                ),
                None => "never".into(),
            };
            let mut cells = vec![
                r.id.to_string(),
                esc(&r.user),
                esc(&r.label),
                r.services.join(","),
            ];
            if networks {
                cells.push(if r.has_networks() {
                    r.networks.join(",")
                } else {
                    "anywhere".into()
                });
            }
            cells.extend([
                r.status.as_str().into(),
                short(r.created_at),
                or_dash(r.expires_at),
                used,
            ]);
            if reasons {
                cells.push(or_dash(r.last_tried_at));
                cells.push(r.revoked_reason.as_deref().map_or("-".into(), esc));
            }
            cells
        })
        .collect();
    let mut header = vec!["ID", "USER", "LABEL", "SERVICES"];
    if networks {
        header.push("FROM");
    }
    header.extend(["STATUS", "CREATED", "EXPIRES", "LAST USED"]);
    if reasons {
        header.extend(["LAST TRIED", "REVOKE REASON"]);
    }
    table(&header, body)
}

pub fn events_table(events: &[EventRecord]) -> String {
    let body = events
        .iter()
        .map(|e| {
            vec![
                short(e.at),
                e.event.clone(),
                e.id.map_or("-".into(), |i| i.to_string()),
                e.label.as_deref().map_or("-".into(), esc),
                e.by_shown(),
                e.reason.as_deref().map_or("-".into(), esc),
            ]
        })
        .collect();
    table(
        &["TIME (UTC)", "EVENT", "ID", "LABEL", "BY", "REASON"],
        body,
    )
}
