//! The store, its key and their directory must be trustworthy before they
//! are read: no symlinks, the right file type, owned by root or the caller,
//! not writable by group or others. Because the directory passes the same
//! test, nobody else can swap a file between this check and the open, and
//! the open itself does not follow links.

use super::StoreError;
use std::fs::Metadata;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Directory,
    File,
}

pub fn check_path(path: &Path, euid: u32, kind: Kind) -> Result<(), StoreError> {
    checked_metadata(path, euid, kind).map(drop)
}

/// [`check_path`], returning what it found (the caller may want the inode).
pub fn checked_metadata(path: &Path, euid: u32, kind: Kind) -> Result<Metadata, StoreError> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => StoreError::Missing {
            path: path.to_path_buf(),
        },
        _ => StoreError::io(path, &e),
    })?;
    check_metadata(path, &meta, euid, kind)?;
    Ok(meta)
}

pub fn check_metadata(
    path: &Path,
    meta: &Metadata,
    euid: u32,
    kind: Kind,
) -> Result<(), StoreError> {
    let refuse = |detail: String| {
        Err(StoreError::Unsafe {
            path: path.to_path_buf(),
            detail,
        })
    };
    let mode = meta.mode() & 0o7777;
    let ft = meta.file_type();
    if ft.is_symlink() {
        return refuse("it is a symbolic link; point at the real path".into());
    }
    let type_ok = match kind {
        Kind::Directory => ft.is_dir(),
        Kind::File => ft.is_file(),
    };
    if !type_ok {
        let what = if ft.is_dir() {
            "a directory"
        } else if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_socket() {
            "a socket"
        } else if ft.is_block_device() || ft.is_char_device() {
            "a device"
        } else {
            "not a regular file"
        };
        let want = if kind == Kind::Directory {
            "a directory"
        } else {
            "a regular file"
        };
        return refuse(format!("it is {what}, not {want}"));
    }
    if meta.uid() != 0 && meta.uid() != euid {
        return refuse(format!(
            "it is owned by uid {}, not by root or the caller (uid {euid}); chown it to root",
            meta.uid()
        ));
    }
    if mode & 0o022 != 0 {
        let fix = if kind == Kind::Directory {
            "0700"
        } else {
            "0600"
        };
        return refuse(format!(
            "it is group- or world-writable (mode {mode:04o}); run chmod {fix} on it"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn euid() -> u32 {
        std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap()
    }

    #[test]
    fn good_file_and_directory_pass() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        check_path(dir.path(), euid(), Kind::Directory).unwrap();
        check_path(&f, euid(), Kind::File).unwrap();
    }

    #[test]
    fn symlinks_writable_files_and_wrong_types_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = check_path(&f, euid(), Kind::File).unwrap_err().to_string();
        assert!(
            e.contains("mode 0666") && e.contains(&f.display().to_string()),
            "{e}"
        );
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o620)).unwrap();
        assert!(check_path(&f, euid(), Kind::File).is_err());
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert!(check_path(&link, euid(), Kind::File)
            .unwrap_err()
            .to_string()
            .contains("symbolic link"));
        assert!(check_path(dir.path(), euid(), Kind::File).is_err());
        assert!(check_path(&f, euid(), Kind::Directory).is_err());
        assert!(matches!(
            check_path(&dir.path().join("nope"), euid(), Kind::File),
            Err(StoreError::Missing { .. })
        ));
    }

    #[test]
    fn foreign_owner_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        let me = euid();
        // Pretend to be somebody else: the file's owner is then neither root nor us.
        if me == 0 {
            let meta = std::fs::metadata(&f).unwrap();
            assert!(
                check_metadata(&f, &meta, 4242, Kind::File).is_ok(),
                "root-owned passes for anyone"
            );
        } else {
            let meta = std::fs::metadata(&f).unwrap();
            assert!(check_metadata(&f, &meta, me + 1, Kind::File).is_err());
        }
    }
}
