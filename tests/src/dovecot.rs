//! A private Dovecot on 127.0.0.1: its own configuration, state, log and
//! ports, PAM service files under /etc/pam.d with a unique prefix (Dovecot
//! has no PAM confdir), all removed again on drop, even after a failure.

use crate::fixture::Fixture;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How the passdb names the PAM service.
#[derive(Clone, Debug)]
pub enum Passdb {
    /// `args = PREFIX`: one PAM file for every protocol.
    Fixed,
    /// `args = PREFIX-%s`: one PAM file per protocol.
    PerProtocol,
    /// `protocol X { passdb { args = PREFIX-X } }` for the listed protocols
    /// only, and a global passdb that matches nobody: a protocol without a
    /// block is refused without ever reaching PAM.
    Blocks(Vec<&'static str>),
    /// This passdb block first (virtual users), then `PerProtocol`.
    FirstThenPerProtocol(String),
}

pub struct Options {
    pub passdb: Passdb,
    /// Turn on Dovecot's auth cache, keyed as the shipped 2.3 snippets key
    /// it ([`shipped_cache_key`]).
    pub cache: bool,
    /// The PAM file; `@MODULE@` and `@DB@` are replaced as in Fixture::service.
    pub stack: String,
    /// PAM files to create, by protocol, for Passdb::PerProtocol/Blocks.
    pub files_for: Vec<&'static str>,
}

pub struct Dovecot {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    pub prefix: String,
    pub imap: u16,
    pub pop3: u16,
    pub submission: u16,
    pam_files: Vec<PathBuf>,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A free loopback port for a daemon, never the same twice in one test
/// process, and taken below the kernel's ephemeral range: a port from
/// bind(0) is released before the daemon binds it, and in that gap any
/// client connection of a concurrent test may take it as its source port.
pub fn free_port() -> u16 {
    static HANDED_OUT: AtomicU32 = AtomicU32::new(0);
    const SPAN: u32 = 12_000;
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    if ephemeral_low <= SPAN + 1024 {
        return std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
    }
    let base = ephemeral_low - SPAN;
    // Test processes running side by side start at different places.
    let start = std::process::id().wrapping_mul(7_919) % SPAN;
    for _ in 0..SPAN {
        let n = HANDED_OUT.fetch_add(1, Ordering::SeqCst);
        let port = (base + (start + n) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {base}..{}", base + SPAN);
}

/// The `cache_key=` option of the shipped 2.3 per-protocol snippet, as it
/// is: the tests run Dovecot's cache with the key the README recommends.
pub fn shipped_cache_key() -> String {
    let snippet = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging/dovecot/2.3/auth-apppass-service.conf.ext");
    let text = std::fs::read_to_string(&snippet).unwrap();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(str::split_whitespace)
        .find(|w| w.starts_with("cache_key="))
        .unwrap_or_else(|| panic!("no cache_key= in {}", snippet.display()))
        .to_string()
}

impl Dovecot {
    pub fn start(f: &Fixture, opts: Options) -> Dovecot {
        crate::sweep::leftovers();
        let dir = tempfile::Builder::new()
            .prefix(&format!("apppass-dovecot-{}-", std::process::id()))
            .tempdir()
            .unwrap();
        // Dovecot's unprivileged processes must reach run/ and mail/.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mail = dir.path().join("mail");
        std::fs::create_dir(&mail).unwrap();
        std::fs::set_permissions(&mail, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("apppass-t-{}-{n}", std::process::id());
        let mut dc = Dovecot {
            conf: dir.path().join("dovecot.conf"),
            prefix: prefix.clone(),
            imap: free_port(),
            pop3: free_port(),
            submission: free_port(),
            pam_files: Vec::new(),
            dir,
        };
        let cache_key = if opts.cache {
            format!("{} ", shipped_cache_key())
        } else {
            String::new()
        };
        let passdb = match &opts.passdb {
            Passdb::Fixed => {
                format!("passdb {{\n  driver = pam\n  args = {cache_key}{prefix}\n}}\n")
            }
            Passdb::PerProtocol => {
                format!("passdb {{\n  driver = pam\n  args = {cache_key}{prefix}-%s\n}}\n")
            }
            Passdb::FirstThenPerProtocol(first) => {
                format!("{first}\npassdb {{\n  driver = pam\n  args = {cache_key}{prefix}-%s\n}}\n")
            }
            Passdb::Blocks(protocols) => {
                let mut s = "passdb {\n  driver = passwd-file\n  args = /dev/null\n}\n".to_string();
                for p in protocols {
                    s.push_str(&format!(
                        "protocol {p} {{\n  passdb {{\n    driver = pam\n    args = {cache_key}{prefix}-{p}\n  }}\n}}\n"
                    ));
                }
                s
            }
        };
        let cache = if opts.cache {
            "auth_cache_size = 1M\nauth_cache_ttl = 1 hour\nauth_cache_negative_ttl = 1 hour\n"
        } else {
            "auth_cache_size = 0\n"
        };
        let d = dc.dir.path().display().to_string();
        let conf = format!(
            "protocols = imap pop3 submission
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
instance_name = {prefix}
log_path = {d}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
{cache}mail_location = maildir:{d}/mail/%u
hostname = mail.test
submission_relay_host = 127.0.0.1
submission_relay_port = {relay}
{passdb}userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={d}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    address = 127.0.0.1
    port = {sub}
  }}
}}
",
            relay = free_port(),
            imap = dc.imap,
            pop3 = dc.pop3,
            sub = dc.submission,
        );
        std::fs::write(&dc.conf, conf).unwrap();
        let stack = f.expand(&opts.stack);
        let names: Vec<String> = match &opts.passdb {
            Passdb::Fixed => vec![prefix.clone()],
            _ => opts
                .files_for
                .iter()
                .map(|p| format!("{prefix}-{p}"))
                .collect(),
        };
        for name in names {
            let path = PathBuf::from("/etc/pam.d").join(name);
            std::fs::write(&path, &stack).unwrap();
            dc.pam_files.push(path);
        }
        dc.launch();
        dc
    }

