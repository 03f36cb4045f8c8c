//! `/etc/apppass/apppass.conf`: which store the module, the CLI and the
//! daemons use. `key = value` lines and `#` comments; anything else, or an
//! unknown key, is an error naming the file and the line. Without the file
//! everything uses SQLite at the default path.

use crate::store::safety::{check_metadata, check_path, Kind};
use crate::store::StoreError;
use std::fmt;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

pub const DEFAULT_CONFIG: &str = "/etc/apppass/apppass.conf";
pub const DEFAULT_DB: &str = "/var/lib/apppass/apppass.db";
/// Where the key lives when the store is not a file.
pub const DEFAULT_SERVER_KEY: &str = "/etc/apppass/key";
/// A configuration file is a few lines; anything larger is a mistake.
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// A libpq connection string: kept whole, zeroized, never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Conninfo(Zeroizing<String>);

impl Conninfo {
    pub fn new(text: &str) -> Self {
        Conninfo(Zeroizing::new(text.to_owned()))
    }

    /// The whole string, for libpq only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it carries a password (`password=` or `user:secret@` in a URI).
    pub fn has_password(&self) -> bool {
        let s = self.0.trim_start();
        if let Some(rest) = s
            .strip_prefix("postgresql://")
            .or_else(|| s.strip_prefix("postgres://"))
        {
            let authority = rest.split(['/', '?']).next().unwrap_or("");
            let userinfo = authority.rsplit_once('@').map(|(u, _)| u).unwrap_or("");
            return userinfo.contains(':') || rest.contains("password=");
        }
        conninfo_keywords(s).iter().any(|k| k == "password")
    }
}

impl fmt::Debug for Conninfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Conninfo(..)")
    }
}

/// The keywords of a `key=value ...` connection string (values may be
/// quoted with single quotes and backslash escapes, as libpq reads them).
fn conninfo_keywords(s: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        if key.is_empty() {
            return keys;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return keys;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next_if_eq(&'\'').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '\'' => break,
                    _ => {}
                }
            }
        } else {
            while chars.next_if(|c| !c.is_whitespace()).is_some() {}
        }
        keys.push(key);
    }
}

/// The store to use, and the key that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    Sqlite {
        db: PathBuf,
        key: PathBuf,
    },
    Postgres {
        conninfo: Conninfo,
        /// For `init`, the CLI and the daemons; `conninfo` when absent.
        admin_conninfo: Option<Conninfo>,
        key: PathBuf,
    },
}

impl StoreChoice {
    pub fn sqlite(db: &Path) -> Self {
        StoreChoice::Sqlite {
            db: db.to_path_buf(),
            key: crate::store::key_path(db),
        }
    }

    pub fn key(&self) -> &Path {
        match self {
            StoreChoice::Sqlite { key, .. } | StoreChoice::Postgres { key, .. } => key,
        }
    }
}

/// How the web page signs users in (`web_auth`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebAuth {
    /// The PAM service `apppass-web`: system users.
    Pam,
    /// Dovecot's authentication socket at this path: virtual mail users,
    /// whose primary password lives in Dovecot's passdb.
    Dovecot(PathBuf),
}

/// What `apppassd` needs to serve the web page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSettings {
    /// The only uid whose connections may sign users in for the web page
    /// and act through their web sessions (`web_user`).
    pub user: String,
    pub auth: WebAuth,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            user: DEFAULT_WEB_USER.into(),
            auth: WebAuth::Pam,
        }
    }
}

pub const DEFAULT_WEB_USER: &str = "apppass-web";

/// Where the primary password is read from for its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PrimaryChoice {
    /// /etc/shadow.
    #[default]
    Shadow,
    /// A field of Dovecot's passdb through its auth-master socket, then
    /// /etc/shadow for the users Dovecot does not know.
    Dovecot { socket: PathBuf, field: String },
    /// An attribute of the user's LDAP entry, then /etc/shadow for the
    /// users the directory does not know.
    Ldap(LdapSettings),
}

/// `primary = ldap`: where and how the user's entry is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapSettings {
    /// `ldaps://host[:port]` or `ldap://host[:port]` (then with StartTLS).
    pub uri: String,
    pub starttls: bool,
    /// The CA certificates the server's certificate must chain to.
    pub ca_file: PathBuf,
    pub base: String,
    /// With `%u` where the user name goes (escaped per RFC 4515).
    pub filter: String,
    /// `None`: an anonymous search.
    pub bind_dn: Option<String>,
    pub bind_password_file: Option<PathBuf>,
    pub attribute: String,
}

pub const DEFAULT_LDAP_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";
pub const DEFAULT_LDAP_FILTER: &str = "(uid=%u)";
pub const DEFAULT_LDAP_ATTRIBUTE: &str = "userPassword";

/// The `ldap_*` keys, each as written, by line.
#[derive(Default)]
struct LdapLines {
    uri: Option<(usize, String)>,
    starttls: Option<(usize, bool)>,
    ca_file: Option<(usize, PathBuf)>,
    base: Option<(usize, String)>,
    filter: Option<(usize, String)>,
    bind_dn: Option<(usize, String)>,
    bind_password_file: Option<(usize, PathBuf)>,
    attribute: Option<(usize, String)>,
}

