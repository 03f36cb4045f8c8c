//! The socket and the accept loop: one process per connection (PAM modules
//! and their memory stay out of the daemon), a cap on how many run at once,
//! and an exit when idle (systemd starts it again on the next connection).
//!
//! At the cap the daemon stops accepting until a session ends: the next
//! connections wait in the socket's queue and are served first come, first
//! served. (Telling them to try again let a client lose every race for a
//! free place while others won: under 50 clients at once one waited more
//! than 20 seconds.) A client bounds its own wait.

use crate::session::{self, Settings};
use std::os::fd::FromRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

/// The socket systemd passed (`LISTEN_FDS`/`LISTEN_PID`, fd 3), if any.
pub fn from_systemd() -> Option<UnixListener> {
    let pid: u32 = std::env::var("LISTEN_PID").ok()?.parse().ok()?;
    let fds: u32 = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    if pid != std::process::id() || fds != 1 {
        return None;
    }
    // SAFETY: systemd hands fd 3 to this process, once; nothing else owns it.
    let listener = unsafe { UnixListener::from_raw_fd(3) };
    // SAFETY: fd 3 is ours; children must not inherit it.
    unsafe { libc::fcntl(3, libc::F_SETFD, libc::FD_CLOEXEC) };
    Some(listener)
}

/// Binds `path` (mode 0666: anyone may ask; the daemon checks who asks),
/// replacing a stale socket but nothing else.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_socket() {
            std::fs::remove_file(path)?;
        } else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    Ok(listener)
}

/// Accepts connections until idle for `idle` (never with `None`).
pub fn run(
    listener: UnixListener,
    settings: &Settings,
    max_clients: usize,
    idle: Option<Duration>,
) {
    use std::os::fd::AsRawFd;
    let fd = listener.as_raw_fd();
    let mut children = 0usize;
    let mut last_activity = Instant::now();
    loop {
        if children >= max_clients {
            // Full: wait for a session to end; meanwhile the next
            // connections wait in the socket's queue, in order.
            let mut status = 0;
            // SAFETY: waits for any child of this process.
            let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
            if pid > 0 {
                children -= 1;
            } else if std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
                children = 0;
            }
            last_activity = Instant::now();
            continue;
        }
        // Reap whoever finished.
        loop {
            let mut status = 0;
            // SAFETY: waits for any child without blocking.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            children = children.saturating_sub(1);
            last_activity = Instant::now();
        }
        if let Some(idle) = idle {
            if children == 0 && last_activity.elapsed() >= idle {
                return;
            }
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; a 200 ms wait lets children be reaped.
        let ready = unsafe { libc::poll(&mut pfd, 1, 200) };
        if ready <= 0 {
            continue;
        }
        let Ok((stream, _)) = listener.accept() else {
            continue;
        };
        last_activity = Instant::now();
        // SAFETY: the daemon is single-threaded; the child serves one
        // connection and leaves with _exit.
        match unsafe { libc::fork() } {
            0 => {
                drop(listener);
                // A client may not hold a process for ever.
                // SAFETY: alarm has no preconditions; SIGALRM ends the child.
                unsafe { libc::alarm(300) };
                session::serve(stream, settings);
                // SAFETY: leaves without running the parent's exit handlers.
                unsafe { libc::_exit(0) };
            }
            pid if pid > 0 => {
                children += 1;
                // The child has its own copy of the connection.
                drop(stream);
            }
            _ => {
                eprintln!("apppassd: cannot fork: {}", std::io::Error::last_os_error());
            }
        }
    }
}
