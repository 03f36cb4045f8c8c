//! The 32-byte key beside the store. It keys the primary-password
//! fingerprints and is never in the database, so a stolen database does not
//! help to crack a weak legacy primary hash.

use super::safety::{check_metadata, Kind};
use super::StoreError;
use rand_core::{CryptoRng, RngCore};
use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

pub const KEY_LEN: usize = 32;
pub const KEY_FILE_NAME: &str = "key";

pub type Key = Zeroizing<[u8; KEY_LEN]>;

/// The key file that belongs with a store: `key` in the store's directory.
pub fn key_path(db: &Path) -> PathBuf {
    db.parent()
        .unwrap_or_else(|| Path::new("/"))
        .join(KEY_FILE_NAME)
}

pub(crate) fn load(path: &Path, euid: u32) -> Result<Key, StoreError> {
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::KeyMissing {
                path: path.to_path_buf(),
            },
            _ if e.raw_os_error() == Some(libc::ELOOP) => StoreError::Unsafe {
                path: path.to_path_buf(),
                detail: "it is a symbolic link; point at the real path".into(),
            },
            _ => StoreError::Unreadable {
                path: path.to_path_buf(),
                detail: e.to_string(),
            },
        })?;
    let meta = file.metadata().map_err(|e| StoreError::Unreadable {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    check_metadata(path, &meta, euid, Kind::File)?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    let mut extra = [0u8; 1];
    let invalid = |detail: &str| StoreError::KeyInvalid {
        path: path.to_path_buf(),
        detail: detail.into(),
    };
    file.read_exact(&mut key[..])
        .map_err(|_| invalid("it is shorter than 32 bytes"))?;
    if file
        .read(&mut extra)
        .map_err(|_| invalid("it cannot be read"))?
        != 0
    {
        return Err(invalid("it is longer than 32 bytes"));
    }
    Ok(key)
}

/// Writes a new key file (0600, never over an existing file) and returns it.
pub(crate) fn create<R: RngCore + CryptoRng>(path: &Path, rng: &mut R) -> Result<Key, StoreError> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    rng.fill_bytes(&mut key[..]);
    write_new(path, &key)?;
    Ok(key)
}

/// Creates `path` with mode 0600 holding `key`; refuses to replace a file.
pub(crate) fn write_new(path: &Path, key: &[u8; KEY_LEN]) -> Result<(), StoreError> {
    let fail = |e: io::Error| match e.kind() {
        io::ErrorKind::AlreadyExists => StoreError::Exists {
            path: path.to_path_buf(),
        },
        _ => StoreError::Unreadable {
            path: path.to_path_buf(),
            detail: e.to_string(),
        },
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(fail)?;
    file.write_all(&key[..]).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    Ok(())
}
