//! Calendars and contacts as the README wires them: Radicale from the
//! shipped configuration (its storage moved under /tmp), run by gunicorn
//! as the shipped radicale.service drop-in runs it (its socket's directory
//! moved under /tmp, made as systemd and the drop-in make it), behind a
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
    /// Radicale's socket.
    pub socket: PathBuf,
    pam_file: PathBuf,
    /// gunicorn's master process.
    pub radicale: Child,
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
        let (radicale, socket) = radicale(d);
        let port = free_port();
        nginx(d, port, &socket, service);
        Dav {
            url: format!("http://127.0.0.1:{port}"),
            dir,
            socket,
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

/// The shipped radicale.service drop-in's settings: gunicorn's command,
/// the socket's directory's mode and group.
struct DropIn {
    exec_start: Vec<String>,
    mode: u32,
    group: String,
}

fn drop_in() -> DropIn {
    let text = repo_file("packaging/radicale/override.conf");
    let value = |key: &str| {
        text.lines()
            .filter_map(|l| l.strip_prefix(key))
            .rfind(|v| !v.is_empty())
            .unwrap_or_else(|| panic!("the drop-in has no {key}"))
            .to_owned()
    };
    let chgrp = value("ExecStartPre=+/bin/chgrp ");
    let (group, dir) = chgrp.split_once(' ').expect("chgrp GROUP DIR");
    assert_eq!(dir, RUNTIME_DIR, "the drop-in changed shape");
    assert_eq!(value("RuntimeDirectory="), "radicale");
    DropIn {
        exec_start: value("ExecStart=")
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        mode: u32::from_str_radix(&value("RuntimeDirectoryMode="), 8).unwrap(),
        group: group.to_owned(),
    }
}

/// Where the drop-in has systemd make the socket's directory.
const RUNTIME_DIR: &str = "/run/radicale";

/// Radicale as the user the package made, from the shipped configuration
/// with only its storage moved, under gunicorn as the shipped drop-in runs
/// it, its socket's directory (here `d/run`) made as systemd and the
/// drop-in make /run/radicale; once it answers. gunicorn and its socket.
fn radicale(d: &Path) -> (Child, PathBuf) {
    let storage = d.join("collections");
    std::fs::create_dir(&storage).unwrap();
    chown(&storage, "radicale:radicale");
    let shipped = repo_file("packaging/radicale/config");
    let conf = shipped.replace(
        "/var/lib/radicale/collections",
        &storage.display().to_string(),
    );
    assert!(
        conf.contains(&storage.display().to_string()),
        "the example changed shape"
    );
    std::fs::write(d.join("radicale.conf"), conf).unwrap();
    let unit = drop_in();
    let run = d.join("run");
    std::fs::create_dir(&run).unwrap();
    chown(&run, &format!("radicale:{}", unit.group));
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(unit.mode)).unwrap();
    let socket = run.join("radicale.sock");
    let args: Vec<String> = unit
        .exec_start
        .iter()
        .map(|a| {
            a.replace(RUNTIME_DIR, &run.display().to_string()).replace(
                "RADICALE_CONFIG=/etc/radicale/config",
                &format!("RADICALE_CONFIG={}", d.join("radicale.conf").display()),
            )
        })
        .collect();
    assert!(
        args[0] == "/usr/bin/gunicorn"
            && args.contains(&format!("unix:{}", socket.display()))
            && args.iter().any(|a| a.starts_with("RADICALE_CONFIG=/tmp/")),
        "the drop-in changed shape: {args:?}"
    );
    let log = std::fs::File::create(d.join("radicale.log")).unwrap();
    // Debian's radicale.service: user radicale, UMask=0027.
    let child = Command::new("setpriv")
        .args([
            "--reuid=radicale",
            "--regid=radicale",
            "--clear-groups",
            "/bin/sh",
            "-c",
            "umask 0027 && exec \"$@\"",
            "sh",
        ])
        .args(&args)
        .current_dir(d)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", d)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("gunicorn (apt-get install gunicorn)");
    std::fs::write(d.join("radicale.pid"), child.id().to_string()).unwrap();
    let start = Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "radicale did not start: {}",
            std::fs::read_to_string(d.join("radicale.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, socket)
}

/// nginx with the shipped DAV site, changed only where a test must: plain
/// HTTP on a free loopback port, this test's PAM service, Radicale's socket.
fn nginx(d: &Path, port: u16, socket: &Path, service: &str) {
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
        .replace(
            &format!("unix:{RUNTIME_DIR}/radicale.sock:"),
            &format!("unix:{}:", socket.display()),
        );
    assert!(
        server.contains(service) && server.contains(&format!("unix:{}:", socket.display())),
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
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "nginx did not start: {}",
            std::fs::read_to_string(d.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops what a harness directory's pid files name: nginx's master and
/// gunicorn's (which stops its workers).
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
        // gunicorn's master stops its workers before it leaves.
        let start = Instant::now();
        while matches!(self.radicale.try_wait(), Ok(None))
            && start.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.radicale.kill();
        let _ = self.radicale.wait();
        let _ = std::fs::remove_file(&self.pam_file);
    }
}
