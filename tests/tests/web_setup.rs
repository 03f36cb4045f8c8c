//! Setting up a device from the web page, over plain HTTP: the profile
//! made with a new password goes to the session that made it and once to
//! the QR code's link, to no one else, and not after the page is left or
//! ten minutes pass (apppass-web's clocks moved by libfaketime); a label
//! with markup; autoconfig with the servers and never a password.

use apppass_e2e::fake_clock::FakeClock;
use apppass_e2e::fixture::{stderr, Fixture};
use apppass_e2e::qr_code::text_in_svg;
use apppass_e2e::system::{require_root, SystemUser};
use apppass_e2e::web::{Answer, Browser, Web};

const PRIMARY: &str = "Primary-Setup-Pass-3!";
const UNIX: &str = "auth required pam_unix.so nodelay\naccount required pam_unix.so\n";
const PROFILE_TYPE: &str = "application/x-apple-aspen-config";

/// What apppass.conf says devices are set up with.
const SETUP: &str = "imap_host = mail.example.org
smtp_host = smtp.example.org
smtp_port = 587
pop3_host = pop.example.org
caldav_url = https://dav.example.org/cal/
carddav_url = https://dav.example.org:8443/card/
service_name.imap = Reading mail (IMAP)
";

/// A store named by an apppass.conf with `SETUP`, users offered `services`.
fn configured(services: &str) -> Fixture {
    let mut f = Fixture::new();
    f.configure(SETUP);
    let out = f.apppass(&["config", "self-service-services", services]);
    assert!(out.status.success(), "{}", stderr(&out));
    f
}

fn signed_in(web: &Web, user: &str) -> Browser {
    let mut b = Browser::new(&web.url);
    let ok = b.sign_in(user, PRIMARY);
    assert_eq!(ok.status, 303, "{}", ok.body);
    b
}

/// Creates an app password on the page (posting the form alone: the
/// session's CSRF token is the same on every page); the new-password page.
fn create(b: &mut Browser, csrf: &str, label: &str, services: &[&str]) -> Answer {
    let mut form = vec![("csrf", csrf), ("label", label)];
    form.extend(services.iter().map(|s| ("service", *s)));
    b.post("/create", &form)
}

/// The "Download profile" link's path.
fn profile_href(page: &Answer) -> String {
    let at = page
        .body
        .find("href=\"/profile/")
        .unwrap_or_else(|| panic!("no profile link: {}", page.body));
    let rest = &page.body[at + 6..];
    rest[..rest.find('"').unwrap()].to_string()
}

fn shown_password(page: &Answer) -> String {
    let at = page.body.find("id=\"new-password\"").unwrap();
    let rest = &page.body[at..];
    let start = rest.find('>').unwrap() + 1;
    rest[start..start + rest[start..].find('<').unwrap()].to_string()
}

fn plist(a: &Answer) -> plist::Dictionary {
    plist::Value::from_reader_xml(a.body.as_bytes())
        .unwrap_or_else(|e| panic!("not a property list ({e}): {}", a.body))
        .into_dictionary()
        .unwrap()
}