impl LdapLines {
    fn any_line(&self) -> Option<usize> {
        [
            self.uri.as_ref().map(|v| v.0),
            self.starttls.as_ref().map(|v| v.0),
            self.ca_file.as_ref().map(|v| v.0),
            self.base.as_ref().map(|v| v.0),
            self.filter.as_ref().map(|v| v.0),
            self.bind_dn.as_ref().map(|v| v.0),
            self.bind_password_file.as_ref().map(|v| v.0),
            self.attribute.as_ref().map(|v| v.0),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// Whether `filter` is one LDAP filter with `%u` where the user name goes:
/// in parentheses, balanced outside escapes, and no other `%`.
fn filter_ok(filter: &str) -> bool {
    if !filter.starts_with('(') || !filter.ends_with(')') || !filter.contains("%u") {
        return false;
    }
    if filter.replace("%u", "").contains('%') {
        return false;
    }
    // One filter: the first parenthesis closes at the very end.
    let mut depth = 0i32;
    let mut chars = filter.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 || (depth == 0 && i + 1 != filter.len()) {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// An attribute description: a name with options (`userPassword`,
/// `pwdChangedTime`, `cn;lang-en`) or a numeric OID.
fn attribute_ok(a: &str) -> bool {
    let mut parts = a.split(';');
    let name = parts.next().unwrap_or_default();
    let is_name = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let is_oid = !name.is_empty()
        && name
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    (is_name || is_oid)
        && a.len() <= 128
        && parts.all(|o| !o.is_empty() && o.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

pub const DEFAULT_DOVECOT_AUTH_MASTER: &str = "/run/dovecot/auth-master";
pub const DEFAULT_DOVECOT_PRIMARY_FIELD: &str = "apppass_primary";

/// Everything apppass.conf says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub store: StoreChoice,
    pub web: WebSettings,
    pub primary: PrimaryChoice,
    /// What devices are set up with (servers, names, profile signing).
    pub setup: crate::setup::DeviceSetup,
    pub login_checkers: Vec<LoginChecker>,
    /// The MTA's submission command for notifications (`sendmail -t -i`).
    pub sendmail: PathBuf,
}

/// The MTA's submission command, as every MTA on Debian provides it.
pub const DEFAULT_SENDMAIL: &str = "/usr/sbin/sendmail";

/// A configuration file that cannot be used.
#[derive(Debug)]
pub enum ConfigError {
    /// A line that is not `key = value`, an unknown key, a bad value.
    Line {
        file: PathBuf,
        line: usize,
        message: String,
    },
    /// Something about the file as a whole.
    File { file: PathBuf, message: String },
    /// The file or its directory failed the safety checks.
    Unsafe(StoreError),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Line {
                file,
                line,
                message,
            } => write!(f, "{}, line {line}: {message}", file.display()),
            ConfigError::File { file, message } => write!(f, "{}: {message}", file.display()),
            ConfigError::Unsafe(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Unsafe(e) => Some(e),
            _ => None,
        }
    }
}

/// Strips a `#` comment: at the start of the line, or after whitespace and
/// outside single quotes (a conninfo value may hold a quoted `#`).
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    let mut prev_space = true;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '\'' {
            quoted = !quoted;
        } else if c == '#' && !quoted && prev_space {
            return &line[..i];
        }
        prev_space = c.is_whitespace();
    }
    line
}

const KEYS: &str = "store, db, conninfo, admin_conninfo, key, web_user, web_auth, primary, \
     dovecot_auth_master, dovecot_primary_field, ldap_uri, ldap_starttls, ldap_ca_file, ldap_base, \
     ldap_filter, ldap_bind_dn, ldap_bind_password_file, ldap_attribute, login_checker, \
     imap_host, imap_port, pop3_host, pop3_port, smtp_host, smtp_port, caldav_url, carddav_url, \
     service_name.SVC, service_setup.SVC, profile_sign_cert, profile_sign_key, web_url, sendmail";

/// Parses the text of a configuration file named `file`: the store.
pub fn parse(text: &str, file: &Path) -> Result<StoreChoice, ConfigError> {
    parse_config(text, file).map(|c| c.store)
}

/// Parses the text of a configuration file named `file`.
pub fn parse_config(text: &str, file: &Path) -> Result<Config, ConfigError> {
    let err = |line: usize, message: String| ConfigError::Line {
        file: file.to_path_buf(),
        line,
        message,
    };
    let mut store: Option<(usize, String)> = None;
    let mut db: Option<(usize, PathBuf)> = None;
    let mut conninfo: Option<(usize, Conninfo)> = None;
    let mut admin: Option<(usize, Conninfo)> = None;
    let mut key: Option<(usize, PathBuf)> = None;
    let mut web_user: Option<String> = None;
    let mut web_auth: Option<WebAuth> = None;
    let mut primary: Option<(usize, String)> = None;
    let mut dovecot_master: Option<(usize, PathBuf)> = None;
    let mut dovecot_field: Option<(usize, String)> = None;
    let mut ldap = LdapLines::default();
    let mut setup = crate::setup::DeviceSetup::default();
    let mut setup_lines = std::collections::HashMap::new();
    let mut login_checkers: Vec<(usize, LoginChecker)> = Vec::new();
    let mut sendmail: Option<PathBuf> = None;
    for (n, raw) in text.lines().enumerate() {
        let n = n + 1;
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        if line.chars().any(char::is_control) {
            return Err(err(n, "the line holds a control character".into()));
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(err(n, format!("expected 'key = value' (keys: {KEYS})")));
        };
        let (name, value) = (name.trim(), value.trim());
        if value.is_empty() {
            return Err(err(
                n,
                format!("{} has no value", crate::escape::for_message(name)),
            ));
        }
        let absolute = |what: &str| -> Result<PathBuf, ConfigError> {
            if value.starts_with('/') {
                Ok(PathBuf::from(value))
            } else {
                Err(err(n, format!("{what} needs an absolute path")))
            }
        };
        let twice = |what: &str| err(n, format!("{what} is given twice"));
        match name {
            "store" => {
                if store.is_some() {
                    return Err(twice("store"));
                }
                if value != "sqlite" && value != "postgresql" {
                    return Err(err(n, "store must be sqlite or postgresql".into()));
                }
                store = Some((n, value.to_owned()));
            }
            "db" => {
                if db.is_some() {
                    return Err(twice("db"));
                }
                db = Some((n, absolute("db")?));
            }
            "key" => {
                if key.is_some() {
                    return Err(twice("key"));
                }
                key = Some((n, absolute("key")?));
            }
            "conninfo" | "admin_conninfo" => {
                let slot = if name == "conninfo" {
                    &mut conninfo
                } else {
                    &mut admin
                };
                if slot.is_some() {
                    return Err(twice(name));
                }
                *slot = Some((n, Conninfo::new(value)));
            }
            "web_user" => {
                if web_user.is_some() {
                    return Err(twice("web_user"));
                }
                if crate::policy::check_user(value).is_err() || value.contains('@') {
                    return Err(err(n, "web_user must be a system user name".into()));
                }
                web_user = Some(value.to_owned());
            }
            "web_auth" => {
                if web_auth.is_some() {
                    return Err(twice("web_auth"));
                }
                web_auth = Some(if value == "pam" {
                    WebAuth::Pam
                } else if let Some(path) = value.strip_prefix("dovecot:") {
                    if !path.starts_with('/') {
                        return Err(err(
                            n,
                            "web_auth = dovecot:PATH needs the absolute path of Dovecot's auth-client socket".into(),
                        ));
                    }
                    WebAuth::Dovecot(PathBuf::from(path))
                } else {
                    return Err(err(
                        n,
                        "web_auth must be pam or dovecot:/run/dovecot/auth-client".into(),
                    ));
                });
            }
            "primary" => {
                if primary.is_some() {
                    return Err(twice("primary"));
                }
                if !["shadow", "dovecot", "ldap"].contains(&value) {
                    return Err(err(n, "primary must be shadow, dovecot or ldap".into()));
                }
                primary = Some((n, value.to_owned()));
            }
            "sendmail" => {
                if sendmail.is_some() {
                    return Err(twice("sendmail"));
                }
                sendmail = Some(absolute("sendmail")?);
            }
            "dovecot_auth_master" => {
                if dovecot_master.is_some() {
                    return Err(twice("dovecot_auth_master"));
                }
                dovecot_master = Some((n, absolute("dovecot_auth_master")?));
            }
            "dovecot_primary_field" => {
                if dovecot_field.is_some() {
                    return Err(twice("dovecot_primary_field"));
                }
                let field_char = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
                if value.len() > 64 || !value.chars().all(field_char) {
                    return Err(err(
                        n,
                        "dovecot_primary_field must be a Dovecot field name (letters, digits, _ . -; at most 64)".into(),
                    ));
                }
                dovecot_field = Some((n, value.to_owned()));
            }
            "ldap_uri" => {
                if ldap.uri.is_some() {
                    return Err(twice("ldap_uri"));
                }
                // One server: libldap would also take a list ("ldaps://a,
                // ldap://b") and fall over to a later, unencrypted one.
                let host = value
                    .strip_prefix("ldaps://")
                    .or_else(|| value.strip_prefix("ldap://"))
                    .map(|h| h.strip_suffix('/').unwrap_or(h));
                let one_host = host.is_some_and(|h| {
                    !h.is_empty()
                        && h.chars()
                            .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
                });
                if !one_host {
                    return Err(err(
                        n,
                        "ldap_uri must be one ldaps://HOST[:PORT] or ldap://HOST[:PORT] URI".into(),
                    ));
                }
                ldap.uri = Some((n, value.to_owned()));
            }
            "ldap_starttls" => {
                if ldap.starttls.is_some() {
                    return Err(twice("ldap_starttls"));
                }
                let on = match value {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(err(n, "ldap_starttls must be yes or no".into())),
                };
                ldap.starttls = Some((n, on));
            }
            "ldap_ca_file" => {
                if ldap.ca_file.is_some() {
                    return Err(twice("ldap_ca_file"));
                }
                ldap.ca_file = Some((n, absolute("ldap_ca_file")?));
            }
            "ldap_base" => {
                if ldap.base.is_some() {
                    return Err(twice("ldap_base"));
                }
                ldap.base = Some((n, value.to_owned()));
            }
            "ldap_filter" => {
                if ldap.filter.is_some() {
                    return Err(twice("ldap_filter"));
                }
                if !filter_ok(value) {
                    return Err(err(
                        n,
                        "ldap_filter must be an LDAP filter in parentheses with %u where the user name goes, such as (uid=%u) (no other %)".into(),
                    ));
                }
                ldap.filter = Some((n, value.to_owned()));
            }
            "ldap_bind_dn" => {
                if ldap.bind_dn.is_some() {
                    return Err(twice("ldap_bind_dn"));
                }
                ldap.bind_dn = Some((n, value.to_owned()));
            }
            "ldap_bind_password_file" => {
                if ldap.bind_password_file.is_some() {
                    return Err(twice("ldap_bind_password_file"));
                }
                ldap.bind_password_file = Some((n, absolute("ldap_bind_password_file")?));
            }
            "ldap_attribute" => {
                if ldap.attribute.is_some() {
                    return Err(twice("ldap_attribute"));
                }
                if !attribute_ok(value) {
                    return Err(err(
                        n,
                        "ldap_attribute must be one attribute, such as userPassword or pwdChangedTime".into(),
                    ));
                }
                ldap.attribute = Some((n, value.to_owned()));
            }
            "login_checker" => {
                let checker = login_checker(value).map_err(|m| err(n, m))?;
                if login_checkers.iter().any(|(_, c)| c.user == checker.user) {
                    return Err(err(
                        n,
                        format!(
                            "login_checker {} is given twice; name all its services on one line",
                            checker.user
                        ),
                    ));
                }
                login_checkers.push((n, checker));
            }
            other => {
                if setup.set(other, value).map_err(|m| err(n, m))? {
                    setup_lines.insert(other.to_owned(), n);
                    continue;
                }
                return Err(err(
                    n,
                    format!(
                        "unknown key '{}' (keys: {KEYS})",
                        crate::escape::for_message(other)
                    ),
                ));
            }
        }
    }
    if let Err((key, m)) = setup.finish() {
        return Err(err(setup_lines.get(key).copied().unwrap_or(1), m));
    }
    let web = WebSettings {
        user: web_user.unwrap_or_else(|| DEFAULT_WEB_USER.into()),
        auth: web_auth.unwrap_or(WebAuth::Pam),
    };
    if let Some((n, c)) = login_checkers.iter().find(|(_, c)| c.user == web.user) {
        return Err(err(
            *n,
            format!(
                "login_checker {} is the web page's user (web_user); give the web server a user of its own",
                c.user
            ),
        ));
    }
    let login_checkers = login_checkers.into_iter().map(|(_, c)| c).collect();
    let sendmail = sendmail.unwrap_or_else(|| PathBuf::from(DEFAULT_SENDMAIL));
    let primary = primary_choice(
        primary.as_ref().map(|(_, p)| p.as_str()),
        dovecot_master,
        dovecot_field,
        ldap,
        file,
    )?;
    let kind = store.as_ref().map_or("sqlite", |(_, s)| s.as_str());
    if kind == "sqlite" {
        if let Some((n, _)) = conninfo.as_ref().or(admin.as_ref()) {
            return Err(err(
                *n,
                "conninfo and admin_conninfo are for 'store = postgresql'".into(),
            ));
        }
        let db = db.map_or_else(|| PathBuf::from(DEFAULT_DB), |(_, d)| d);
        let key = key.map_or_else(|| crate::store::key_path(&db), |(_, k)| k);
        return Ok(Config {
            store: StoreChoice::Sqlite { db, key },
            web,
            primary,
            setup,
            login_checkers,
            sendmail,
        });
    }
    if let Some((n, _)) = db {
        return Err(err(n, "db is for 'store = sqlite'".into()));
    }
    let Some((_, conninfo)) = conninfo else {
        return Err(ConfigError::File {
            file: file.to_path_buf(),
            message: "'store = postgresql' needs a conninfo line".into(),
        });
    };
    Ok(Config {
        store: StoreChoice::Postgres {
            conninfo,
            admin_conninfo: admin.map(|(_, c)| c),
            key: key.map_or_else(|| PathBuf::from(DEFAULT_SERVER_KEY), |(_, k)| k),
        },
        web,
        primary,
        setup,
        login_checkers,
        sendmail,
    })
}

/// The `primary` setting with the keys that go with it, each refused
/// where it does not belong.
fn primary_choice(
    primary: Option<&str>,
    dovecot_master: Option<(usize, PathBuf)>,
    dovecot_field: Option<(usize, String)>,
    ldap: LdapLines,
    file: &Path,
) -> Result<PrimaryChoice, ConfigError> {
    let err = |line: usize, message: &str| ConfigError::Line {
        file: file.to_path_buf(),
        line,
        message: message.into(),
    };
    let dovecot_line =
        (dovecot_master.as_ref().map(|(n, _)| *n)).or(dovecot_field.as_ref().map(|(n, _)| *n));
    if primary != Some("dovecot") {
        if let Some(n) = dovecot_line {
            return Err(err(
                n,
                "dovecot_auth_master and dovecot_primary_field are for 'primary = dovecot'",
            ));
        }
    }
    if primary != Some("ldap") {
        if let Some(n) = ldap.any_line() {
            return Err(err(n, "the ldap_ settings are for 'primary = ldap'"));
        }
    }
    Ok(match primary {
        Some("dovecot") => PrimaryChoice::Dovecot {
            socket: dovecot_master
                .map_or_else(|| PathBuf::from(DEFAULT_DOVECOT_AUTH_MASTER), |(_, p)| p),
            field: dovecot_field
                .map_or_else(|| DEFAULT_DOVECOT_PRIMARY_FIELD.to_owned(), |(_, f)| f),
        },
        Some("ldap") => {
            let (Some((uri_line, uri)), Some((_, base))) = (ldap.uri, ldap.base) else {
                return Err(ConfigError::File {
                    file: file.to_path_buf(),
                    message: "'primary = ldap' needs ldap_uri and ldap_base lines".into(),
                });
            };
            let starttls = ldap.starttls.is_some_and(|(_, on)| on);
            if uri.starts_with("ldap://") && !starttls {
                return Err(err(
                    uri_line,
                    "ldap_uri ldap:// would send the bind password and the entry unencrypted; use ldaps:// or set ldap_starttls = yes",
                ));
            }
            if uri.starts_with("ldaps://") && starttls {
                return Err(err(
                    uri_line,
                    "ldap_starttls = yes is for ldap:// URIs; an ldaps:// URI is already encrypted",
                ));
            }
            match (&ldap.bind_dn, &ldap.bind_password_file) {
                (Some((n, _)), None) => {
                    return Err(err(
                        *n,
                        "ldap_bind_dn needs ldap_bind_password_file (the password is never written in apppass.conf)",
                    ))
                }
                (None, Some((n, _))) => {
                    return Err(err(*n, "ldap_bind_password_file needs ldap_bind_dn"))
                }
                _ => {}
            }
            PrimaryChoice::Ldap(LdapSettings {
                uri,
                starttls,
                ca_file: ldap
                    .ca_file
                    .map_or_else(|| PathBuf::from(DEFAULT_LDAP_CA_FILE), |(_, p)| p),
                base,
                filter: ldap
                    .filter
                    .map_or_else(|| DEFAULT_LDAP_FILTER.to_owned(), |(_, f)| f),
                bind_dn: ldap.bind_dn.map(|(_, d)| d),
                bind_password_file: ldap.bind_password_file.map(|(_, p)| p),
                attribute: ldap
                    .attribute
                    .map_or_else(|| DEFAULT_LDAP_ATTRIBUTE.to_owned(), |(_, a)| a),
            })
        }
        _ => PrimaryChoice::Shadow,
    })
}

/// `login_checker = USER SERVICE[,SERVICE…]`: a system user whose
/// processes run pam_apppass.so without the rights to open the store (a web
/// server's worker, such as nginx's with `auth_pam`), for whom apppassd
/// checks app passwords, for these PAM services only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginChecker {
    pub user: String,
    /// Lower-cased, as libpam names services.
    pub services: Vec<String>,
}

impl LoginChecker {
    /// Whether this user may have passwords checked for `service`.
    pub fn allows(&self, service: &str) -> bool {
        self.services.contains(&service.to_ascii_lowercase())
    }
}

/// One `login_checker` value: the user, then services separated by commas
/// or spaces. Root needs no help; a privileged service is never checked
/// for another user.
fn login_checker(value: &str) -> Result<LoginChecker, String> {
    let mut words = value
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty());
    let user = words.next().unwrap_or_default();
    if crate::policy::check_user(user).is_err() || user.contains('@') {
        return Err(
            "login_checker must start with a system user name, such as login_checker = www-data dav"
                .into(),
        );
    }
    if user == "root" {
        return Err(
            "login_checker root: a service running as root opens the store itself; name the unprivileged user it runs as"
                .into(),
        );
    }
    let mut services = Vec::new();
    for word in words {
        let service =
            crate::policy::normalize_service(word).map_err(|e| format!("login_checker: {e}"))?;
        if crate::policy::PRIVILEGED_SERVICES.contains(&service.as_str()) {
            return Err(format!(
                "login_checker: '{service}' gives more than mail, calendars or files; apppassd never checks it for another user"
            ));
        }
        if !services.contains(&service) {
            services.push(service);
        }
    }
    if services.is_empty() {
        return Err(format!(
            "login_checker {user} names no PAM service; write login_checker = {user} dav"
        ));
    }
    Ok(LoginChecker {
        user: user.to_owned(),
        services,
    })
}

/// Reads and checks the file at `path`: no symbolic link, a regular file
/// owned by root or the caller, not group- or world-writable, in a
/// directory that passes the same checks; and, when a conninfo carries a
/// password, not world-readable.
pub fn load(path: &Path, euid: u32) -> Result<StoreChoice, ConfigError> {
    load_config(path, euid).map(|c| c.store)
}

/// [`load`], with everything the file says.
pub fn load_config(path: &Path, euid: u32) -> Result<Config, ConfigError> {
    // Said before the safety checks, which would call a missing file (or
    // directory) a missing store and suggest `apppass init`.
    if matches!(std::fs::symlink_metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
    {
        return Err(ConfigError::File {
            file: path.to_path_buf(),
            message: format!(
                "there is no such configuration file; check the path, or start from a copy \
                 of {DEFAULT_CONFIG} (the commented example apppass installs)"
            ),
        });
    }
    let unsafe_ = ConfigError::Unsafe;
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        check_path(dir, euid, Kind::Directory).map_err(unsafe_)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => unsafe_(StoreError::Unsafe {
                path: path.to_path_buf(),
                detail: "it is a symbolic link; point at the real path".into(),
            }),
            _ => unsafe_(StoreError::io(path, &e)),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| unsafe_(StoreError::io(path, &e)))?;
    check_metadata(path, &meta, euid, Kind::File).map_err(unsafe_)?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::File {
            file: path.to_path_buf(),
            message: format!("it is larger than {MAX_CONFIG_BYTES} bytes"),
        });
    }
    let mut text = Zeroizing::new(String::new());
    file.read_to_string(&mut text)
        .map_err(|e| ConfigError::File {
            file: path.to_path_buf(),
            message: format!("cannot be read as UTF-8 text ({e})"),
        })?;
    let config = parse_config(&text, path)?;
    if let StoreChoice::Postgres {
        conninfo,
        admin_conninfo,
        ..
    } = &config.store
    {
        let secret =
            conninfo.has_password() || admin_conninfo.as_ref().is_some_and(Conninfo::has_password);
        if secret && meta.mode() & 0o004 != 0 {
            return Err(unsafe_(StoreError::Unsafe {
                path: path.to_path_buf(),
                detail: format!(
                    "it holds a database password and is world-readable (mode {:04o}); run chmod 0640 on it, or move the password to a passfile",
                    meta.mode() & 0o7777
                ),
            }));
        }
    }
    Ok(config)
}

