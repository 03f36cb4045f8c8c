//! The socket and the accept loop: one process per connection (PAM modules
//! and their memory stay out of the daemon), a cap on how many run at once,
//! and an exit when idle (systemd starts it again on the next connection).
//!
//! At the cap the daemon stops accepting until a session ends: the next
//! connections wait in the socket's queue and are served first come, first
//! served. (Telling them to try again let a client lose every race for a
//! free place while others won: under 50 clients at once one waited more
//! than 20 seconds.) A client bounds its own wait.
//!
//! One uid may hold only its [`share`] of the places: a user who opens
//! connections and keeps them open (or trickles a request) waits behind
//! their own, while everybody else is served.

use crate::settings::Settings;
use std::collections::{HashMap, VecDeque};
use std::os::fd::FromRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
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

/// Makes `dir` as systemd's units would (root's, mode 0755) when it is
/// missing and its parent exists; a directory that exists is left as it is.
pub fn runtime_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    match dir.parent() {
        Some(parent) if parent.as_os_str().is_empty() || parent.is_dir() => {}
        _ => {
            return Err(format!(
                "{} does not exist and neither does its parent; create it (root's, mode 0755) or choose another path",
                dir.display()
            ))
        }
    }
    let made = std::fs::DirBuilder::new().mode(0o755).create(dir);
    match made {
        Ok(()) => {
            // The daemon's umask (077) narrowed the mode: anyone may reach
            // the socket inside, as with the socket unit's DirectoryMode.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("cannot set the mode of {}: {e}", dir.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("cannot create {}: {e}", dir.display())),
    }
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

/// How many connections one uid may have served at once: a quarter of
/// the places (the web page, which speaks for many people, half), so that
/// one user who keeps connections open cannot take every place.
pub fn share(max_clients: usize, web: bool) -> usize {
    (max_clients / if web { 2 } else { 4 }).max(1)
}

/// Connections taken from the socket and waiting for their uid's share to
/// free up, in the order they came. Bounded per uid and in all.
const MAX_WAITING: usize = 128;
/// A waiting connection is dropped after this: its client gave up already.
const MAX_WAIT: Duration = Duration::from_secs(30);

struct Waiting {
    stream: UnixStream,
    uid: u32,
    since: Instant,
}

/// The children serving connections, by pid, with the uid each serves.
#[derive(Default)]
struct Children(HashMap<libc::pid_t, u32>);

impl Children {
    fn of(&self, uid: u32) -> usize {
        self.0.values().filter(|&&u| u == uid).count()
    }

    /// Forgets the children that ended; `block` waits for one first.
    fn reap(&mut self, block: bool) -> bool {
        let mut any = false;
        let mut flags = if block { 0 } else { libc::WNOHANG };
        loop {
            let mut status = 0;
            // SAFETY: waits for any child of this process.
            let pid = unsafe { libc::waitpid(-1, &mut status, flags) };
            if pid > 0 {
                self.0.remove(&pid);
                any = true;
                flags = libc::WNOHANG;
            } else {
                if pid < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
                    self.0.clear();
                }
                return any;
            }
        }
    }
}

/// Says, on a connection not served, why; best effort. `busy`: the client
/// may ask again in a moment (`apppass` does, for up to 20 seconds).
fn turn_away(stream: UnixStream, why: &str, busy: bool) {
    use apppass_protocol::{codec::Channel, Reply, Status};
    let mut channel = Channel::new(stream);
    let within = Duration::from_secs(1);
    if busy {
        let _ = channel.send(&Reply::Busy, within);
    }
    let _ = channel.send(&Reply::failed(Status::Unavailable, why), within);
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
    let web_uid = settings.web_uid();
    let share_of = |uid: u32| share(max_clients, Some(uid) == web_uid);
    let mut children = Children::default();
    let mut waiting: VecDeque<Waiting> = VecDeque::new();
    let mut last_activity = Instant::now();
    loop {
        if children.reap(children.0.len() >= max_clients) {
            last_activity = Instant::now();
        }
        // Those waiting for their share go first, in the order they came.
        waiting.retain(|w| w.since.elapsed() < MAX_WAIT);
        while children.0.len() < max_clients {
            let Some(pos) = waiting
                .iter()
                .position(|w| children.of(w.uid) < share_of(w.uid))
            else {
                break;
            };
            if let Some(w) = waiting.remove(pos) {
                spawn(
                    &listener,
                    &waiting,
                    w.stream,
                    w.uid,
                    settings,
                    &mut children,
                );
            }
        }
        if children.0.len() >= max_clients {
            // Full: the next connections wait in the socket's queue, in
            // order, until a session ends.
            continue;
        }
        if let Some(idle) = idle {
            if children.0.is_empty() && waiting.is_empty() && last_activity.elapsed() >= idle {
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
        let Some(uid) = apppass_core::unix_socket::peer_uid(&stream) else {
            turn_away(stream, "cannot tell who is asking", false);
            continue;
        };
        if children.of(uid) < share_of(uid) {
            spawn(&listener, &waiting, stream, uid, settings, &mut children);
        } else if waiting.len() < MAX_WAITING
            && waiting.iter().filter(|w| w.uid == uid).count() < share_of(uid)
        {
            waiting.push_back(Waiting {
                stream,
                uid,
                since: Instant::now(),
            });
        } else {
            turn_away(
                stream,
                "apppassd is busy with your other requests; wait for them to finish",
                true,
            );
        }
    }
}

/// Serves `stream` in a child process of its own.
fn spawn(
    listener: &UnixListener,
    waiting: &VecDeque<Waiting>,
    stream: UnixStream,
    uid: u32,
    settings: &Settings,
    children: &mut Children,
) {
    use std::os::fd::AsRawFd;
    // SAFETY: the daemon is single-threaded; the child serves one
    // connection and leaves with _exit.
    match unsafe { libc::fork() } {
        0 => {
            // The listener and the other waiting connections are the
            // parent's business: the child closes its copies (so a client
            // the parent drops sees its connection end) and never uses them.
            for fd in std::iter::once(listener.as_raw_fd())
                .chain(waiting.iter().map(|w| w.stream.as_raw_fd()))
            {
                // SAFETY: a descriptor this process inherited and will not
                // touch again; it leaves with _exit, closing nothing twice.
                unsafe { libc::close(fd) };
            }
            // A client may not hold a process for ever.
            // SAFETY: alarm has no preconditions; SIGALRM ends the child.
            unsafe { libc::alarm(300) };
            crate::serve::serve(stream, uid, settings);
            // SAFETY: leaves without running the parent's exit handlers.
            unsafe { libc::_exit(0) };
        }
        pid if pid > 0 => {
            children.0.insert(pid, uid);
            // The child has its own copy of the connection.
            drop(stream);
        }
        _ => {
            eprintln!("apppassd: cannot fork: {}", std::io::Error::last_os_error());
            turn_away(
                stream,
                "apppassd cannot start a process now; try again",
                true,
            );
        }
    }
}
