//! apppassd — see `apppassd(8)`.

use apppass_core::config::WebAuth;
use apppassd::listener;
use apppassd::settings::Settings;
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Where the systemd socket unit puts the socket.
const DEFAULT_SOCKET: &str = "/run/apppass/apppassd.sock";
/// Web sessions live in /run: gone at reboot, as they should be.
const DEFAULT_SESSION_DIR: &str = "/run/apppass/web-sessions";

#[derive(Parser, Debug)]
#[command(
    name = "apppassd",
    version,
    about = "The helper through which users manage their own app passwords",
    long_about = "apppassd lets users make, list and revoke their own app passwords with \
`apppass` after proving their primary password. It runs as root, normally started on demand \
by systemd (apppassd.socket, /run/apppass/apppassd.sock) and leaving when idle. For each \
connection it learns the caller's uid from the kernel, signs them in with the PAM service \
`apppass` (prompts relayed to them), and performs one operation on their own passwords. \
Self-service stays off until `apppass config self-service-services` names the services \
users may choose. It also decides logins for pam_apppass.so where the module runs without \
the rights to open the store (nginx's auth_pam, as www-data), for the users and services \
apppass.conf names in login_checker lines."
)]
struct Args {
    /// Listen on this socket instead of the one systemd passes
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,

    /// The configuration file naming the store [default: /etc/apppass/apppass.conf when it exists]
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,

    /// An SQLite store at PATH, whatever the configuration file says
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,

    /// Directory of PAM service files instead of /etc/pam.d
    #[arg(long, value_name = "DIR")]
    pam_dir: Option<PathBuf>,

    /// Dovecot configuration whose auth cache is flushed after a change
    #[arg(long, value_name = "FILE")]
    dovecot_config: Option<PathBuf>,

    /// Connections served at once; more wait their turn
    #[arg(long, value_name = "N", default_value_t = 32)]
    max_clients: usize,

    /// The user the web page runs as, instead of apppass.conf's web_user
    #[arg(long, value_name = "NAME")]
    web_user: Option<String>,

    /// How the web page signs users in, instead of apppass.conf's web_auth:
    /// pam, or dovecot:SOCKET for virtual mail users
    #[arg(long, value_name = "HOW")]
    web_auth: Option<String>,

    /// Where web sessions are kept (a directory only root may enter)
    #[arg(long, value_name = "DIR", default_value = DEFAULT_SESSION_DIR)]
    session_dir: PathBuf,

    /// Leave after this many seconds without a connection (0: never)
    /// [default: 60 when started by systemd, never with --socket]
    #[arg(long, value_name = "SECONDS")]
    idle_exit: Option<u64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // SAFETY: umask has no preconditions.
    unsafe { libc::umask(0o077) };
    if apppass_core::sys::euid() != 0 {
        eprintln!(
            "apppassd: must run as root (it reads /etc/shadow through PAM and writes the store)"
        );
        return ExitCode::from(1);
    }
    let config = match apppass_core::config::resolve_config(
        args.config.as_deref(),
        args.db.as_deref(),
        apppass_core::sys::euid(),
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("apppassd: unusable configuration: {e}");
            return ExitCode::from(1);
        }
    };
    let mut web = config.web;
    if let Some(user) = args.web_user {
        web.user = user;
    }
    if let Some(how) = &args.web_auth {
        web.auth = match how.strip_prefix("dovecot:") {
            _ if how == "pam" => WebAuth::Pam,
            Some(path) if path.starts_with('/') => WebAuth::Dovecot(path.into()),
            _ => {
                eprintln!("apppassd: --web-auth must be pam or dovecot:/run/dovecot/auth-client");
                return ExitCode::from(2);
            }
        };
    }
    if apppass_core::sys::passwd_uid(&web.user) == Ok(Some(0)) {
        eprintln!(
            "apppassd: web_user {} is root; the web page must run as an unprivileged user of its own (apppass-web)",
            web.user
        );
        return ExitCode::from(1);
    }
    // Started by hand (no systemd, or /run emptied by a reboot), the
    // runtime directory the socket unit would make may be missing.
    for dir in args
        .socket
        .iter()
        .chain([&args.session_dir])
        .filter_map(|p| p.parent())
    {
        if let Err(e) = listener::runtime_dir(dir) {
            eprintln!("apppassd: {e}");
            return ExitCode::from(1);
        }
    }
    let (listener, default_idle) = match &args.socket {
        Some(path) => match listener::bind(path) {
            Ok(l) => (l, 0),
            Err(e) => {
                eprintln!("apppassd: cannot listen on {}: {e}", path.display());
                return ExitCode::from(1);
            }
        },
        None => match listener::from_systemd() {
            Some(l) => (l, 60),
            None => {
                eprintln!(
                    "apppassd: no socket from systemd; start it with 'systemctl start apppassd.socket', or give --socket {DEFAULT_SOCKET} where systemd is not running"
                );
                return ExitCode::from(1);
            }
        },
    };
    let idle = args.idle_exit.unwrap_or(default_idle);
    let settings = Settings {
        store: config.store,
        web,
        session_dir: args.session_dir,
        service: "apppass".into(),
        pam_dir: args.pam_dir,
        dovecot_config: args.dovecot_config,
        primary: config.primary,
        setup: config.setup,
        login_checkers: config.login_checkers,
        sendmail: config.sendmail,
    };
    listener::run(
        listener,
        &settings,
        args.max_clients.max(1),
        (idle > 0).then(|| Duration::from_secs(idle)),
    );
    ExitCode::SUCCESS
}
