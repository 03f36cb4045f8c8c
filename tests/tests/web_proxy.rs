//! The web page over HTTPS: served by apppass-web itself (rustls), and
//! behind a real nginx configured with the shipped example as the README
//! says. Cookies are then `__Host-` and `Secure`, and the page sees the
//! browser's address the proxy sets.

use apppass_e2e::dovecot::free_port;
use apppass_e2e::fixture::{stderr, Fixture};
use apppass_e2e::system::{require_root, SystemUser};
use apppass_e2e::web::{Browser, Options, Web};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PRIMARY: &str = "Primary-Tls-Pass-3!";
// nodelay: the limit tests fail many sign-ins on purpose.
const UNIX: &str = "auth required pam_unix.so nodelay\naccount required pam_unix.so\n";

/// A private CA and a certificate it signed for 127.0.0.1 that the web
/// user can read: (CA certificate, certificate, key).
fn certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-days",
                "2",
                "-subj",
                "/CN=apppass test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "key.pem",
                "-out",
                "req.csr",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "req.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ]);
    for n in ["cert.pem", "key.pem"] {
        std::fs::set_permissions(p(n), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    (p("ca.pem"), p("cert.pem"), p("key.pem"))
}

fn setup() -> (Fixture, SystemUser, tempfile::TempDir) {
    let f = Fixture::new();
    let out = f.apppass(&["config", "self-service-services", "imap"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    (f, SystemUser::new(PRIMARY), dir)
}

/// Signs in and makes a password; the session cookie as set.
fn sign_in_and_create(b: &mut Browser, user: &str) -> String {
    let ok = b.sign_in(user, PRIMARY);
    assert_eq!(ok.status, 303, "{}", ok.body);
    let cookie = ok
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-apppass="))
        .unwrap_or_else(|| panic!("no __Host- session cookie: {:?}", ok.headers))
        .to_string();
    let csrf = b.csrf();
    let made = b.post(
        "/create",
        &[("csrf", &csrf), ("label", "Tablet"), ("service", "imap")],
    );
    assert_eq!(made.status, 200, "{}", made.body);
    assert!(made.body.contains("id=\"new-password\""));
    assert!(made.header("strict-transport-security").is_some());
    cookie
}

#[test]
fn apppass_web_serves_https_itself_with_host_cookies() {
    if !require_root("apppass_web_serves_https_itself_with_host_cookies") {
        return;
    }
    let (f, u, dir) = setup();
    let (ca, cert, key) = certificate(dir.path());
    let web = Web::start_with(
        &f,
        Options {
            stack: UNIX,
            daemon_args: Vec::new(),
            tls: Some((cert, key)),
            web_args: Vec::new(),
        },
    );
    let mut b = Browser::with_ca(&web.url, &ca);
    let signin = b.get("/sign-in");
    let pre = signin.set_cookies().join("\n");
    assert!(
        pre.starts_with("__Host-apppass-signin=") && pre.contains("; Secure"),
        "{pre}"
    );
    let cookie = sign_in_and_create(&mut b, &u.name);
    assert!(
        cookie.contains("; Secure")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain="), "{cookie}");
}

struct Nginx {
    dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.dir.path().join("nginx.pid")).unwrap_or_default();
        if let Ok(pid) = pid.trim().parse::<i32>() {
            // SAFETY: signals the nginx this test started.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
}

/// nginx with the shipped server block, changed only where a test must:
/// its port, its certificate, apppass-web's port.
fn nginx(web_port: u16, port: u16, cert: &Path, key: &Path) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/nginx/apppass-web.conf"),
    )
    .unwrap();
    let server = example
        .replace("listen 443 ssl;", &format!("listen 127.0.0.1:{port} ssl;"))
        .replace("listen [::]:443 ssl;", "")
        .replace(
            "/etc/ssl/certs/mail.example.org.pem",
            &cert.display().to_string(),
        )
        .replace(
            "/etc/ssl/private/mail.example.org.key",
            &key.display().to_string(),
        )
        .replace("127.0.0.1:8380", &format!("127.0.0.1:{web_port}"));
    assert!(
        server.contains(&format!("127.0.0.1:{web_port}")),
        "the example changed shape"
    );
    let d = dir.path().display();
    std::fs::write(dir.path().join("server.conf"), server).unwrap();
    let conf = format!(
        "daemon on;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  include {d}/server.conf;\n}}\n"
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let out = Command::new("nginx")
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .arg("-p")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "nginx: {}", stderr(&out));
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "nginx did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Nginx { dir }
}

#[test]
fn behind_nginx_as_the_readme_says() {
    if !require_root("behind_nginx_as_the_readme_says") {
        return;
    }
    let (f, u, dir) = setup();
    let (ca, cert, key) = certificate(dir.path());
    // As apppass-web.service starts it: nginx on this host is the proxy.
    let web = Web::behind_proxy(&f, UNIX);
    let port = free_port();
    let _nginx = nginx(web.port, port, &cert, &key);
    let mut b = Browser::with_ca(&format!("https://127.0.0.1:{port}"), &ca);
    // A client cannot choose the address its sign-ins are counted under.
    b.headers
        .push(("X-Forwarded-For".into(), "192.0.2.99".into()));
    b.headers.push(("X-Real-IP".into(), "192.0.2.99".into()));
    let cookie = sign_in_and_create(&mut b, &u.name);
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert_eq!(f.row(&u.name, "Tablet")["status"], "active");
    let csrf = b.csrf();
    let out = b.post("/sign-out", &[("csrf", &csrf)]);
    assert_eq!(out.status, 303);
    assert_eq!(b.get("/").header("location"), Some("/sign-in"));
    // Failures from one client count under the address nginx saw, whatever
    // address the client claims in its own headers.
    for i in 0..10 {
        b.headers = vec![("X-Forwarded-For".into(), format!("192.0.2.{i}"))];
        assert_eq!(b.sign_in(&format!("nobody{i}"), "guess").status, 401);
    }
    b.headers = vec![("X-Forwarded-For".into(), "192.0.2.200".into())];
    assert_eq!(b.sign_in("nobody-else", "guess").status, 429);
}
