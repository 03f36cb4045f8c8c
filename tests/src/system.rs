//! Real system users for the tests that need pam_unix and /etc/shadow.
//! Only as root; otherwise the test says loudly that it was skipped.

use crate::fixture::output_with_input;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `true` when the test may go on; otherwise prints a SKIPPED line that the
/// test harness does not capture.
pub fn require_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED {test}: needs root to create system users and read /etc/shadow ***\n"
    );
    false
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A system user with a primary password, removed on drop.
pub struct SystemUser {
    pub name: String,
}

impl SystemUser {
    pub fn new(primary: &str) -> Self {
        Self::with_shell(primary, "/usr/sbin/nologin")
    }

    /// A user who can run a command over SSH.
    pub fn with_shell(primary: &str, shell: &str) -> Self {
        let u = Self::create(shell);
        u.chpasswd(primary);
        u
    }

    /// A user as `useradd` leaves one: no primary password (`!`).
    pub fn without_password() -> Self {
        Self::create("/usr/sbin/nologin")
    }

    fn create(shell: &str) -> Self {
        crate::sweep::leftovers();
        let name = format!(
            "aptest{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let _ = Command::new("userdel")
            .arg(&name)
            .stderr(Stdio::null())
            .status();
        let ok = Command::new("useradd")
            .args(["-M", "-s", shell, &name])
            .status()
            .unwrap()
            .success();
        assert!(ok, "useradd {name} failed");
        SystemUser { name }
    }

    pub fn chpasswd(&self, primary: &str) {
        let line = format!("{}:{primary}\n", self.name);
        let out = output_with_input(&mut Command::new("chpasswd"), line.as_bytes());
        assert!(
            out.status.success(),
            "chpasswd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn run(&self, cmd: &str, args: &[&str]) {
        let ok = Command::new(cmd)
            .args(args)
            .arg(&self.name)
            .status()
            .unwrap()
            .success();
        assert!(ok, "{cmd} {args:?} {} failed", self.name);
    }

    pub fn shadow_hash(&self) -> String {
        let shadow = std::fs::read_to_string("/etc/shadow").unwrap();
        shadow
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{}:", self.name)))
            .and_then(|rest| rest.split(':').next())
            .unwrap()
            .to_string()
    }
}

impl Drop for SystemUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel")
            .arg(&self.name)
            .stderr(Stdio::null())
            .status();
    }
}

/// Whether bubblewrap can build a sandbox here (not inside a chroot whose
/// root is no mount point), saying loudly when it cannot. Nothing is
/// created outside the sandbox: it gets a /dev of its own.
pub fn sandbox_works(test: &str) -> bool {
    let ok = std::process::Command::new("bwrap")
        .args(["--bind", "/", "/", "--dev", "/dev", "true"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED {test}: bubblewrap cannot create a mount namespace here ***\n"
        );
    }
    ok
}

/// Runs `program args` with /dev/log replaced by a socket in `dir`; returns
/// the syslog lines it sent, as datagrams (`<PRI>TIMESTAMP IDENT: TEXT`).
///
/// Read while the program runs: the kernel queues only a few datagrams on
/// a socket (net.unix.max_dgram_qlen, 10 on Debian) and syslog(3) blocks
/// once the queue is full.
pub fn capture_syslog(dir: &Path, program: &Path, args: &[String]) -> Vec<String> {
    use std::os::unix::net::UnixDatagram;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let sock_path = dir.join("log.sock");
    let _ = std::fs::remove_file(&sock_path);
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut lines = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match sock.recv(&mut buf) {
                    Ok(n) => lines.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                    // Timed out: the queue is empty; stop once the program has exited.
                    Err(_) if done.load(Ordering::SeqCst) => return lines,
                    Err(_) => {}
                }
            }
        })
    };
    let out = std::process::Command::new("bwrap")
        .args(["--bind", "/", "/", "--dev", "/dev", "--bind"])
        .arg(&sock_path)
        .arg("/dev/log")
        .arg(program)
        .args(args)
        .output()
        .unwrap();
    done.store(true, Ordering::SeqCst);
    let lines = reader.join().unwrap();
    assert!(
        out.status.success(),
        "bwrap: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines
}

/// A system group made for a test (`groupadd`), removed when dropped.
pub struct SystemGroup {
    pub name: String,
}

impl SystemGroup {
    pub fn new() -> Self {
        let name = format!(
            "aptestg{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let _ = Command::new("groupdel")
            .arg(&name)
            .stderr(Stdio::null())
            .status();
        let ok = Command::new("groupadd")
            .arg(&name)
            .status()
            .unwrap()
            .success();
        assert!(ok, "groupadd {name} failed");
        SystemGroup { name }
    }

    /// Adds (`true`) or removes `user` as a supplementary member.
    pub fn set_member(&self, user: &str, member: bool) {
        let flag = if member { "-a" } else { "-d" };
        let out = Command::new("gpasswd")
            .args([flag, user, &self.name])
            .output()
            .unwrap();
        assert!(out.status.success(), "gpasswd {flag} {user} {}", self.name);
    }
}

impl Default for SystemGroup {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for SystemGroup {
    fn drop(&mut self) {
        let _ = Command::new("groupdel")
            .arg(&self.name)
            .stderr(Stdio::null())
            .status();
    }
}