    fn launch(&self) {
        // Not output(): the daemonised master would hold the pipes open.
        let errors = self.dir.path().join("start.err");
        let status = Command::new("dovecot")
            .arg("-c")
            .arg(&self.conf)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&errors).unwrap())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "dovecot: {}",
            std::fs::read_to_string(&errors).unwrap_or_default()
        );
        self.wait_ready();
    }

    /// Stops this Dovecot (its PAM files stay) and waits until it is gone.
    pub fn stop(&self) {
        let _ = Command::new("doveadm")
            .arg("-c")
            .arg(&self.conf)
            .arg("stop")
            .stderr(std::process::Stdio::null())
            .status();
        // doveadm stop returns before every child is gone; wait for the master.
        let pid_file = self.dir.path().join("run/master.pid");
        let deadline = Instant::now() + Duration::from_secs(10);
        while pid_file.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts it again after [`Dovecot::stop`], on the same ports.
    pub fn start_again(&self) {
        self.launch();
    }

    /// Dovecot's auth-master socket, where `primary = dovecot` looks users up.
    pub fn auth_master(&self) -> PathBuf {
        self.dir.path().join("run/auth-master")
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in [self.imap, self.pop3, self.submission] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "Dovecot did not listen on {port}:\n{}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The PAM service name Dovecot uses for `protocol` in this instance.
    pub fn service(&self, protocol: &str) -> String {
        format!("{}-{protocol}", self.prefix)
    }

    /// Dovecot's auth-client socket, where Postfix sends SMTP AUTH.
    pub fn auth_socket(&self) -> PathBuf {
        self.dir.path().join("run/auth-client")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
        for f in &self.pam_files {
            let _ = std::fs::remove_file(f);
        }
    }
}
