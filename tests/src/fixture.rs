//! A private world per test: a 0700 directory holding a copy of the built
//! module named `pam_apppass.so`, a PAM config directory and a store.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Runs `cmd` with `input` on its stdin and every stream piped; what it
/// printed and how it ended. A child that stops reading early is judged
/// by its exit, not by the write.
pub fn output_with_input(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

/// Where `make check` (cargo build --release) put the binaries.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("APPPASS_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release")
}

fn built(name: &str) -> PathBuf {
    let p = target_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: build the workspace in release mode first (make check does)",
        p.display()
    );
    p
}

pub fn built_module() -> PathBuf {
    built("libpam_apppass.so")
}

pub fn apppass_bin() -> PathBuf {
    built("apppass")
}

pub fn apppass_web_bin() -> PathBuf {
    built("apppass-web")
}

pub fn apppassd_bin() -> PathBuf {
    built("apppassd")
}

pub fn pam_host_bin() -> PathBuf {
    built("pam-host")
}

/// Runs `pam-host CONFDIR ARGS…` (see src/bin/pam_host.rs) to its end
/// through `cmd` (the binary, or a wrapper such as setpriv in front of
/// it) and returns what it saw.
pub fn run_pam_host(mut cmd: Command, confdir: &Path, args: &[&str]) -> serde_json::Value {
    let out = cmd.arg(confdir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "pam-host: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// [`run_pam_host`] with nothing in front of the binary.
pub fn pam_host(confdir: &Path, args: &[&str]) -> serde_json::Value {
    run_pam_host(Command::new(pam_host_bin()), confdir, args)
}

pub fn pam_steps_bin() -> PathBuf {
    built("pam-steps")
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub confdir: PathBuf,
    pub db: PathBuf,
    pub module: PathBuf,
    /// A configuration file naming the store (PostgreSQL): the CLI gets
    /// `--config` and PAM files `config=` instead of the SQLite path.
    pub config: Option<PathBuf>,
}

impl Fixture {
    /// An initialised store, the module and an empty PAM config directory.
    pub fn new() -> Self {
        let f = Self::uninitialised();
        let out = f.apppass(&["init"]);
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        f
    }

    /// Everything but the store.
    pub fn uninitialised() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("apppass-e2e-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let confdir = dir.path().join("pam.d");
        std::fs::create_dir(&confdir).unwrap();
        // What libpam falls back to for a service without a file: deny all.
        std::fs::write(
            confdir.join("other"),
            "auth required pam_deny.so\naccount required pam_deny.so\npassword required pam_deny.so\nsession required pam_deny.so\n",
        )
        .unwrap();
        let module = dir.path().join("pam_apppass.so");
        std::fs::copy(built_module(), &module).unwrap();
        let db = dir.path().join("store").join("apppass.db");
        Fixture {
            dir,
            confdir,
            db,
            module,
            config: None,
        }
    }

    /// A host whose store is the PostgreSQL database `login`/`admin`
    /// connect to, with the key at `key` (shared by every host of that
    /// store), initialised through the CLI.
    pub fn postgres(login: &str, admin: &str, key: &Path) -> Self {
        let mut f = Self::uninitialised();
        let conf = f.dir.path().join("apppass.conf");
        std::fs::write(
            &conf,
            format!(
                "# written by the tests\nstore = postgresql\nconninfo = {login}\nadmin_conninfo = {admin}\nkey = {}\n",
                key.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
        f.config = Some(conf);
        let out = f.apppass(&["init"]);
        assert!(out.status.success(), "init: {}", stderr(&out));
        f
    }

    /// Names this SQLite store through a configuration file holding `extra`
    /// lines too: the CLI gets `--config`, PAM files written from now on
    /// `config=`. Called again, it rewrites the file.
    pub fn configure(&mut self, extra: &str) {
        let conf = self.dir.path().join("apppass.conf");
        std::fs::write(
            &conf,
            format!(
                "# written by the tests
db = {}
{extra}",
                self.db.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
        self.config = Some(conf);
    }

    /// Writes a PAM service file from `lines` (see [`Fixture::expand`]).
    pub fn service(&self, name: &str, lines: &str) {
        std::fs::write(self.confdir.join(name), self.expand(lines)).unwrap();
    }

    /// `lines` with `@MODULE@` and `@DB@` replaced by the module's and the
    /// store's paths. The `@` keeps them from matching inside a path: a
    /// random directory name such as `apppass-e2e-6SzDBS` holds `DB`.
    pub fn expand(&self, lines: &str) -> String {
        let lines = match &self.config {
            Some(conf) => lines.replace("db=@DB@", &format!("config={}", conf.display())),
            None => lines.to_string(),
        };
        fill_in(
            &lines,
            &self.module.display().to_string(),
            &self.db.display().to_string(),
        )
    }

    /// The simplest useful stack: app password or nothing.
    pub fn simple_service(&self, name: &str) {
        self.service(
            name,
            "auth sufficient @MODULE@ db=@DB@\nauth requisite pam_deny.so\naccount sufficient @MODULE@ db=@DB@\naccount required pam_deny.so\n",
        );
    }

    pub fn apppass(&self, args: &[&str]) -> Output {
        self.apppass_stdin(args, b"")
    }

    pub fn apppass_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        output_with_input(&mut self.apppass_command(args), stdin)
    }

    /// `apppass ARGS` on this store, all three streams piped, not started.
    pub fn apppass_command(&self, args: &[&str]) -> Command {
        let (flag, store) = match &self.config {
            Some(conf) => ("--config", conf),
            None => ("--db", &self.db),
        };
        let mut cmd = Command::new(apppass_bin());
        cmd.arg(flag)
            .arg(store)
            .args(args)
            .env_remove("APPPASS_DB")
            .env_remove("APPPASS_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `apppass generate ARGS...`, asserts it succeeded and returns
    /// the password it printed.
    pub fn issue(&self, args: &[&str]) -> String {
        let mut all = vec!["generate"];
        all.extend_from_slice(args);
        let out = self.apppass(&all);
        assert!(out.status.success(), "generate: {}", stderr(&out));
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end()
            .to_string()
    }

    /// A password for a virtual user (`*` in `services`: any service).
    pub fn generate(&self, user: &str, services: &[&str], label: &str) -> String {
        let mut args = vec![user, "--label", label, "--virtual"];
        for s in services {
            if *s == "*" {
                args.push("--any-service");
            } else {
                args.push("--service");
                args.push(s);
            }
        }
        self.issue(&args)
    }

    pub fn list_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["list", "--json"];
        a.extend_from_slice(args);
        self.json(&a)
    }

    /// `apppass history USER --json`.
    pub fn history_json(&self, user: &str) -> serde_json::Value {
        self.json(&["history", user, "--json"])
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.apppass(args);
        assert!(out.status.success(), "{}: {}", args[0], stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The `list --all --json` object of USER's password labelled LABEL.
    pub fn row(&self, user: &str, label: &str) -> serde_json::Value {
        let rows = self.list_json(&["--all", user]);
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["label"] == label)
            .unwrap_or_else(|| panic!("no password labelled {label} for {user}"))
            .clone()
    }

    /// Revokes `user`'s password labelled `label`; the CLI must succeed.
    pub fn revoke(&self, user: &str, label: &str) {
        let out = self.apppass(&["revoke", user, "--label", label]);
        assert!(out.status.success(), "revoke: {}", stderr(&out));
    }

    /// Moves the expiry of the passwords labelled `label` to `offset`
    /// seconds from now (negative: already expired).
    pub fn expire_at(&self, label: &str, offset: i64) {
        let c = rusqlite::Connection::open(&self.db).unwrap();
        let n = c
            .execute(
                "UPDATE passwords SET expires_at = strftime('%s','now') + ?1 WHERE label = ?2",
                rusqlite::params![offset, label],
            )
            .unwrap();
        assert!(n > 0, "no password labelled {label}");
    }

    /// Runs SQL on the store directly: how tests put past times in it.
    pub fn sql(&self, statement: &str) {
        let c = rusqlite::Connection::open(&self.db).unwrap();
        c.execute_batch(statement).unwrap();
    }

    /// How many unrevoked passwords `user` has, read from the store.
    pub fn active(&self, user: &str) -> usize {
        let c = rusqlite::Connection::open(&self.db).unwrap();
        c.query_row(
            "SELECT count(*) FROM passwords WHERE user = ?1 AND revoked_at IS NULL",
            [user],
            |r| r.get(0),
        )
        .unwrap()
    }

    /// The number a counting query on the store gives.
    pub fn count(&self, query: &str) -> i64 {
        let c = rusqlite::Connection::open(&self.db).unwrap();
        c.query_row(query, [], |r| r.get(0)).unwrap()
    }

    pub fn key(&self) -> PathBuf {
        self.db.parent().unwrap().join("key")
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fill_in(lines: &str, module: &str, db: &str) -> String {
    lines.replace("@MODULE@", module).replace("@DB@", db)
}

#[cfg(test)]
mod tests {
    use super::fill_in;

    #[test]
    fn paths_that_contain_the_placeholder_words_are_left_alone() {
        assert_eq!(
            fill_in(
                "auth required @MODULE@ db=@DB@\nauth required pam_deny.so\n",
                "/tmp/apppass-e2e-6SzDBS/pam_apppass.so",
                "/tmp/apppass-e2e-MODULE/store/apppass.db",
            ),
            "auth required /tmp/apppass-e2e-6SzDBS/pam_apppass.so \
             db=/tmp/apppass-e2e-MODULE/store/apppass.db\nauth required pam_deny.so\n"
        );
    }
}
