//! Reading a configuration file the doctor did not make: only a regular
//! file (a symbolic link to one is fine), opened without blocking and read
//! up to a cap, so a FIFO, a device or a huge file becomes a finding
//! instead of a hang, an endless read or an exhausted memory.

use super::{under, Finding, Severity};
use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// PAM and Dovecot files are a few kilobytes; a megabyte is not one.
pub(super) const MOST_BYTES: u64 = 1024 * 1024;

/// Why a file was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Odd {
    /// Not a regular file: what it is (`a FIFO`, `a symbolic link to a device`).
    Type(String),
    /// Larger than the cap given, in bytes.
    TooLarge(u64),
    /// It could not be opened or read.
    Unreadable(String),
}

impl std::fmt::Display for Odd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Odd::Type(what) => write!(f, "it is {what}, not a regular file"),
            Odd::TooLarge(cap) => write!(f, "it is larger than {cap} bytes"),
            Odd::Unreadable(e) => write!(f, "it cannot be read ({e})"),
        }
    }
}

fn what(meta: &Metadata) -> &'static str {
    let ft = meta.file_type();
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() || ft.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// The text of `path` (on this machine), `None` when it does not exist
/// (a dangling link included, as libpam and Dovecot see it).
pub(super) fn text(path: &Path, cap: u64) -> Result<Option<String>, Odd> {
    let unreadable = |e: std::io::Error| Odd::Unreadable(e.to_string());
    let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let odd_type = |m: &Metadata| {
        Odd::Type(if link {
            format!("a symbolic link to {}", what(m))
        } else {
            what(m).to_string()
        })
    };
    // The type first: opening a device can have effects of its own.
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e)),
    };
    if !meta.is_file() {
        return Err(odd_type(&meta));
    }
    if meta.len() > cap {
        return Err(Odd::TooLarge(cap));
    }
    // Non-blocking and checked again once open: the path may have been
    // replaced by a FIFO or a device since.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(odd_type(&meta));
    }
    read_capped(file, cap).map(Some)
}

fn read_capped(file: File, cap: u64) -> Result<String, Odd> {
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Odd::Unreadable(e.to_string()))?;
    if bytes.len() as u64 > cap {
        return Err(Odd::TooLarge(cap));
    }
    // A stray Latin-1 byte in a comment must not hide the file's settings.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `host` (a path on the host) under `root` read with [`text`]; an odd file
/// is reported once, naming `reader`, the program that reads it for real.
pub(super) fn config(
    root: &Path,
    host: &Path,
    reader: &str,
    found: &mut Vec<Finding>,
) -> Option<String> {
    match text(&under(root, host), MOST_BYTES) {
        Ok(t) => t,
        Err(odd) => {
            let f = finding(host, &odd, reader);
            if !found.iter().any(|g| g.check == f.check && g.file == f.file) {
                found.push(f);
            }
            None
        }
    }
}

/// The finding for `host`, which `reader` reads.
pub(super) fn finding(host: &Path, odd: &Odd, reader: &str) -> Finding {
    let shown = host.display();
    let (check, severity, problem, fix) = match odd {
        Odd::Type(_) => (
            "odd-file",
            Severity::Critical,
            format!(
                "{shown}: {odd}, yet {reader} reads it as one: reading it blocks or never ends, so {reader} hangs or fails (the doctor did not read it)"
            ),
            format!("replace {shown} by a regular file, or remove it if nothing needs it"),
        ),
        Odd::TooLarge(_) => (
            "file-too-large",
            Severity::Warning,
            format!(
                "{shown}: {odd}, far more than a configuration file of {reader}'s holds; the doctor did not check it"
            ),
            format!("look at what {shown} holds and put back the intended, small file"),
        ),
        Odd::Unreadable(_) => (
            "file-unreadable",
            Severity::Warning,
            format!("{shown}: {odd}; the doctor did not check it"),
            format!("run the doctor as root, or make {shown} readable by root"),
        ),
    };
    Finding {
        check,
        severity,
        file: Some(host.to_path_buf()),
        line: None,
        problem,
        fix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn only_regular_files_are_read_and_never_past_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let started = Instant::now();
        std::fs::write(d.join("ok"), "auth required pam_unix.so\n").unwrap();
        assert_eq!(
            text(&d.join("ok"), 100).unwrap().as_deref(),
            Some("auth required pam_unix.so\n")
        );
        std::os::unix::fs::symlink(d.join("ok"), d.join("link")).unwrap();
        assert!(
            text(&d.join("link"), 100).unwrap().is_some(),
            "a link to a file"
        );
        assert_eq!(text(&d.join("none"), 100), Ok(None));
        std::os::unix::fs::symlink(d.join("none"), d.join("dangling")).unwrap();
        assert_eq!(text(&d.join("dangling"), 100), Ok(None));

        let fifo = d.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        assert_eq!(text(&fifo, 100), Err(Odd::Type("a FIFO".into())));
        std::os::unix::fs::symlink("/dev/zero", d.join("zero")).unwrap();
        assert_eq!(
            text(&d.join("zero"), 100),
            Err(Odd::Type("a symbolic link to a device".into()))
        );
        assert_eq!(text(d, 100), Err(Odd::Type("a directory".into())));
        let big = File::create(d.join("big")).unwrap();
        big.set_len(2 << 30).unwrap();
        assert_eq!(text(&d.join("big"), 100), Err(Odd::TooLarge(100)));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_file_grown_past_the_cap_after_its_size_was_read_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), [b'x'; 200]).unwrap();
        let file = File::open(dir.path().join("f")).unwrap();
        assert_eq!(read_capped(file, 100), Err(Odd::TooLarge(100)));
    }
}
