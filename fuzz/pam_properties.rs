//! The built `pam_apppass.so` through real libpam, for the
//! `pam_authenticate` fuzz target and its replay on stable
//! (tests/tests/pam_corpus.rs).
//!
//! Each input is a login: `pam_start_confdir` on a private service file
//! naming the module with `db=` a store made once per process by the built
//! `apppass` (two passwords of one virtual user: one for imap from
//! 127.0.0.0/8, one for any service), PAM_RHOST set, `pam_authenticate`,
//! `pam_end`. The conversation answers with the input's token. libpam
//! dispatches to the module as it would for any service: a module's entry
//! point called directly is refused the password item by libpam.
//!
//! The module is loaded as built (not instrumented for coverage), so
//! libFuzzer's guidance comes from this harness; the replay and the
//! oracle are what make check relies on.
//!
//! Input: byte 0 picks the service (or, from 200 up, the next field is
//! used raw); the rest is split at NUL into user, remote host and token.
//! A user of `=` is the store's user; a token starting with byte 1 or 2 is
//! that password's secret, changed by each following byte (upper-case,
//! space or dash inserted, a letter dropped), so the fuzzer can reach the
//! paths behind a right secret.
//!
//! Property: the module succeeds only when an independent oracle says the
//! login is allowed, and whenever it says so.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

const USER: &str = "fuzz@example.org";
const SERVICES: &[&str] = &[
    "imap",
    "IMAP",
    "smtp",
    "pop3",
    "other",
    "su",
    "SUDO",
    "login",
    "sshd",
    "gdm-password",
];
const PAM_SUCCESS: i32 = 0;

// The tests' libpam client (pam_start_confdir, a scripted conversation).
#[allow(dead_code)]
#[path = "../tests/src/pam.rs"]
mod pam;

static FILES: AtomicUsize = AtomicUsize::new(0);
static LOGINS: AtomicUsize = AtomicUsize::new(0);
static SUCCESSES: AtomicUsize = AtomicUsize::new(0);

/// Logins made through libpam so far in this process, and how many
/// succeeded: a replay can tell it reached the module at all.
pub fn counts() -> (usize, usize) {
    (
        LOGINS.load(Ordering::Relaxed),
        SUCCESSES.load(Ordering::Relaxed),
    )
}

struct Setup {
    confdir: PathBuf,
    /// The service file's line: the built module on the store.
    stack: String,
    /// The imap-from-127/8 secret and the any-service one, as printed.
    secrets: [String; 2],
}

/// A file of the main build (`make build`), or where `var` says.
fn built(var: &str, name: &str) -> PathBuf {
    std::env::var_os(var).map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/release")
                .join(name)
        },
        PathBuf::from,
    )
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("apppass-fuzz-pam-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let confdir = dir.join("pam.d");
        std::fs::create_dir_all(&confdir).unwrap();
        let db = dir.join("store/apppass.db");
        let run = |args: &[&str]| {
            let out = std::process::Command::new(built("APPPASS_BIN", "apppass"))
                .arg("--db")
                .arg(&db)
                .args(args)
                .output()
                .expect("the built apppass (make build)");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        run(&["init"]);
        let imap = run(&[
            "generate",
            USER,
            "--virtual",
            "--label",
            "Office",
            "--service",
            "imap",
            "--from",
            "127.0.0.0/8",
        ]);
        let any = run(&[
            "generate",
            USER,
            "--virtual",
            "--label",
            "Any",
            "--any-service",
        ]);
        let module = built("APPPASS_MODULE", "libpam_apppass.so");
        Setup {
            confdir,
            stack: format!("auth required {} db={}\n", module.display(), db.display()),
            secrets: [imap, any],
        }
    })
}

/// The secret with each byte's change applied.
fn varied(secret: &str, changes: &[u8]) -> Vec<u8> {
    let mut s = secret.as_bytes().to_vec();
    for &b in changes {
        let at = usize::from(b >> 2) % (s.len() + 1);
        match b & 3 {
            0 if at < s.len() => s[at] = s[at].to_ascii_uppercase(),
            1 => s.insert(at, b' '),
            2 => s.insert(at, b'-'),
            3 if at < s.len() => {
                s.remove(at);
            }
            _ => {}
        }
    }
    s
}

