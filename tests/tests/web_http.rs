//! The web page over plain HTTP: a real apppass-web running as the user
//! apppass-web, a real apppassd, real users whose primary passwords
//! pam_unix checks. What a browser test cannot see: headers, cookie
//! flags, forged forms, timeouts, limits, logs, privileges.

use apppass_e2e::fixture::{stderr, Fixture};
use apppass_e2e::system::{require_root, SystemUser};
use apppass_e2e::web::{uid_of, Browser, Web, WEB_USER};
use std::process::Command;

const PRIMARY: &str = "Primary-Web-Pass-7!";
// nodelay: the limit tests fail many sign-ins on purpose.
const UNIX: &str = "auth required pam_unix.so nodelay\naccount required pam_unix.so\n";

fn store_allowing(services: &str) -> Fixture {
    let f = Fixture::new();
    let out = f.apppass(&["config", "self-service-services", services]);
    assert!(out.status.success(), "{}", stderr(&out));
    f
}

fn assert_security_headers(a: &apppass_e2e::web::Answer, what: &str) {
    assert_eq!(a.header("cache-control"), Some("no-store"), "{what}");
    let csp = a.header("content-security-policy").unwrap_or("");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(
        a.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
}

#[test]
fn a_user_signs_in_makes_and_revokes_a_password_and_every_answer_is_locked_down() {
    if !require_root("a_user_signs_in_makes_and_revokes_a_password_and_every_answer_is_locked_down")
    {
        return;
    }
    let f = store_allowing("imap,submission");
    let alice = SystemUser::new(PRIMARY);
    let bob = SystemUser::new(PRIMARY);
    let web = Web::start(&f, UNIX);
    let mut b = Browser::new(&web.url);

    let first = b.get("/");
    assert_eq!(first.status, 303);
    assert_eq!(first.header("location"), Some("/sign-in"));
    assert_security_headers(&first, "redirect");
    let form = b.get("/sign-in");
    assert_security_headers(&form, "sign-in page");
    let c = form.set_cookies().join("\n");
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Strict"),
        "{c}"
    );
    // Over plain HTTP (no proxy saying https) the cookie cannot be Secure.
    assert!(!c.contains("Secure") && !c.contains("__Host-"), "{c}");

    // Unknown user and wrong password: the same answer.
    let wrong = b.sign_in(&alice.name, "not-it");
    let unknown = b.sign_in("nosuchuser-apppass", PRIMARY);
    assert_eq!((wrong.status, unknown.status), (401, 401));
    let said =
        |a: &apppass_e2e::web::Answer| a.body.contains("The user name or password is not right.");
    assert!(said(&wrong) && said(&unknown), "{}", wrong.body);

    let ok = b.sign_in(&alice.name, PRIMARY);
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.header("location"), Some("/"));
    let session = ok
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("apppass="))
        .unwrap()
        .to_string();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    let token = b.cookies["apppass"].clone();

    let csrf = b.csrf();
    let made = b.post(
        "/create",
        &[
            ("csrf", &csrf),
            ("label", "Phone"),
            ("service", "imap"),
            ("expires", "30d"),
        ],
    );
    assert_eq!(made.status, 200, "{}", made.body);
    assert_security_headers(&made, "new password page");
    let start = made.body.find("id=\"new-password\"").unwrap();
    let secret: String = made.body[start..]
        .split('>')
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(secret.len(), 19, "{secret}");
    let row = f.row(&alice.name, "Phone");
    assert_eq!(row["services"], serde_json::json!(["imap"]));
    assert!(row["expires_at"].is_string());
    let hist = f.history_json(&alice.name);
    assert_eq!(hist[0]["by"], "web", "{hist}");

    // Refusals are said on the page: a duplicate label, a service not offered.
    let dup = b.post(
        "/create",
        &[("csrf", &csrf), ("label", "phone"), ("service", "imap")],
    );
    assert_eq!(dup.status, 422);
    assert!(dup.body.contains("role=\"alert\""), "{}", dup.body);
    let sudo = b.post(
        "/create",
        &[("csrf", &csrf), ("label", "Root"), ("service", "sudo")],
    );
    assert_eq!(sudo.status, 422);
    assert!(
        sudo.body.contains("not among the services"),
        "{}",
        sudo.body
    );

    // Bob cannot revoke Alice's password by editing the form.
    let id = row["id"].as_i64().unwrap().to_string();
    let mut eve = Browser::new(&web.url);
    assert_eq!(eve.sign_in(&bob.name, PRIMARY).status, 303);
    let eve_csrf = eve.csrf();
    let ask = eve.post("/revoke", &[("csrf", &eve_csrf), ("id", &id)]);
    assert_eq!(ask.status, 404, "{}", ask.body);
    let forced = eve.post(
        "/revoke",
        &[("csrf", &eve_csrf), ("id", &id), ("confirm", "yes")],
    );
    assert_eq!(forced.status, 422, "{}", forced.body);
    assert_eq!(f.row(&alice.name, "Phone")["status"], "active");

    // Alice revokes it, after the confirmation page.
    let confirm = b.post("/revoke", &[("csrf", &csrf), ("id", &id)]);
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("Revoke “Phone”?"), "{}", confirm.body);
    assert_eq!(
        f.row(&alice.name, "Phone")["status"],
        "active",
        "asking is not doing"
    );
    let done = b.post(
        "/revoke",
        &[("csrf", &csrf), ("id", &id), ("confirm", "yes")],
    );
    assert_eq!(done.status, 303);
    assert_eq!(f.row(&alice.name, "Phone")["status"], "revoked");

    for path in [
        "/history",
        "/static/style.css",
        "/static/copy.js",
        "/nowhere",
    ] {
        assert_security_headers(&b.get(path), path);
    }
    let out = b.post("/sign-out", &[("csrf", &csrf)]);
    assert_eq!(out.status, 303);
    assert!(out.set_cookies().iter().any(|c| c.starts_with("apppass=;")));
    // The old session is dead even if a copy of the cookie was kept.
    let mut stale = Browser::new(&web.url);
    stale.cookies.insert("apppass".into(), token.clone());
    assert_eq!(stale.get("/").header("location"), Some("/sign-in?ended=1"));

    let log = web.log();
    for secret_text in [PRIMARY, secret.as_str(), token.as_str(), csrf.as_str()] {
        assert!(!log.contains(secret_text), "a secret in the web log: {log}");
    }
}

