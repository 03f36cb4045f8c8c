//! PAM sessions opened with an app password end when it is taken out of
//! service: `session optional pam_apppass.so` registers the process that
//! opened the session under /run/apppass/sessions, and a revoke signals
//! that process only. Through real libpam in this process, and through a
//! private sshd with real SSH clients logging in both ways sshd runs PAM.

use apppass_e2e::fixture::{stderr, Fixture};
use apppass_e2e::pam::*;
use apppass_e2e::sshd::Sshd;
use apppass_e2e::system::{require_root, SystemUser};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REGISTRY: &str = "/run/apppass/sessions";

/// sshd's stack: app password or primary; pam_unix opens the session, the
/// module registers it (an optional module alone would leave sshd no
/// session module that succeeds when the login used the primary password).
const SSHD_STACK: &str = "\
auth     sufficient  @MODULE@ db=@DB@
auth     required    pam_unix.so try_first_pass
account  required    pam_unix.so
session  required    pam_unix.so
session  optional    @MODULE@ db=@DB@ debug
";

/// A registered session as the registry shows it: (PID, password ID).
fn registered(user: &str) -> Vec<(i32, i64)> {
    let user_field = format!(" user={}:{user} ", user.len());
    let Ok(list) = std::fs::read_dir(REGISTRY) else {
        return Vec::new();
    };
    let mut found: Vec<(i32, i64)> = list
        .filter_map(|e| {
            let e = e.ok()?;
            let text = std::fs::read_to_string(e.path()).ok()?;
            if !text.contains(&user_field) {
                return None;
            }
            let pid = e.file_name().to_str()?.split('.').next()?.parse().ok()?;
            let id = text
                .strip_prefix("apppass-session 1 password=")?
                .split(' ')
                .next()?
                .parse()
                .ok()?;
            Some((pid, id))
        })
        .collect();
    found.sort();
    found
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn password_id(f: &Fixture, user: &str, label: &str) -> i64 {
    f.row(user, label)["id"].as_i64().unwrap()
}

#[test]
fn a_session_is_registered_after_an_app_password_login_and_removed_at_close() {
    let f = Fixture::new();
    let user = format!("sess-{}@example.org", std::process::id());
    let pw = f.generate(&user, &["term"], "Terminal");
    f.service(
        "term",
        "auth sufficient @MODULE@ db=@DB@\nauth requisite pam_deny.so\n\
         account sufficient @MODULE@ db=@DB@\naccount required pam_deny.so\n\
         session required pam_permit.so\nsession optional @MODULE@ db=@DB@\n",
    );
    let id = password_id(&f, &user, "Terminal");
    let mut p = Pam::start(&f.confdir, "term", user.as_bytes(), &[pw.as_bytes()]);
    assert_eq!(p.authenticate(), PAM_SUCCESS);
    assert!(
        p.env().contains(&format!("APPPASS_SESSION={id}:{user}")),
        "{:?}",
        p.env()
    );
    assert_eq!(p.open_session(), PAM_SUCCESS);
    // Read by the module and taken out: the session's environment never
    // carries it.
    assert!(
        !p.env().iter().any(|v| v.starts_with("APPPASS_SESSION")),
        "{:?}",
        p.env()
    );
    let me = std::process::id() as i32;
    if require_root("a_session_is_registered_after_an_app_password_login_and_removed_at_close") {
        assert_eq!(registered(&user), [(me, id)]);
        let meta = std::fs::metadata(REGISTRY).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o700
        );
    }
    assert_eq!(p.close_session(), PAM_SUCCESS);
    assert_eq!(registered(&user), []);
    drop(p);

    // A login that did not go through the module registers nothing, and a
    // session hook with nothing to do never fails the session.
    let mut p = Pam::start(&f.confdir, "term", user.as_bytes(), &[b"wrong".as_slice()]);
    assert_eq!(p.authenticate(), PAM_AUTH_ERR);
    assert_eq!(p.open_session(), PAM_SUCCESS);
    assert_eq!(registered(&user), []);
    assert_eq!(p.close_session(), PAM_SUCCESS);
}