/// Spaces and dashes dropped, ASCII letters lower-cased: 16 letters or
/// nothing. Written again here, not taken from apppass-core.
fn normal(token: &[u8]) -> Option<String> {
    let s: Vec<u8> = token
        .iter()
        .filter(|&&c| c != b' ' && c != b'-')
        .map(u8::to_ascii_lowercase)
        .collect();
    (s.len() == 16 && s.iter().all(u8::is_ascii_lowercase)).then(|| String::from_utf8(s).unwrap())
}

fn from_loopback_net(rhost: Option<&str>) -> bool {
    let Some(ip) = rhost
        .map(|r| {
            r.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .unwrap_or(r)
        })
        .and_then(|r| r.parse::<IpAddr>().ok())
    else {
        return false;
    };
    match ip {
        IpAddr::V4(v4) => v4.octets()[0] == 127,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| v4.octets()[0] == 127),
    }
}

use apppass_core::policy::{PRIVILEGED_SERVICES, SELF_SERVICE_SERVICES};

pub fn login(data: &[u8]) {
    let s = setup();
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut fields = rest.split(|&b| b == 0);
    let service: Vec<u8> = if pick >= 200 {
        fields.next().unwrap_or_default().to_vec()
    } else {
        SERVICES[usize::from(pick) % SERVICES.len()]
            .as_bytes()
            .to_vec()
    };
    let user = fields.next().unwrap_or_default();
    let user: &[u8] = if user == b"=" { USER.as_bytes() } else { user };
    let rhost = fields.next().filter(|r| !r.is_empty());
    let raw = fields.next().unwrap_or_default();
    let token = match raw.split_first() {
        Some((&w @ (1 | 2), changes)) => varied(&s.secrets[usize::from(w - 1)], changes),
        _ => raw.to_vec(),
    };
    if service.is_empty() || user.is_empty() {
        return; // pam_start refuses these itself
    }
    let Ok(service_str) = std::str::from_utf8(&service) else {
        return;
    };
    if user.contains(&0) || token.contains(&0) {
        return;
    }
    // libpam reads CONFDIR/<service, lower-cased>: names that cannot be a
    // file name are not drawn further (nor are new ones past 2,000 files).
    let file = service_str.to_ascii_lowercase();
    let usable = file.len() <= 200
        && !file.starts_with('.')
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@+".contains(&b));
    let path = s.confdir.join(&file);
    if !usable || (!path.exists() && FILES.fetch_add(1, Ordering::Relaxed) > 2_000) {
        return;
    }
    if !path.exists() {
        std::fs::write(&path, &s.stack).unwrap();
    }
    let mut p = pam::Pam::start(&s.confdir, service_str, user, &[&token]);
    let rhost = rhost.map(|r| String::from_utf8_lossy(r).into_owned());
    if let Some(r) = &rhost {
        p.set_item(pam::PAM_RHOST, r);
    }
    let got = p.authenticate();
    drop(p);

    // The oracle. libpam lower-cases ASCII in the service name; a user
    // name that is not UTF-8 is refused.
    let service = std::str::from_utf8(&service)
        .ok()
        .map(str::to_ascii_lowercase);
    let normal = normal(&token);
    let is = |i: usize| normal.is_some() && normal == normal_secret(&s.secrets[i]);
    let allowed = user == USER.as_bytes()
        && service.as_deref().is_some_and(|service| {
            let service_ok = !SELF_SERVICE_SERVICES.contains(&service);
            (is(0) && service_ok && service == "imap" && from_loopback_net(rhost.as_deref()))
                || (is(1) && service_ok && !PRIVILEGED_SERVICES.contains(&service))
        });
    let succeeded = got == PAM_SUCCESS;
    LOGINS.fetch_add(1, Ordering::Relaxed);
    SUCCESSES.fetch_add(usize::from(succeeded), Ordering::Relaxed);
    assert_eq!(
        succeeded,
        allowed,
        "service {service:?} user {:?} rhost {:?} token {:?}: module said {}, the oracle {}",
        String::from_utf8_lossy(user),
        rhost,
        String::from_utf8_lossy(&token),
        succeeded,
        allowed
    );
}

fn normal_secret(s: &str) -> Option<String> {
    normal(s.as_bytes())
}
