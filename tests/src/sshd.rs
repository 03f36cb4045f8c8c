//! A private OpenSSH server on 127.0.0.1 with its own host key, port, log
//! and PAM service name (sshd takes it from argv[0], so it is started
//! through a symlink named after a unique service).

use crate::dovecot::free_port;
use crate::fixture::Fixture;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub service: String,
    child: Child,
    pam_file: PathBuf,
}

impl Sshd {
    /// `stack` is the PAM file, with `@MODULE@` and `@DB@` replaced.
    pub fn start(f: &Fixture, stack: &str) -> Sshd {
        std::fs::create_dir_all("/run/sshd").unwrap();
        crate::sweep::leftovers();
        let dir = tempfile::Builder::new()
            .prefix(&format!("apppass-sshd-{}-", std::process::id()))
            .tempdir()
            .unwrap();
        let d = dir.path();
        let service = format!("apppass-t-{}-sshd-{}", std::process::id(), free_port());
        let key = d.join("host_ed25519");
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap()
            .success();
        assert!(ok, "ssh-keygen failed");
        let port = free_port();
        let conf = d.join("sshd_config");
        std::fs::write(
            &conf,
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
                key = key.display(),
                pid = d.join("sshd.pid").display()
            ),
        )
        .unwrap();
        let pam_file = PathBuf::from("/etc/pam.d").join(&service);
        std::fs::write(&pam_file, f.expand(stack)).unwrap();
        let link = d.join(&service);
        std::os::unix::fs::symlink("/usr/sbin/sshd", &link).unwrap();
        let child = Command::new(&link)
            .args(["-D", "-f"])
            .arg(&conf)
            .arg("-E")
            .arg(d.join("sshd.log"))
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let s = Sshd {
            dir,
            port,
            service,
            child,
            pam_file,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen:\n{}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.pam_file);
    }
}
