//! Setting up a device from the command line: `apppass generate --profile
//! FILE` by an administrator and by a user through apppassd, read back
//! as a device reads it; signed profiles checked with openssl; the
//! settings in apppass.conf checked at load.

use apppass_e2e::apppassd::Daemon;
use apppass_e2e::fixture::{stderr, stdout, Fixture};
use apppass_e2e::pam::{login, PAM_SUCCESS};
use apppass_e2e::system::{require_root, SystemUser};
use plist::{Dictionary, Value};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

const PRIMARY: &str = "Primary-Pass-42!";
const UNIX: &str = "auth required pam_unix.so\naccount required pam_unix.so\n";
const SETUP: &str = "imap_host = imap.example.org
smtp_host = smtp.example.org
smtp_port = 587
caldav_url = https://dav.example.org/cal/
carddav_url = https://dav.example.org/card/
service_name.imap = Reading mail (IMAP)
";

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// The profile's top dictionary and its payloads, from a plain profile.
fn read(bytes: &[u8]) -> (Dictionary, Vec<Dictionary>) {
    let top = Value::from_reader_xml(bytes).expect("a profile is an XML property list");
    let top = top.into_dictionary().unwrap();
    let content = top["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_dictionary().unwrap().clone())
        .collect();
    (top, content)
}

fn payload<'a>(content: &'a [Dictionary], kind: &str) -> &'a Dictionary {
    content
        .iter()
        .find(|d| d["PayloadType"].as_string() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind} payload"))
}

/// A certificate and key for signing, made with openssl in `dir`.
fn signing_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("profile-cert.pem"), dir.join("profile-key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=apppass profiles"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    (cert, key)
}

/// apppass.conf with the device settings and this signing pair.
fn configure_signing(f: &mut Fixture, cert: &Path, key: &Path) {
    f.configure(&format!(
        "{SETUP}profile_sign_cert = {}\nprofile_sign_key = {}\n",
        cert.display(),
        key.display()
    ));
}

/// An administrator's `generate --profile` for a virtual user, for IMAP.
fn generate_imap(f: &Fixture, user: &str, label: &str, file: &Path) -> std::process::Output {
    f.apppass(&[
        "generate",
        "--virtual",
        user,
        "--service",
        "imap",
        "--label",
        label,
        "--profile",
        file.to_str().unwrap(),
    ])
}

/// What a signed profile holds, after openssl checked the signature.
fn verified(file: &Path, cert: &Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(["smime", "-verify", "-inform", "DER", "-CAfile"])
        .arg(cert)
        .arg("-in")
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "signature: {}", stderr(&out));
    out.stdout
}

