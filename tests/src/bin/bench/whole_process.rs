//! The same logins as whole processes: `pamtester SERVICE USER
//! authenticate`, the password on its standard input, as a service that
//! forks and execs a PAM program per login pays for it. pamtester has no
//! confdir option: the services go to /etc/pam.d under a unique prefix
//! and are removed again, even after a failure.

use crate::report::{Report, POSTGRES, SQLITE, SYSTEM};
use crate::{median_ms, peers, PRIMARY, WRONG};
use apppass_e2e::fixture::Fixture;
use apppass_e2e::system::SystemUser;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

const SECTION: &str = "whole processes (pamtester), per login";

/// PAM files under /etc/pam.d, removed on drop.
struct Services(Vec<PathBuf>);

impl Services {
    fn add(&mut self, name: &str, lines: &str) -> String {
        let service = format!("apppass-bench-{}-{name}", std::process::id());
        let path = PathBuf::from("/etc/pam.d").join(&service);
        std::fs::write(&path, lines).unwrap();
        self.0.push(path);
        service
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn pamtester(service: &str, user: &str, password: &[u8]) -> bool {
    let mut child = Command::new("pamtester")
        .args([service, user, "authenticate"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pamtester (apt-get install pamtester)");
    // A module that never asks (pam_permit) leaves the pipe unread.
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin
        .write_all(password)
        .and_then(|()| stdin.write_all(b"\n"));
    drop(stdin);
    child.wait().unwrap().success()
}

fn time(service: &str, user: &str, password: &[u8], n: usize, want: bool) -> f64 {
    pamtester(service, user, password);
    median_ms(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                assert_eq!(pamtester(service, user, password), want, "{service}");
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

pub fn run(r: &mut Report, sqlite: &Fixture, pg: Option<&Fixture>, user: &SystemUser) {
    if Command::new("pamtester").arg("--version").output().is_err() {
        r.skip("whole processes: pamtester is not installed (apt-get install pamtester)");
        return;
    }
    let mut services = Services(Vec::new());
    let floor = services.add("permit", "auth required pam_permit.so\n");
    r.add(
        SECTION,
        "pam_permit (floor)",
        SYSTEM,
        time(&floor, "x", WRONG, 40, true),
        "ms",
    );
    for (f, store) in [(Some(sqlite), SQLITE), (pg, POSTGRES)] {
        let Some(f) = f else { continue };
        let name = format!("apppass-{}", store.to_lowercase());
        let svc = services.add(&name, &f.expand("auth required @MODULE@ db=@DB@\n"));
        let who = "whole@example.org";
        let pw = f.generate(who, &["*"], &format!("Whole process {store}"));
        r.add(
            SECTION,
            "apppass wrong",
            store,
            time(&svc, who, WRONG, 40, false),
            "ms",
        );
        r.add(
            SECTION,
            "apppass right",
            store,
            time(&svc, who, pw.as_bytes(), 40, true),
            "ms",
        );
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, stack) in peers::stacks(dir.path(), user) {
        let Ok(stack) = stack else { continue };
        let svc = services.add(name, &stack);
        let right = time(&svc, &user.name, PRIMARY.as_bytes(), 20, true);
        r.add(SECTION, &format!("pam_{name} right"), SYSTEM, right, "ms");
        let wrong = time(&svc, &user.name, WRONG, 20, false);
        r.add(SECTION, &format!("pam_{name} wrong"), SYSTEM, wrong, "ms");
    }
}
