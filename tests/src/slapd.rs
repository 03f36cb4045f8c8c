//! A private OpenLDAP slapd on 127.0.0.1: its own CA and certificate, its
//! own database under /tmp, the ppolicy overlay (which stamps
//! pwdChangedTime on every password change), a bind DN for apppass that may
//! read userPassword, and users loaded offline. Passwords change with
//! ldappasswd, as an administrator's tools change them. Stopped and
//! removed on drop.

use crate::dovecot::free_port;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const BASE: &str = "ou=people,dc=example,dc=org";
pub const BIND_DN: &str = "cn=apppass,dc=example,dc=org";
const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
const ADMIN_PW: &str = "admin-secret";
const BIND_PW: &str = "bind-secret";

pub struct Slapd {
    dir: tempfile::TempDir,
    pub ldap: u16,
    pub ldaps: u16,
}

/// Whether slapd and the LDAP tools are installed.
pub fn available() -> bool {
    [
        "/usr/sbin/slapd",
        "/usr/bin/ldappasswd",
        "/usr/sbin/slappasswd",
    ]
    .iter()
    .all(|p| Path::new(p).exists())
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn hash(password: &str) -> String {
    run(Command::new("/usr/sbin/slappasswd").args(["-s", password]))
        .trim()
        .to_string()
}

impl Slapd {
    /// Started with `users` (uid, password) loaded offline: as loaded, they
    /// have no pwdChangedTime until their first change.
    pub fn start(users: &[(&str, &str)]) -> Slapd {
        let dir = tempfile::Builder::new()
            .prefix(&format!("apppass-slapd-{}-", std::process::id()))
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let s = Slapd {
            ldap: free_port(),
            ldaps: free_port(),
            dir,
        };
        let d = s.dir.path();
        s.certificates();
        std::fs::create_dir(d.join("data")).unwrap();
        let conf = format!(
            "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
TLSCACertificateFile {d}/ca.pem
TLSCertificateFile {d}/server.pem
TLSCertificateKeyFile {d}/server.key
database mdb
suffix \"dc=example,dc=org\"
rootdn \"{ADMIN_DN}\"
rootpw {ADMIN_PW}
directory {d}/data
maxsize 16777216
overlay ppolicy
ppolicy_default \"cn=default,ou=policies,dc=example,dc=org\"
access to attrs=userPassword
  by self write
  by dn.exact=\"{BIND_DN}\" read
  by anonymous auth
  by * none
access to *
  by * read
",
            d = d.display()
        );
        std::fs::write(d.join("slapd.conf"), conf).unwrap();
        let mut ldif = format!(
            "dn: dc=example,dc=org\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
             dn: {BASE}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: ou=policies,dc=example,dc=org\nobjectClass: organizationalUnit\nou: policies\n\n\
             dn: cn=default,ou=policies,dc=example,dc=org\nobjectClass: applicationProcess\nobjectClass: pwdPolicy\ncn: default\npwdAttribute: userPassword\npwdMaxAge: 315360000\n\n\
             dn: {BIND_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: apppass\nuserPassword: {}\n\n",
            hash(BIND_PW)
        );
        for (uid, pw) in users {
            ldif.push_str(&format!(
                "dn: uid={uid},{BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\nuserPassword: {}\n\n",
                hash(pw)
            ));
        }
        std::fs::write(d.join("init.ldif"), ldif).unwrap();
        run(Command::new("/usr/sbin/slapadd")
            .args(["-q", "-f"])
            .arg(d.join("slapd.conf"))
            .arg("-l")
            .arg(d.join("init.ldif")));
        let secret = d.join("ldap.secret");
        std::fs::write(&secret, format!("{BIND_PW}\n")).unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        s.launch();
        s
    }

    fn certificates(&self) {
        let d = self.dir.path();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        run(Command::new("openssl")
            .args(["req", "-x509"])
            .args(ec)
            .arg("-keyout")
            .arg(d.join("ca.key"))
            .arg("-out")
            .arg(d.join("ca.pem"))
            .args(["-days", "2", "-subj", "/CN=apppass test LDAP CA"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign"]));
        run(Command::new("openssl")
            .arg("req")
            .args(ec)
            .arg("-keyout")
            .arg(d.join("server.key"))
            .arg("-out")
            .arg(d.join("server.csr"))
            .args(["-subj", "/CN=127.0.0.1"]));
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(Command::new("openssl")
            .args(["x509", "-req", "-in"])
            .arg(d.join("server.csr"))
            .arg("-CA")
            .arg(d.join("ca.pem"))
            .arg("-CAkey")
            .arg(d.join("ca.key"))
            .arg("-CAcreateserial")
            .arg("-out")
            .arg(d.join("server.pem"))
            .args(["-days", "2", "-extfile"])
            .arg(d.join("ext.cnf")));
    }

    fn launch(&self) {
        let d = self.dir.path();
        run(Command::new("/usr/sbin/slapd")
            .arg("-f")
            .arg(d.join("slapd.conf"))
            .arg("-h")
            .arg(format!(
                "ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/",
                self.ldap, self.ldaps
            )));
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in [self.ldap, self.ldaps] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "slapd did not listen on {port}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.path().join("slapd.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The bind DN's password file (0600), for ldap_bind_password_file.
    pub fn bind_secret_file(&self) -> PathBuf {
        self.dir.path().join("ldap.secret")
    }

    pub fn ldaps_uri(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.ldaps)
    }

    pub fn ldap_uri(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.ldap)
    }

    /// Resets `uid`'s password as an administrator does (ldappasswd over
    /// StartTLS): a new userPassword, and ppolicy stamps pwdChangedTime.
    pub fn passwd(&self, uid: &str, new: &str) {
        run(Command::new("ldappasswd")
            .env("LDAPTLS_CACERT", self.ca())
            .args([
                "-H",
                &self.ldap_uri(),
                "-ZZ",
                "-x",
                "-D",
                ADMIN_DN,
                "-w",
                ADMIN_PW,
            ])
            .args(["-s", new])
            .arg(format!("uid={uid},{BASE}")));
    }

    /// Stops answering while still accepting connections (SIGSTOP).
    pub fn pause(&self) {
        if let Some(pid) = self.pid() {
            // SAFETY: a signal to the slapd this fixture started.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
        }
    }

    pub fn resume(&self) {
        if let Some(pid) = self.pid() {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
    }

    /// Stops slapd and waits until it is gone.
    pub fn stop(&self) {
        let Some(pid) = self.pid() else { return };
        // SAFETY: as above; a stopped process needs SIGCONT to see TERM.
        unsafe {
            libc::kill(pid, libc::SIGCONT);
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        // slapd removes its PID file as it exits.
        let pid_file = self.dir.path().join("slapd.pid");
        while pid_file.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts it again on the same ports.
    pub fn start_again(&self) {
        self.launch();
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}
