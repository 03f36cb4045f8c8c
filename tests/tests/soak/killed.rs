//! kill -9 of the CLI at a random instant during its writes (generate,
//! revoke, rotate, and import into an empty store). Afterwards the store
//! passes its integrity check, every row agrees with its history, no
//! password is half written, and every password reported as created logs
//! in (unless a later write revoked it).

use super::generate_args;
use super::{reported_id, scale, Host, Kind};
use apppass_e2e::draw::Rng;
use apppass_e2e::pam::{login, PAM_SUCCESS};
use std::collections::{HashMap, HashSet, VecDeque};
use std::process::Output;
use std::time::{Duration, Instant};

const USER: &str = "soak@example.org";

/// Runs `args`, SIGKILLs it after `after` unless it finished; whether it
/// was killed, and what it wrote.
fn run_killed(host: &Host, args: &[&str], after: Duration) -> (bool, Output) {
    let mut child = host.f().apppass_command(args).spawn().unwrap();
    drop(child.stdin.take());
    let deadline = Instant::now() + after;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return (false, child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    // It may have finished between the last look and the kill.
    let killed = std::os::unix::process::ExitStatusExt::signal(&out.status) == Some(libc::SIGKILL);
    (killed, out)
}

fn secret(out: &Output) -> Option<String> {
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (s.len() == 19).then_some(s)
}

fn killed_writes(kind: Kind) {
    let Some(host) = Host::new(kind, "killed_writes") else {
        return;
    };
    let f = host.f();
    f.simple_service("mail");
    assert!(f
        .apppass(&["config", "max-active", "10000"])
        .status
        .success());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ kind as u64);
    // Reported as done (exit 0): created passwords, and revoked ones.
    let mut created: Vec<(i64, String)> = Vec::new();
    let mut revoked: HashSet<i64> = HashSet::new();
    // Revokes and rotations that were killed: their target may or may not
    // be revoked now.
    let mut maybe_revoked: HashSet<i64> = HashSet::new();
    // Kill instants are drawn over 1.5 times a write's length here, timed
    // again every 10 writes: beside other tests the machine's load moves,
    // and a span timed once at the start can fall short of every write.
    let mut timings: VecDeque<u64> = VecDeque::new();
    let mut time_a_write = |created: &mut Vec<(i64, String)>, label: String| {
        let t = Instant::now();
        let out = f.apppass(&generate_args(USER, &label));
        assert!(out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        created.push((reported_id(&err).unwrap(), secret(&out).unwrap()));
        timings.push_back(t.elapsed().as_micros() as u64);
        if timings.len() > 3 {
            timings.pop_front();
        }
        timings.iter().max().unwrap() * 3 / 2
    };
    let mut span = 0;
    for i in 0..3 {
        span = time_a_write(&mut created, format!("Timing {i}"));
    }
    let (mut killed, mut finished) = (0, 0);
    let n = scale().writes;
    for i in 0..n {
        if i % 10 == 9 {
            span = time_a_write(&mut created, format!("Timing after {i}"));
        }
        let live: Vec<i64> = created
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| !revoked.contains(id) && !maybe_revoked.contains(id))
            .collect();
        let op = if live.is_empty() { 0 } else { rng.below(10) };
        let target = (!live.is_empty()).then(|| *rng.pick(&live));
        let label = format!("Write {i}");
        let id_arg = target.map(|t| t.to_string()).unwrap_or_default();
        let args: Vec<&str> = match op {
            0..=4 => generate_args(USER, &label).to_vec(),
            5..=7 => vec!["revoke", USER, &id_arg],
            _ => vec!["rotate", USER, &id_arg],
        };
        let after = Duration::from_micros(rng.below(span));
        let (was_killed, out) = run_killed(&host, &args, after);
        if was_killed {
            killed += 1;
        } else {
            finished += 1;
        }
        let ok = !was_killed && out.status.success();
        let err = String::from_utf8_lossy(&out.stderr);
        match (op, ok) {
            (0..=4, true) => created.push((reported_id(&err).unwrap(), secret(&out).unwrap())),
            (5..=7, true) => {
                revoked.insert(target.unwrap());
            }
            (_, true) => {
                revoked.insert(target.unwrap());
                created.push((reported_id(&err).unwrap(), secret(&out).unwrap()));
            }
            (0..=4, false) => {}
            (_, false) => {
                maybe_revoked.insert(target.unwrap());
            }
        }
        if !was_killed && !out.status.success() {
            panic!("{args:?} failed without being killed: {err}");
        }
    }
    eprintln!("soak {kind:?}: {n} writes, {killed} killed, {finished} finished");
    assert!(
        killed > n / 10 && finished > n / 10,
        "{killed} killed, {finished} finished: the kill instants missed the writes"
    );

    let rows = host.consistent();
    for (id, secret) in &created {
        let Some(&is_revoked) = rows.get(id) else {
            panic!("password {id}, reported as created, is not in the store");
        };
        let logs_in = login(&f.confdir, "mail", USER, secret.as_bytes()).0 == PAM_SUCCESS;
        if revoked.contains(id) {
            assert!(is_revoked && !logs_in, "password {id} was revoked");
        } else if !maybe_revoked.contains(id) {
            assert!(
                !is_revoked && logs_in,
                "password {id}, reported as created, does not log in"
            );
        } else {
            assert_eq!(
                !is_revoked, logs_in,
                "password {id}: the row and the login disagree"
            );
        }
    }
    killed_imports(&host, kind, &mut rng, (n / 10).max(10));
}

/// Import is one transaction: a killed import leaves the new store empty
/// (and a second import then works) or complete.
fn killed_imports(host: &Host, kind: Kind, rng: &mut Rng, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.json");
    let out = host.f().apppass(&["export", export.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let total = host.query("SELECT count(*) FROM passwords")[0].clone();
    // Kill instants over 1.5 times an import's usual length here.
    let span = {
        let Some(scratch) = Host::new(kind, "killed_imports") else {
            return;
        };
        let t = Instant::now();
        let out = scratch.f().apppass(&["import", export.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        t.elapsed().as_micros() as u64 * 3 / 2
    };
    let mut outcomes: HashMap<&str, usize> = HashMap::new();
    for _ in 0..n {
        let Some(target) = Host::new(kind, "killed_imports") else {
            return;
        };
        let after = Duration::from_micros(rng.below(span));
        let (was_killed, out) = run_killed(&target, &["import", export.to_str().unwrap()], after);
        target.integrity();
        let now = target.query("SELECT count(*) FROM passwords")[0].clone();
        if now == "0" {
            assert!(
                was_killed,
                "import failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            *outcomes.entry("empty").or_default() += 1;
            let again = target.f().apppass(&["import", export.to_str().unwrap()]);
            assert!(
                again.status.success(),
                "{}",
                String::from_utf8_lossy(&again.stderr)
            );
        } else {
            *outcomes.entry("complete").or_default() += 1;
        }
        assert_eq!(target.query("SELECT count(*) FROM passwords")[0], total);
        target.consistent();
    }
    eprintln!("soak {kind:?}: {n} killed imports: {outcomes:?}");
}

#[test]
fn killed_writes_lose_nothing_on_sqlite() {
    killed_writes(Kind::Sqlite);
}

#[test]
fn killed_writes_lose_nothing_on_postgresql() {
    killed_writes(Kind::Postgres);
}