/// `ssh USER@127.0.0.1 sleep 120` through sshpass: a session that stays
/// open until sshd ends it.
fn ssh_session(port: u16, user: &str, password: &str, method: &str) -> Child {
    Command::new("sshpass")
        .args(["-p", password, "ssh", "-p", &port.to_string()])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "GSSAPIAuthentication=no",
            "-o",
            &format!("PreferredAuthentications={method}"),
            "-o",
            "NumberOfPasswordPrompts=1",
            "-o",
            "ConnectTimeout=20",
            "-o",
            "LogLevel=ERROR",
        ])
        .arg(format!("{user}@127.0.0.1"))
        .args(["sleep", "120"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Kills the clients a failed assertion would leave behind.
struct Clients(Vec<Child>);

impl Drop for Clients {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn running(c: &mut Child) -> bool {
    c.try_wait().unwrap().is_none()
}

/// The start time of a process (field 22 of /proc/PID/stat).
fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 1..];
    after.split_whitespace().nth(19).unwrap().parse().unwrap()
}

#[test]
fn revoking_a_password_ends_its_ssh_session_and_no_other() {
    if !require_root("revoking_a_password_ends_its_ssh_session_and_no_other") {
        return;
    }
    let f = Fixture::new();
    let user = SystemUser::with_shell("Sessions-Primary-1!", "/bin/sh");
    let ssh = Sshd::start(&f, SSHD_STACK);
    let issue = |label: &str| f.issue(&[&user.name, "--label", label, "--service", &ssh.service]);
    let (laptop_pw, tablet_pw) = (issue("Laptop"), issue("Tablet"));
    let laptop = password_id(&f, &user.name, "Laptop");
    let tablet = password_id(&f, &user.name, "Tablet");

    // Password authentication runs PAM in sshd's monitor; keyboard-
    // interactive in a forked child, whose PAM environment sshd copies
    // back: both sessions must be found.
    let mut clients = Clients(vec![
        ssh_session(ssh.port, &user.name, &laptop_pw, "password"),
        ssh_session(ssh.port, &user.name, &tablet_pw, "keyboard-interactive"),
    ]);
    wait_for("both sessions to register", Duration::from_secs(30), || {
        registered(&user.name).len() == 2
    });
    let sessions = registered(&user.name);
    let pid_of = |id: i64| sessions.iter().find(|s| s.1 == id).unwrap().0;
    let (laptop_pid, tablet_pid) = (pid_of(laptop), pid_of(tablet));
    for pid in [laptop_pid, tablet_pid] {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let cmdline = String::from_utf8_lossy(&cmdline);
        // sshd's title for the process that runs PAM: its name (the
        // service, here), the user, [priv].
        assert!(
            cmdline.starts_with(&format!("{}: {} [priv]", ssh.service, user.name)),
            "registered process {pid} is {cmdline:?}"
        );
    }

    // An entry pointing at an unrelated live process with another start
    // time: the PID is not that session's process any more.
    let mut bystander = Command::new("sleep").arg("120").spawn().unwrap();
    let forged = Path::new(REGISTRY).join(format!(
        "{}.{}",
        bystander.id(),
        start_time(bystander.id()) + 1
    ));
    std::fs::write(
        &forged,
        format!(
            "apppass-session 1 password={laptop} user={}:{} service=4:sshd\n",
            user.name.len(),
            user.name
        ),
    )
    .unwrap();
    std::fs::set_permissions(&forged, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();

    for c in &mut clients.0 {
        assert!(
            running(c),
            "a session ended before the revoke:\n{}",
            ssh.log()
        );
    }
    let out = f.apppass(&["revoke", &user.name, "--label", "Laptop"]);
    assert!(out.status.success(), "revoke: {}", stderr(&out));
    let (ended, kept) = clients.0.split_at_mut(1);
    wait_for("the Laptop session to end", Duration::from_secs(5), || {
        !running(&mut ended[0])
    });
    assert!(running(&mut kept[0]), "the Tablet session ended too");
    assert!(
        running(&mut bystander),
        "an unrelated process was signalled"
    );
    let _ = bystander.kill();
    let _ = bystander.wait();
    assert!(!forged.exists(), "the stale entry was left");
    assert_eq!(registered(&user.name), [(tablet_pid, tablet)]);

    // The other one, logged in through the forked child, ends the same way.
    let out = f.apppass(&["revoke", &user.name, "--label", "Tablet"]);
    assert!(out.status.success(), "revoke: {}", stderr(&out));
    wait_for("the Tablet session to end", Duration::from_secs(5), || {
        !running(&mut kept[0])
    });
    wait_for("the registry to empty", Duration::from_secs(5), || {
        registered(&user.name).is_empty()
    });
}

#[test]
fn an_ssh_session_that_closes_leaves_no_entry_and_the_primary_password_registers_none() {
    if !require_root(
        "an_ssh_session_that_closes_leaves_no_entry_and_the_primary_password_registers_none",
    ) {
        return;
    }
    let f = Fixture::new();
    let primary = "Sessions-Primary-2!";
    let user = SystemUser::with_shell(primary, "/bin/sh");
    let ssh = Sshd::start(&f, SSHD_STACK);
    let pw = f.issue(&[&user.name, "--label", "Laptop", "--service", &ssh.service]);
    let mut clients = Clients(vec![
        ssh_session(ssh.port, &user.name, &pw, "keyboard-interactive"),
        ssh_session(ssh.port, &user.name, primary, "password"),
    ]);
    wait_for("the session to register", Duration::from_secs(30), || {
        registered(&user.name).len() == 1
    });
    // The primary password's session is open too (its client still runs)
    // and was not registered.
    std::thread::sleep(Duration::from_secs(1));
    assert!(running(&mut clients.0[1]), "{}", ssh.log());
    assert_eq!(registered(&user.name).len(), 1);
    // A client that goes away: sshd closes the PAM session, which removes
    // the entry.
    let _ = clients.0[0].kill();
    let _ = clients.0[0].wait();
    wait_for("the entry to go at close", Duration::from_secs(10), || {
        registered(&user.name).is_empty()
    });
}

/// The shipped example, /etc/pam.d/sshd as Debian 12 has it with our
/// lines, pointed at this test's module and store.
fn shipped_sshd_stack() -> String {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/pam.d/sshd");
    std::fs::read_to_string(shipped)
        .unwrap()
        .replace("pam_apppass.so", "@MODULE@ db=@DB@")
}

/// A home directory made for a test user (useradd -M names one it does not
/// make), removed at the end.
struct Home(std::path::PathBuf);

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_shipped_sshd_file_registers_before_the_users_pam_environment_is_read() {
    if !require_root("the_shipped_sshd_file_registers_before_the_users_pam_environment_is_read") {
        return;
    }
    let f = Fixture::new();
    let user = SystemUser::with_shell("Sessions-Primary-3!", "/bin/sh");
    // The user's own ~/.pam_environment (read by pam_env user_readenv=1)
    // tries to point the session at another user's login, which would
    // leave it unregistered if the module read the variable after pam_env.
    let home = Home(Path::new("/home").join(&user.name));
    std::fs::create_dir_all(&home.0).unwrap();
    let env_file = home.0.join(".pam_environment");
    std::fs::write(&env_file, "APPPASS_SESSION DEFAULT=1:nobody\n").unwrap();
    let owner = format!("{0}:{0}", user.name);
    let ok = Command::new("chown")
        .args(["-R", &owner])
        .arg(&home.0)
        .status()
        .unwrap()
        .success();
    assert!(ok, "chown {owner} failed");
    let ssh = Sshd::start(&f, &shipped_sshd_stack());
    let pw = f.issue(&[&user.name, "--label", "Laptop", "--service", &ssh.service]);
    let id = password_id(&f, &user.name, "Laptop");
    let mut clients = Clients(vec![ssh_session(
        ssh.port,
        &user.name,
        &pw,
        "keyboard-interactive",
    )]);
    wait_for("the session to register", Duration::from_secs(30), || {
        registered(&user.name).len() == 1 || !running(&mut clients.0[0])
    });
    assert!(
        running(&mut clients.0[0]),
        "the session failed:\n{}",
        ssh.log()
    );
    assert_eq!(registered(&user.name)[0].1, id);
    let out = f.apppass(&["revoke", &user.name, "--label", "Laptop"]);
    assert!(out.status.success(), "revoke: {}", stderr(&out));
    wait_for("the session to end", Duration::from_secs(5), || {
        !running(&mut clients.0[0])
    });
}
