//! The LDAP bind password file (`ldap_bind_password_file`): checked as the
//! key is (a regular file, no symbolic link, owned by root or the caller,
//! not writable by others) and, holding a password, readable by its owner
//! only. Read at each connection, never cached, never in a message.

use crate::store::safety::{check_metadata, Kind};
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use zeroize::Zeroizing;

/// More than this is not a password.
const MOST: u64 = 1024;

/// The password in `path`, without its one trailing line break.
pub fn load(path: &Path, euid: u32) -> Result<Zeroizing<Vec<u8>>, String> {
    let shown = path.display();
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => format!(
                "ldap_bind_password_file {shown} is a symbolic link; point at the real path"
            ),
            _ => format!("ldap_bind_password_file {shown}: {e}"),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| format!("ldap_bind_password_file {shown}: {e}"))?;
    check_metadata(path, &meta, euid, Kind::File).map_err(|e| e.to_string())?;
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "ldap_bind_password_file {shown} is readable by others (mode {:04o}); run chmod 0600 on it",
            meta.mode() & 0o7777
        ));
    }
    if meta.len() > MOST {
        return Err(format!(
            "ldap_bind_password_file {shown} is larger than {MOST} bytes; it must hold the password alone"
        ));
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
    (&mut file)
        .take(MOST + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("ldap_bind_password_file {shown}: {e}"))?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    if bytes.is_empty() {
        return Err(format!("ldap_bind_password_file {shown} is empty"));
    }
    if bytes.contains(&0) {
        return Err(format!("ldap_bind_password_file {shown} holds a NUL byte"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_a_private_file_holding_a_password_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ldap.secret");
        let euid = crate::sys::euid();
        let write = |text: &[u8], mode: u32| {
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write(b"bind-secret\n", 0o600);
        assert_eq!(&load(&p, euid).unwrap()[..], b"bind-secret");
        write(b"bind-secret\r\n", 0o600);
        assert_eq!(&load(&p, euid).unwrap()[..], b"bind-secret");
        write(b"bind-secret", 0o644);
        let e = load(&p, euid).unwrap_err();
        assert!(e.contains("chmod 0600"), "{e}");
        assert!(!e.contains("bind-secret"), "{e}");
        write(b"\n", 0o600);
        assert!(load(&p, euid).unwrap_err().contains("empty"));
        write(b"a\0b", 0o600);
        assert!(load(&p, euid).unwrap_err().contains("NUL"));
        write(&[b'x'; 2000], 0o600);
        assert!(load(&p, euid).unwrap_err().contains("larger"));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(load(&link, euid).unwrap_err().contains("symbolic link"));
    }
}
