//! Calendars and contacts as the README wires them: Radicale from the
//! shipped configuration (its port and storage moved under /tmp) behind a
//! private nginx serving the shipped site with `auth_pam`, its workers
//! running as www-data. nginx's auth_pam reads only /etc/pam.d, so the PAM
//! service is a file of the test's own there (`apppass-t-PID-dav-N`, from
//! the shipped /etc/pam.d/dav), removed on drop or by the sweep.

use crate::apppassd::Daemon;
use crate::dovecot::free_port;
use crate::fixture::{stderr, Fixture};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The user nginx's workers run as on Debian.
pub const WORKER: &str = "www-data";
/// Where Debian's libnginx-mod-http-auth-pam puts the module.
pub const AUTH_PAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_auth_pam_module.so";
/// The prefix of this harness's directories under /tmp (then the pid).
pub const DIR_PREFIX: &str = "apppass-dav-";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A PAM service name of this test process's own.
pub fn service_name() -> String {
    format!(
        "apppass-t-{}-dav-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)).unwrap()
}

/// A directory www-data and radicale may enter, for the files they read.
pub fn open_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// The shipped /etc/pam.d/dav with the module at `module`, asking the
/// daemon at `socket`. Like the shipped file it names no store: as
/// www-data the module finds the default one closed to it (see
/// [`default_store_closed`]) and asks apppassd, which decides with the
/// store of its own configuration file.
pub fn pam_file(module: &Path, socket: &Path) -> String {
    repo_file("packaging/pam.d/dav")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            l.replace(
                "pam_apppass.so",
                &format!("{} socket={}", module.display(), socket.display()),
            ) + "\n"
        })
        .collect()
}

