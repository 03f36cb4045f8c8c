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

/// A value that identifies the key without revealing it, kept in the
/// store: HMAC-SHA256(key, a fixed label). A store restored next to another
/// host's key is refused with one sentence instead of treating every
/// fingerprint as a changed primary password.
pub fn check_value(key: &Key) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    // HMAC takes keys of any length; new_from_slice cannot fail.
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(&key[..]) else {
        return [0u8; 32];
    };
    mac.update(b"apppass key check v1");
    mac.finalize().into_bytes().into()
}

/// The key file that belongs with a store: `key` in the store's directory.
pub fn key_path(db: &Path) -> PathBuf {
    db.parent()
        .unwrap_or_else(|| Path::new("/"))
        .join(KEY_FILE_NAME)
}

pub fn load(path: &Path, euid: u32) -> Result<Key, StoreError> {
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
            _ => StoreError::io(path, &e),
        })?;
    let meta = file.metadata().map_err(|e| StoreError::io(path, &e))?;
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
pub fn create<R: RngCore + CryptoRng>(path: &Path, rng: &mut R) -> Result<Key, StoreError> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    rng.fill_bytes(&mut key[..]);
    write_new(path, &key)?;
    Ok(key)
}

/// Creates `path` with mode 0600 holding `key`; refuses to replace a file.
pub fn write_new(path: &Path, key: &[u8; KEY_LEN]) -> Result<(), StoreError> {
    let fail = |e: io::Error| StoreError::io(path, &e);
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

/// Creates an empty private file (0600) that did not exist, without
/// following a link: the first step of writing a copy of the store into
/// a directory other users may write to.
pub fn create_private_file(path: &Path) -> Result<(), StoreError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map(drop)
        .map_err(|e| StoreError::io(path, &e))
}

/// Whether `recorded` is the check value of `key`.
pub fn matches(key: &Key, recorded: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(check_value(key).as_slice().ct_eq(recorded))
}
