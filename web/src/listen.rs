//! Where the page listens: a TCP address, or a Unix socket that only the
//! reverse proxy in front can reach. On a Unix socket the directory holding
//! it decides who may connect, so no local user can pose as the proxy and
//! choose the address the sign-in limits count.

use std::fmt;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// `--listen`: `ADDR:PORT` or `unix:PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl std::str::FromStr for Listen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            let path = Path::new(path);
            if !path.is_absolute() || path.file_name().is_none() {
                return Err(format!(
                    "{s}: a Unix socket is named by its absolute path, such as unix:/run/apppass-web/http.sock"
                ));
            }
            return Ok(Listen::Unix(path.to_path_buf()));
        }
        s.parse().map(Listen::Tcp).map_err(|_| {
            format!("{s}: give ADDR:PORT (such as 127.0.0.1:8380) or unix:PATH (such as unix:/run/apppass-web/http.sock)")
        })
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Tcp(a) => write!(f, "{a}"),
            Listen::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// Why the directory of a socket at `path` would let someone other than
/// this user and the proxy's group connect, or swap the socket: it must be
/// this user's (`euid`), writable by it alone, and closed to others.
pub fn unsafe_directory(path: &Path, euid: u32) -> Option<String> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let fix = "make it this user's own, mode 0750, with the proxy's group (apppass-web.service does: /run/apppass-web, group www-data)";
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) => return Some(format!("{}: {e}; {fix}", dir.display())),
    };
    let mode = meta.permissions().mode();
    if !meta.is_dir() {
        Some(format!("{} is not a directory", dir.display()))
    } else if meta.uid() != euid {
        Some(format!(
            "{} belongs to uid {}, not to this user; {fix}",
            dir.display(),
            meta.uid()
        ))
    } else if mode & 0o007 != 0 {
        Some(format!(
            "{} lets every local user in (mode {:04o}), and any of them could pose as the proxy; {fix}",
            dir.display(),
            mode & 0o7777
        ))
    } else if mode & 0o020 != 0 {
        Some(format!(
            "{} is writable by its group (mode {:04o}), which could replace the socket; {fix}",
            dir.display(),
            mode & 0o7777
        ))
    } else {
        unsafe_ancestor(dir, euid)
    }
}

/// An ancestor of `dir` in which someone else could rename the directory
/// away and put one of their own in its place: each must be root's or
/// this user's, and writable by no one else unless sticky (as /tmp is:
/// there only an entry's owner may rename it).
fn unsafe_ancestor(dir: &Path, euid: u32) -> Option<String> {
    for ancestor in dir.ancestors().skip(1) {
        let meta = match std::fs::symlink_metadata(ancestor) {
            Ok(m) => m,
            Err(e) => return Some(format!("{}: {e}", ancestor.display())),
        };
        let mode = meta.permissions().mode();
        let sticky = mode & 0o1000 != 0;
        if !meta.is_dir() {
            return Some(format!(
                "{} is not a directory (a symbolic link?); name the real path",
                ancestor.display()
            ));
        }
        if meta.uid() != 0 && meta.uid() != euid {
            return Some(format!(
                "{} belongs to uid {}, who could put another directory in the socket's place; put the socket under directories of root's",
                ancestor.display(),
                meta.uid()
            ));
        }
        if mode & 0o022 != 0 && !sticky {
            return Some(format!(
                "{} is writable by others (mode {:04o}), who could put another directory in the socket's place; put the socket under directories of root's",
                ancestor.display(),
                mode & 0o7777
            ));
        }
    }
    None
}

/// Binds a Unix socket at `path` in a directory [`unsafe_directory`]
/// accepts: a socket left by an earlier run is replaced, one a running
/// page still answers on or anything else there is refused. The socket
/// itself is open to every user who can enter the directory (the proxy's
/// group); the directory is the lock.
pub fn bind_unix(path: &Path, euid: u32) -> Result<tokio::net::UnixListener, String> {
    if let Some(why) = unsafe_directory(path, euid) {
        return Err(format!("will not listen on unix:{}: {why}", path.display()));
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(format!(
                    "another apppass-web already listens on unix:{}; stop it first",
                    path.display()
                ));
            }
            std::fs::remove_file(path)
                .map_err(|e| format!("cannot replace the old socket {}: {e}", path.display()))?
        }
        Ok(_) => {
            return Err(format!(
                "{} exists and is not a socket; remove it or name another path",
                path.display()
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", path.display())),
    }
    let listener = tokio::net::UnixListener::bind(path)
        .map_err(|e| format!("cannot listen on unix:{}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .map_err(|e| format!("cannot open {} to the proxy: {e}", path.display()))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_takes_an_address_or_an_absolute_socket_path() {
        assert_eq!(
            "127.0.0.1:8380".parse::<Listen>().unwrap(),
            Listen::Tcp("127.0.0.1:8380".parse().unwrap())
        );
        assert_eq!(
            "unix:/run/apppass-web/http.sock".parse::<Listen>().unwrap(),
            Listen::Unix("/run/apppass-web/http.sock".into())
        );
        for bad in ["unix:http.sock", "unix:", "unix:/", "localhost", "8380"] {
            let e = bad.parse::<Listen>().unwrap_err();
            assert!(e.starts_with(bad), "{e}");
        }
        assert_eq!(
            Listen::Unix("/run/a/h.sock".into()).to_string(),
            "unix:/run/a/h.sock"
        );
    }

    #[test]
    fn only_a_closed_directory_of_this_user_holds_the_socket() {
        let euid = apppass_core::sys::euid();
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("http.sock");
        let set = |mode| {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap()
        };
        set(0o750);
        assert_eq!(unsafe_directory(&sock, euid), None);
        set(0o700);
        assert_eq!(unsafe_directory(&sock, euid), None);
        set(0o751);
        assert!(unsafe_directory(&sock, euid)
            .unwrap()
            .contains("lets every local user in (mode 0751)"));
        set(0o770);
        assert!(unsafe_directory(&sock, euid)
            .unwrap()
            .contains("writable by its group"));
        set(0o750);
        assert!(unsafe_directory(&sock, euid + 1)
            .unwrap()
            .contains("not to this user"));
    }

    #[test]
    fn no_ancestor_lets_another_user_swap_the_directory() {
        let euid = apppass_core::sys::euid();
        let top = tempfile::tempdir().unwrap();
        let run = top.path().join("run");
        std::fs::create_dir(&run).unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o750)).unwrap();
        let sock = run.join("http.sock");
        let set = |mode| {
            std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(mode)).unwrap()
        };
        set(0o755);
        assert_eq!(unsafe_directory(&sock, euid), None, "under /tmp, sticky");
        set(0o757);
        assert!(unsafe_directory(&sock, euid)
            .unwrap()
            .contains("is writable by others (mode 0757)"));
        set(0o1777);
        assert_eq!(unsafe_directory(&sock, euid), None, "sticky, as /tmp");
        set(0o755);
        let link = top.path().join("link");
        std::os::unix::fs::symlink(top.path(), &link).unwrap();
        assert!(unsafe_directory(&link.join("run/http.sock"), euid)
            .unwrap()
            .contains("not a directory (a symbolic link?)"));
    }
}
