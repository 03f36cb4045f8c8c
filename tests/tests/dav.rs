//! Calendars and contacts behind nginx's auth_pam, as the README wires
//! them: nginx's worker runs the PAM stack as www-data, which cannot open
//! the store, so pam_apppass.so asks apppassd (apppass.conf's
//! `login_checker`), which decides the login as the module would and
//! answers nobody else. A real DAV client (python3-caldav) and plain
//! requests with their status codes.

use apppass_e2e::apppassd::Daemon;
use apppass_e2e::dav::{self, Dav, WORKER};
use apppass_e2e::fixture::{pam_host_bin, run_pam_host, stderr, Fixture};
use apppass_e2e::pam::{PAM_AUTHINFO_UNAVAIL, PAM_AUTH_ERR, PAM_SERVICE_ERR, PAM_SUCCESS};
use apppass_e2e::system::{require_root, sandbox_works, SystemUser};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const PRIMARY: &str = "Primary-Dav-Pass-7!";

/// A store whose apppass.conf lets www-data have logins checked for a
/// PAM service of this test's own, and apppassd on it.
fn setup() -> (Fixture, Daemon, String) {
    let mut f = Fixture::new();
    let service = dav::service_name();
    f.configure(&format!("login_checker = {WORKER} {service}\n"));
    let daemon = Daemon::start(&f, "auth required pam_deny.so\n");
    (f, daemon, service)
}

fn basic(user: &str, password: &str) -> String {
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        <base64ct::Base64 as base64ct::Encoding>::encode_string(raw.as_bytes())
    )
}

