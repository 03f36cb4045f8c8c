//! What a password may be bound to: user names, services, labels, limits.

use std::fmt;

pub const MAX_USER_BYTES: usize = 256;
pub const MAX_SERVICE_LEN: usize = 64;
pub const MAX_LABEL_CHARS: usize = 64;
pub const DEFAULT_MAX_ACTIVE: u32 = 25;
/// Highest value `config max-active` accepts.
pub const MAX_ACTIVE_CEILING: u32 = 10_000;

/// Services an `--any-service` password never matches unless one is named
/// explicitly: they grant root, give a shell or a desktop session, unlock
/// a screen, or change the account. An app password is for a client such
/// as a mail reader; "not to the shell, not to sudo".
pub const PRIVILEGED_SERVICES: &[&str] = &[
    // Root and other users' identities.
    "su",
    "su-l",
    "sudo",
    "sudo-i",
    "runuser",
    "runuser-l",
    "doas",
    "polkit-1",
    "systemd-run0",
    // Changing the account.
    "passwd",
    "chpasswd",
    "newusers",
    "chsh",
    "chfn",
    "chage",
    // Running as the user without a login.
    "cron",
    "atd",
    "systemd-user",
    // Interactive logins: consoles, SSH, the r-services and telnet.
    "login",
    "sshd",
    "remote",
    "rlogin",
    "rsh",
    "rexec",
    "telnet",
    // Graphical and remote desktops.
    "gdm",
    "gdm-password",
    "gdm-autologin",
    "gdm-fingerprint",
    "gdm-smartcard",
    "gdm-launch-environment",
    "lightdm",
    "lightdm-autologin",
    "lightdm-greeter",
    "sddm",
    "sddm-autologin",
    "sddm-greeter",
    "xdm",
    "kdm",
    "lxdm",
    "slim",
    "wdm",
    "greetd",
    "xrdp-sesman",
    "cockpit",
    // Screen lockers.
    "vlock",
    "xscreensaver",
    "kscreensaver",
    "kde",
    "kcheckpass",
    "i3lock",
    "swaylock",
    "hyprlock",
    "gnome-screensaver",
    "cinnamon-screensaver",
    "mate-screensaver",
    "xlock",
    "xsecurelock",
    "physlock",
];

/// Services no app password ever matches, not even one naming them: where
/// users sign in to manage their own app passwords. An app password must
/// never mint app passwords.
pub const SELF_SERVICE_SERVICES: &[&str] = &["apppass", "apppass-web"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    User(String),
    Service(String),
    Label(String),
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::User(m) | PolicyError::Service(m) | PolicyError::Label(m) => {
                f.write_str(m)
            }
        }
    }
}

impl std::error::Error for PolicyError {}

/// A user name as PAM gives it: at most 256 bytes, no control characters,
/// no `:` or `/`.
pub fn check_user(user: &str) -> Result<(), PolicyError> {
    if user.is_empty() {
        return Err(PolicyError::User("the user name is empty".into()));
    }
    if user.len() > MAX_USER_BYTES {
        return Err(PolicyError::User(format!(
            "the user name is {} bytes long; at most {MAX_USER_BYTES} are allowed",
            user.len()
        )));
    }
    if user.chars().any(char::is_control) {
        return Err(PolicyError::User(
            "the user name contains a control character".into(),
        ));
    }
    if user.contains([':', '/']) {
        return Err(PolicyError::User(
            "the user name may not contain ':' or '/'".into(),
        ));
    }
    Ok(())
}

/// A PAM service name: `[A-Za-z0-9._+-]{1,64}`. libpam lower-cases the
/// service name it is started with, so it is stored lower-cased.
pub fn normalize_service(service: &str) -> Result<String, PolicyError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-');
    if service.is_empty() || service.len() > MAX_SERVICE_LEN || !service.chars().all(ok_char) {
        return Err(PolicyError::Service(format!(
            "'{}' is not a PAM service name: use 1 to {MAX_SERVICE_LEN} of A-Z a-z 0-9 . _ + -",
            crate::escape::for_message(service)
        )));
    }
    let service = service.to_ascii_lowercase();
    if SELF_SERVICE_SERVICES.contains(&service.as_str()) {
        return Err(PolicyError::Service(format!(
            "'{service}' is where users sign in to manage their own app passwords; an app password is never accepted there"
        )));
    }
    Ok(service)
}

/// A label: 1–64 printable characters, no leading or trailing white space.
pub fn check_label(label: &str) -> Result<(), PolicyError> {
    let chars = label.chars().count();
    if chars == 0 || chars > MAX_LABEL_CHARS {
        return Err(PolicyError::Label(format!(
            "the label must be 1 to {MAX_LABEL_CHARS} characters long (it is {chars})"
        )));
    }
    if label.chars().any(char::is_control) {
        return Err(PolicyError::Label(
            "the label contains a control character".into(),
        ));
    }
    if label.trim() != label {
        return Err(PolicyError::Label(
            "the label may not begin or end with white space".into(),
        ));
    }
    Ok(())
}

