//! A Debian 13 (trixie) root for the tests: Dovecot 2.4, OpenSSH 10 and
//! Linux-PAM 1.7, made once with debootstrap from the mirror apt already
//! uses and kept under `target/` between runs of one checkout. The module
//! and the CLI built on this host are copied into it, where a package would
//! put them, and everything runs inside it: commands through `unshare` (a
//! mount namespace of their own with its own /proc and the host's /dev) and
//! `chroot`, which also works where the host itself is a chroot; daemons on
//! 127.0.0.1 so the host's clients reach them.
//!
//! One root serves every test, so the tests take turns ([`Debian13::enter`]).

use crate::dovecot::free_port;
use crate::fixture::{apppass_bin, built_module, output_with_input, target_dir};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// What the root holds besides minbase; a change rebuilds it.
const PACKAGES: &str = "dovecot-core,dovecot-imapd,dovecot-pop3d,dovecot-submissiond,\
openssh-server,libpam-modules,libpam-runtime,passwd,libsqlite3-0,procps";
const STAMP: &str = ".apppass-debian13-ready";
pub const SECURITY_DIR: &str = "/usr/lib/x86_64-linux-gnu/security";

pub struct Debian13 {
    pub path: PathBuf,
}

static TURN: Mutex<()> = Mutex::new(());
static ROOT: OnceLock<Result<Debian13, String>> = OnceLock::new();

/// The root's place: beside the build, so one checkout builds it once.
fn root_dir() -> PathBuf {
    target_dir().join("../debian13-root")
}

/// The Debian mirror this host's apt uses.
fn mirror() -> String {
    let sources =
        std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default();
    let from_deb822 = sources
        .lines()
        .find_map(|l| l.strip_prefix("URIs:"))
        .and_then(|u| u.split_whitespace().next())
        .map(str::to_owned);
    let list = std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    let from_list = list
        .lines()
        .filter(|l| l.starts_with("deb "))
        .find_map(|l| l.split_whitespace().nth(1))
        .map(str::to_owned);
    from_deb822
        .or(from_list)
        .unwrap_or_else(|| "http://deb.debian.org/debian".into())
}