/// One request; its status and body, whatever the status.
fn request(
    method: &str,
    url: &str,
    auth: Option<(&str, &str)>,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut r = ureq::request(method, url).timeout(Duration::from_secs(30));
    if let Some((user, password)) = auth {
        r = r.set("Authorization", &basic(user, password));
    }
    for (name, value) in headers {
        r = r.set(name, value);
    }
    match r.send_string(body) {
        Ok(resp) => (resp.status(), resp.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, resp)) => (code, resp.into_string().unwrap_or_default()),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

const PROPFIND: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<propfind xmlns="DAV:"><prop><current-user-principal/><resourcetype/></prop></propfind>"#;

fn event(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//apppass tests//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTART:20260102T100000Z\r\nDTEND:20260102T110000Z\r\nDTSTAMP:20260101T090000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// python3-caldav, as a calendar app would use it: finds the principal,
/// makes a calendar, saves an event and reads it back by its UID. Prints
/// what it saw as JSON, or the error's class.
const CALDAV_CLIENT: &str = r#"
import json, sys
import caldav
url, user, password, uid, ics = sys.argv[1:6]
try:
    principal = caldav.DAVClient(url=url, username=user, password=password).principal()
    calendar = principal.make_calendar(name="Work", cal_id="work")
    calendar.save_event(ics)
    found = calendar.event_by_uid(uid)
    names = [str(c.url) for c in principal.calendars()]
    print(json.dumps({"principal": str(principal.url), "calendars": names, "event": found.data}))
except Exception as e:
    print(json.dumps({"error": type(e).__name__}))
"#;

fn caldav(dir: &Path, url: &str, user: &str, password: &str, uid: &str) -> serde_json::Value {
    let script = dir.join("client.py");
    std::fs::write(&script, CALDAV_CLIENT).unwrap();
    // Debian's python3, where python3-caldav is installed.
    let out = Command::new("/usr/bin/python3")
        .arg(&script)
        .args([url, user, password, uid, &event(uid, "Planning")])
        .output()
        .unwrap();
    assert!(out.status.success(), "caldav client: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stdout));
    })
}

#[test]
fn radicale_behind_nginx_takes_app_passwords_for_dav_only() {
    if !require_root("radicale_behind_nginx_takes_app_passwords_for_dav_only") {
        return;
    }
    let started = Instant::now();
    let (f, daemon, service) = setup();
    let u = SystemUser::new(PRIMARY);
    let name = u.name.as_str();
    let pw = f.issue(&[name, "--service", &service, "--label", "Phone"]);
    let mail = f.issue(&[name, "--service", "imap", "--label", "Mail"]);
    let old = f.issue(&[name, "--service", &service, "--label", "Old"]);
    f.revoke(name, "Old");
    let dav = Dav::start(&f, &daemon, &service);
    let base = dav.url.clone();
    let log = || dav.error_log();

    // Plain requests, with their status codes.
    let me = Some((name, pw.as_str()));
    let depth0 = [("Depth", "0"), ("Content-Type", "application/xml")];
    let (status, body) = request("PROPFIND", &format!("{base}/"), me, &depth0, PROPFIND);
    assert_eq!(status, 207, "{body}\n{}", log());
    assert!(body.contains(&format!("/{name}/")), "{body}");
    let cal = format!("{base}/{name}/cal/");
    let (status, body) = request("MKCALENDAR", &cal, me, &[], "");
    assert_eq!(status, 201, "{body}");
    let ics = event("apppass-dav-1", "Dentist");
    let item = format!("{cal}dentist.ics");
    let ical = [("Content-Type", "text/calendar; charset=utf-8")];
    let (status, body) = request("PUT", &item, me, &ical, &ics);
    assert_eq!(status, 201, "{body}");
    // A client cannot name another user to Radicale: nginx sets the header
    // (and drops the spelling gunicorn would read as the same one).
    for claim in ["X-Remote-User", "X_Remote_User"] {
        let (status, body) = request("GET", &item, me, &[(claim, "someone-else")], "");
        assert_eq!(status, 200, "{claim}");
        assert_eq!(body.replace("\r\n", "\n"), ics.replace("\r\n", "\n"));
    }

    // Nobody but nginx's workers reaches Radicale: another uid is refused
    // at connect, and Radicale listens on no TCP port at all. Root, who
    // may enter, gets the item with a header of its choosing: the socket
    // itself trusts whoever reaches it.
    let path = format!("/{name}/cal/dentist.ics");
    for (uid, want) in [("nobody", "errno 13"), ("root", "HTTP/1.1 200")] {
        let got = direct(uid, &dav.socket, &path, name);
        assert!(got.starts_with(want), "{uid}: {got}");
    }
    let socket_inodes = socket_inodes(dav.radicale.id());
    assert!(!socket_inodes.is_empty());
    let unix = std::fs::read_to_string("/proc/net/unix").unwrap();
    assert!(
        unix.lines()
            .any(|l| l.ends_with(&dav.socket.display().to_string())
                && socket_inodes.contains(&l.split_whitespace().nth(6).unwrap().to_owned())),
        "gunicorn does not hold {}",
        dav.socket.display()
    );
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap();
        let listening: Vec<&str> = text
            .lines()
            .skip(1)
            .filter(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f[3] == "0A" && socket_inodes.contains(&f[9].to_owned())
            })
            .collect();
        assert!(
            listening.is_empty(),
            "Radicale listens on TCP: {listening:?}"
        );
    }

    // A real DAV client.
    let got = caldav(dav.dir.path(), &base, name, &pw, "apppass-dav-2");
    assert!(got.get("error").is_none(), "{got}\n{}", log());
    assert!(
        got["principal"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/{name}/")),
        "{got}"
    );
    assert!(got["event"].as_str().unwrap().contains("SUMMARY:Planning"));
    let calendars = got["calendars"].to_string();
    assert!(
        calendars.contains("/cal/") && calendars.contains("/work/"),
        "{got}"
    );
    let refused = caldav(dav.dir.path(), &base, name, PRIMARY, "apppass-dav-3");
    assert_eq!(refused["error"], "AuthorizationError", "{refused}");

    // Refused: the primary password, a password for another service, a
    // revoked one, none at all.
    for (who, password) in [(name, PRIMARY), (name, &mail), (name, &old)] {
        let (status, _) = request(
            "PROPFIND",
            &format!("{base}/"),
            Some((who, password)),
            &depth0,
            PROPFIND,
        );
        assert_eq!(status, 401, "{password}");
    }
    let (status, _) = request("GET", &item, None, &[], "");
    assert_eq!(status, 401);

    // apppassd decided as the module does, side effects included: the last
    // use, with nginx's client address, and the revoked one's tripwire.
    let row = f.row(name, "Phone");
    assert_eq!(row["last_used_service"], service.as_str(), "{row}");
    assert_eq!(row["last_used_rhost"], "127.0.0.1", "{row}");
    assert!(!f.row(name, "Old")["last_tried_at"].is_null());
    assert!(f.row(name, "Mail")["last_used_at"].is_null());

    // The account's expiry still counts: apppassd runs the service's
    // account lines as root, where pam_unix can read /etc/shadow.
    u.run("chage", &["-E", "0"]);
    let (status, _) = request("PROPFIND", &format!("{base}/"), me, &depth0, PROPFIND);
    assert_eq!(status, 401);
    eprintln!(
        "radicale_behind_nginx_takes_app_passwords_for_dav_only: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// One GET of `path` straight to Radicale's socket as `uid`, naming
/// `user` in X-Remote-User as nginx would: the status line, or `errno N`
/// when the connection was refused.
fn direct(uid: &str, socket: &Path, path: &str, user: &str) -> String {
    const CLIENT: &str = r#"
import socket, sys
path, target, user = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(path)
except OSError as e:
    print("errno", e.errno)
    sys.exit(0)
s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nX-Remote-User: %s\r\nConnection: close\r\n\r\n" % (target, user)).encode())
print(s.makefile("rb").readline().decode().strip())
"#;
    let mut cmd = as_user(uid, "/usr/bin/python3");
    let out = cmd
        .args(["-c", CLIENT])
        .arg(socket)
        .args([path, user])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `program` run as `user` (root: as this process is).
fn as_user(user: &str, program: &str) -> Command {
    if user == "root" {
        return Command::new(program);
    }
    let group = if user == "nobody" { "nogroup" } else { user };
    let mut cmd = Command::new("setpriv");
    cmd.args([
        &format!("--reuid={user}"),
        &format!("--regid={group}"),
        "--clear-groups",
        program,
    ]);
    cmd
}

/// The inodes of the sockets `pid` and its children hold.
fn socket_inodes(pid: u32) -> Vec<String> {
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    let mut inodes = Vec::new();
    for p in std::iter::once(pid.to_string()).chain(children.split_whitespace().map(str::to_owned))
    {
        for fd in std::fs::read_dir(format!("/proc/{p}/fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let target = std::fs::read_link(fd.path()).unwrap_or_default();
            let target = target.to_string_lossy();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
            {
                inodes.push(inode.to_owned());
            }
        }
    }
    inodes
}

/// pam-host as `user` (a long-lived PAM host like nginx's worker) against
/// `confdir`: `cycles` logins, every `every`th with `password`, then one
/// in a forked child.
fn host_as(user: &str, confdir: &Path, args: &[&str]) -> serde_json::Value {
    run_pam_host(
        as_user(user, &pam_host_bin().display().to_string()),
        confdir,
        args,
    )
}

#[test]
fn a_worker_without_the_store_asks_apppassd_which_answers_only_login_checkers() {
    if !require_root("a_worker_without_the_store_asks_apppassd_which_answers_only_login_checkers") {
        return;
    }
    let (f, mut daemon, service) = setup();
    let carol = "carol@example.org";
    let pw = f.generate(carol, &[&service], "Tablet");
    let dir = dav::open_dir();
    dav::default_store_closed();
    let module = dav::module_copy(&f, dir.path());
    let confdir = dir.path().join("pam.d");
    std::fs::create_dir(&confdir).unwrap();
    let stack = dav::pam_file(&module, &daemon.socket);
    for s in [service.as_str(), "other"] {
        std::fs::write(confdir.join(s), &stack).unwrap();
    }
    // The same line naming the store's configuration file: the module
    // reads it itself, and apppassd, which decides with its own store
    // only, is never asked.
    let config = f.config.as_ref().unwrap();
    let named = dir.path().join("pam.d-named");
    std::fs::create_dir(&named).unwrap();
    std::fs::write(
        named.join(&service),
        stack.replace(
            &format!("socket={}", daemon.socket.display()),
            &format!(
                "socket={} config={}",
                daemon.socket.display(),
                config.display()
            ),
        ),
    )
    .unwrap();

    // Three right and three wrong logins, then one in a forked child: no
    // thread started, no descriptor kept, the child's login as good.
    let r = host_as(WORKER, &confdir, &[&service, carol, &pw, "6", "2", "fork"]);
    assert_eq!(
        (r["right_ok"].as_i64(), r["wrong_bad"].as_i64()),
        (Some(3), Some(3)),
        "{r}"
    );
    assert_eq!(r["fork_ok"], true, "{r}");
    assert_eq!(r["parent_after_fork_ok"], true, "{r}");
    assert_eq!(r["threads_end"], 1, "{r}");
    assert_eq!(r["fds_end"], r["fds_baseline"], "{r}");
    assert_eq!(
        host_as(WORKER, &confdir, &[&service, carol, "wrong", "1", "1"])["last_rc"],
        PAM_AUTH_ERR
    );
    assert_eq!(
        f.row(carol, "Tablet")["last_used_service"],
        service.as_str()
    );

    let before = f.row(carol, "Tablet")["last_used_at"].clone();
    let own = host_as(WORKER, &named, &[&service, carol, &pw, "1", "1"]);
    assert_eq!(own["last_rc"], PAM_SERVICE_ERR, "{own}");
    assert_eq!(f.row(carol, "Tablet")["last_used_at"], before);

    // Not a service www-data may ask for, nor a user apppass.conf names:
    // apppassd refuses, and the module fails closed.
    let other = host_as(WORKER, &confdir, &["other", carol, &pw, "1", "1"]);
    assert_eq!(other["last_rc"], PAM_AUTHINFO_UNAVAIL, "{other}");
    let nobody = host_as("nobody", &confdir, &[&service, carol, &pw, "1", "1"]);
    assert_eq!(nobody["last_rc"], PAM_AUTHINFO_UNAVAIL, "{nobody}");

    // apppassd frozen: refused once the module's 5 seconds are up.
    let pid = daemon.pid() as i32;
    // SAFETY: signals the apppassd this test started.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let t = Instant::now();
    let frozen = host_as(WORKER, &confdir, &[&service, carol, &pw, "1", "1"]);
    let waited = t.elapsed();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    assert_eq!(frozen["last_rc"], PAM_AUTHINFO_UNAVAIL, "{frozen}");
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(8),
        "{waited:?}"
    );

    // apppassd gone: refused at once, never let in.
    daemon.stop();
    let t = Instant::now();
    let gone = host_as(WORKER, &confdir, &[&service, carol, &pw, "1", "1"]);
    assert_eq!(gone["last_rc"], PAM_AUTHINFO_UNAVAIL, "{gone}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // Root opens the store its line names itself and needs no apppassd.
    let root = run_pam_host(
        Command::new(pam_host_bin()),
        &named,
        &[&service, carol, &pw, "1", "1"],
    );
    assert_eq!(root["last_rc"], PAM_SUCCESS, "{root}");
}

/// What apppassd answers www-data for each `(user, password)`: its first
/// reply line, as JSON, from a client of the test's own (Python).
fn checks(socket: &Path, service: &str, asked: &[(&str, &str)]) -> Vec<serde_json::Value> {
    const CLIENT: &str = r#"
import json, socket, sys
path, service = sys.argv[1:3]
for line in sys.stdin:
    user, password = json.loads(line)
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall((json.dumps({"v": 2, "op": "check", "user": user, "service": service,
                           "password": password, "rhost": "203.0.113.9"}) + "\n").encode())
    print(s.makefile("rb").readline().decode().strip(), flush=True)
    s.close()
"#;
    use std::io::Write;
    let mut child = as_user(WORKER, "/usr/bin/python3")
        .args(["-c", CLIENT])
        .arg(socket)
        .arg(service)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for pair in asked {
        writeln!(stdin, "{}", serde_json::json!([pair.0, pair.1])).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn apppassd_tells_a_login_checker_only_that_it_refused_and_logs_why_itself() {
    let test = "apppassd_tells_a_login_checker_only_that_it_refused_and_logs_why_itself";
    if !require_root(test) || !sandbox_works(test) {
        return;
    }
    let mut f = Fixture::new();
    let service = dav::service_name();
    f.configure(&format!("login_checker = {WORKER} {service}\n"));
    let log = f.dir.path().join("apppassd-log.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&log).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let daemon = Daemon::start_logged(&f, "auth required pam_deny.so\n", &log);
    let carol = "carol@example.org";
    let pw = f.generate(carol, &[&service], "Tablet");
    let mail = f.generate(carol, &["imap"], "Mail");
    let old = f.generate(carol, &[&service], "Old");
    f.revoke(carol, "Old");
    let wrong = "aaaa-bbbb-cccc-dddd";
    let replies = checks(
        &daemon.socket,
        &service,
        &[
            (carol, &pw),
            (carol, wrong),
            (carol, &mail),
            ("nobody-here@example.org", wrong),
            (carol, &old),
        ],
    );
    assert_eq!(replies[0]["reply"], "accepted", "{replies:?}");
    assert_eq!(replies[0]["label"], "Tablet");
    // No password for another service, nor a user without any, tells
    // itself apart from a wrong password.
    for r in &replies[1..4] {
        assert_eq!(
            r,
            &serde_json::json!({"reply": "rejected", "reason": "refused"}),
            "{replies:?}"
        );
    }
    // The password that stopped working was typed: its record comes back
    // for the module's tripwire line.
    let tripwire = &replies[4];
    assert_eq!(tripwire["reason"], "refused", "{tripwire}");
    assert_eq!(tripwire["tripwire"]["label"], "Old", "{tripwire}");

    let mut lines = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let all = lines.join("\n");
    let id = Command::new("id").args(["-u", WORKER]).output().unwrap();
    let uid = String::from_utf8_lossy(&id.stdout).trim().to_owned();
    let mail_id = f.row(carol, "Mail")["id"].clone();
    for why in [
        format!("user={carol} service={service} rhost=203.0.113.9 refused: no matching app password"),
        format!("refused: app password {mail_id} is not for this service"),
        format!("uid={uid} user=nobody-here@example.org service={service} rhost=203.0.113.9 refused: user has no active app passwords"),
        "refused: app password ".to_owned() + &f.row(carol, "Old")["id"].to_string() + " stopped working",
    ] {
        assert!(
            lines.iter().any(|l| l.contains("apppassd") && l.contains(&why)),
            "{why}\n{all}"
        );
    }
    for secret in [pw.as_str(), wrong, &mail, &old] {
        assert!(!all.contains(secret) && !all.contains(&secret.replace('-', "")));
    }
}

#[test]
fn the_module_sends_nothing_to_a_socket_root_does_not_listen_on() {
    if !require_root("the_module_sends_nothing_to_a_socket_root_does_not_listen_on") {
        return;
    }
    // Whoever listens here answers every check "accepted", and keeps what
    // it was sent.
    const FAKE: &str = r#"
import os, socket, sys
path, got = sys.argv[1:3]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
os.chmod(path, 0o777)
s.listen(8)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.settimeout(2)
    data = b""
    try:
        while not data.endswith(b"\n"):
            d = c.recv(65536)
            if not d:
                break
            data += d
        with open(got, "ab") as f:
            f.write(data)
        c.sendall(b'{"reply":"accepted","id":1,"label":"Fake"}\n{"reply":"done"}\n')
    except OSError:
        pass
    c.close()
"#;
    let f = Fixture::new();
    let dir = dav::open_dir();
    dav::default_store_closed();
    let module = dav::module_copy(&f, dir.path());
    let home = dir.path().join("nobody");
    std::fs::create_dir(&home).unwrap();
    dav::chown(&home, "nobody:nogroup");
    let socket = home.join("apppassd.sock");
    let got = home.join("got");
    let mut fake = as_user("nobody", "/usr/bin/python3")
        .args(["-c", FAKE])
        .arg(&socket)
        .arg(&got)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(fake.stdout.as_mut().unwrap()),
        &mut ready,
    )
    .unwrap();
    assert_eq!(ready.trim(), "ready");
    let confdir = dir.path().join("pam.d");
    std::fs::create_dir(&confdir).unwrap();
    std::fs::write(confdir.join("dav"), dav::pam_file(&module, &socket)).unwrap();
    let pw = "qzvx-mbtd-hwke-ralc";
    let r = host_as(
        WORKER,
        &confdir,
        &["dav", "carol@example.org", pw, "1", "1"],
    );
    let _ = fake.kill();
    let _ = fake.wait();
    assert_eq!(r["last_rc"], PAM_AUTHINFO_UNAVAIL, "{r}");
    let sent = std::fs::read_to_string(&got).unwrap_or_default();
    assert!(
        !sent.contains("qzvx"),
        "the password reached uid nobody: {sent}"
    );
}

#[test]
fn a_host_that_does_not_ignore_sigpipe_outlives_apppassd_hanging_up() {
    use std::os::unix::process::ExitStatusExt;
    if !require_root("a_host_that_does_not_ignore_sigpipe_outlives_apppassd_hanging_up") {
        return;
    }
    let f = Fixture::new();
    let dir = dav::open_dir();
    dav::default_store_closed();
    let module = dav::module_copy(&f, dir.path());
    // Root listens, as apppassd does, but stops reading halfway through
    // a request too long for the socket's buffer: the module's next write
    // meets a peer that will read no more.
    let socket = dir.path().join("apppassd.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o777)).unwrap();
    let server = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        conn.shutdown(std::net::Shutdown::Read).unwrap();
        std::thread::sleep(Duration::from_millis(1000));
    });
    let service = dav::service_name();
    let pam_file = Path::new("/etc/pam.d").join(&service);
    std::fs::write(&pam_file, dav::pam_file(&module, &socket)).unwrap();
    // pamtester, a C program, leaves SIGPIPE as it found it: deadly. A
    // user name of control characters, six bytes each on the wire.
    let user = "\u{1}".repeat(100_000);
    let mut child = as_user(WORKER, "/usr/bin/pamtester")
        .args([service.as_str(), &user, "authenticate"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("pamtester (apt-get install pamtester)");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "qzvx-mbtd-hwke-ralc").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    server.join().unwrap();
    let _ = std::fs::remove_file(&pam_file);
    assert_eq!(out.status.signal(), None, "pamtester was killed: {out:?}");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}