/// A module line naming no store opens the default one, which must be
/// closed to www-data for the module to ask apppassd, as on every host
/// where apppass is installed (/var/lib/apppass, root's, 0700). On a host
/// without apppass of its own, that directory is made so, empty.
pub fn default_store_closed() {
    let dir = Path::new("/var/lib/apppass");
    if !Path::new("/etc/apppass/apppass.conf").exists() && !dir.exists() {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
}

/// A copy of the fixture's module where www-data can load it (the
/// fixture's directory is root's alone).
pub fn module_copy(f: &Fixture, dir: &Path) -> PathBuf {
    let module = dir.join("pam_apppass.so");
    std::fs::copy(&f.module, &module).unwrap();
    std::fs::set_permissions(&module, std::fs::Permissions::from_mode(0o644)).unwrap();
    module
}

pub struct Dav {
    pub dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`, nginx's.
    pub url: String,
    pam_file: PathBuf,
    radicale: Child,
}

impl Dav {
    /// Radicale and nginx for the PAM service `service`, whose passwords
    /// `daemon` checks for www-data.
    pub fn start(f: &Fixture, daemon: &Daemon, service: &str) -> Dav {
        crate::sweep::leftovers();
        let dir = open_dir();
        let d = dir.path();
        assert!(f.config.is_some(), "the daemon reads a configuration file");
        default_store_closed();
        let module = module_copy(f, d);
        let pam_file = Path::new("/etc/pam.d").join(service);
        let stack = self::pam_file(&module, &daemon.socket);
        std::fs::write(&pam_file, &stack).unwrap();
        // apppassd runs the service's account lines from its own PAM
        // directory (--pam-dir): the same file.
        std::fs::write(daemon.pam_dir.join(service), &stack).unwrap();
        let radicale_port = free_port();
        let radicale = radicale(d, radicale_port);
        let port = free_port();
        nginx(d, port, radicale_port, service);
        Dav {
            url: format!("http://127.0.0.1:{port}"),
            dir,
            pam_file,
            radicale,
        }
    }

    /// nginx's error log, for a failing assertion.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

/// `chown OWNER PATH`, which must work (the user is made by its package:
/// radicale, nginx's www-data).
pub fn chown(path: &Path, owner: &str) {
    let ok = Command::new("chown")
        .arg(owner)
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "chown {owner} {} failed", path.display());
}

/// Radicale as the user the package made, from the shipped configuration
/// with only its port and storage changed; once it answers.
fn radicale(d: &Path, port: u16) -> Child {
    let storage = d.join("collections");
    std::fs::create_dir(&storage).unwrap();
    let ok = Command::new("chown")
        .args(["radicale:radicale"])
        .arg(&storage)
        .status()
        .unwrap()
        .success();
    assert!(
        ok,
        "chown radicale failed: is the radicale package installed?"
    );
    let shipped = repo_file("packaging/radicale/config");
    let conf = shipped
        .replace("127.0.0.1:5232", &format!("127.0.0.1:{port}"))
        .replace(
            "/var/lib/radicale/collections",
            &storage.display().to_string(),
        );
    assert!(
        conf.contains(&format!(":{port}")),
        "the example changed shape"
    );
    std::fs::write(d.join("radicale.conf"), conf).unwrap();
    let log = std::fs::File::create(d.join("radicale.log")).unwrap();
    let child = Command::new("setpriv")
        .args([
            "--reuid=radicale",
            "--regid=radicale",
            "--clear-groups",
            "/usr/bin/radicale",
            "-C",
        ])
        .arg(d.join("radicale.conf"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", d)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    std::fs::write(d.join("radicale.pid"), child.id().to_string()).unwrap();
    wait_for(port, "radicale", &d.join("radicale.log"));
    child
}

/// nginx with the shipped DAV site, changed only where a test must: plain
/// HTTP on a free loopback port, this test's PAM service, Radicale's port.
fn nginx(d: &Path, port: u16, radicale_port: u16, service: &str) {
    let shipped = repo_file("packaging/nginx/dav.conf");
    let server: String = shipped
        .replace("listen 443 ssl;", &format!("listen 127.0.0.1:{port};"))
        .lines()
        .filter(|l| !l.contains("[::]:443") && !l.trim_start().starts_with("ssl_certificate"))
        .map(|l| l.to_owned() + "\n")
        .collect::<String>()
        .replace(
            "auth_pam_service_name \"dav\";",
            &format!("auth_pam_service_name \"{service}\";"),
        )
        .replace("127.0.0.1:5232", &format!("127.0.0.1:{radicale_port}"));
    assert!(
        server.contains(service) && server.contains(&format!(":{radicale_port}")),
        "the example changed shape"
    );
    std::fs::write(d.join("server.conf"), server).unwrap();
    let dd = d.display();
    let conf = format!(
        "load_module {AUTH_PAM_MODULE};\ndaemon on;\nuser {WORKER};\nworker_processes 2;\npid {dd}/nginx.pid;\nerror_log {dd}/error.log;\nevents {{}}\nhttp {{\n  access_log {dd}/access.log;\n  client_body_temp_path {dd}/body;\n  proxy_temp_path {dd}/proxy;\n  fastcgi_temp_path {dd}/fcgi;\n  uwsgi_temp_path {dd}/uwsgi;\n  scgi_temp_path {dd}/scgi;\n  include {dd}/server.conf;\n}}\n"
    );
    std::fs::write(d.join("nginx.conf"), conf).unwrap();
    let out = Command::new("nginx")
        .arg("-c")
        .arg(d.join("nginx.conf"))
        .arg("-p")
        .arg(d)
        .output()
        .unwrap();
    assert!(out.status.success(), "nginx: {}", stderr(&out));
    wait_for(port, "nginx", &d.join("error.log"));
}

fn wait_for(port: u16, what: &str, log: &Path) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what} did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops what a harness directory's pid files name: nginx's master and
/// Radicale.
pub fn stop(dir: &Path) {
    for name in ["nginx.pid", "radicale.pid"] {
        let pid = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        if let Ok(pid) = pid.trim().parse::<i32>() {
            // SAFETY: signals a process this harness started.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
}

impl Drop for Dav {
    fn drop(&mut self) {
        stop(self.dir.path());
        let _ = self.radicale.kill();
        let _ = self.radicale.wait();
        let _ = std::fs::remove_file(&self.pam_file);
    }
}
