//! Web sessions: made when the web page signs a user in, one small file
//! each in a directory only root can enter, so they outlive a daemon that
//! leaves when idle (and vanish at reboot with /run). A file is named by
//! the SHA-256 of its token, never the token itself; its modification time
//! is when the session was last used.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A session unused this long is over.
pub const IDLE_SECS: i64 = 15 * 60;
/// A session this old is over, however busy.
pub const MAX_AGE_SECS: i64 = 8 * 60 * 60;
/// Sessions one user may hold at once; a new one ends their oldest.
pub const MAX_PER_USER: usize = 8;
/// Sessions on the host at once; beyond, sign-ins wait.
pub const MAX_TOTAL: usize = 4096;
/// A token: 32 random bytes, base64url without padding.
const TOKEN_LEN: usize = 43;
const MAX_RECORD: u64 = 4096;

#[derive(Serialize, Deserialize)]
struct Record {
    user: String,
    created: i64,
}

#[derive(Debug)]
pub enum SessionError {
    /// The directory is missing, unsafe, or unwritable.
    Io(String),
    /// [`MAX_TOTAL`] sessions are open.
    Full,
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::Io(e) => write!(f, "the web sessions cannot be kept ({e})"),
            SessionError::Full => f.write_str("too many web sessions are open; try again later"),
        }
    }
}

pub struct Sessions {
    dir: PathBuf,
}

impl Sessions {
    /// Opens (creating it, mode 0700) the session directory, which must be
    /// a real directory owned by this (root) process and closed to others.
    pub fn open(dir: &Path) -> Result<Sessions, SessionError> {
        let io = |e: io::Error| SessionError::Io(format!("{}: {e}", dir.display()));
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
        let meta = fs::symlink_metadata(dir).map_err(io)?;
        if !meta.is_dir()
            || meta.uid() != apppass_core::sys::euid()
            || meta.permissions().mode() & 0o077 != 0
        {
            return Err(SessionError::Io(format!(
                "{} must be a directory of this user's with mode 0700",
                dir.display()
            )));
        }
        Ok(Sessions {
            dir: dir.to_path_buf(),
        })
    }

    /// A new session for `user`; the token is what the browser's cookie holds.
    pub fn create(&self, user: &str, now: i64) -> Result<String, SessionError> {
        let io = |e: io::Error| SessionError::Io(format!("{}: {e}", self.dir.display()));
        let live = self.sweep(now);
        let mut mine: Vec<_> = live.iter().filter(|(_, u, _)| u == user).collect();
        if mine.len() >= MAX_PER_USER {
            mine.sort_by_key(|(_, _, seen)| *seen);
            for (path, _, _) in &mine[..=mine.len() - MAX_PER_USER] {
                let _ = fs::remove_file(path);
            }
        } else if live.len() >= MAX_TOTAL {
            return Err(SessionError::Full);
        }
        let mut raw = zeroize::Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(raw.as_mut());
        let token =
            <base64ct::Base64UrlUnpadded as base64ct::Encoding>::encode_string(raw.as_ref());
        let record = serde_json::to_vec(&Record {
            user: user.to_owned(),
            created: now,
        })
        .map_err(|e| SessionError::Io(e.to_string()))?;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.path(&token))
            .map_err(io)?;
        file.write_all(&record).map_err(io)?;
        Ok(token)
    }

    /// The user of a live session, which counts as used now; `None` for an
    /// unknown, idle or too old one (which is removed).
    pub fn find(&self, token: &str, now: i64) -> Option<String> {
        if !well_formed(token) {
            return None;
        }
        let path = self.path(token);
        let (user, created, seen, file) = read(&path)?;
        if !alive(created, seen, now) {
            let _ = fs::remove_file(&path);
            return None;
        }
        // Touch: the modification time is the last use.
        let _ = file.set_modified(std::time::SystemTime::now());
        Some(user)
    }

    /// Ends a session (sign-out).
    pub fn end(&self, token: &str) {
        if well_formed(token) {
            let _ = fs::remove_file(self.path(token));
        }
    }

    fn path(&self, token: &str) -> PathBuf {
        let digest = Sha256::digest(token.as_bytes());
        let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(name)
    }

    /// Removes what has expired; returns the live sessions (path, user,
    /// last use).
    fn sweep(&self, now: i64) -> Vec<(PathBuf, String, i64)> {
        let mut live = Vec::new();
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return live;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match read(&path) {
                Some((user, created, seen, _)) if alive(created, seen, now) => {
                    live.push((path, user, seen))
                }
                _ => {
                    let _ = fs::remove_file(&path);
                }
            }
        }
        live
    }
}

fn alive(created: i64, seen: i64, now: i64) -> bool {
    now - created < MAX_AGE_SECS && now - seen < IDLE_SECS && created <= now + 60
}

fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A session file: user, created, last use, and the open file.
fn read(path: &Path) -> Option<(String, i64, i64, fs::File)> {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > MAX_RECORD {
        return None;
    }
    let mut text = Vec::new();
    (&file).take(MAX_RECORD).read_to_end(&mut text).ok()?;
    let record: Record = serde_json::from_slice(&text).ok()?;
    Some((record.user, record.created, meta.mtime(), file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    #[test]
    fn a_session_lives_until_idle_or_old_and_ends_on_sign_out() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sessions::open(&dir.path().join("s")).unwrap();
        let t = now();
        let token = s.create("alice", t).unwrap();
        assert_eq!(token.len(), TOKEN_LEN);
        assert_eq!(s.find(&token, t).as_deref(), Some("alice"));
        assert_eq!(s.find(&token, t + IDLE_SECS + 1), None, "idle");
        let token = s.create("alice", t).unwrap();
        assert_eq!(s.find(&token, t + MAX_AGE_SECS + 1), None, "too old");
        let token = s.create("alice", t).unwrap();
        s.end(&token);
        assert_eq!(s.find(&token, t), None, "signed out");
        assert_eq!(s.find("x", t), None);
        assert_eq!(s.find(&"A".repeat(TOKEN_LEN), t), None);
        // No token is written down anywhere.
        for e in std::fs::read_dir(dir.path().join("s")).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            assert!(!text.contains(&token));
        }
    }

    #[test]
    fn a_user_holds_a_bounded_number_of_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sessions::open(&dir.path().join("s")).unwrap();
        let t = now();
        for _ in 0..MAX_PER_USER + 3 {
            s.create("bob", t).unwrap();
        }
        s.create("carol", t).unwrap();
        let live = s.sweep(t);
        assert_eq!(
            live.iter().filter(|(_, u, _)| u == "bob").count(),
            MAX_PER_USER
        );
        assert_eq!(live.len(), MAX_PER_USER + 1);
    }

    #[test]
    fn an_unsafe_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("open");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(Sessions::open(&d).is_err());
    }
}
