//! A private PostgreSQL 15 cluster for the tests: initdb as an unprivileged
//! user in a directory of its own, loopback only, its own port and socket
//! directory, SCRAM passwords, TLS with a self-signed CA checked by
//! `sslmode=verify-full`. Stopped and removed when dropped; a cluster left
//! by an interrupted run is swept by [`crate::sweep::leftovers`].
//!
//! Roles, as the README tells an administrator to make them:
//! `apppass_admin` (owns the database, runs `apppass init`) and
//! `apppass_login` (what the PAM module connects as).

use crate::dovecot::free_port;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = "/usr/lib/postgresql/15/bin";
/// The unprivileged user the server runs as (initdb refuses root).
const RUN_AS: &str = "nobody";
pub const ADMIN_PASSWORD: &str = "admin-secret-for-tests";
pub const LOGIN_PASSWORD: &str = "login-secret-for-tests";
pub const REPLICATION_PASSWORD: &str = "replication-secret-for-tests";
pub const DIR_PREFIX: &str = "apppass-pg-";

pub struct Cluster {
    /// Everything of this cluster: data, sockets, certificates.
    pub dir: PathBuf,
    pub data: PathBuf,
    pub port: u16,
    pub ca: PathBuf,
    started: bool,
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn as_server_user(program: &str) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", RUN_AS, "--"])
        .arg(Path::new(BIN).join(program));
    c
}

fn chown_to_server_user(path: &Path) {
    run(Command::new("chown").args(["-R", RUN_AS]).arg(path));
}

/// Whether a PostgreSQL 15 server can be run here.
pub fn available() -> bool {
    Path::new(BIN).join("postgres").exists()
}

impl Cluster {
    /// A new cluster, started, with the apppass roles and database.
    pub fn start() -> Cluster {
        static N: AtomicU32 = AtomicU32::new(0);
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(sweep);
        assert!(
            available(),
            "PostgreSQL 15 is not installed; `make test-deps` installs postgresql-15"
        );
        // Under /tmp: the server user must reach it, and a checkout under
        // /root is closed to it.
        let dir = std::env::temp_dir().join(format!(
            "{DIR_PREFIX}{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        crate::debian13::set_mode(&dir, 0o755);
        let data = dir.join("data");
        let ca = Self::make_certificates(&dir);
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, "superuser-secret-for-tests\n").unwrap();
        chown_to_server_user(&dir);
        run(as_server_user("initdb")
            .args(["-D"])
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .arg(format!("--pwfile={}", pwfile.display())));
        let port = free_port();
        let mut c = Cluster {
            dir,
            data,
            port,
            ca,
            started: false,
        };
        c.configure();
        c.start_server();
        c.psql_super(&format!(
            "CREATE ROLE apppass_admin LOGIN PASSWORD '{ADMIN_PASSWORD}';
             CREATE ROLE apppass_login LOGIN PASSWORD '{LOGIN_PASSWORD}';
             CREATE ROLE replicator LOGIN REPLICATION PASSWORD '{REPLICATION_PASSWORD}';"
        ));
        c.create_database("apppass");
        c
    }

    /// A CA and a server certificate for 127.0.0.1 and localhost.
    fn make_certificates(dir: &Path) -> PathBuf {
        // Issued 30 days ago, as a real server's would have been: a client
        // whose clock steps back (the soak suite's faketime) still trusts it.
        let backdate = Command::new("faketime").arg("--version").output().is_ok();
        let ssl = |args: &[&str]| {
            let mut cmd = if backdate {
                let mut c = Command::new("faketime");
                c.args(["-f", "-30d", "openssl"]);
                c
            } else {
                Command::new("openssl")
            };
            run(cmd.args(args).current_dir(dir));
        };
        ssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "60",
            "-subj",
            "/CN=apppass test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ]);
        ssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        std::fs::write(
            dir.join("san.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        ssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "60",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ]);
        crate::debian13::set_mode(&dir.join("server.key"), 0o600);
        crate::debian13::set_mode(&dir.join("ca.crt"), 0o644);
        dir.join("ca.crt")
    }

    fn configure(&self) {
        // max_connections is PostgreSQL's default: the soak suite's 50
        // self-service clients hold one each at once through apppassd,
        // beside the up to 8 a threaded test process's module keeps.
        let conf = format!(
            "listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{dir}'
ssl = on
ssl_cert_file = '{dir}/server.crt'
ssl_key_file = '{dir}/server.key'
password_encryption = 'scram-sha-256'
fsync = off
full_page_writes = off
synchronous_commit = off
wal_level = replica
max_wal_senders = 4
shared_buffers = 16MB
max_connections = 100
log_min_messages = warning
",
            port = self.port,
            dir = self.dir.display()
        );
        std::fs::write(self.data.join("postgresql.auto.conf"), conf).unwrap();
        std::fs::write(
            self.data.join("pg_hba.conf"),
            "local all postgres trust
hostssl all all 127.0.0.1/32 scram-sha-256
hostssl replication replicator 127.0.0.1/32 scram-sha-256
",
        )
        .unwrap();
        chown_to_server_user(&self.data);
    }

    fn start_server(&mut self) {
        run(as_server_user("pg_ctl")
            .args(["-D"])
            .arg(&self.data)
            .args(["-l"])
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "30", "start"]));
        self.started = true;
    }

    /// Stops the server at once, as a crash would.
    pub fn kill(&mut self) {
        if self.started {
            let _ = as_server_user("pg_ctl")
                .args(["-D"])
                .arg(&self.data)
                .args(["-m", "immediate", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            self.started = false;
        }
    }

    /// Stops the server cleanly (`pg_ctl stop -m fast`): its clients are
    /// told and disconnected.
    pub fn stop(&mut self) {
        if self.started {
            run(as_server_user("pg_ctl")
                .args(["-D"])
                .arg(&self.data)
                .args(["-m", "fast", "-w", "stop"]));
            self.started = false;
        }
    }

    /// Starts a stopped server again, on the same port with the same data.
    pub fn start_again(&mut self) {
        assert!(!self.started, "the server runs already");
        self.start_server();
    }

    /// Runs SQL as the superuser over the socket; its output.
    pub fn psql_super(&self, sql: &str) -> String {
        self.psql_db("postgres", sql)
    }

    /// psql as the superuser over the socket, to `db`.
    fn psql(&self, db: &str, sql: &str) -> Command {
        let mut c = as_server_user("psql");
        c.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.dir)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
                "-c",
                sql,
            ]);
        c
    }

