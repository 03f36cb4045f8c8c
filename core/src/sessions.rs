//! PAM sessions opened with an app password, registered so that taking
//! the password out of service can end them: `session optional
//! pam_apppass.so` registers the process that opened the session (its PID
//! and start time, so a reused PID is never hit) and the password's ID
//! under [`DIR`] when the session opens, and removes the entry when it
//! closes. Ending is SIGHUP, then SIGTERM after 2 seconds, to that
//! process only.
//!
//! One file per session, named `PID.STARTTIME`, mode 0600, holding one
//! line:
//!
//! ```text
//! apppass-session 1 password=42 user=5:alice service=4:sshd
//! ```
//!
//! Text values carry their length in bytes, so no user name can forge a
//! field. The directory is root's, 0700. Only what looks exactly like an
//! entry written here is ever acted on: a file that is not a regular file
//! owned by root (or the caller), that is too long, badly named or badly
//! formed is left alone.
//!
//! The session hook learns which password logged in from the PAM
//! environment variable [`ENV`], which the auth hook sets: sshd runs
//! keyboard-interactive authentication in a forked child whose PAM data
//! is lost, but it copies that child's PAM environment into the handle
//! that later opens the session.

use crate::sys;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

/// Where sessions are registered.
pub const DIR: &str = "/run/apppass/sessions";

/// How long a signalled session gets to end after SIGHUP before SIGTERM.
const GRACE: Duration = Duration::from_secs(2);
/// How often the wait looks whether the signalled processes are gone.
const POLL: Duration = Duration::from_millis(20);
/// An entry is one short line: anything longer is not ours.
const MAX_ENTRY: u64 = 1024;
/// The longest user or service name an entry carries.
const MAX_FIELD: usize = 256;
/// The first words of every entry: the format and its version.
const HEADER: &[u8] = b"apppass-session 1 ";

/// The PAM environment variable from the auth hook to the session hook:
/// `ID:USER`, the password that logged in and its user.
pub const ENV: &str = "APPPASS_SESSION";

/// The value of [`ENV`] for a login of `user` with password `password`.
pub fn env_value(password: i64, user: &str) -> String {
    format!("{password}:{user}")
}

/// The password a value of [`ENV`] names, if it is well formed and names
/// `user`.
pub fn password_from_env(value: &[u8], user: &[u8]) -> Option<i64> {
    let colon = value.iter().position(|&b| b == b':')?;
    let password = i64::try_from(decimal(&value[..colon])?).ok()?;
    (&value[colon + 1..] == user).then_some(password)
}

/// A registered session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The process that opened the session (sshd's `[priv]` process).
    pub pid: i32,
    /// Its start time, in clock ticks since boot (`/proc/PID/stat` field 22).
    pub started: u64,
    /// The app password it was opened with.
    pub password: i64,
    pub user: String,
    /// The PAM service (`sshd`).
    pub service: String,
}

impl Registered {
    fn file_name(&self) -> String {
        format!("{}.{}", self.pid, self.started)
    }

    fn line(&self) -> String {
        format!(
            "apppass-session 1 password={} user={}:{} service={}:{}\n",
            self.password,
            self.user.len(),
            self.user,
            self.service.len(),
            self.service
        )
    }

    /// The entry named `name` holding `text`, if both are exactly as
    /// [`register`] writes them.
    fn parse(name: &str, text: &[u8]) -> Option<Registered> {
        let (pid, started) = parse_name(name)?;
        let rest = text.strip_prefix(HEADER)?.strip_prefix(b"password=")?;
        let end = rest.iter().position(|&b| b == b' ')?;
        let password = decimal(&rest[..end])?;
        let password = i64::try_from(password).ok()?;
        let (user, rest) = counted(rest[end..].strip_prefix(b" user=")?)?;
        let (service, rest) = counted(rest.strip_prefix(b" service=")?)?;
        (rest == b"\n").then_some(Registered {
            pid,
            started,
            password,
            user,
            service,
        })
    }
}