/// Labels are unique among a user's active passwords regardless of case.
pub fn label_key(label: &str) -> String {
    label.to_lowercase()
}

/// The services a password is good for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Any service except the privileged ones.
    Any,
    /// Exactly these (lower-case, sorted, no duplicates).
    Only(Vec<String>),
}

impl Scope {
    pub fn only<I: IntoIterator<Item = S>, S: AsRef<str>>(
        services: I,
    ) -> Result<Self, PolicyError> {
        let mut list = services
            .into_iter()
            .map(|s| normalize_service(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if list.is_empty() {
            return Err(PolicyError::Service(
                "name at least one --service, or give --any-service".into(),
            ));
        }
        list.sort();
        list.dedup();
        Ok(Scope::Only(list))
    }

    /// Whether a login to `service` (as libpam reports it) may use this password.
    pub fn allows(&self, service: &str) -> bool {
        if SELF_SERVICE_SERVICES.contains(&service) {
            return false;
        }
        match self {
            Scope::Any => !PRIVILEGED_SERVICES.contains(&service),
            Scope::Only(list) => list.iter().any(|s| s == service),
        }
    }

    /// Stored form: `*` or the names separated by single spaces.
    pub fn encode(&self) -> String {
        match self {
            Scope::Any => "*".into(),
            Scope::Only(list) => list.join(" "),
        }
    }

    pub fn decode(stored: &str) -> Self {
        if stored == "*" {
            Scope::Any
        } else {
            Scope::Only(
                stored
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )
        }
    }

    /// As shown in `list`: `["*"]` for any service.
    pub fn names(&self) -> Vec<String> {
        match self {
            Scope::Any => vec!["*".into()],
            Scope::Only(list) => list.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        assert!(check_user("alice").is_ok());
        assert!(check_user("alice@example.org").is_ok());
        assert!(check_user(&"a".repeat(256)).is_ok());
        assert!(check_user(&"a".repeat(257)).is_err());
        assert!(check_user("").is_err());
        assert!(check_user("al:ice").is_err());
        assert!(check_user("../etc").is_err());
        assert!(check_user("alice\n").is_err());
        assert!(check_user("alice\u{7f}").is_err());
    }

    #[test]
    fn service_names() {
        assert_eq!(normalize_service("imap").unwrap(), "imap");
        assert_eq!(normalize_service("IMAP").unwrap(), "imap");
        assert!(normalize_service("my-svc_1.2+x").is_ok());
        assert!(normalize_service(&"s".repeat(64)).is_ok());
        assert!(normalize_service(&"s".repeat(65)).is_err());
        assert!(normalize_service("").is_err());
        assert!(normalize_service("imap pop3").is_err());
        assert!(normalize_service("imap/").is_err());
        assert!(normalize_service("*").is_err());
    }

    #[test]
    fn labels() {
        assert!(check_label("iPhone Mail").is_ok());
        assert!(check_label("Téléphone ✉").is_ok());
        assert!(check_label(&"é".repeat(64)).is_ok());
        assert!(check_label(&"é".repeat(65)).is_err());
        assert!(check_label("").is_err());
        assert!(check_label(" padded").is_err());
        assert!(check_label("tab\there").is_err());
        assert_eq!(label_key("iPhone Mail"), label_key("IPHONE mail"));
    }

    #[test]
    fn any_service_never_matches_privilege_services() {
        for s in PRIVILEGED_SERVICES {
            assert!(!Scope::Any.allows(s), "{s}");
        }
        assert!(Scope::Any.allows("imap"));
        assert!(Scope::Any.allows("submission"));
        for shell_or_root in [
            "sshd",
            "doas",
            "remote",
            "gdm-password",
            "lightdm",
            "sddm",
            "xrdp-sesman",
            "cockpit",
            "vlock",
            "xscreensaver",
        ] {
            assert!(!Scope::Any.allows(shell_or_root), "{shell_or_root}");
        }
        let sshd = Scope::only(["sshd"]).unwrap();
        assert!(sshd.allows("sshd"), "named explicitly, sshd matches");
        let sudo = Scope::only(["sudo"]).unwrap();
        assert!(sudo.allows("sudo"), "named explicitly, it matches");
        assert!(!sudo.allows("imap"));
    }

    #[test]
    fn self_service_services_are_never_matched_nor_named() {
        for s in SELF_SERVICE_SERVICES {
            assert!(!Scope::Any.allows(s));
            assert!(
                !Scope::Only(vec![s.to_string()]).allows(s),
                "even stored by hand"
            );
            assert!(normalize_service(s).is_err());
            assert!(normalize_service(&s.to_uppercase()).is_err());
        }
    }

    #[test]
    fn scope_encoding_round_trips_sorted_and_deduplicated() {
        let s = Scope::only(["pop3", "IMAP", "imap"]).unwrap();
        assert_eq!(s.encode(), "imap pop3");
        assert_eq!(Scope::decode(&s.encode()), s);
        assert_eq!(Scope::decode("*"), Scope::Any);
        assert_eq!(Scope::Any.names(), vec!["*".to_string()]);
        assert!(Scope::only(Vec::<String>::new()).is_err());
    }
}
