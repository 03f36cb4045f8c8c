//! Virtual mail users whose primary passwords live in an SQL table that
//! Dovecot reads (PostfixAdmin-style), with SQLite as the engine: the
//! table, Dovecot's two SQL passdb files (the login one, and the one only
//! the service `apppass` sees, which hands apppass a hash of the password
//! column), and resets made the way an administrator's tool makes them.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

pub struct SqlPassdb {
    dir: tempfile::TempDir,
}

/// The apppass passdb's query and its override, as the README gives them.
pub const APPPASS_QUERY: &str = "SELECT username AS user, password, password AS apppass_primary \
     FROM users WHERE username = '%u'";
pub const OVERRIDE: &str = "apppass_primary=%{sha256:passdb:apppass_primary}";

impl SqlPassdb {
    pub fn create() -> SqlPassdb {
        let dir = tempfile::Builder::new()
            .prefix(&format!("apppass-sqlpassdb-{}-", std::process::id()))
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let db = rusqlite::Connection::open(dir.path().join("users.db")).unwrap();
        db.execute_batch("CREATE TABLE users (username TEXT PRIMARY KEY, password TEXT);")
            .unwrap();
        let sql = SqlPassdb { dir };
        let users = sql.path("users.db").display().to_string();
        let common =
            format!("driver = sqlite\nconnect = {users}\ndefault_pass_scheme = SHA512-CRYPT\n");
        std::fs::write(
            sql.path("login.conf.ext"),
            format!("{common}password_query = SELECT username AS user, password FROM users WHERE username = '%u'\n"),
        )
        .unwrap();
        std::fs::write(
            sql.path("apppass.conf.ext"),
            format!("{common}password_query = {APPPASS_QUERY}\n"),
        )
        .unwrap();
        sql
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The passdb blocks for dovecot.conf: the login passdb for every
    /// protocol, and, with `for_apppass`, the one only `apppass` sees.
    pub fn passdbs(&self, for_apppass: bool) -> String {
        let mut s = format!(
            "passdb {{\n  driver = sql\n  args = {}\n}}\n",
            self.path("login.conf.ext").display()
        );
        if for_apppass {
            s.push_str(&format!(
                "protocol apppass {{\n  passdb {{\n    driver = sql\n    args = {}\n    override_fields = {OVERRIDE}\n  }}\n}}\n",
                self.path("apppass.conf.ext").display()
            ));
        }
        s
    }

    /// Sets (or adds) `user`'s primary password, hashed as Dovecot hashes it.
    pub fn set_password(&self, user: &str, password: &str) {
        let out = Command::new("doveadm")
            .args(["pw", "-s", "SHA512-CRYPT", "-p", password])
            .output()
            .unwrap();
        assert!(out.status.success(), "doveadm pw failed");
        let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let db = rusqlite::Connection::open(self.path("users.db")).unwrap();
        db.execute(
            "INSERT INTO users (username, password) VALUES (?1, ?2)
             ON CONFLICT (username) DO UPDATE SET password = excluded.password",
            [user, hash.as_str()],
        )
        .unwrap();
    }
}
