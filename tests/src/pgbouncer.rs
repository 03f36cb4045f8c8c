//! PgBouncer in transaction mode in front of a test cluster, as many
//! PostgreSQL deployments run it: each transaction of a client goes to
//! whichever server session is free, so a name prepared on one session is
//! unknown on the next. Debian 12's PgBouncer (1.18) does not track
//! prepared statements for its clients (1.21 learned to).

use crate::dovecot::free_port;
use crate::postgres::{Cluster, LOGIN_PASSWORD};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = "/usr/sbin/pgbouncer";

/// Whether PgBouncer is installed here.
pub fn available() -> bool {
    std::path::Path::new(BIN).exists()
}

/// Where a pooler keeps its files: `apppass-pgbouncer-PID-N` in the
/// temporary directory, PID being the test process (see [`sweep`]).
pub const DIR_PREFIX: &str = "apppass-pgbouncer-";

pub struct Pooler {
    pub port: u16,
    pub db: String,
    dir: PathBuf,
    child: Child,
}

impl Pooler {
    /// A pooler for `db` of `cluster` on its own port, for the login role,
    /// in transaction mode with room for several server sessions.
    pub fn start(cluster: &Cluster, db: &str) -> Pooler {
        assert!(
            available(),
            "PgBouncer is not installed; `make test-deps` installs pgbouncer"
        );
        static N: AtomicU32 = AtomicU32::new(0);
        crate::sweep::leftovers();
        let dir = std::env::temp_dir().join(format!(
            "{DIR_PREFIX}{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        crate::debian13::set_mode(&dir, 0o755);
        let port = free_port();
        let d = dir.display();
        std::fs::write(
            dir.join("userlist.txt"),
            format!("\"apppass_login\" \"{LOGIN_PASSWORD}\"\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join("pgbouncer.ini"),
            format!(
                "[databases]
{db} = host=127.0.0.1 port={pg} dbname={db}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {d}/userlist.txt
pool_mode = transaction
default_pool_size = 4
server_tls_sslmode = verify-full
server_tls_ca_file = {ca}
logfile = {d}/pgbouncer.log
pidfile = {d}/pgbouncer.pid
",
                pg = cluster.port,
                ca = cluster.ca.display()
            ),
        )
        .unwrap();
        let status = Command::new("chown")
            .args(["-R", "nobody"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success());
        // PgBouncer refuses to run as root; started as nobody directly (no
        // runuser in between), so that killing the child stops it.
        let nobody = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, "nobody"]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        let child = Command::new(BIN)
            .uid(nobody("-u"))
            .gid(nobody("-g"))
            .arg(dir.join("pgbouncer.ini"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let p = Pooler {
            port,
            db: db.to_owned(),
            dir,
            child,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "PgBouncer did not start: {}",
                p.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        p
    }

    /// The login role's conninfo through the pooler (plain TCP on
    /// loopback; the pooler speaks TLS to the server).
    pub fn login_conninfo(&self) -> String {
        format!(
            "host=127.0.0.1 port={} dbname={} user=apppass_login password={LOGIN_PASSWORD} sslmode=disable connect_timeout=3",
            self.port, self.db
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }

    /// A client that opens a transaction and holds it, and with it the
    /// server session it was given, until dropped.
    pub fn hold_a_session(&self) -> HeldSession {
        let mut child = Command::new(PathBuf::from(crate::postgres::BIN).join("psql"))
            .args(["-X", "-q", "-A", "-t", "-d", &self.login_conninfo()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdin
            .write_all(b"BEGIN;\nSELECT 'held ' || pg_backend_pid();\n")
            .unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(line.starts_with("held "), "psql said {line:?}");
        HeldSession {
            child,
            _stdin: stdin,
            _stdout: stdout,
        }
    }
}

impl Drop for Pooler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Stops a pooler left by a test process that is gone (killed before
/// its destructors ran) and removes its files.
pub fn sweep(dir: &std::path::Path) {
    if let Ok(pid) = std::fs::read_to_string(dir.join("pgbouncer.pid")) {
        if let Ok(pid) = pid.trim().parse::<i32>() {
            // SAFETY: a plain signal to a pid read from the pooler's file.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

pub struct HeldSession {
    child: Child,
    _stdin: ChildStdin,
    _stdout: BufReader<ChildStdout>,
}

impl Drop for HeldSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
