//! apppass-web — see `apppass-web(8)`.
#![forbid(unsafe_code)]

use apppass_web::app::{router, App};
use apppass_web::daemon::Daemon;
use apppass_web::http::{Frontage, Peer};
use apppass_web::listen::{bind_unix, Listen};
use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "apppass-web",
    version,
    about = "The self-service web page for app passwords",
    long_about = "apppass-web serves the page where users sign in with their own password \
and make, list and revoke their app passwords. It runs as the unprivileged user apppass-web \
and reaches nothing but apppassd's socket: apppassd checks every sign-in (PAM service \
apppass-web, or Dovecot's passdb with `web_auth = dovecot:...` in apppass.conf) and makes the \
sessions. Serve plain HTTP on a Unix socket that only the TLS reverse proxy in front (nginx, \
Apache) may reach, as apppass-web.service does, or on a loopback address behind a proxy named \
with --trusted-proxy, or HTTPS itself with --tls-cert and --tls-key.",
    after_help = "Examples:\n  apppass-web --listen unix:/run/apppass-web/http.sock   behind nginx or Apache on this host (the directory: apppass-web's, group www-data, mode 0750)\n  apppass-web --listen 127.0.0.1:8380 --trusted-proxy 127.0.0.1   the same on a loopback port, which every local user can reach too\n  apppass-web --listen [::]:443 --tls-cert /etc/apppass/web.pem --tls-key /etc/apppass/web.key"
)]
struct Args {
    /// Where to listen: unix:PATH, a socket in a directory only this user
    /// and the proxy's group may enter, whose forwarding headers are
    /// believed; or ADDR:PORT (plain HTTP only on a loopback address)
    #[arg(long, value_name = "unix:PATH|ADDR:PORT")]
    listen: Listen,

    /// apppassd's socket
    #[arg(
        long,
        value_name = "PATH",
        env = "APPPASS_SOCKET",
        default_value = "/run/apppass/apppassd.sock"
    )]
    socket: PathBuf,

    /// Serve HTTPS with this certificate chain (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The certificate's private key (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// The address of a reverse proxy in front on TCP (repeatable): only
    /// its X-Real-IP, X-Forwarded-For and X-Forwarded-Proto are believed
    /// [default: none; the peer's own address counts]
    #[arg(long, value_name = "ADDR", conflicts_with = "tls_cert")]
    trusted_proxy: Vec<std::net::IpAddr>,
}

/// Files the page must never be able to read: if it can, it runs with
/// too much privilege, and it refuses to start.
fn readable_secrets() -> Vec<PathBuf> {
    let db = Path::new(apppass_core::config::DEFAULT_DB);
    [
        PathBuf::from("/etc/shadow"),
        db.to_path_buf(),
        apppass_core::store::key_path(db),
        PathBuf::from(apppass_core::config::DEFAULT_SERVER_KEY),
    ]
    .into_iter()
    .filter(|p| std::fs::File::open(p).is_ok())
    .collect()
}

fn main() -> ExitCode {
    let args = Args::parse();
    if apppass_core::sys::euid() == 0 {
        eprintln!(
            "apppass-web: will not run as root; run it as its own user: runuser -u apppass-web -- apppass-web --listen ... (apppass-web.service does)"
        );
        return ExitCode::from(1);
    }
    if let Some(p) = readable_secrets().first() {
        eprintln!(
            "apppass-web: this user can read {}; run apppass-web as its own unprivileged user (apppass-web)",
            p.display()
        );
        return ExitCode::from(1);
    }
    let tls = args.tls_cert.as_ref().zip(args.tls_key.as_ref());
    match &args.listen {
        Listen::Tcp(addr) if tls.is_none() && !addr.ip().is_loopback() => {
            eprintln!(
                "apppass-web: plain HTTP is served only on a loopback address (such as 127.0.0.1:8380) or a Unix socket behind a TLS reverse proxy; to listen on {addr} give --tls-cert and --tls-key"
            );
            return ExitCode::from(2);
        }
        Listen::Unix(_) if tls.is_some() || !args.trusted_proxy.is_empty() => {
            eprintln!(
                "apppass-web: on a Unix socket the page serves plain HTTP to the proxy in front, whoever may enter the socket's directory; --tls-cert and --trusted-proxy are for a TCP address"
            );
            return ExitCode::from(2);
        }
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("apppass-web: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let app = App::new(
        Daemon::new(args.socket.clone()),
        Frontage {
            tls: tls.is_some(),
            proxies: args.trusted_proxy.clone(),
        },
    );
    let service = router(app).into_make_service_with_connect_info::<Peer>();
    let result: Result<(), String> = runtime.block_on(async {
        match (tls, &args.listen) {
            (_, Listen::Unix(path)) => {
                let listener = bind_unix(path, apppass_core::sys::euid())?;
                eprintln!(
                    "apppass-web: serving http on {} for the proxy in front (apppassd at {})",
                    args.listen,
                    args.socket.display()
                );
                axum::serve(listener, service)
                    .await
                    .map_err(|e| format!("serving failed: {e}"))
            }
            (Some((cert, key)), Listen::Tcp(addr)) => {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .map_err(|e| {
                        format!(
                            "cannot use {} and {} for TLS ({e}); they must be PEM files this user can read",
                            cert.display(),
                            key.display()
                        )
                    })?;
                eprintln!(
                    "apppass-web: serving https://{addr} (apppassd at {})",
                    args.socket.display()
                );
                axum_server::bind_rustls(*addr, config)
                    .serve(service)
                    .await
                    .map_err(|e| format!("cannot serve on {addr}: {e}"))
            }
            (None, Listen::Tcp(addr)) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
                eprintln!(
                    "apppass-web: serving http://{} (apppassd at {})",
                    args.listen,
                    args.socket.display()
                );
                axum::serve(listener, service)
                    .await
                    .map_err(|e| format!("serving failed: {e}"))
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("apppass-web: {e}");
            ExitCode::from(1)
        }
    }
}
