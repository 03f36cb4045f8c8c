//! What apppassd's JSON says, as the page reads it (the same fields as
//! `apppass list --json`, `history --json` and `generate --json`).

use serde::Deserialize;
use zeroize::Zeroizing;

#[derive(Deserialize, Debug, Clone)]
pub struct Password {
    pub id: i64,
    pub label: String,
    pub services: Vec<String>,
    /// Where it may log in from; empty: anywhere.
    #[serde(default)]
    pub networks: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    #[serde(default)]
    pub last_tried_at: Option<String>,
    pub last_used_at: Option<String>,
    pub last_used_service: Option<String>,
    pub last_used_rhost: Option<String>,
    pub revoked_at: Option<String>,
    pub revoked_reason: Option<String>,
    pub status: String,
}

impl Password {
    pub fn active(&self) -> bool {
        self.status == "active"
    }

    pub fn suspended(&self) -> bool {
        self.status == "suspended"
    }

    /// In use: active or suspended (both count toward the limit).
    pub fn live(&self) -> bool {
        self.active() || self.suspended()
    }
}

#[derive(Deserialize, Debug)]
pub struct Event {
    pub at: String,
    pub event: String,
    pub id: Option<i64>,
    pub label: Option<String>,
    pub reason: Option<String>,
    pub by: String,
}

#[derive(Deserialize)]
pub struct Generated {
    pub label: String,
    pub services: Vec<String>,
    pub password: Zeroizing<String>,
    pub expires_at: Option<String>,
}

#[derive(Deserialize, Debug)]
pub struct Info {
    pub user: String,
    pub services: Vec<String>,
}

/// `2026-11-22T10:04:05Z` as `2026-11-22 10:04 UTC`.
pub fn when(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(day), Some(time)) if rfc3339.ends_with('Z') => format!("{day} {time} UTC"),
        _ => rfc3339.to_owned(),
    }
}