/// `PID.STARTTIME` in canonical decimal (no sign, no leading zero), PID > 0.
fn parse_name(name: &str) -> Option<(i32, u64)> {
    let (pid, started) = name.split_once('.')?;
    let pid = i32::try_from(decimal(pid.as_bytes())?).ok()?;
    let started = decimal(started.as_bytes())?;
    (pid > 0 && format!("{pid}.{started}") == name).then_some((pid, started))
}

/// ASCII digits only, at most 20 of them.
fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// `LEN:VALUE`, VALUE being exactly LEN bytes of UTF-8; returns the value
/// and what follows it.
fn counted(text: &[u8]) -> Option<(String, &[u8])> {
    let colon = text.iter().position(|&b| b == b':')?;
    let len = usize::try_from(decimal(&text[..colon])?).ok()?;
    if len > MAX_FIELD {
        return None;
    }
    let value = text.get(colon + 1..colon + 1 + len)?;
    let value = std::str::from_utf8(value).ok()?.to_owned();
    Some((value, &text[colon + 1 + len..]))
}

/// What `/proc/PID/stat` says of a registered process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// The same process (same start time), not yet a zombie.
    Running,
    /// Exited, a zombie, or the PID now belongs to another process.
    Gone,
    /// Could not be read: neither signalled nor forgotten.
    Unknown,
}

/// State (field 3) and start time (field 22) from a `/proc/PID/stat` line.
/// The command name (field 2) is in parentheses and may hold spaces and
/// parentheses itself, so the fields are counted after the last `)`.
fn stat_fields(stat: &str) -> Option<(char, u64)> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let started = fields.nth(18)?.parse().ok()?;
    Some((state, started))
}

fn seen(pid: i32, started: u64) -> Seen {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => match stat_fields(&stat) {
            Some((_, s)) if s != started => Seen::Gone,
            Some(('Z' | 'X', _)) => Seen::Gone,
            Some(_) => Seen::Running,
            None => Seen::Unknown,
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) => {
            Seen::Gone
        }
        Err(_) => Seen::Unknown,
    }
}

/// Whether process `pid` that started at `started` has ended (or its PID
/// now names another process); `false` when /proc cannot say.
pub(crate) fn process_gone(pid: i32, started: u64) -> bool {
    seen(pid, started) == Seen::Gone
}

/// This process's start time.
pub(crate) fn own_start() -> io::Result<u64> {
    let stat = fs::read_to_string("/proc/self/stat")?;
    stat_fields(&stat)
        .map(|(_, started)| started)
        .ok_or_else(|| io::Error::other("/proc/self/stat has no start time; is /proc mounted?"))
}

/// Whether `meta` is a directory owned by one of `owners` that nobody else
/// can write to.
fn trusted_dir(meta: &fs::Metadata, owners: &[u32]) -> bool {
    meta.file_type().is_dir() && owners.contains(&meta.uid()) && meta.mode() & 0o022 == 0
}