fn build(dir: &Path) -> Result<(), String> {
    let stamp = dir.join(STAMP);
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == PACKAGES) {
        return Ok(());
    }
    let tmp = dir.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    let _ = std::fs::remove_dir_all(dir);
    let started = Instant::now();
    let out = Command::new("debootstrap")
        .args([
            "--variant=minbase",
            &format!("--include={PACKAGES}"),
            "trixie",
        ])
        .arg(&tmp)
        .arg(mirror())
        .output()
        .map_err(|e| format!("cannot run debootstrap ({e}); make check installs it"))?;
    if !out.status.success() {
        return Err(format!(
            "debootstrap trixie failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    // Package scripts run later in the root must not start daemons.
    let policy = tmp.join("usr/sbin/policy-rc.d");
    std::fs::write(&policy, "#!/bin/sh\nexit 101\n").map_err(|e| e.to_string())?;
    set_mode(&policy, 0o755);
    std::fs::rename(&tmp, dir).map_err(|e| e.to_string())?;
    std::fs::write(&stamp, PACKAGES).map_err(|e| e.to_string())?;
    eprintln!(
        "debian13: built {} in {:.0} s",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// How `unshare` keeps the root's /proc and /dev mounts out of the host's
/// namespace. Where `/` is a mount point, it makes every mount private.
/// Inside a chroot `/` is not one and `unshare` cannot change it; there the
/// mounts stay private only if the mount holding the chroot is not shared,
/// which a probe mount proves once, so a run never leaves mounts behind.
fn propagation() -> &'static str {
    static MODE: OnceLock<Result<&'static str, String>> = OnceLock::new();
    let mode = MODE.get_or_init(|| {
        if Command::new("mountpoint")
            .args(["-q", "/"])
            .status()
            .is_ok_and(|s| s.success())
        {
            return Ok("private");
        }
        let probe = tempfile::Builder::new()
            .prefix("apppass-propagation-")
            .tempdir_in(target_dir())
            .map_err(|e| e.to_string())?;
        let mut inner = Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "unchanged",
                "--",
                "/bin/sh",
                "-c",
            ])
            .arg(
                r#"mount -t tmpfs apppass-probe "$1" && touch "$1/inside" && echo ready && read _"#,
            )
            .arg("sh")
            .arg(probe.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run unshare: {e}"))?;
        let mut line = String::new();
        use std::io::BufRead;
        let _ = std::io::BufReader::new(inner.stdout.take().unwrap()).read_line(&mut line);
        let leaked = probe.path().join("inside").exists();
        drop(inner.stdin.take());
        let _ = inner.wait();
        if leaked {
            let _ = Command::new("umount").arg(probe.path()).status();
            return Err(
                "this host is a chroot inside a shared mount: mounts made for the \
                        Debian 13 root would appear outside it. Run the tests where / is a \
                        mount point (a machine, VM or container), or make the mount holding \
                        this chroot private (mount --make-rprivate)"
                    .into(),
            );
        }
        if line.trim() != "ready" {
            return Err("unshare --mount could not mount a probe file system".into());
        }
        Ok("unchanged")
    });
    match mode {
        Ok(m) => m,
        Err(e) => panic!("the Debian 13 root cannot be entered: {e}"),
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

impl Debian13 {
    /// Waits for this test's turn with the root, building it first if
    /// needed. `None` (after a loud SKIPPED line) without root privileges:
    /// debootstrap, chroot and mounts need them.
    pub fn enter(test: &str) -> Option<(MutexGuard<'static, ()>, &'static Debian13)> {
        if !crate::system::require_root(test) {
            return None;
        }
        let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let root = ROOT.get_or_init(|| {
            let dir = root_dir();
            std::fs::create_dir_all(dir.parent().unwrap()).map_err(|e| e.to_string())?;
            build(&dir)?;
            let dir = dir.canonicalize().map_err(|e| e.to_string())?;
            let root = Debian13 { path: dir };
            root.prepare();
            Ok(root)
        });
        match root {
            Ok(r) => Some((turn, r)),
            Err(e) => panic!("the Debian 13 root could not be made: {e}"),
        }
    }

    /// Once per test process: stop what an interrupted run left running in
    /// the root, install this build's module and CLI, select the
    /// pam-auth-update profile, and start from an empty store.
    fn prepare(&self) {
        self.kill_leftovers();
        self.install_build();
        std::fs::create_dir_all(self.host("/run/sshd")).unwrap();
        if let Ok(passwd) = std::fs::read_to_string(self.host("/etc/passwd")) {
            for name in passwd.lines().filter_map(|l| l.split(':').next()) {
                if name.starts_with("aptest") {
                    let _ = self.run(&["userdel", name]);
                }
            }
        }
        for entry in std::fs::read_dir(self.host("/tmp")).unwrap().flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with("apppass-d13-")
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    /// This build's module, CLI and pam-auth-update profile where the
    /// package puts them, the profile selected, and an empty store.
    pub fn install_build(&self) {
        let security = self.host(SECURITY_DIR);
        std::fs::copy(built_module(), security.join("pam_apppass.so")).unwrap();
        set_mode(&security.join("pam_apppass.so"), 0o644);
        std::fs::copy(apppass_bin(), self.host("/usr/sbin/apppass")).unwrap();
        set_mode(&self.host("/usr/sbin/apppass"), 0o755);
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        std::fs::copy(
            repo.join("packaging/pam-configs/apppass"),
            self.host("/usr/share/pam-configs/apppass"),
        )
        .unwrap();
        self.ok(&["pam-auth-update", "--enable", "apppass"]);
        let _ = std::fs::remove_dir_all(self.host("/var/lib/apppass"));
        self.ok(&["apppass", "init"]);
    }

    /// Processes whose root directory is this root: daemons of a run that
    /// was interrupted before its destructors ran.
    fn kill_leftovers(&self) {
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return;
        };
        for p in procs.flatten() {
            let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if std::fs::read_link(p.path().join("root")).is_ok_and(|r| r == self.path) {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }

    /// The host path of `inside`, a path in the root.
    pub fn host(&self, inside: &str) -> PathBuf {
        self.path.join(inside.trim_start_matches('/'))
    }

    /// `argv` run inside the root.
    pub fn command(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("unshare");
        c.args(["--mount", "--propagation", propagation(), "--", "/bin/sh", "-c"])
            .arg(
                r#"r=$1; shift; mount -t proc proc "$r/proc" && mount --rbind /dev "$r/dev" && exec chroot "$r" "$@""#,
            )
            .arg("sh")
            .arg(&self.path)
            .args(argv)
            .env_clear()
            .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, argv: &[&str]) -> Output {
        self.command(argv).output().unwrap()
    }

    /// Runs `argv` inside the root with `input` on stdin.
    pub fn run_stdin(&self, argv: &[&str], input: &str) -> Output {
        output_with_input(&mut self.command(argv), input.as_bytes())
    }

    /// Runs `argv` inside the root and insists it succeeds; its stdout.
    pub fn ok(&self, argv: &[&str]) -> String {
        let out = self.run(argv);
        assert!(
            out.status.success(),
            "in the Debian 13 root, {argv:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A private directory in the root's /tmp, removed on drop; `inside` is
    /// its path as the root sees it.
    pub fn scratch(&self) -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix(&format!("apppass-d13-{}-", std::process::id()))
            .tempdir_in(self.host("/tmp"))
            .unwrap();
        set_mode(dir.path(), 0o755);
        let inside = PathBuf::from("/").join(dir.path().strip_prefix(&self.path).unwrap());
        Scratch { dir, inside }
    }

    /// Writes a file of the root.
    pub fn write(&self, inside: &str, text: &str) {
        std::fs::write(self.host(inside), text).unwrap();
    }

    /// A user of the root with a primary password, removed on drop.
    pub fn user(&'static self, primary: &str) -> RootUser {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!(
            "aptest{}y{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        self.ok(&["useradd", "-M", "-s", "/bin/sh", &name]);
        let u = RootUser { root: self, name };
        u.set_password(primary);
        u
    }

    /// `apppass ARGS` inside the root, against its default store.
    pub fn apppass(&self, args: &[&str]) -> Output {
        let mut argv = vec!["apppass"];
        argv.extend_from_slice(args);
        self.run(&argv)
    }

    /// `apppass generate ARGS` inside the root; the password it printed.
    pub fn issue(&self, args: &[&str]) -> String {
        let mut argv = vec!["generate"];
        argv.extend_from_slice(args);
        let out = self.apppass(&argv);
        assert!(
            out.status.success(),
            "generate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub inside: PathBuf,
}

impl Scratch {
    pub fn inside(&self, name: &str) -> String {
        self.inside.join(name).display().to_string()
    }
}

pub struct RootUser {
    root: &'static Debian13,
    pub name: String,
}

impl RootUser {
    /// chpasswd inside the root (which runs its password stack).
    pub fn set_password(&self, primary: &str) {
        let out = self
            .root
            .run_stdin(&["chpasswd"], &format!("{}:{primary}\n", self.name));
        assert!(
            out.status.success(),
            "chpasswd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn shadow_field(&self) -> String {
        let shadow = std::fs::read_to_string(self.root.host("/etc/shadow")).unwrap();
        shadow
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{}:", self.name)))
            .and_then(|rest| rest.split(':').next())
            .unwrap()
            .to_string()
    }
}

impl Drop for RootUser {
    fn drop(&mut self) {
        let _ = self.root.run(&["userdel", &self.name]);
    }
}

/// How a test Dovecot 2.4 names its PAM services: one of the shipped
/// snippets, included as it is.
pub struct Dovecot24 {
    root: &'static Debian13,
    scratch: Scratch,
    pub conf: String,
    pub imap: u16,
    pub pop3: u16,
    pub submission: u16,
    /// Each PAM file written, with what it held before (None: absent).
    pam_files: Vec<(PathBuf, Option<Vec<u8>>)>,
}

/// The shipped 2.4 snippet `name`.
pub fn snippet(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging/dovecot/2.4")
        .join(name)
}

impl Dovecot24 {
    /// Starts Dovecot 2.4 in the root with the shipped snippet `snippet_name`
    /// and PAM files `stack` for each of `services` (/etc/pam.d/SERVICE of
    /// the root, removed on drop).
    pub fn start(
        root: &'static Debian13,
        snippet_name: &str,
        services: &[&str],
        stack: &str,
        cache: bool,
    ) -> Dovecot24 {
        let scratch = root.scratch();
        let d = scratch.inside.display().to_string();
        let mail = scratch.dir.path().join("mail");
        std::fs::create_dir(&mail).unwrap();
        set_mode(&mail, 0o1777);
        std::fs::copy(snippet(snippet_name), scratch.dir.path().join(snippet_name)).unwrap();
        let (imap, pop3, submission) = (free_port(), free_port(), free_port());
        let cache = if cache {
            "auth_cache_size = 1M\nauth_cache_ttl = 1 hour\nauth_cache_negative_ttl = 1 hour\n"
        } else {
            "auth_cache_size = 0\n"
        };
        let conf = format!(
            "dovecot_config_version = 2.4.1
dovecot_storage_version = 2.4.1
protocols = imap pop3 submission
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
instance_name = apppass-d13-{imap}
log_path = {d}/dovecot.log
ssl = no
auth_allow_cleartext = yes
auth_mechanisms = plain login
auth_verbose = yes
{cache}mail_driver = maildir
mail_path = {d}/mail/%{{user}}
hostname = mail.test
submission_relay_host = 127.0.0.1
submission_relay_port = {relay}
# Before the snippet's userdb passwd: test users have no home directory.
userdb static {{
  fields {{
    uid = nobody
    gid = nogroup
    home = {d}/mail/%{{user}}
  }}
}}
!include {d}/{snippet_name}
service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = {submission}
  }}
}}
",
            relay = free_port(),
        );
        std::fs::write(scratch.dir.path().join("dovecot.conf"), conf).unwrap();
        // Each PAM file is put back as it was when Dovecot stops (the
        // root's own /etc/pam.d/dovecot among them).
        let mut pam_files = Vec::new();
        for s in services {
            let path = root.host(&format!("/etc/pam.d/{s}"));
            let was = std::fs::read(&path).ok();
            std::fs::write(&path, stack).unwrap();
            pam_files.push((path, was));
        }
        let conf = scratch.inside("dovecot.conf");
        let dc = Dovecot24 {
            root,
            scratch,
            conf,
            imap,
            pop3,
            submission,
            pam_files,
        };
        // Not output(): the daemonised master would hold the pipes open.
        let errors = dc.scratch.dir.path().join("start.err");
        let status = root
            .command(&["dovecot", "-c", &dc.conf])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&errors).unwrap())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "dovecot 2.4: {}{}",
            std::fs::read_to_string(&errors).unwrap_or_default(),
            dc.log()
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in [imap, pop3, submission] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "Dovecot 2.4 did not listen on {port}:\n{}",
                    dc.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        dc
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.scratch.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// Dovecot's auth-client socket, as the host sees it.
    pub fn auth_socket(&self) -> PathBuf {
        self.scratch.dir.path().join("run/auth-client")
    }
}

impl Drop for Dovecot24 {
    fn drop(&mut self) {
        let _ = self.root.run(&["doveadm", "-c", &self.conf, "stop"]);
        let pid = self.scratch.dir.path().join("run/master.pid");
        let deadline = Instant::now() + Duration::from_secs(10);
        while pid.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        for (path, was) in &self.pam_files {
            let _ = match was {
                Some(text) => std::fs::write(path, text),
                None => std::fs::remove_file(path),
            };
        }
    }
}

/// OpenSSH 10's sshd in the root on 127.0.0.1, with the root's own
/// /etc/pam.d/sshd as the test writes it.
pub struct Sshd10 {
    scratch: Scratch,
    pub port: u16,
    child: std::process::Child,
}

impl Sshd10 {
    pub fn start(root: &'static Debian13) -> Sshd10 {
        let scratch = root.scratch();
        let key = scratch.inside("host_ed25519");
        root.ok(&["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", &key]);
        let port = free_port();
        std::fs::write(
            scratch.dir.path().join("sshd_config"),
            format!(
                "Port {port}
ListenAddress 127.0.0.1
HostKey {key}
PidFile {pid}
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication yes
PubkeyAuthentication no
PermitRootLogin no
UseDNS no
StrictModes no
MaxAuthTries 3
LogLevel VERBOSE
",
                pid = scratch.inside("sshd.pid")
            ),
        )
        .unwrap();
        let conf = scratch.inside("sshd_config");
        let log = scratch.inside("sshd.log");
        let child = root
            .command(&["/usr/sbin/sshd", "-D", "-f", &conf, "-E", &log])
            .spawn()
            .unwrap();
        let s = Sshd10 {
            scratch,
            port,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd 10 did not listen:\n{}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.scratch.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd10 {
    fn drop(&mut self) {
        // The child is unshare, which exec'd into sshd: the same process.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
