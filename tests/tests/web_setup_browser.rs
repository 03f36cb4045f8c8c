//! Setting up a device in a real headless Chromium: the service named as
//! apppass.conf names it, the "Set up your device" section found by its
//! accessible name with the servers in it, the profile downloaded in the
//! session holding the password shown, and the QR code read back from a
//! screenshot and opened once. The section's pictures for the README are
//! taken here (target/screenshots/web-setup-*.png, copied to docs/).

use apppass_e2e::browser::{self, Chrome};
use apppass_e2e::fixture::{stderr, Fixture};
use apppass_e2e::qr_code::text_in_png;
use apppass_e2e::system::{require_root, SystemUser};
use apppass_e2e::web::{Browser, Web};
use fantoccini::Locator;

const PRIMARY: &str = "Primary-Setup-Browser-4!";
const UNIX: &str = "auth required pam_unix.so nodelay\naccount required pam_unix.so\n";
const SETUP: &str = "imap_host = mail.example.org
smtp_host = smtp.example.org
smtp_port = 587
caldav_url = https://dav.example.org/cal/
carddav_url = https://dav.example.org/card/
service_name.imap = Reading mail (IMAP)
";

fn run<F: std::future::Future<Output = ()>>(f: F) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f);
}

async fn sign_in_and_create(c: &Chrome, web: &Web, user: &str, label: &str) -> String {
    c.goto(&format!("{}/sign-in", web.url)).await;
    c.fill("User name", user).await;
    c.fill("Password", PRIMARY).await;
    c.click("Sign in").await;
    c.fill("Label", label).await;
    // The checkbox's accessible name is apppass.conf's service_name.imap.
    c.click("Reading mail (IMAP)").await;
    c.click("submission").await;
    c.click("Create app password").await;
    c.new_password().await
}

/// Scrolls the section to the top of the window and saves the window.
async fn picture(c: &Chrome, section: &fantoccini::elements::Element, name: &str) {
    c.client
        .execute(
            "arguments[0].scrollIntoView(true);",
            vec![serde_json::to_value(section).unwrap()],
        )
        .await
        .unwrap();
    c.screenshot(name).await;
}

#[test]
fn a_new_password_sets_up_a_device_by_profile_qr_code_or_by_hand() {
    let test = "a_new_password_sets_up_a_device_by_profile_qr_code_or_by_hand";
    if !require_root(test) {
        return;
    }
    if !browser::available() {
        eprintln!("\n*** SKIPPED {test}: chromium and chromium-driver are not installed (make check installs them) ***\n");
        return;
    }
    let mut f = Fixture::new();
    f.configure(SETUP);
    let out = f.apppass(&["config", "self-service-services", "imap,submission"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let u = SystemUser::new(PRIMARY);
    let web = Web::start(&f, UNIX);
    run(async {
        let c = Chrome::phone().await;
        let shown = sign_in_and_create(&c, &web, &u.name, "iPhone").await;
        let section = c.named("section", "Set up your device").await;
        let text = section.text().await.unwrap();
        for needle in [
            "Incoming mail (IMAP)",
            "mail.example.org",
            "993",
            "SSL/TLS",
            "Outgoing mail (SMTP)",
            "smtp.example.org",
            "587",
            "STARTTLS",
            u.name.as_str(),
        ] {
            assert!(text.contains(needle), "{needle} is not in: {text}");
        }
        assert!(!text.contains("Calendars"), "{text}");

        // The session's link, fetched with the browser's own cookie.
        let link = c.named("a", "Download profile").await;
        let href = link.attr("href").await.unwrap().unwrap();
        let mut http = Browser::new(&web.url);
        for cookie in c.client.get_all_cookies().await.unwrap() {
            http.cookies
                .insert(cookie.name().to_string(), cookie.value().to_string());
        }
        let got = http.get(&href);
        assert_eq!(got.status, 200, "{}", got.body);
        assert_eq!(
            got.header("content-type"),
            Some("application/x-apple-aspen-config")
        );
        let top = plist::Value::from_reader_xml(got.body.as_bytes()).unwrap();
        let mail = top.as_dictionary().unwrap()["PayloadContent"]
            .as_array()
            .unwrap()[0]
            .as_dictionary()
            .unwrap()
            .clone();
        assert_eq!(mail["IncomingPassword"].as_string(), Some(shown.as_str()));
        assert_eq!(
            mail["IncomingMailServerHostName"].as_string(),
            Some("mail.example.org")
        );
        assert_eq!(
            mail["IncomingMailServerPortNumber"].as_unsigned_integer(),
            Some(993)
        );
        assert_eq!(
            mail["OutgoingMailServerHostName"].as_string(),
            Some("smtp.example.org")
        );
        assert_eq!(
            mail["OutgoingMailServerPortNumber"].as_unsigned_integer(),
            Some(587)
        );

        // The QR code, as a camera sees it on the screen.
        picture(&c, &section, "web-setup-phone").await;
        let qr = c.client.find(Locator::Css("svg.qr")).await.unwrap();
        let link = text_in_png(&qr.screenshot().await.unwrap());
        let path = link
            .strip_prefix(&web.url)
            .unwrap_or_else(|| panic!("{link} is not on {}", web.url))
            .to_string();
        assert!(path.starts_with("/setup/"), "{link}");
        let mut phone = Browser::new(&web.url);
        let first = phone.get(&path);
        assert_eq!(first.status, 200, "{}", first.body);
        assert_eq!(
            first.header("content-type"),
            Some("application/x-apple-aspen-config")
        );
        assert!(first.body.contains(&shown));
        assert_eq!(phone.get(&path).status, 410);

        // Done: the page is left, and the session's link is gone too.
        c.click("Done").await;
        c.named("button", "Create app password").await;
        assert_eq!(http.get(&href).status, 410);
        c.close().await;

        let desktop = Chrome::desktop().await;
        sign_in_and_create(&desktop, &web, &u.name, "Laptop").await;
        let section = desktop.named("section", "Set up your device").await;
        picture(&desktop, &section, "web-setup-desktop").await;
        desktop.close().await;
    });
    assert!(!web.log().contains(PRIMARY));
}