/// Creates `dir` (0700) when it is missing, and its parent (0755) when
/// that is missing too and the grandparent exists (`/run`); then checks
/// that both are directories of this user that nobody else can write to.
fn ensure_dir(dir: &Path) -> io::Result<()> {
    let euid = sys::euid();
    let parent = dir.parent().unwrap_or(Path::new("/"));
    if fs::symlink_metadata(dir).is_err_and(|e| e.kind() == io::ErrorKind::NotFound) {
        let grandparent = parent.parent().unwrap_or(Path::new("/"));
        if !parent.exists() && grandparent.is_dir() {
            match fs::DirBuilder::new().mode(0o755).create(parent) {
                // Exactly 0755 whatever the host's umask: this process's
                // umask belongs to the host and is not changed.
                Ok(()) => fs::set_permissions(parent, fs::Permissions::from_mode(0o755))?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    let owners = [euid];
    if !trusted_dir(&fs::symlink_metadata(dir)?, &owners) {
        return Err(io::Error::other(format!(
            "{} is not a directory of uid {euid} closed to others; remove it so that it is made again",
            dir.display()
        )));
    }
    // The parent too: whoever could write there could swap the directory.
    if !trusted_dir(&fs::metadata(parent)?, &[0, euid]) {
        return Err(io::Error::other(format!(
            "{} can be written by others; make it root's, mode 0755",
            parent.display()
        )));
    }
    Ok(())
}

/// Registers the calling process's session, opened by `user` with
/// password `password` for `service`.
pub fn register(dir: &Path, password: i64, user: &str, service: &str) -> io::Result<()> {
    if user.len() > MAX_FIELD || service.len() > MAX_FIELD {
        return Err(io::Error::other(format!(
            "a user or service name longer than {MAX_FIELD} bytes is not registered"
        )));
    }
    let me = Registered {
        pid: sys::pid(),
        started: own_start()?,
        password,
        user: user.to_owned(),
        service: service.to_owned(),
    };
    ensure_dir(dir)?;
    write_entry(dir, &me)
}

/// Writes `entry` under a temporary name, then renames it into place: a
/// reader sees a whole entry or none, and a stale entry of the same name
/// (a session this very process opened before) is replaced without ever
/// following a link.
fn write_entry(dir: &Path, entry: &Registered) -> io::Result<()> {
    let name = entry.file_name();
    let tmp = dir.join(format!(".{name}.new"));
    let create = || {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
    };
    let mut file = match create() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(&tmp)?;
            create()?
        }
        other => other?,
    };
    let written = file
        .write_all(entry.line().as_bytes())
        .and_then(|()| fs::rename(&tmp, dir.join(&name)));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// Removes the calling process's entry, if any; whether there was one.
pub fn unregister(dir: &Path) -> bool {
    let Ok(started) = own_start() else {
        return false;
    };
    let trusted = fs::symlink_metadata(dir).is_ok_and(|m| trusted_dir(&m, &[sys::euid()]));
    trusted && fs::remove_file(dir.join(format!("{}.{started}", sys::pid()))).is_ok()
}

/// Reads one entry, if it is ours: a regular file (never through a link)
/// owned by root or `euid`, closed to others, short, and well formed.
fn read_entry(dir: &Path, name: &str, euid: u32) -> Option<Registered> {
    parse_name(name)?;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(dir.join(name))
        .ok()?;
    let meta = file.metadata().ok()?;
    let ours = meta.file_type().is_file()
        && (meta.uid() == 0 || meta.uid() == euid)
        && meta.mode() & 0o022 == 0
        && meta.len() <= MAX_ENTRY;
    if !ours {
        return None;
    }
    let mut text = Vec::new();
    file.take(MAX_ENTRY + 1).read_to_end(&mut text).ok()?;
    Registered::parse(name, &text)
}

/// Every entry in `dir` that is ours; none when `dir` itself is not a
/// directory of root (or the caller) closed to others.
fn entries(dir: &Path) -> Vec<Registered> {
    let euid = sys::euid();
    let trusted = fs::symlink_metadata(dir).is_ok_and(|m| trusted_dir(&m, &[0, euid]));
    let Ok(list) = fs::read_dir(dir) else {
        return Vec::new();
    };
    if !trusted {
        return Vec::new();
    }
    list.filter_map(Result::ok)
        .filter_map(|e| read_entry(dir, e.file_name().to_str()?, euid))
        .collect()
}

/// Ends the registered sessions of `user` opened with one of `passwords`;
/// returns those it signalled. Each gets SIGHUP; one still there after 2
/// seconds gets SIGTERM. A process is signalled only while it is the one
/// registered (same PID and start time); the entry of one that is gone is
/// removed. Returns within about 2 seconds.
pub fn end(dir: &Path, user: &str, passwords: &[i64]) -> Vec<Registered> {
    let me = sys::pid();
    let mut targets = Vec::new();
    for entry in entries(dir) {
        match seen(entry.pid, entry.started) {
            Seen::Gone => forget(dir, &entry),
            Seen::Running
                if entry.user == user && passwords.contains(&entry.password) && entry.pid != me =>
            {
                targets.push(entry);
            }
            Seen::Running | Seen::Unknown => {}
        }
    }
    let signalled: Vec<Registered> = targets
        .into_iter()
        .filter(|r| send(r, libc::SIGHUP))
        .collect();
    let deadline = Instant::now() + GRACE;
    let mut left: Vec<&Registered> = signalled.iter().collect();
    loop {
        left.retain(|r| seen(r.pid, r.started) != Seen::Gone);
        if left.is_empty() || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(POLL);
    }
    for r in left {
        send(r, libc::SIGTERM);
    }
    for r in &signalled {
        if seen(r.pid, r.started) == Seen::Gone {
            forget(dir, r);
        }
    }
    signalled
}

/// Signals `r`'s process if it is still the one registered.
fn send(r: &Registered, sig: libc::c_int) -> bool {
    sys::signal_if(r.pid, sig, || seen(r.pid, r.started) == Seen::Running)
}

/// Removes the entry of a session whose process is gone (its close hook
/// did not run: killed, or crashed).
fn forget(dir: &Path, r: &Registered) {
    let _ = fs::remove_file(dir.join(r.file_name()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Child, Command};

    /// A registry in a fresh private directory (the temporary directory is
    /// root's or the tester's, 0700, so it passes as the registry's parent).
    fn registry() -> (tempfile::TempDir, std::path::PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sessions");
        ensure_dir(&dir).unwrap();
        (tmp, dir)
    }

    fn start_of(pid: u32) -> u64 {
        stat_fields(&fs::read_to_string(format!("/proc/{pid}/stat")).unwrap())
            .unwrap()
            .1
    }

    /// What the module writes for a session opened by `child`.
    fn entry_for(child: &Child, password: i64, user: &str) -> Registered {
        Registered {
            pid: child.id() as i32,
            started: start_of(child.id()),
            password,
            user: user.into(),
            service: "sshd".into(),
        }
    }

    fn sleeper() -> Child {
        Command::new("sleep").arg("30").spawn().unwrap()
    }

    fn alive(child: &mut Child) -> bool {
        child.try_wait().unwrap().is_none()
    }

    /// Kills and reaps a child still running at the end of a test.
    fn reap(mut child: Child) -> std::process::ExitStatus {
        let _ = child.kill();
        child.wait().unwrap()
    }

    #[test]
    fn an_entry_reads_back_exactly_and_no_value_forges_a_field() {
        let forged = Registered {
            pid: 4242,
            started: 99,
            password: 7,
            user: "x service=4:sshd\n".into(),
            service: "ssh d:1".into(),
        };
        let line = forged.line();
        assert_eq!(Registered::parse("4242.99", line.as_bytes()), Some(forged));
        let good = b"apppass-session 1 password=42 user=5:alice service=4:sshd\n";
        let r = Registered::parse("17.5", good).unwrap();
        assert_eq!((r.pid, r.started, r.password), (17, 5, 42));
        assert_eq!((r.user.as_str(), r.service.as_str()), ("alice", "sshd"));
        for bad in [
            &b"apppass-session 2 password=42 user=5:alice service=4:sshd\n"[..],
            b"apppass-session 1 password=42 user=5:alice service=4:sshd",
            b"apppass-session 1 password=42 user=5:alice service=4:sshd\n\n",
            b"apppass-session 1 password=42 user=6:alice service=4:sshd\n",
            b"apppass-session 1 password=42 user=4:alice service=4:sshd\n",
            b"apppass-session 1 password=-42 user=5:alice service=4:sshd\n",
            b"apppass-session 1 password=42 user=5:al\xffce service=4:sshd\n",
            b"apppass-session 1 password= user=5:alice service=4:sshd\n",
            b"",
        ] {
            assert_eq!(Registered::parse("17.5", bad), None, "{bad:?}");
        }
        for name in [
            "017.5", "17.05", "0.5", "-1.5", "17", "17.5.1", "+17.5", "x.5", " 17.5",
        ] {
            assert_eq!(Registered::parse(name, good), None, "{name}");
        }
    }

    #[test]
    fn the_session_hook_takes_the_password_only_for_the_same_user() {
        let value = env_value(42, "alice:x");
        assert_eq!(password_from_env(value.as_bytes(), b"alice:x"), Some(42));
        assert_eq!(password_from_env(value.as_bytes(), b"alice"), None);
        assert_eq!(password_from_env(b"42:alice", b"bob"), None);
        for bad in [&b"x:alice"[..], b":alice", b"-1:alice", b"42alice", b""] {
            assert_eq!(password_from_env(bad, b"alice"), None, "{bad:?}");
        }
    }

    #[test]
    fn the_start_time_is_read_after_the_last_parenthesis() {
        let fields: Vec<String> = (3..=52).map(|n| n.to_string()).collect();
        let stat = format!("123 (a) (b c) S {}", fields[1..].join(" "));
        assert_eq!(stat_fields(&stat), Some(('S', 22)));
        assert_eq!(stat_fields("123 (sleep) S 1 2"), None);
        let own = fs::read_to_string("/proc/self/stat").unwrap();
        assert_eq!(own_start().unwrap(), stat_fields(&own).unwrap().1);
    }

    #[test]
    fn register_writes_a_private_entry_for_the_calling_process_and_unregister_removes_it() {
        let tmp = tempfile::tempdir().unwrap();
        // /run exists, /run/apppass does not: both are made.
        let dir = tmp.path().join("apppass").join("sessions");
        register(&dir, 7, "alice", "sshd").unwrap();
        let mode = |p: &Path| fs::symlink_metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(dir.parent().unwrap()), 0o755);
        assert_eq!(mode(&dir), 0o700);
        let name = format!("{}.{}", std::process::id(), own_start().unwrap());
        let path = dir.join(&name);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "apppass-session 1 password=7 user=5:alice service=4:sshd\n"
        );
        // A second session of the same process replaces the entry.
        register(&dir, 8, "alice", "sshd").unwrap();
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from(&name)]);
        assert!(fs::read_to_string(&path).unwrap().contains("password=8 "));
        assert!(unregister(&dir));
        assert!(!path.exists());
        assert!(!unregister(&dir));
    }

    #[test]
    fn register_makes_no_tree_where_there_is_no_run_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run").join("apppass").join("sessions");
        assert!(register(&dir, 7, "alice", "sshd").is_err());
        assert!(!tmp.path().join("run").exists());
    }

    #[test]
    fn register_refuses_a_directory_others_could_write_or_a_link() {
        let (tmp, dir) = registry();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o730)).unwrap();
        let e = register(&dir, 7, "alice", "sshd").unwrap_err();
        assert!(e.to_string().contains("remove it"), "{e}");
        let link = tmp.path().join("link");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(register(&link, 7, "alice", "sshd").is_err());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        assert!(register(&dir, 7, &"a".repeat(MAX_FIELD + 1), "sshd").is_err());
    }

    #[test]
    fn end_hangs_up_on_the_sessions_of_the_revoked_password_only() {
        let (_tmp, dir) = registry();
        let mut revoked = sleeper();
        let mut other_password = sleeper();
        let mut other_user = sleeper();
        write_entry(&dir, &entry_for(&revoked, 7, "alice")).unwrap();
        write_entry(&dir, &entry_for(&other_password, 8, "alice")).unwrap();
        write_entry(&dir, &entry_for(&other_user, 7, "bob")).unwrap();
        let started = Instant::now();
        let ended = end(&dir, "alice", &[7, 9]);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(ended, [entry_for(&revoked, 7, "alice")]);
        assert_eq!(revoked.wait().unwrap().signal(), Some(libc::SIGHUP));
        assert!(alive(&mut other_password) && alive(&mut other_user));
        assert!(!dir.join(ended[0].file_name()).exists());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
        reap(other_password);
        reap(other_user);
    }

    #[test]
    fn a_reused_pid_is_never_hit_and_its_stale_entry_goes() {
        let (_tmp, dir) = registry();
        let mut child = sleeper();
        let mut reused = entry_for(&child, 7, "alice");
        reused.started += 1;
        write_entry(&dir, &reused).unwrap();
        let mut gone = sleeper();
        let gone_entry = entry_for(&gone, 7, "alice");
        gone.kill().unwrap();
        gone.wait().unwrap();
        write_entry(&dir, &gone_entry).unwrap();
        assert_eq!(end(&dir, "alice", &[7]), []);
        assert!(alive(&mut child));
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        reap(child);
    }

    #[test]
    fn a_session_file_that_is_not_ours_is_never_acted_on() {
        let (tmp, dir) = registry();
        let mut child = sleeper();
        let entry = entry_for(&child, 7, "alice");
        let line = entry.line();
        let path = dir.join(entry.file_name());
        let elsewhere = tmp.path().join("elsewhere");
        fs::write(&elsewhere, &line).unwrap();
        let mut long = line.clone().into_bytes();
        long.resize(MAX_ENTRY as usize + 1, b' ');
        let mode =
            |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
        // Each stands where the child's entry would, with its content.
        let mut not_ours = vec!["a link", "too long", "writable by others", "a directory"];
        if sys::euid() == 0 {
            not_ours.push("someone else's");
        }
        for what in not_ours {
            match what {
                "a link" => std::os::unix::fs::symlink(&elsewhere, &path).unwrap(),
                "too long" => fs::write(&path, &long).unwrap(),
                "writable by others" => {
                    fs::write(&path, &line).unwrap();
                    mode(&path, 0o622);
                }
                "a directory" => fs::create_dir(&path).unwrap(),
                _ => {
                    fs::write(&path, &line).unwrap();
                    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
                }
            }
            assert_eq!(end(&dir, "alice", &[7]), [], "{what}");
            assert!(alive(&mut child), "{what}");
            assert!(fs::symlink_metadata(&path).is_ok(), "{what} was removed");
            let _ = fs::remove_file(&path).or_else(|_| fs::remove_dir(&path));
        }
        // Good content under names that are not entries.
        let name = entry.file_name();
        for junk in [
            format!("0{name}"),
            format!("{name}.new"),
            format!(".{name}.new"),
        ] {
            fs::write(dir.join(&junk), &line).unwrap();
            assert_eq!(end(&dir, "alice", &[7]), [], "{junk}");
            assert!(dir.join(&junk).exists() && alive(&mut child), "{junk}");
            fs::remove_file(dir.join(&junk)).unwrap();
        }
        // A directory others can write to is not read at all.
        write_entry(&dir, &entry).unwrap();
        mode(&dir, 0o703);
        assert_eq!(end(&dir, "alice", &[7]), []);
        assert!(alive(&mut child));
        // The same entry, once the directory is closed again, is acted on.
        mode(&dir, 0o700);
        assert_eq!(end(&dir, "alice", &[7]), [entry]);
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGHUP));
    }

    #[test]
    fn the_calling_process_is_never_signalled() {
        let (_tmp, dir) = registry();
        register(&dir, 7, "alice", "sshd").unwrap();
        assert_eq!(end(&dir, "alice", &[7]), []);
        unregister(&dir);
    }

    #[test]
    fn a_session_that_ignores_the_hang_up_is_terminated_after_two_seconds() {
        let (_tmp, dir) = registry();
        let mut child = Command::new("sh")
            .args(["-c", "trap '' HUP; exec sleep 30"])
            .spawn()
            .unwrap();
        // Wait until the hang-up is ignored (bit 0 of SigIgn) and sleep runs.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let status = fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
            let ignoring = status
                .lines()
                .find_map(|l| l.strip_prefix("SigIgn:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                .is_some_and(|mask| mask & 1 != 0);
            if ignoring && status.starts_with("Name:\tsleep") {
                break;
            }
            assert!(Instant::now() < deadline, "the child never ignored SIGHUP");
            std::thread::sleep(Duration::from_millis(10));
        }
        let entry = entry_for(&child, 7, "alice");
        write_entry(&dir, &entry).unwrap();
        let started = Instant::now();
        assert_eq!(end(&dir, "alice", &[7]), std::slice::from_ref(&entry));
        let took = started.elapsed();
        assert!(
            took >= GRACE && took < GRACE + Duration::from_millis(800),
            "{took:?}"
        );
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGTERM));
        // Gone by the time end returned, or removed as stale next time.
        end(&dir, "alice", &[]);
        assert!(!dir.join(entry.file_name()).exists());
    }
}