#[test]
fn an_administrator_writes_a_profile_that_sets_up_mail_calendars_and_contacts() {
    let mut f = Fixture::new();
    f.configure(SETUP);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ann.mobileconfig");
    let file_arg = file.to_str().unwrap();
    let args = [
        "generate",
        "--virtual",
        "ann@example.org",
        "--service",
        "imap",
        "--service",
        "submission",
        "--service",
        "dav",
        "--label",
        "Phone <b>&",
        "--profile",
        file_arg,
    ];
    let out = f.apppass(&args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let pw = stdout(&out).trim().to_string();
    assert!(
        stderr(&out).contains("configuration profile is in"),
        "{}",
        stderr(&out)
    );
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600, "the profile holds a password");
    let (top, content) = read(&std::fs::read(&file).unwrap());
    assert_eq!(top["PayloadType"].as_string(), Some("Configuration"));
    assert!(top["PayloadDisplayName"]
        .as_string()
        .unwrap()
        .starts_with("Phone <b>&"));
    let mail = payload(&content, "com.apple.mail.managed");
    assert_eq!(
        mail["IncomingMailServerHostName"].as_string(),
        Some("imap.example.org")
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
    assert_eq!(
        mail["IncomingMailServerUsername"].as_string(),
        Some("ann@example.org")
    );
    assert_eq!(mail["IncomingPassword"].as_string(), Some(pw.as_str()));
    assert_eq!(mail["OutgoingPassword"].as_string(), Some(pw.as_str()));
    let cal = payload(&content, "com.apple.caldav.account");
    assert_eq!(
        cal["CalDAVPrincipalURL"].as_string(),
        Some("https://dav.example.org/cal/")
    );
    assert_eq!(cal["CalDAVPassword"].as_string(), Some(pw.as_str()));
    let card = payload(&content, "com.apple.carddav.account");
    assert_eq!(card["CardDAVHostName"].as_string(), Some("dav.example.org"));
    // The password in the profile is the one stored.
    f.simple_service("imap");
    assert_eq!(
        login(&f.confdir, "imap", "ann@example.org", pw.as_bytes()).0,
        PAM_SUCCESS
    );

    // Never over an existing file: refused before anything is generated.
    let before = std::fs::read(&file).unwrap();
    let mut again = args;
    again[10] = "Laptop";
    let out = f.apppass(&again);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("never written over a file"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
    assert_eq!(std::fs::read(&file).unwrap(), before);
    assert_eq!(f.active("ann@example.org"), 1, "nothing was generated");

    // Services a profile cannot set up: an error, no file, nothing stored.
    let none = dir.path().join("ssh.mobileconfig");
    let out = f.apppass(&[
        "generate",
        "--virtual",
        "ann@example.org",
        "--service",
        "sshd",
        "--label",
        "Shell",
        "--profile",
        none.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("names no server"), "{}", stderr(&out));
    assert!(!none.exists());
    assert_eq!(f.active("ann@example.org"), 1);
}

#[test]
fn a_profile_is_signed_with_the_certificate_apppass_conf_names() {
    let mut f = Fixture::new();
    let keys = tempfile::tempdir().unwrap();
    let (cert, key) = signing_pair(keys.path());
    configure_signing(&mut f, &cert, &key);
    let file = keys.path().join("signed.mobileconfig");
    let out = generate_imap(&f, "bob@example.org", "Tablet", &file);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let pw = stdout(&out).trim().to_string();
    let (_, content) = read(&verified(&file, &cert));
    let mail = payload(&content, "com.apple.mail.managed");
    assert_eq!(mail["IncomingPassword"].as_string(), Some(pw.as_str()));
    assert!(
        !mail.contains_key("OutgoingPassword"),
        "SMTP is not covered"
    );

    // A key that does not belong to the certificate: refused up front.
    let other = tempfile::tempdir().unwrap();
    let (_, wrong_key) = signing_pair(other.path());
    configure_signing(&mut f, &cert, &wrong_key);
    let second = keys.path().join("second.mobileconfig");
    let out = generate_imap(&f, "bob@example.org", "Watch", &second);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("does the key belong"),
        "{}",
        stderr(&out)
    );
    assert!(!second.exists());
    assert_eq!(f.active("bob@example.org"), 1);
}

#[test]
fn a_user_gets_a_profile_signed_by_apppassd_with_a_key_they_cannot_read() {
    if !require_root("a_user_gets_a_profile_signed_by_apppassd_with_a_key_they_cannot_read") {
        return;
    }
    let mut f = Fixture::new();
    let keys = tempfile::tempdir().unwrap();
    let (cert, key) = signing_pair(keys.path());
    configure_signing(&mut f, &cert, &key);
    let out = f.apppass(&["config", "self-service-services", "imap,sieve"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let u = SystemUser::new(PRIMARY);
    let d = Daemon::start(&f, UNIX);
    let home = tempfile::Builder::new()
        .prefix("apppass-profile-")
        .tempdir()
        .unwrap();
    let uid = apppass_core::sys::passwd_uid(&u.name).unwrap().unwrap();
    std::os::unix::fs::chown(home.path(), Some(uid), None).unwrap();
    let file = home.path().join("mine.mobileconfig");
    let out = d.apppass_as(
        &u.name,
        &[
            "generate",
            "--service",
            "imap",
            "--label",
            "Phone",
            "--profile",
            file.to_str().unwrap(),
        ],
        &format!("{PRIMARY}\n"),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let pw = stdout(&out).trim().to_string();
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (uid, 0o600));
    let (_, content) = read(&verified(&file, &cert));
    let mail = payload(&content, "com.apple.mail.managed");
    assert_eq!(mail["IncomingPassword"].as_string(), Some(pw.as_str()));
    assert_eq!(
        mail["IncomingMailServerUsername"].as_string(),
        Some(u.name.as_str())
    );

    // A service a profile cannot set up: apppassd says why, nothing kept.
    let shell = home.path().join("shell.mobileconfig");
    let out = d.apppass_as(
        &u.name,
        &[
            "generate",
            "--service",
            "sieve",
            "--label",
            "Shell",
            "--profile",
            shell.to_str().unwrap(),
        ],
        &format!("{PRIMARY}\n"),
    );
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("names no server"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing was stored"),
        "{}",
        stderr(&out)
    );
    assert!(!shell.exists());
    assert_eq!(f.active(&u.name), 1);
}

#[test]
fn device_settings_are_checked_at_load_and_shown_by_config() {
    let mut f = Fixture::new();
    f.configure(SETUP);
    let out = f.apppass(&["config"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = stdout(&out);
    assert!(
        shown.contains("smtp_host smtp.example.org (port 587, STARTTLS)"),
        "{shown}"
    );
    assert!(
        shown.contains("imap_host imap.example.org (port 993, SSL/TLS)"),
        "{shown}"
    );
    assert!(
        shown.contains("service_name.imap Reading mail (IMAP)"),
        "{shown}"
    );
    for (bad, says) in [
        (
            "imap_host = mail example.org",
            "imap_host must be a host name",
        ),
        (
            "caldav_url = http://dav.example.org/",
            "caldav_url must be an https:// URL",
        ),
        ("smtp_port = 99999", "smtp_port must be a port number"),
        (
            "service_setup.imap = imap ftp",
            "takes imap, pop3, smtp, caldav, carddav or none",
        ),
    ] {
        f.configure(bad);
        let out = f.apppass(&["list"]);
        assert_ne!(code(&out), 0, "{bad}");
        // Line 1 is the fixture's comment, line 2 its db line.
        assert!(
            stderr(&out).contains("apppass.conf, line 3"),
            "{bad}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains(says), "{bad}: {}", stderr(&out));
    }
}