fn mail_payload(top: &plist::Dictionary) -> plist::Dictionary {
    top["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_dictionary().unwrap())
        .find(|p| p["PayloadType"].as_string() == Some("com.apple.mail.managed"))
        .expect("an Email payload")
        .clone()
}

#[test]
fn a_profile_goes_to_its_session_and_once_to_its_qr_link_and_to_no_one_else() {
    if !require_root("a_profile_goes_to_its_session_and_once_to_its_qr_link_and_to_no_one_else") {
        return;
    }
    let f = configured("imap,submission");
    let alice = SystemUser::new(PRIMARY);
    let bob = SystemUser::new(PRIMARY);
    let web = Web::start(&f, UNIX);
    let mut a = signed_in(&web, &alice.name);
    let csrf = a.csrf();
    let page = create(&mut a, &csrf, "Phone", &["imap", "submission"]);
    assert_eq!(page.status, 200, "{}", page.body);
    let secret = shown_password(&page);
    for needle in [
        "aria-labelledby=\"setup-heading\"",
        ">Set up your device<",
        "signing in to Reading mail (IMAP), submission.",
        "mail.example.org",
        "smtp.example.org",
        ">587<",
        ">993<",
        "STARTTLS",
        "SSL/TLS",
        ">Download profile<",
    ] {
        assert!(page.body.contains(needle), "{needle}: {}", page.body);
    }
    // Calendars are not among the password's services.
    assert!(!page.body.contains("dav.example.org"), "{}", page.body);
    let href = profile_href(&page);
    let link = text_in_svg(&page.body);
    let qr_path = link
        .strip_prefix(&web.url)
        .unwrap_or_else(|| panic!("{link} is not on {}", web.url))
        .to_string();
    assert!(qr_path.starts_with("/setup/"), "{link}");

    // The session that made it, as often as it likes while on the page.
    for _ in 0..2 {
        let got = a.get(&href);
        assert_eq!(got.status, 200, "{}", got.body);
        assert_eq!(got.header("content-type"), Some(PROFILE_TYPE));
        assert_eq!(
            got.header("content-disposition"),
            Some("attachment; filename=\"apppass-Phone.mobileconfig\"")
        );
        assert_eq!(got.header("cache-control"), Some("no-store"));
        let mail = mail_payload(&plist(&got));
        assert_eq!(mail["IncomingPassword"].as_string(), Some(secret.as_str()));
        assert_eq!(
            mail["IncomingMailServerHostName"].as_string(),
            Some("mail.example.org")
        );
        assert_eq!(
            mail["OutgoingMailServerPortNumber"].as_unsigned_integer(),
            Some(587)
        );
    }

    // Another session of alice's, bob, and bob's profile to alice: as if
    // there were none. Without a session: the sign-in page.
    let mut a2 = signed_in(&web, &alice.name);
    assert_eq!(a2.get(&href).status, 404);
    let mut b = signed_in(&web, &bob.name);
    assert_eq!(b.get(&href).status, 404);
    let bob_csrf = b.csrf();
    let bobs = create(&mut b, &bob_csrf, "Bob's phone", &["imap", "submission"]);
    assert_eq!(bobs.status, 200, "{}", bobs.body);
    assert_eq!(a.get(&profile_href(&bobs)).status, 404);
    assert_eq!(b.get(&profile_href(&bobs)).status, 200);
    let mut nobody = Browser::new(&web.url);
    let anon = nobody.get(&href);
    assert_eq!(
        (anon.status, anon.header("location")),
        (303, Some("/sign-in"))
    );
    for odd in [
        "/profile/x".to_string(),
        format!("/profile/{}", "A".repeat(43)),
        format!("/profile/{}.", &href[9..51]),
        "/setup/..%2F".to_string(),
        format!("/setup/{}", "A".repeat(43)),
        format!("/setup/{}", "A".repeat(4000)),
    ] {
        assert_eq!(a.get(&odd).status, 404, "{odd}");
    }

    // The QR code's link: no session, once.
    let first = nobody.get(&qr_path);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("content-type"), Some(PROFILE_TYPE));
    let mail = mail_payload(&plist(&first));
    assert_eq!(mail["OutgoingPassword"].as_string(), Some(secret.as_str()));
    let again = nobody.get(&qr_path);
    assert_eq!(again.status, 410, "{}", again.body);
    assert!(again.body.contains("used already"), "{}", again.body);
    // Other sessions' pages did not take alice's away; her own next page does.
    assert_eq!(a.get(&href).status, 200);
    assert_eq!(a.get("/").status, 200);
    assert_eq!(a.get(&href).status, 410);

    // A form posted leaves the page too, another page, and signing out;
    // the QR link, never used, stops with the page.
    let page = create(&mut a, &csrf, "Tablet", &["imap", "submission"]);
    let (href, qr) = (profile_href(&page), text_in_svg(&page.body));
    let refused = a.post("/create", &[("csrf", &csrf), ("label", "")]);
    assert_eq!(refused.status, 422);
    assert_eq!(a.get(&href).status, 410);
    assert_eq!(nobody.get(&qr[web.url.len()..]).status, 410);
    let page = create(&mut a, &csrf, "Laptop", &["imap", "submission"]);
    let qr = text_in_svg(&page.body);
    assert_eq!(a.get("/history").status, 200);
    assert_eq!(nobody.get(&qr[web.url.len()..]).status, 410);
    let page = create(&mut a, &csrf, "Watch", &["imap", "submission"]);
    let qr = text_in_svg(&page.body);
    assert_eq!(a.post("/sign-out", &[("csrf", &csrf)]).status, 303);
    assert_eq!(nobody.get(&qr[web.url.len()..]).status, 410);

    let log = web.log();
    for secret_text in [
        secret.as_str(),
        &qr_path[7..],
        &href[9..],
        "IncomingPassword",
    ] {
        assert!(
            !log.contains(secret_text),
            "the log holds {secret_text}: {log}"
        );
    }
}