#[test]
fn every_post_needs_its_csrf_token() {
    if !require_root("every_post_needs_its_csrf_token") {
        return;
    }
    let f = store_allowing("imap");
    let u = SystemUser::new(PRIMARY);
    let web = Web::start(&f, UNIX);
    let mut b = Browser::new(&web.url);
    // The sign-in form too: without its cookie, or with a wrong token.
    let mut bare = Browser::new(&web.url);
    let no_cookie = bare.post(
        "/sign-in",
        &[("csrf", "x"), ("user", &u.name), ("password", PRIMARY)],
    );
    assert_eq!(no_cookie.status, 403);
    bare.get("/sign-in");
    let wrong = bare.post(
        "/sign-in",
        &[("csrf", "x"), ("user", &u.name), ("password", PRIMARY)],
    );
    assert_eq!(wrong.status, 403);
    assert!(!bare.cookies.contains_key("apppass"));

    assert_eq!(b.sign_in(&u.name, PRIMARY).status, 303);
    let csrf = b.csrf();
    let other_token = "A".repeat(43);
    for (path, extra) in [
        ("/create", vec![("label", "Phone"), ("service", "imap")]),
        ("/revoke", vec![("id", "1"), ("confirm", "yes")]),
        ("/revoke-all", vec![("confirm", "yes")]),
        ("/sign-out", vec![]),
    ] {
        for token in [None, Some("wrong"), Some(other_token.as_str())] {
            let mut form = extra.clone();
            if let Some(t) = token {
                form.push(("csrf", t));
            }
            let a = b.post(path, &form);
            assert_eq!(a.status, 403, "{path} with {token:?}: {}", a.body);
        }
    }
    assert!(f.list_json(&[&u.name]).as_array().unwrap().is_empty());
    // The real token still works: the session was not harmed.
    let ok = b.post(
        "/create",
        &[("csrf", &csrf), ("label", "Phone"), ("service", "imap")],
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
}

#[test]
fn an_idle_or_old_session_sends_the_browser_back_to_sign_in() {
    if !require_root("an_idle_or_old_session_sends_the_browser_back_to_sign_in") {
        return;
    }
    let f = store_allowing("imap");
    let u = SystemUser::new(PRIMARY);
    let web = Web::start(&f, UNIX);
    let mut b = Browser::new(&web.url);
    assert_eq!(b.sign_in(&u.name, PRIMARY).status, 303);
    assert_eq!(b.get("/").status, 200);
    web.idle_sessions(14 * 60);
    assert_eq!(b.get("/").status, 200, "14 minutes idle is still signed in");
    web.idle_sessions(16 * 60);
    let gone = b.get("/");
    assert_eq!(gone.status, 303);
    assert_eq!(gone.header("location"), Some("/sign-in?ended=1"));
    assert!(!b.cookies.contains_key("apppass"), "the cookie is cleared");

    assert_eq!(b.sign_in(&u.name, PRIMARY).status, 303);
    web.age_sessions(8 * 3600 - 60);
    assert_eq!(b.get("/").status, 200, "just under 8 hours");
    web.age_sessions(120);
    assert_eq!(b.get("/").header("location"), Some("/sign-in?ended=1"));
}

#[test]
fn sign_ins_are_limited_per_user_name_and_per_address() {
    if !require_root("sign_ins_are_limited_per_user_name_and_per_address") {
        return;
    }
    let f = store_allowing("imap");
    let u = SystemUser::new(PRIMARY);
    // Addresses as a proxy on this host would name them.
    let web = Web::behind_proxy(&f, UNIX);
    let mut b = Browser::new(&web.url);
    b.headers
        .push(("X-Forwarded-For".into(), "198.51.100.1".into()));
    for _ in 0..5 {
        assert_eq!(b.sign_in(&u.name, "wrong").status, 401);
    }
    // Closed for this name, from any address, even with the right password.
    let mut elsewhere = Browser::new(&web.url);
    elsewhere
        .headers
        .push(("X-Forwarded-For".into(), "198.51.100.2".into()));
    let closed = elsewhere.sign_in(&u.name, PRIMARY);
    assert_eq!(closed.status, 429, "{}", closed.body);
    assert!(closed.body.contains("Too many failed sign-ins"));

    // One address trying many names is closed after ten failures.
    let mut spray = Browser::new(&web.url);
    spray
        .headers
        .push(("X-Forwarded-For".into(), "203.0.113.9".into()));
    for i in 0..10 {
        assert_eq!(spray.sign_in(&format!("nobody{i}"), "guess").status, 401);
    }
    assert_eq!(spray.sign_in("nobody-else", "guess").status, 429);
    let mut fresh = Browser::new(&web.url);
    fresh
        .headers
        .push(("X-Forwarded-For".into(), "203.0.113.10".into()));
    assert_eq!(
        fresh.sign_in("nobody-else", "guess").status,
        401,
        "other addresses still may try"
    );
}

#[test]
fn the_web_process_runs_unprivileged_and_only_its_user_may_use_sessions() {
    if !require_root("the_web_process_runs_unprivileged_and_only_its_user_may_use_sessions") {
        return;
    }
    let f = store_allowing("imap");
    let web = Web::start(&f, UNIX);
    let status = std::fs::read_to_string(format!("/proc/{}/status", web.pid())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let uid = uid_of(WEB_USER);
    assert!(
        uid_line
            .split_whitespace()
            .skip(1)
            .all(|u| u == uid.to_string()),
        "{uid_line}"
    );
    // What it runs as can read neither the store, nor the key, nor shadow.
    for path in [f.db.clone(), f.key(), "/etc/shadow".into()] {
        let out = Command::new("setpriv")
            .args([
                &format!("--reuid={WEB_USER}"),
                &format!("--regid={WEB_USER}"),
                "--init-groups",
                "--",
                "head",
                "-c1",
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{WEB_USER} can read {}",
            path.display()
        );
    }
    // And it will not start as root.
    let out = Command::new(apppass_e2e::fixture::apppass_web_bin())
        .args(["--listen", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("will not run as root"),
        "{}",
        stderr(&out)
    );
    // Plain HTTP off loopback is refused (as the web user).
    let out = web
        .page_as_web_user()
        .args(["--listen", "0.0.0.0:8380"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--tls-cert"), "{}", stderr(&out));

    // apppassd takes web requests from the web user only: here root asks.
    use std::io::{BufRead, BufReader, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&web.daemon.socket).unwrap();
    s.write_all(b"{\"v\":2,\"op\":\"web-sign-in\",\"user\":\"root\"}\n")
        .unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    assert!(
        line.contains("\"status\":4") && line.contains("only the web page's user"),
        "{line}"
    );
    let mut s = std::os::unix::net::UnixStream::connect(&web.daemon.socket).unwrap();
    s.write_all(
        format!(
            "{{\"v\":2,\"session\":\"{}\",\"op\":\"list\"}}\n",
            "B".repeat(43)
        )
        .as_bytes(),
    )
    .unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    assert!(line.contains("\"status\":4"), "{line}");
    // A made-up session from the web page is no session.
    let mut b = Browser::new(&web.url);
    b.cookies.insert("apppass".into(), "C".repeat(43));
    assert_eq!(b.get("/").header("location"), Some("/sign-in?ended=1"));
}
