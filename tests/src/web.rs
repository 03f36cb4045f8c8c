//! The real web page for the tests: apppassd on a fixture's store and
//! apppass-web run as the system user `apppass-web`, on a free loopback
//! port or on a Unix socket as apppass-web.service has it; and a small HTTP client that keeps cookies the way a browser does
//! and never follows redirects, so each answer can be looked at.

use crate::apppassd::Daemon;
use crate::dovecot::free_port;
use crate::fake_clock::FakeClock;
use crate::fixture::{apppass_web_bin, Fixture};
use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const WEB_USER: &str = "apppass-web";

/// Makes the system user `apppass-web` as the package does, if missing.
pub fn ensure_web_user() {
    static ONCE: Mutex<()> = Mutex::new(());
    let _g = ONCE.lock().unwrap_or_else(|p| p.into_inner());
    if Command::new("id")
        .arg(WEB_USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        return;
    }
    let st = Command::new("useradd")
        .args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            WEB_USER,
        ])
        .status()
        .unwrap();
    assert!(st.success(), "useradd {WEB_USER} failed");
}

pub fn uid_of(user: &str) -> u32 {
    let out = Command::new("id").args(["-u", user]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

pub struct Web {
    pub daemon: Daemon,
    pub dir: tempfile::TempDir,
    /// The loopback port it listens on (0 on a Unix socket).
    pub port: u16,
    /// `http://127.0.0.1:PORT` (or https; empty on a Unix socket).
    pub url: String,
    /// The Unix socket it listens on, as apppass-web.service has it.
    pub unix_socket: Option<PathBuf>,
    /// apppass-web's stderr.
    pub log: PathBuf,
    /// apppassd's web sessions.
    pub sessions: PathBuf,
    child: Child,
    bin: PathBuf,
    args: Vec<std::ffi::OsString>,
    env: Vec<(String, String)>,
}

/// Where a page listens, to know when it answers.
#[derive(Clone)]
enum Endpoint {
    Port(u16),
    Socket(PathBuf),
}

impl Endpoint {
    fn answers(&self) -> bool {
        match self {
            Endpoint::Port(port) => TcpStream::connect(("127.0.0.1", *port)).is_ok(),
            Endpoint::Socket(path) => std::os::unix::net::UnixStream::connect(path).is_ok(),
        }
    }
}

/// apppass-web as its own user with `args` and only `env`, once it
/// answers at `at`. `env` is set by env(1) after the switch of user:
/// a preloaded library (libfaketime) then starts as that user, not as
/// root in setpriv, whose semaphore the user could not open.
fn spawn_page(
    bin: &Path,
    args: &[std::ffi::OsString],
    env: &[(String, String)],
    log: &Path,
    at: &Endpoint,
) -> Child {
    let child = Command::new("setpriv")
        .args([
            &format!("--reuid={WEB_USER}"),
            &format!("--regid={WEB_USER}"),
            "--init-groups",
            "--",
            "/usr/bin/env",
        ])
        .args(env.iter().map(|(k, v)| format!("{k}={v}")))
        .arg(bin)
        .args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !at.answers() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "apppass-web did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

pub struct Options<'a> {
    /// The PAM file `apppass-web` (`@MODULE@`/`@DB@` expanded).
    pub stack: &'a str,
    /// More arguments for apppassd (`--web-auth dovecot:...`).
    pub daemon_args: Vec<String>,
    /// Serve HTTPS with this certificate and key.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// More arguments for apppass-web (`--trusted-proxy 127.0.0.1`).
    pub web_args: Vec<String>,
}

/// The group of the proxy's workers (nginx's, Apache's) on Debian.
pub const PROXY_GROUP: &str = "www-data";

/// A directory as apppass-web.service makes `/run/apppass-web`: the web
/// user's, group www-data, mode 0750 (or `mode`).
pub fn socket_dir(parent: &Path, mode: u32) -> PathBuf {
    let run = parent.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let st = Command::new("chown")
        .arg(format!("{WEB_USER}:{PROXY_GROUP}"))
        .arg(&run)
        .status()
        .unwrap();
    assert!(st.success(), "chown {WEB_USER}:{PROXY_GROUP} failed");
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(mode)).unwrap();
    run
}

impl Web {
    pub fn start(f: &Fixture, stack: &str) -> Web {
        Self::start_with(
            f,
            Options {
                stack,
                daemon_args: Vec::new(),
                tls: None,
                web_args: Vec::new(),
            },
        )
    }

    /// [`Web::start`] as behind a reverse proxy on this host: the
    /// forwarding headers of connections from 127.0.0.1 are believed.
    pub fn behind_proxy(f: &Fixture, stack: &str) -> Web {
        Self::start_with(
            f,
            Options {
                stack,
                daemon_args: Vec::new(),
                tls: None,
                web_args: vec!["--trusted-proxy".into(), "127.0.0.1".into()],
            },
        )
    }

    pub fn start_with(f: &Fixture, opts: Options<'_>) -> Web {
        Self::start_in(f, opts, Vec::new(), false)
    }

    /// [`Web::start`] as apppass-web.service starts it: on a Unix socket
    /// in a directory only the web user and the proxy's group may enter,
    /// for a reverse proxy on this host.
    pub fn on_socket(f: &Fixture, stack: &str) -> Web {
        let opts = Options {
            stack,
            daemon_args: Vec::new(),
            tls: None,
            web_args: Vec::new(),
        };
        Self::start_in(f, opts, Vec::new(), true)
    }

    /// [`Web::start`] with apppass-web's clocks (wall and monotonic)
    /// under `clock`'s control.
    pub fn start_with_clock(f: &Fixture, stack: &str, clock: &FakeClock) -> Web {
        let opts = Options {
            stack,
            daemon_args: Vec::new(),
            tls: None,
            web_args: Vec::new(),
        };
        Self::start_in(f, opts, clock.env(), false)
    }

    /// `on_socket`: on a Unix socket in a directory as the unit makes it.
    fn start_in(
        f: &Fixture,
        opts: Options<'_>,
        env: Vec<(String, String)>,
        on_socket: bool,
    ) -> Web {
        ensure_web_user();
        let dir = tempfile::Builder::new()
            .prefix("apppass-web-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let sessions = dir.path().join("sessions");
        let mut args = vec!["--session-dir".to_string(), sessions.display().to_string()];
        args.extend(opts.daemon_args.iter().cloned());
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let daemon = Daemon::start_with(f, "auth required pam_deny.so\n", &arg_refs);
        std::fs::write(daemon.pam_dir.join("apppass-web"), f.expand(opts.stack)).unwrap();
        let bin = dir.path().join("apppass-web");
        std::fs::copy(apppass_web_bin(), &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let log = dir.path().join("web.log");
        let port = if on_socket { 0 } else { free_port() };
        let unix_socket = on_socket.then(|| socket_dir(dir.path(), 0o750).join("http.sock"));
        let listen = match &unix_socket {
            Some(path) => format!("unix:{}", path.display()),
            None => format!("127.0.0.1:{port}"),
        };
        let mut args: Vec<std::ffi::OsString> = vec![
            "--listen".into(),
            listen.into(),
            "--socket".into(),
            daemon.socket.clone().into(),
        ];
        if let Some((cert, key)) = &opts.tls {
            args.extend([
                "--tls-cert".into(),
                cert.into(),
                "--tls-key".into(),
                key.into(),
            ]);
        }
        args.extend(opts.web_args.iter().map(Into::into));
        let at = match &unix_socket {
            Some(path) => Endpoint::Socket(path.clone()),
            None => Endpoint::Port(port),
        };
        let child = spawn_page(&bin, &args, &env, &log, &at);
        let scheme = if opts.tls.is_some() { "https" } else { "http" };
        Web {
            daemon,
            url: if on_socket {
                String::new()
            } else {
                format!("{scheme}://127.0.0.1:{port}")
            },
            unix_socket,
            port,
            log,
            sessions,
            dir,
            child,
            bin,
            args,
            env,
        }
    }

    /// Stops apppass-web and starts it again (same port or socket, same
    /// apppassd): what it kept in memory is gone.
    pub fn restart_page(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let at = match &self.unix_socket {
            Some(path) => Endpoint::Socket(path.clone()),
            None => Endpoint::Port(self.port),
        };
        self.child = spawn_page(&self.bin, &self.args, &self.env, &self.log, &at);
    }

    /// A command running this page's binary as the web user, with the
    /// arguments the caller adds.
    pub fn page_as_web_user(&self) -> Command {
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={WEB_USER}"),
            &format!("--regid={WEB_USER}"),
            "--init-groups",
            "--",
        ])
        .arg(&self.bin);
        c
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Makes every web session look `secs` seconds older in its last use.
    pub fn idle_sessions(&self, secs: u64) {
        for e in std::fs::read_dir(&self.sessions).unwrap() {
            let path = e.unwrap().path();
            let f = std::fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(std::time::SystemTime::now() - Duration::from_secs(secs))
                .unwrap();
        }
    }

    /// Makes every web session `secs` seconds older since its sign-in.
    pub fn age_sessions(&self, secs: i64) {
        for e in std::fs::read_dir(&self.sessions).unwrap() {
            let path = e.unwrap().path();
            let mut v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            v["created"] = (v["created"].as_i64().unwrap() - secs).into();
            std::fs::write(&path, v.to_string()).unwrap();
        }
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of the hidden field `name` in the page.
    pub fn field(&self, name: &str) -> Option<String> {
        let at = self.body.find(&format!("name=\"{name}\" value=\""))?;
        let rest = &self.body[at + name.len() + 15..];
        Some(rest[..rest.find('"')?].to_string())
    }
}

/// A browser-like client: cookies kept per name, extra headers on every
/// request (X-Forwarded-For …), redirects returned rather than followed.
pub struct Browser {
    base: String,
    agent: ureq::Agent,
    pub cookies: BTreeMap<String, String>,
    pub headers: Vec<(String, String)>,
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        Self::with_agent(base, ureq::AgentBuilder::new())
    }

    /// Trusting the certificate in `ca_pem` (HTTPS tests).
    pub fn with_ca(base: &str, ca_pem: &Path) -> Browser {
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(ca_pem).unwrap();
        for cert in rustls_pemfile::certs(&mut &pem[..]) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self::with_agent(
            base,
            ureq::AgentBuilder::new().tls_config(std::sync::Arc::new(config)),
        )
    }

    fn with_agent(base: &str, builder: ureq::AgentBuilder) -> Browser {
        Browser {
            base: base.trim_end_matches('/').to_string(),
            agent: builder
                .redirects(0)
                .timeout(Duration::from_secs(30))
                .build(),
            cookies: BTreeMap::new(),
            headers: Vec::new(),
        }
    }

    fn send(&mut self, req: ureq::Request, form: Option<&[(&str, &str)]>) -> Answer {
        let mut req = req;
        for (n, v) in &self.headers {
            req = req.set(n, v);
        }
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            req = req.set("Cookie", &jar.join("; "));
        }
        let result = match form {
            Some(f) => req.send_form(f),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("HTTP request failed: {e}"),
        };
        let status = resp.status();
        let headers: Vec<(String, String)> = resp
            .headers_names()
            .iter()
            .flat_map(|n| {
                resp.all(n)
                    .into_iter()
                    .map(|v| (n.clone(), v.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut body = String::new();
        resp.into_reader()
            .take(1 << 20)
            .read_to_string(&mut body)
            .unwrap();
        let answer = Answer {
            status,
            headers,
            body,
        };
        for c in answer.set_cookies() {
            let first = c.split(';').next().unwrap_or("");
            if let Some((n, v)) = first.split_once('=') {
                if v.is_empty() || c.contains("Max-Age=0") {
                    self.cookies.remove(n);
                } else {
                    self.cookies.insert(n.to_string(), v.to_string());
                }
            }
        }
        answer
    }

    pub fn get(&mut self, path: &str) -> Answer {
        let req = self.agent.get(&format!("{}{path}", self.base));
        self.send(req, None)
    }

    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let req = self.agent.post(&format!("{}{path}", self.base));
        self.send(req, Some(form))
    }

    /// Loads the sign-in page and signs in with `password`.
    pub fn sign_in(&mut self, user: &str, password: &str) -> Answer {
        let page = self.get("/sign-in");
        let csrf = page
            .field("csrf")
            .expect("the sign-in form has a CSRF field");
        self.post(
            "/sign-in",
            &[("csrf", &csrf), ("user", user), ("password", password)],
        )
    }

    /// The CSRF token of the signed-in pages.
    pub fn csrf(&mut self) -> String {
        let page = self.get("/");
        assert_eq!(page.status, 200, "not signed in: {page:?}");
        page.field("csrf").unwrap()
    }
}