#[test]
fn profile_links_stop_working_after_ten_minutes() {
    if !require_root("profile_links_stop_working_after_ten_minutes") {
        return;
    }
    let Some(clock) = FakeClock::new() else {
        eprintln!(
            "\n*** SKIPPED profile_links_stop_working_after_ten_minutes: libfaketime is not installed (apt-get install faketime) ***\n"
        );
        return;
    };
    let f = configured("imap,submission");
    let alice = SystemUser::new(PRIMARY);
    let web = Web::start_with_clock(&f, UNIX, &clock);
    let mut a = signed_in(&web, &alice.name);
    let csrf = a.csrf();
    let page = create(&mut a, &csrf, "Phone", &["imap", "submission"]);
    assert_eq!(page.status, 200, "{}", page.body);
    let href = profile_href(&page);
    let qr = text_in_svg(&page.body);
    let mut nobody = Browser::new(&web.url);
    // Nine minutes on, both still work (the session link first: the QR
    // link is used up once fetched).
    clock.set("+9m");
    assert_eq!(a.get(&href).status, 200);
    // Eleven: apppass-web's monotonic clock (Instant) has moved past the
    // ten minutes, and neither works; the QR link was never used.
    clock.set("+11m");
    assert_eq!(a.get(&href).status, 410);
    assert_eq!(nobody.get(&qr[web.url.len()..]).status, 410);
    // A new password's profile counts its ten minutes from the new time.
    let page = create(&mut a, &csrf, "Tablet", &["imap", "submission"]);
    let qr = text_in_svg(&page.body);
    clock.set("+20m");
    assert_eq!(nobody.get(&qr[web.url.len()..]).status, 200);
    let pid = web.pid();
    drop(web);
    apppass_e2e::fake_clock::tidy(pid);
}

#[test]
fn a_label_with_markup_makes_a_well_formed_profile_and_is_escaped_on_the_page() {
    if !require_root("a_label_with_markup_makes_a_well_formed_profile_and_is_escaped_on_the_page") {
        return;
    }
    let f = configured("imap,submission,dav");
    let alice = SystemUser::new(PRIMARY);
    let web = Web::start(&f, UNIX);
    let mut a = signed_in(&web, &alice.name);
    let csrf = a.csrf();
    // Control characters are refused by the label policy, with the reason.
    let refused = create(&mut a, &csrf, "tab\there", &["imap"]);
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("control character"),
        "{}",
        refused.body
    );
    // Markup, quotes, CDATA's end and a non-character are accepted.
    let label = "<b>&\"'</b> ]]>\u{FFFF}x";
    let page = create(&mut a, &csrf, label, &["imap", "submission", "dav"]);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains("<b>&"), "{}", page.body);
    assert!(
        page.body.contains("&lt;b&gt;&amp;&quot;'&lt;/b&gt; ]]&gt;"),
        "{}",
        page.body
    );
    let got = a.get(&profile_href(&page));
    assert_eq!(got.status, 200);
    assert_eq!(
        got.header("content-disposition"),
        Some("attachment; filename=\"apppass-b-b-x.mobileconfig\"")
    );
    let top = plist(&got);
    assert_eq!(
        top["PayloadDisplayName"].as_string().unwrap(),
        format!("<b>&\"'</b> ]]> x ({})", alice.name)
    );
    let kinds: Vec<&str> = top["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p.as_dictionary().unwrap()["PayloadType"]
                .as_string()
                .unwrap()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "com.apple.mail.managed",
            "com.apple.caldav.account",
            "com.apple.carddav.account"
        ]
    );
    // The page lists the calendar and contacts servers for `dav`.
    assert!(page.body.contains("https://dav.example.org/cal/"));
    assert!(page.body.contains("https://dav.example.org:8443/card/"));

    // Replacing the password offers a profile with the new one.
    let id = f.row(&alice.name, label)["id"].to_string();
    let page = a.post("/rotate", &[("csrf", &csrf), ("id", &id)]);
    assert_eq!(page.status, 200, "{}", page.body);
    let replaced = a.get(&profile_href(&page));
    assert_eq!(replaced.status, 200);
    assert_eq!(
        mail_payload(&plist(&replaced))["IncomingPassword"].as_string(),
        Some(shown_password(&page).as_str())
    );
}

