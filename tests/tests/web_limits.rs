//! The web page's sign-in limits and what it believes about its client,
//! attacked as a hostile visitor or local user would: parallel sign-ins,
//! forged forwarding headers, other spellings of one account; and
//! apppassd started by hand where its runtime directory is missing.

use apppass_e2e::dovecot::{free_port, Dovecot, Options as DovecotOptions, Passdb};
use apppass_e2e::fixture::{apppass_web_bin, apppassd_bin, stderr, Fixture};
use apppass_e2e::system::{require_root, sandbox_works, SystemUser};
use apppass_e2e::web::{ensure_web_user, Browser, Options, Web, WEB_USER};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PRIMARY: &str = "Primary-Web-Pass-7!";
/// pam_unix with its usual delay after a wrong password: parallel sign-ins
/// are all under way before the first one fails.
const SLOW_UNIX: &str = "auth required pam_unix.so\naccount required pam_unix.so\n";

fn store_allowing(services: &str) -> Fixture {
    let f = Fixture::new();
    let out = f.apppass(&["config", "self-service-services", services]);
    assert!(out.status.success(), "{}", stderr(&out));
    f
}

#[test]
fn parallel_sign_ins_from_one_address_cannot_get_past_its_limit() {
    if !require_root("parallel_sign_ins_from_one_address_cannot_get_past_its_limit") {
        return;
    }
    let f = store_allowing("imap");
    let web = Web::start(&f, SLOW_UNIX);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..150)
            .map(|i| {
                let url = web.url.clone();
                s.spawn(move || {
                    Browser::new(&url)
                        .sign_in(&format!("nobody{i}"), "guess")
                        .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let asked = statuses.iter().filter(|&&s| s == 401).count();
    let held = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(asked + held, 150, "{statuses:?}");
    assert!(
        asked <= 10,
        "{asked} sign-ins from one address reached apppassd (limit 10)"
    );
    assert!(
        f.count("SELECT count(*) FROM signin_failures") <= 10,
        "apppassd was asked more often than the limit allows"
    );
}

#[test]
fn forwarding_headers_count_only_from_a_named_proxy() {
    if !require_root("forwarding_headers_count_only_from_a_named_proxy") {
        return;
    }
    let f = store_allowing("imap");
    let web = Web::start(
        &f,
        "auth required pam_unix.so nodelay\naccount required pam_unix.so\n",
    );
    let mut b = Browser::new(&web.url);
    // A local user claiming a new address with every try gets no more.
    for i in 0..10 {
        b.headers = vec![
            ("X-Real-IP".into(), format!("198.51.100.{i}")),
            ("X-Forwarded-For".into(), format!("198.51.100.{i}")),
        ];
        assert_eq!(b.sign_in(&format!("nobody{i}"), "guess").status, 401);
    }
    b.headers = vec![("X-Real-IP".into(), "198.51.100.200".into())];
    let out = b.sign_in("nobody-else", "guess");
    assert_eq!(out.status, 429, "{}", out.body);
}

#[test]
fn one_account_has_one_counter_however_its_name_is_spelt() {
    if !require_root("one_account_has_one_counter_however_its_name_is_spelt") {
        return;
    }
    let f = store_allowing("imap");
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    std::fs::write(&users, "vuser@example.org:{PLAIN}Vuser-Mail-Pass-1::::::\n").unwrap();
    // Dovecot's default auth_username_format=%Lu folds the case.
    let dc = Dovecot::start(
        &f,
        DovecotOptions {
            passdb: Passdb::FirstThenPerProtocol(format!(
                "passdb {{\n  driver = passwd-file\n  args = {}\n}}",
                users.display()
            )),
            cache: false,
            stack: "auth required pam_deny.so\n".into(),
            files_for: vec!["imap"],
        },
    );
    let socket = dc.dir.path().join("run/auth-client");
    let mut web = Web::start_with(
        &f,
        Options {
            stack: "auth required pam_deny.so\naccount required pam_deny.so\n",
            daemon_args: vec!["--web-auth".into(), format!("dovecot:{}", socket.display())],
            tls: None,
            web_args: Vec::new(),
        },
    );
    let mut b = Browser::new(&web.url);
    for name in [
        "Vuser@example.org",
        "vUser@example.org",
        "vuSer@example.org",
        "vusEr@Example.org",
        "VUSER@EXAMPLE.ORG",
    ] {
        assert_eq!(b.sign_in(name, "wrong").status, 401, "{name}");
    }
    // The page's own limit: closed for the account, whatever the spelling.
    let out = b.sign_in("VuSeR@example.org", "Vuser-Mail-Pass-1");
    assert_eq!(out.status, 429, "{}", out.body);
    // With the page restarted (its memory gone), apppassd's lock-out in
    // the store holds for every spelling too.
    web.restart_page();
    let mut b = Browser::new(&web.url);
    for name in ["vuser@example.org", "VUSER@example.org"] {
        let out = b.sign_in(name, "Vuser-Mail-Pass-1");
        assert_eq!(out.status, 401, "{name}: {}", out.body);
        assert!(
            out.body.contains("too many failed sign-ins"),
            "{}",
            out.body
        );
    }
}

#[test]
fn apppassd_started_by_hand_makes_its_runtime_directory_and_keeps_web_sessions() {
    let test = "apppassd_started_by_hand_makes_its_runtime_directory_and_keeps_web_sessions";
    if !require_root(test) || !sandbox_works(test) {
        return;
    }
    ensure_web_user();
    let f = store_allowing("imap");
    let u = SystemUser::new(PRIMARY);
    let dir = tempfile::Builder::new()
        .prefix("apppass-byhand-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let pam_dir = dir.path().join("pam.d");
    std::fs::create_dir(&pam_dir).unwrap();
    std::fs::write(pam_dir.join("apppass-web"), SLOW_UNIX).unwrap();
    let web_bin = dir.path().join("apppass-web");
    std::fs::copy(apppass_web_bin(), &web_bin).unwrap();
    let port = free_port();
    // A host as after a reboot without systemd: /run is empty. apppassd is
    // started as make install says, the page beside it.
    let script = format!(
        "{apppassd} --db {db} --pam-dir {pam} --socket /run/apppass/apppassd.sock & \
         for i in $(seq 100); do [ -S /run/apppass/apppassd.sock ] && break; sleep 0.05; done; \
         exec setpriv --reuid={WEB_USER} --regid={WEB_USER} --init-groups -- {web} \
           --listen 127.0.0.1:{port} --socket /run/apppass/apppassd.sock",
        apppassd = apppassd_bin().display(),
        db = f.db.display(),
        pam = pam_dir.display(),
        web = web_bin.display(),
    );
    let mut host = Command::new("bwrap")
        .args([
            "--die-with-parent",
            "--unshare-pid",
            "--bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--tmpfs",
            "/run",
            "sh",
            "-c",
            &script,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > Duration::from_secs(10) || host.try_wait().unwrap().is_some() {
            let _ = host.kill();
            let out = host.wait_with_output().unwrap();
            panic!("the page did not start: {}", stderr(&out));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut b = Browser::new(&format!("http://127.0.0.1:{port}"));
    let out = b.sign_in(&u.name, PRIMARY);
    assert_eq!(out.status, 303, "{}", out.body);
    assert_eq!(b.get("/").status, 200, "the session is kept");
    // The directories are those systemd's units would have made.
    let pid = String::from_utf8(
        Command::new("pgrep")
            .args(["-f", "--", &format!("--listen 127.0.0.1:{port}")])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    // The page itself, not bwrap whose command line names the same port.
    let page = pid
        .split_whitespace()
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim() == "apppass-web")
        })
        .expect("the page's process");
    let root = format!("/proc/{page}/root");
    let meta = |p: &str| std::fs::metadata(format!("{root}{p}")).unwrap();
    assert_eq!(meta("/run/apppass").mode() & 0o7777, 0o755);
    assert_eq!(meta("/run/apppass").uid(), 0);
    assert_eq!(meta("/run/apppass/web-sessions").mode() & 0o7777, 0o700);
    let _ = host.kill();
    let _ = host.wait();
}
