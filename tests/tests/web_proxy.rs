//! The web page over HTTPS: served by apppass-web itself (rustls), and
//! behind a real nginx configured with the shipped example as the README
//! says. Cookies are then `__Host-` and `Secure`, and the page sees the
//! browser's address the proxy sets.

use apppass_e2e::dovecot::free_port;
use apppass_e2e::fixture::{stderr, Fixture};
use apppass_e2e::system::{require_root, SystemUser};
use apppass_e2e::web::{socket_dir, Browser, Options, Web, PROXY_GROUP, WEB_USER};
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
/// its port, its certificate, apppass-web's socket. Its workers run as
/// www-data, as Debian's nginx.
fn nginx(web_socket: &Path, port: u16, cert: &Path, key: &Path) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
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
        .replace(
            "unix:/run/apppass-web/http.sock:",
            &format!("unix:{}:", web_socket.display()),
        );
    assert!(
        server.contains(&format!("unix:{}:", web_socket.display())),
        "the example changed shape"
    );
    let d = dir.path().display();
    std::fs::write(dir.path().join("server.conf"), server).unwrap();
    let conf = format!(
        "daemon on;\nuser {PROXY_GROUP};\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  include {d}/server.conf;\n}}\n"
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
    // As apppass-web.service starts it: on a Unix socket only nginx's
    // workers (www-data) may reach.
    let web = Web::on_socket(&f, UNIX);
    let port = free_port();
    let _nginx = nginx(web.unix_socket.as_ref().unwrap(), port, &cert, &key);
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

/// `user` sends `GET /sign-in` on the page's socket with `header` (a
/// whole `Name: value`): the status line, or why it could not connect.
fn get_on_socket_as(user: &str, socket: &Path, header: Option<&str>) -> String {
    let header = header.map_or(String::new(), |h| format!("{h}\\r\\n"));
    let script = format!(
        "import socket,sys\n\
         s=socket.socket(socket.AF_UNIX)\n\
         try:\n  s.connect(sys.argv[1])\n\
         except OSError as e:\n  print('refused:', e.strerror); sys.exit(0)\n\
         s.sendall(b'GET /sign-in HTTP/1.1\\r\\nHost: mail.example.org\\r\\n{header}Connection: close\\r\\n\\r\\n')\n\
         print(s.makefile('rb').readline().decode().strip())\n"
    );
    let gid = Command::new("id").args(["-g", user]).output().unwrap();
    let gid = String::from_utf8_lossy(&gid.stdout).trim().to_string();
    let out = Command::new("setpriv")
        .args([
            &format!("--reuid={user}"),
            &format!("--regid={gid}"),
            "--init-groups",
            "--",
            "/usr/bin/python3",
            "-c",
            &script,
        ])
        .arg(socket)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn on_its_unix_socket_the_page_is_reached_by_the_proxys_group_alone() {
    if !require_root("on_its_unix_socket_the_page_is_reached_by_the_proxys_group_alone") {
        return;
    }
    let (f, _u, dir) = setup();
    let mut web = Web::on_socket(&f, UNIX);
    let socket = web.unix_socket.clone().unwrap();
    // The proxy's workers get the page, and must say whose request it is.
    let named = Some("X-Real-IP: 192.0.2.7");
    let ok = get_on_socket_as(PROXY_GROUP, &socket, named);
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}\n{}", web.log());
    // X-Forwarded-For alone may be what the browser sent through a proxy
    // that set nothing: not enough.
    for header in [None, Some("X-Forwarded-For: 192.0.2.9")] {
        let unnamed = get_on_socket_as(PROXY_GROUP, &socket, header);
        assert!(unnamed.starts_with("HTTP/1.1 503"), "{header:?}: {unnamed}");
    }
    assert!(web.log().contains("without X-Real-IP"), "{}", web.log());
    // Any other local user cannot pose as the proxy.
    let other = get_on_socket_as("nobody", &socket, Some("X-Real-IP: 192.0.2.8"));
    assert!(other.starts_with("refused: Permission denied"), "{other}");
    // A second page on the same socket does not take it from the first.
    let second = web
        .page_as_web_user()
        .arg("--listen")
        .arg(format!("unix:{}", socket.display()))
        .arg("--socket")
        .arg(&web.daemon.socket)
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("already listens"),
        "{}",
        stderr(&second)
    );
    let still = get_on_socket_as(PROXY_GROUP, &socket, named);
    assert!(still.starts_with("HTTP/1.1 200"), "{still}");
    // Restarted, it replaces the socket the old process left.
    web.restart_page();
    let again = get_on_socket_as(PROXY_GROUP, &socket, named);
    assert!(again.starts_with("HTTP/1.1 200"), "{again}\n{}", web.log());

    // A directory other users may enter, or that is not its own: refused.
    for (mode, owner, said) in [
        (0o755, WEB_USER, "lets every local user in (mode 0755)"),
        (0o770, WEB_USER, "writable by its group"),
        (0o750, "root", "not to this user"),
    ] {
        let parent = tempfile::tempdir_in(dir.path()).unwrap();
        std::fs::set_permissions(parent.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let run = socket_dir(parent.path(), mode);
        let st = Command::new("chown").arg(owner).arg(&run).status().unwrap();
        assert!(st.success());
        let out = web
            .page_as_web_user()
            .arg("--listen")
            .arg(format!("unix:{}", run.join("http.sock").display()))
            .arg("--socket")
            .arg(&web.daemon.socket)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{mode:o} {owner}: {err}");
        assert!(err.contains(said), "{mode:o} {owner}: {err}");
        assert!(!run.join("http.sock").exists(), "no socket made");
    }
}