/// The store a front end uses: `db` (SQLite at that path, key beside it)
/// wins; then the configuration file named explicitly, which must exist;
/// then the default file when it exists; then SQLite at the default path.
pub fn resolve(
    config: Option<&Path>,
    db: Option<&Path>,
    euid: u32,
) -> Result<StoreChoice, ConfigError> {
    if let Some(db) = db {
        return Ok(StoreChoice::sqlite(db));
    }
    resolve_config(config, None, euid).map(|c| c.store)
}

/// [`resolve`], with the rest of the file: with `db`, the file named
/// explicitly still supplies the other settings.
pub fn resolve_config(
    config: Option<&Path>,
    db: Option<&Path>,
    euid: u32,
) -> Result<Config, ConfigError> {
    let mut found = match config {
        Some(path) => load_config(path, euid)?,
        None => {
            let default = Path::new(DEFAULT_CONFIG);
            match std::fs::symlink_metadata(default) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config {
                    store: StoreChoice::sqlite(Path::new(DEFAULT_DB)),
                    web: WebSettings::default(),
                    primary: PrimaryChoice::Shadow,
                    setup: Default::default(),
                    login_checkers: Vec::new(),
                    sendmail: PathBuf::from(DEFAULT_SENDMAIL),
                },
                // `db` alone never depends on the default file being usable.
                _ if db.is_some() => Config {
                    store: StoreChoice::sqlite(Path::new(DEFAULT_DB)),
                    web: WebSettings::default(),
                    primary: PrimaryChoice::Shadow,
                    setup: Default::default(),
                    login_checkers: Vec::new(),
                    sendmail: PathBuf::from(DEFAULT_SENDMAIL),
                },
                _ => load_config(default, euid)?,
            }
        }
    };
    if let Some(db) = db {
        found.store = StoreChoice::sqlite(db);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<StoreChoice, ConfigError> {
        parse(text, Path::new("/etc/apppass/apppass.conf"))
    }

    #[test]
    fn a_configuration_file_that_is_not_there_is_called_so() {
        for missing in [
            "/nonexistent-apppass-dir/apppass.conf",
            "/proc/self/no-such-apppass.conf",
        ] {
            let said = load_config(Path::new(missing), 0).unwrap_err().to_string();
            assert!(
                said.starts_with(&format!("{missing}: there is no such configuration file")),
                "{said}"
            );
            assert!(!said.contains("apppass init"), "{said}");
        }
    }

    #[test]
    fn empty_file_is_sqlite_at_the_default_path() {
        assert_eq!(
            p("# nothing\n\n").unwrap(),
            StoreChoice::sqlite(Path::new(DEFAULT_DB))
        );
        let c = p("store = sqlite   # default\ndb = /srv/a/apppass.db\n").unwrap();
        assert_eq!(c, StoreChoice::sqlite(Path::new("/srv/a/apppass.db")));
    }

    #[test]
    fn postgresql_takes_conninfo_whole() {
        let text = "store = postgresql\nconninfo = host=db1,db2 dbname=apppass user=apppass_login sslmode=verify-full password='a #b' # c\nadmin_conninfo = user=apppass_admin\n";
        let StoreChoice::Postgres {
            conninfo,
            admin_conninfo,
            key,
        } = p(text).unwrap()
        else {
            panic!("not postgres")
        };
        assert_eq!(
            conninfo.expose(),
            "host=db1,db2 dbname=apppass user=apppass_login sslmode=verify-full password='a #b'"
        );
        assert!(conninfo.has_password());
        assert!(!admin_conninfo.unwrap().has_password());
        assert_eq!(key, PathBuf::from(DEFAULT_SERVER_KEY));
        assert_eq!(format!("{:?}", Conninfo::new("password=x")), "Conninfo(..)");
    }

    #[test]
    fn web_settings_default_and_are_checked() {
        let path = Path::new("/etc/apppass/apppass.conf");
        let c = parse_config("", path).unwrap();
        assert_eq!(c.web, WebSettings::default());
        let c = parse_config(
            "web_user = www-apppass\nweb_auth = dovecot:/run/dovecot/auth-client\n",
            path,
        )
        .unwrap();
        assert_eq!(c.web.user, "www-apppass");
        assert_eq!(
            c.web.auth,
            WebAuth::Dovecot(PathBuf::from("/run/dovecot/auth-client"))
        );
        for bad in [
            "web_auth = dovecot:auth-client",
            "web_auth = ldap",
            "web_user = a/b",
            "web_user = pam\nweb_user = x",
        ] {
            assert!(parse_config(bad, path).is_err(), "{bad}");
        }
    }

    #[test]
    fn login_checkers_are_read_and_checked() {
        let path = Path::new("/etc/apppass/apppass.conf");
        assert!(parse_config("", path).unwrap().login_checkers.is_empty());
        let c = parse_config(
            "login_checker = www-data dav, CalDAV carddav dav\nlogin_checker = _lighttpd dav\n",
            path,
        )
        .unwrap();
        assert_eq!(
            c.login_checkers,
            vec![
                LoginChecker {
                    user: "www-data".into(),
                    services: vec!["dav".into(), "caldav".into(), "carddav".into()],
                },
                LoginChecker {
                    user: "_lighttpd".into(),
                    services: vec!["dav".into()],
                },
            ]
        );
        assert!(c.login_checkers[0].allows("DAV") && !c.login_checkers[0].allows("imap"));
        for (text, line, words) in [
            ("login_checker = www-data\n", 1, "names no PAM service"),
            (
                "\nlogin_checker = root dav\n",
                2,
                "root opens the store itself",
            ),
            ("login_checker = a@b dav\n", 1, "system user name"),
            ("login_checker = www-data sshd\n", 1, "'sshd' gives more"),
            (
                "login_checker = www-data apppass-web\n",
                1,
                "manage their own",
            ),
            (
                "login_checker = www-data da*v\n",
                1,
                "not a PAM service name",
            ),
            (
                "login_checker = www-data dav\nlogin_checker = www-data caldav\n",
                2,
                "given twice",
            ),
            (
                "web_user = www-data\nlogin_checker = www-data dav\n",
                2,
                "the web page's user",
            ),
        ] {
            let e = parse_config(text, path).unwrap_err().to_string();
            assert!(
                e.contains(&format!("apppass.conf, line {line}: ")) && e.contains(words),
                "{text:?}: {e}"
            );
        }
    }

    #[test]
    fn passwords_in_uris_are_found() {
        assert!(Conninfo::new("postgresql://u:secret@db/apppass").has_password());
        assert!(!Conninfo::new("postgresql://u@db/apppass").has_password());
        assert!(Conninfo::new("postgresql://db/x?password=y").has_password());
        assert!(!Conninfo::new("host=db passfile=/etc/apppass/pgpass").has_password());
    }

    #[test]
    fn errors_name_file_and_line() {
        for (text, line, words) in [
            ("store = sqlite\nbogus\n", 2, "expected 'key = value'"),
            ("colour = blue\n", 1, "unknown key 'colour'"),
            ("store = mysql\n", 1, "sqlite or postgresql"),
            ("db = relative.db\n", 1, "absolute path"),
            ("db = /a\ndb = /b\n", 2, "given twice"),
            ("conninfo = host=x\n", 1, "store = postgresql"),
            (
                "store = postgresql\nconninfo = x\ndb = /a\n",
                3,
                "store = sqlite",
            ),
            ("key =\n", 1, "no value"),
        ] {
            match p(text) {
                Err(ConfigError::Line {
                    line: l, message, ..
                }) => {
                    assert_eq!(l, line, "{text:?}");
                    assert!(message.contains(words), "{text:?}: {message}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        let e = p("store = postgresql\n").unwrap_err().to_string();
        assert!(e.contains("needs a conninfo line"), "{e}");
    }

    fn primary_of(text: &str) -> PrimaryChoice {
        parse_config(text, Path::new("/etc/apppass/apppass.conf"))
            .unwrap()
            .primary
    }

    #[test]
    fn primary_sources_and_their_settings() {
        assert_eq!(primary_of(""), PrimaryChoice::Shadow);
        assert_eq!(primary_of("primary = shadow\n"), PrimaryChoice::Shadow);
        assert_eq!(
            primary_of("primary = dovecot\n"),
            PrimaryChoice::Dovecot {
                socket: PathBuf::from(DEFAULT_DOVECOT_AUTH_MASTER),
                field: DEFAULT_DOVECOT_PRIMARY_FIELD.into(),
            }
        );
        let ldap = "primary = ldap\nldap_uri = ldaps://ldap.example.org\nldap_base = ou=people,dc=example,dc=org\n";
        let PrimaryChoice::Ldap(s) = primary_of(ldap) else {
            panic!("not ldap")
        };
        assert_eq!(s.filter, "(uid=%u)");
        assert_eq!(s.attribute, "userPassword");
        assert_eq!(s.ca_file, PathBuf::from(DEFAULT_LDAP_CA_FILE));
        assert!(!s.starttls && s.bind_dn.is_none());
        let full = format!(
            "{ldap}ldap_filter = (&(objectClass=person)(|(uid=%u)(mail=%u)))\nldap_attribute = pwdChangedTime\nldap_bind_dn = cn=apppass,dc=example,dc=org\nldap_bind_password_file = /etc/apppass/ldap.secret\n"
        );
        let PrimaryChoice::Ldap(s) = primary_of(&full) else {
            panic!("not ldap")
        };
        assert_eq!(s.attribute, "pwdChangedTime");
        assert_eq!(s.bind_dn.as_deref(), Some("cn=apppass,dc=example,dc=org"));
    }

    #[test]
    fn primary_settings_are_refused_with_the_fix() {
        let base = "primary = ldap\nldap_uri = ldaps://l\nldap_base = dc=x\n";
        for (text, words) in [
            ("primary = nis\n", "shadow, dovecot or ldap"),
            ("dovecot_auth_master = /run/x\n", "for 'primary = dovecot'"),
            (
                "primary = dovecot\ndovecot_auth_master = run/x\n",
                "absolute path",
            ),
            (
                "primary = dovecot\ndovecot_primary_field = a b\n",
                "Dovecot field name",
            ),
            ("ldap_uri = ldaps://l\n", "for 'primary = ldap'"),
            ("primary = ldap\nldap_uri = http://l\n", "ldaps://"),
            (
                "primary = ldap\nldap_uri = ldaps://a,ldap://b\n",
                "ldaps://",
            ),
            (
                "primary = ldap\nldap_uri = ldaps://a ldap://b\n",
                "ldaps://",
            ),
            (
                "primary = ldap\nldap_uri = ldaps://a/dc=x??sub\n",
                "ldaps://",
            ),
            (
                "primary = ldap\nldap_uri = ldap://l\nldap_base = dc=x\n",
                "unencrypted",
            ),
            (
                "primary = ldap\nldap_uri = ldaps://l\nldap_base = dc=x\nldap_starttls = yes\n",
                "already encrypted",
            ),
            (&format!("{base}ldap_filter = uid=%u\n"), "LDAP filter"),
            (&format!("{base}ldap_filter = (uid=%u\n"), "LDAP filter"),
            (&format!("{base}ldap_filter = (uid=%s)\n"), "LDAP filter"),
            (
                &format!("{base}ldap_filter = (uid=%u)(cn=%d)\n"),
                "LDAP filter",
            ),
            (
                &format!("{base}ldap_filter = (uid=%u)(cn=x)\n"),
                "LDAP filter",
            ),
            (&format!("{base}ldap_attribute = *\n"), "one attribute"),
            (&format!("{base}ldap_attribute = a,b\n"), "one attribute"),
            (
                &format!("{base}ldap_bind_dn = cn=a\n"),
                "needs ldap_bind_password_file",
            ),
            (
                &format!("{base}ldap_bind_password_file = /s\n"),
                "needs ldap_bind_dn",
            ),
            (&format!("{base}ldap_starttls = maybe\n"), "yes or no"),
        ] {
            let e = p(text).unwrap_err().to_string();
            assert!(e.contains(words), "{text:?}: {e}");
        }
        let e = p("primary = ldap\nldap_uri = ldaps://l\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs ldap_uri and ldap_base"), "{e}");
    }
}
