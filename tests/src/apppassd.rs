//! A real apppassd for the tests: on a private socket (in a directory any
//! user may reach), on a fixture's store, with PAM service files of the
//! test's own; stopped on drop.

use crate::fixture::{apppass_bin, apppassd_bin, output_with_input, Fixture};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub dir: tempfile::TempDir,
    /// A copy of the built `apppass` users can run (a checkout under
    /// /root is closed to them).
    pub apppass: PathBuf,
    pub socket: PathBuf,
    pub pam_dir: PathBuf,
    child: Child,
}

impl Daemon {
    /// Starts apppassd on `f`'s store with `/etc/pam.d/apppass` replaced by
    /// `stack` (`@MODULE@`/`@DB@` expanded as in Fixture::service).
    pub fn start(f: &Fixture, stack: &str) -> Daemon {
        Self::start_with(f, stack, &[])
    }

    /// [`Daemon::start`] with more arguments for apppassd.
    pub fn start_with(f: &Fixture, stack: &str, extra: &[&str]) -> Daemon {
        Self::start_wrapped(f, stack, extra, None)
    }

    /// apppassd inside bubblewrap with `log_socket` as its /dev/log, so a
    /// test reads what it sends to syslog.
    pub fn start_logged(f: &Fixture, stack: &str, log_socket: &std::path::Path) -> Daemon {
        Self::start_wrapped(f, stack, &[], Some(log_socket))
    }

    fn start_wrapped(
        f: &Fixture,
        stack: &str,
        extra: &[&str],
        log_socket: Option<&std::path::Path>,
    ) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("apppass-daemon-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let pam_dir = dir.path().join("pam.d");
        std::fs::create_dir(&pam_dir).unwrap();
        std::fs::write(pam_dir.join("apppass"), f.expand(stack)).unwrap();
        std::fs::write(
            pam_dir.join("other"),
            "auth required pam_deny.so\naccount required pam_deny.so\n",
        )
        .unwrap();
        let socket = dir.path().join("apppassd.sock");
        let apppass = dir.path().join("apppass");
        std::fs::copy(apppass_bin(), &apppass).unwrap();
        std::fs::set_permissions(&apppass, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut cmd = match log_socket {
            Some(log) => {
                let mut c = Command::new("bwrap");
                c.args([
                    "--die-with-parent",
                    "--bind",
                    "/",
                    "/",
                    "--dev",
                    "/dev",
                    "--bind",
                ])
                .arg(log)
                .arg("/dev/log")
                .arg(apppassd_bin());
                c
            }
            None => Command::new(apppassd_bin()),
        };
        match &f.config {
            Some(conf) => cmd.arg("--config").arg(conf),
            None => cmd.arg("--db").arg(&f.db),
        };
        let child = cmd
            .arg("--socket")
            .arg(&socket)
            .arg("--pam-dir")
            .arg(&pam_dir)
            .args(extra)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !socket.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "apppassd did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon {
            dir,
            apppass,
            socket,
            pam_dir,
            child,
        }
    }

    /// Stops the daemon; its socket file and directory stay.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the daemon has left by itself.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The daemon's open descriptors.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Runs `apppass ARGS` as `user` against this daemon, `stdin` fed in.
    pub fn apppass_as(&self, user: &str, args: &[&str], stdin: &str) -> Output {
        output_with_input(
            Command::new("runuser")
                .args(["-u", user, "--", "env", "-i"])
                .arg(format!("APPPASS_SOCKET={}", self.socket.display()))
                .arg("PATH=/usr/bin:/bin")
                .arg(&self.apppass)
                .args(args),
            stdin.as_bytes(),
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