#[test]
fn autoconfig_gives_anyone_the_servers_and_never_a_password() {
    if !require_root("autoconfig_gives_anyone_the_servers_and_never_a_password") {
        return;
    }
    let f = configured("imap,submission");
    let alice = SystemUser::new(PRIMARY);
    let secret = f.generate(&alice.name, &["imap"], "Phone");
    let web = Web::start(&f, UNIX);
    let mut nobody = Browser::new(&web.url);
    for path in [
        "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=ann%40Example.ORG",
        "/mail/config-v1.1.xml?emailaddress=ann@example.org",
    ] {
        let got = nobody.get(path);
        assert_eq!(got.status, 200, "{path}: {}", got.body);
        assert_eq!(
            got.header("content-type"),
            Some("application/xml; charset=utf-8")
        );
        assert!(!got.body.contains(secret.trim()));
        assert!(!got.body.to_ascii_lowercase().contains("<password"));
        let doc = roxmltree::Document::parse(&got.body).unwrap();
        let text = |node: roxmltree::Node, tag: &str| -> String {
            node.children()
                .find(|c| c.has_tag_name(tag))
                .and_then(|c| c.text())
                .unwrap_or_default()
                .to_string()
        };
        let server = |tag: &str, kind: &str| {
            let node = doc
                .descendants()
                .find(|n| n.has_tag_name(tag) && n.attribute("type") == Some(kind))
                .unwrap_or_else(|| panic!("no {tag} {kind}: {}", got.body));
            (
                text(node, "hostname"),
                text(node, "port"),
                text(node, "socketType"),
            )
        };
        let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(
            server("incomingServer", "imap"),
            s("mail.example.org", "993", "SSL")
        );
        assert_eq!(
            server("incomingServer", "pop3"),
            s("pop.example.org", "995", "SSL")
        );
        assert_eq!(
            server("outgoingServer", "smtp"),
            s("smtp.example.org", "587", "STARTTLS")
        );
        let domain = doc
            .descendants()
            .find(|n| n.has_tag_name("domain"))
            .unwrap();
        assert_eq!(domain.text(), Some("example.org"));
        let urls: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("serverURL"))
            .filter_map(|n| n.text())
            .collect();
        assert_eq!(
            urls,
            [
                "https://dav.example.org:8443/card/",
                "https://dav.example.org/cal/"
            ]
        );
    }

    // Where apppass.conf names no mail server: nothing to say.
    let bare = Fixture::new();
    let web = Web::start(&bare, UNIX);
    let mut nobody = Browser::new(&web.url);
    for path in [
        "/.well-known/autoconfig/mail/config-v1.1.xml",
        "/mail/config-v1.1.xml?emailaddress=ann@example.org",
    ] {
        assert_eq!(nobody.get(path).status, 404, "{path}");
    }
}