    /// psql as the superuser to `db`, reading statements from its stdin
    /// (piped, as is its stdout): a session a test keeps open, such as a
    /// transaction left uncommitted while others commit.
    pub fn psql_session(&self, db: &str) -> std::process::Child {
        let mut c = as_server_user("psql");
        c.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.dir)
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    }

    pub fn psql_db(&self, db: &str, sql: &str) -> String {
        let out = run(&mut self.psql(db, sql));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `psql_db` that may fail (a standby still catching up): `None` then.
    pub fn psql_db_try(&self, db: &str, sql: &str) -> Option<String> {
        let out = self.psql(db, sql).stdin(Stdio::null()).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Runs SQL as `role` over TLS; the whole output, failure or not.
    pub fn psql_as(&self, role: &str, password: &str, db: &str, sql: &str) -> Output {
        Command::new(Path::new(BIN).join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.conninfo_for(role, password, db))
            .args(["-c", sql])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn create_database(&self, name: &str) {
        self.psql_super(&format!("CREATE DATABASE {name} OWNER apppass_admin"));
        // Nobody but the owner may create objects in it.
        self.psql_db(name, "REVOKE CREATE ON SCHEMA public FROM PUBLIC");
    }

    /// The last `n` lines of the server's log: why it refused or dropped a
    /// connection, for a test's failure message.
    pub fn log_tail(&self, n: usize) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// A libpq connection string for `role` to `db`, verifying the server.
    /// No `connect_timeout`: the module's and the CLI's own defaults are
    /// what users get, and what the tests should meet. (With 3 s here, a
    /// login connecting while `make check` loaded both cores beside 50
    /// self-service clients once gave up mid-handshake.)
    pub fn conninfo_for(&self, role: &str, password: &str, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} dbname={db} user={role} password={password} sslmode=verify-full sslrootcert={}",
            self.port,
            self.ca.display()
        )
    }

    pub fn admin_conninfo(&self, db: &str) -> String {
        self.conninfo_for("apppass_admin", ADMIN_PASSWORD, db)
    }

    pub fn login_conninfo(&self, db: &str) -> String {
        self.conninfo_for("apppass_login", LOGIN_PASSWORD, db)
    }

    /// Waits until the server accepts connections on its port.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            let ok = as_server_user("pg_isready")
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// A streaming standby of this cluster (`pg_basebackup -R`) on its own
    /// port, started.
    pub fn standby(&self) -> Cluster {
        let dir = PathBuf::from(format!("{}-standby", self.dir.display()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["server.crt", "server.key", "ca.crt"] {
            std::fs::copy(self.dir.join(f), dir.join(f)).unwrap();
        }
        crate::debian13::set_mode(&dir.join("server.key"), 0o600);
        chown_to_server_user(&dir);
        let data = dir.join("data");
        let mut pg = as_server_user("pg_basebackup");
        pg.args(["-D"])
            .arg(&data)
            .args(["-R", "-X", "stream", "-c", "fast", "-d"])
            .arg(format!(
                "host=127.0.0.1 port={} user=replicator password={REPLICATION_PASSWORD} sslmode=verify-full sslrootcert={}",
                self.port,
                self.ca.display()
            ));
        run(&mut pg);
        let mut s = Cluster {
            dir,
            data,
            port: free_port(),
            ca: self.ca.clone(),
            started: false,
        };
        // Same settings with the standby's own port and socket directory;
        // pg_basebackup -R appended primary_conninfo, which is kept.
        let auto = std::fs::read_to_string(s.data.join("postgresql.auto.conf")).unwrap();
        let kept: String = auto
            .lines()
            .filter(|l| l.starts_with("primary_conninfo"))
            .map(|l| format!("{l}\n"))
            .collect();
        s.configure();
        let mut conf = std::fs::read_to_string(s.data.join("postgresql.auto.conf")).unwrap();
        conf.push_str(&kept);
        std::fs::write(s.data.join("postgresql.auto.conf"), conf).unwrap();
        chown_to_server_user(&s.data);
        s.start_server();
        s
    }

    pub fn promote(&self) {
        run(as_server_user("pg_ctl")
            .args(["-D"])
            .arg(&self.data)
            .args(["-w", "promote"]));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Stops and removes clusters whose test process is gone.
pub fn sweep() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(DIR_PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if pid.is_empty() || Path::new("/proc").join(pid).exists() {
            continue;
        }
        let data = e.path().join("data");
        let _ = as_server_user("pg_ctl")
            .args(["-D"])
            .arg(&data)
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(e.path());
    }
}

static SHARED: std::sync::OnceLock<Cluster> = std::sync::OnceLock::new();

/// One cluster for a whole test process (each test its own database),
/// stopped and removed when the process exits.
pub fn shared() -> &'static Cluster {
    SHARED.get_or_init(|| {
        let c = Cluster::start();
        // SAFETY: registers a plain function without arguments; statics
        // are never dropped, so this is how the server goes with us.
        unsafe { libc::atexit(stop_shared) };
        c
    })
}

extern "C" fn stop_shared() {
    if let Some(c) = SHARED.get() {
        let _ = as_server_user("pg_ctl")
            .args(["-D"])
            .arg(&c.data)
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&c.dir);
    }
}

/// A directory for the key the hosts of one store share (0700), and the
/// key's path in it (`init` makes the key).
pub fn key_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("apppass-e2e-key-")
        .tempdir()
        .unwrap();
    crate::debian13::set_mode(dir.path(), 0o700);
    let key = dir.path().join("key");
    (dir, key)
}

/// A fresh database of the shared cluster, for one test.
pub fn fresh_database() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let db = format!(
        "t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    shared().create_database(&db);
    db
}

/// A host whose store is a fresh database of the shared cluster, with its
/// key in a directory of its own.
pub struct PgHost {
    pub fixture: crate::fixture::Fixture,
    pub db: String,
    pub login_conninfo: String,
    pub key: std::path::PathBuf,
    _keydir: tempfile::TempDir,
}

pub fn host() -> PgHost {
    let cluster = shared();
    let db = fresh_database();
    let keydir = tempfile::tempdir().unwrap();
    let key = keydir.path().join("key");
    let login_conninfo = cluster.login_conninfo(&db);
    let fixture =
        crate::fixture::Fixture::postgres(&login_conninfo, &cluster.admin_conninfo(&db), &key);
    PgHost {
        fixture,
        db,
        login_conninfo,
        key,
        _keydir: keydir,
    }
}
