//! Local users attacking apppassd: holding its places, holding the
//! store's write lock, racing its sign-in limit. Each hostile client runs
//! as a real user of its own (a small Python program on the socket), the
//! victims are real `apppass` commands.

use apppass_e2e::apppassd::Daemon;
use apppass_e2e::fixture::{stderr, Fixture};
use apppass_e2e::system::{require_root, SystemUser};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PRIMARY: &str = "Primary-Pass-42!";
/// pam_unix with its usual delay after a wrong password: parallel
/// attempts are all under way before the first one fails.
const UNIX: &str = "auth required pam_unix.so\naccount required pam_unix.so\n";

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn setup() -> (Fixture, Daemon) {
    let f = Fixture::new();
    let out = f.apppass(&["config", "self-service-services", "imap"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let d = Daemon::start(&f, UNIX);
    (f, d)
}

/// Opens N connections and sends each request one byte every few seconds;
/// prints, per connection, when the daemon answered and what.
const TRICKLE: &str = r#"
import json, socket, sys, time
path, n, gap, total = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
req = b'{"v":2,"op":"list","all":false}\n'
conns = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.setblocking(False)
    conns.append(s)
print("connected", flush=True)
start = time.time()
sent = 0
done = {}
while time.time() - start < total and len(done) < n:
    for i, s in enumerate(conns):
        if i in done:
            continue
        try:
            data = s.recv(4096)
            done[i] = (time.time() - start, data.decode(errors="replace"))
            continue
        except BlockingIOError:
            pass
        except OSError as e:
            done[i] = (time.time() - start, str(e))
            continue
        if sent < len(req):
            try:
                s.send(req[sent:sent + 1])
            except OSError as e:
                done[i] = (time.time() - start, str(e))
    sent += 1
    time.sleep(gap)
for i, (t, what) in sorted(done.items()):
    print(json.dumps({"conn": i, "t": t, "reply": what}), flush=True)
"#;

#[test]
fn one_user_trickling_requests_cannot_stall_apppassd_for_anyone_else() {
    if !require_root("one_user_trickling_requests_cannot_stall_apppassd_for_anyone_else") {
        return;
    }
    let (_f, d) = setup();
    let (mallory, bob) = (SystemUser::new(PRIMARY), SystemUser::new(PRIMARY));
    // 40 connections, more than the daemon's 32 places, each sending its
    // request one byte every 4 seconds: never silent for 10 seconds.
    let mut hostile = Command::new("runuser")
        .args(["-u", &mallory.name, "--", "python3", "-c", TRICKLE])
        .arg(&d.socket)
        .args(["40", "4", "24"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(hostile.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "connected");
    std::thread::sleep(Duration::from_millis(500));
    // Everybody else is served meanwhile, at once.
    let start = Instant::now();
    let out = d.apppass_as(&bob.name, &["list"], &format!("{PRIMARY}\n"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "bob waited {:?}",
        start.elapsed()
    );
    // The trickled requests were cut off at the whole message's deadline.
    let replies: Vec<serde_json::Value> = lines
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    let _ = hostile.wait();
    let timed_out: Vec<f64> = replies
        .iter()
        .filter(|r| {
            r["reply"]
                .as_str()
                .unwrap()
                .contains("did not arrive in time")
        })
        .map(|r| r["t"].as_f64().unwrap())
        .collect();
    assert!(!timed_out.is_empty(), "{replies:?}");
    let first = timed_out.iter().cloned().fold(f64::MAX, f64::min);
    assert!(
        (9.0..14.0).contains(&first),
        "the first trickled request ended after {first} s, not at the 10 s deadline: {replies:?}"
    );
}

/// Signs in, asks for a password, and trickles the confirmation that it
/// was printed, one byte a second.
const SLOW_CONFIRM: &str = r#"
import json, socket, sys, time
path, primary = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX)
s.connect(path)
s.sendall(b'{"v":2,"op":"generate","services":["imap"],"label":"Held"}\n')
f = s.makefile("rb")
while True:
    line = f.readline()
    if not line:
        print("eof", flush=True)
        sys.exit(0)
    msg = json.loads(line)
    kind = msg.get("reply")
    if kind == "prompt":
        s.sendall(json.dumps({"answer": primary}).encode() + b"\n")
    elif kind == "new-password":
        print("holding", flush=True)
        for b in b'{"delivered":true}\n':
            try:
                s.send(bytes([b]))
            except OSError:
                break
            time.sleep(1)
    elif kind in ("done", "failed"):
        print(json.dumps(msg), flush=True)
        sys.exit(0)
"#;

#[test]
fn a_user_trickling_the_confirmation_cannot_hold_the_store_from_root() {
    if !require_root("a_user_trickling_the_confirmation_cannot_hold_the_store_from_root") {
        return;
    }
    let (f, d) = setup();
    let (mallory, bob) = (SystemUser::new(PRIMARY), SystemUser::new(PRIMARY));
    f.generate(&bob.name, &["imap"], "Lost phone");
    let mut hostile = Command::new("runuser")
        .args(["-u", &mallory.name, "--", "python3", "-c", SLOW_CONFIRM])
        .arg(&d.socket)
        .arg(PRIMARY)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(hostile.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "holding");
    // The administrator's revoke goes through while the user dawdles.
    let out = f.apppass(&["revoke", &bob.name, "--label", "Lost phone"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(f.row(&bob.name, "Lost phone")["status"], "revoked");
    // The dawdler's password was not kept.
    let end = lines.next().unwrap().unwrap();
    let _ = hostile.wait();
    assert!(end.contains(r#""reply": "failed""#), "{end}");
    assert_eq!(
        f.list_json(&[&mallory.name, "--all"]),
        serde_json::json!([])
    );
}

#[test]
fn parallel_wrong_sign_ins_cannot_get_past_the_lock_out() {
    if !require_root("parallel_wrong_sign_ins_cannot_get_past_the_lock_out") {
        return;
    }
    let (f, d) = setup();
    let u = SystemUser::new(PRIMARY);
    // 30 wrong and 1 right, all at once.
    let outs: Vec<std::process::Output> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..31)
            .map(|i| {
                let (d, u) = (&d, &u);
                s.spawn(move || {
                    let password = if i == 15 { PRIMARY } else { "wrong-guess" };
                    d.apppass_as(&u.name, &["list"], &format!("{password}\n"))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let not_accepted = outs
        .iter()
        .filter(|o| stderr(o).contains("the password was not accepted"))
        .count();
    let locked = outs
        .iter()
        .filter(|o| stderr(o).contains("too many failed sign-ins"))
        .count();
    assert!(
        not_accepted <= 5,
        "{not_accepted} wrong passwords reached PAM (limit 5)"
    );
    assert_eq!(
        not_accepted + locked + outs.iter().filter(|o| code(o) == 0).count(),
        31,
        "every attempt was answered: {:?}",
        outs.iter().map(stderr).collect::<Vec<_>>()
    );
    assert!(
        f.count("SELECT count(*) FROM signin_failures") <= 5,
        "no more failures recorded than the limit"
    );
}

#[test]
fn a_user_signing_in_several_times_at_once_is_not_locked_out() {
    if !require_root("a_user_signing_in_several_times_at_once_is_not_locked_out") {
        return;
    }
    let (_f, d) = setup();
    let u = SystemUser::new(PRIMARY);
    // Twelve right sign-ins at once: more than the five places an account
    // has for attempts under way. The later ones wait for the first.
    let outs: Vec<std::process::Output> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|_| {
                let (d, u) = (&d, &u);
                s.spawn(move || d.apppass_as(&u.name, &["list"], &format!("{PRIMARY}\n")))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &outs {
        assert_eq!(code(o), 0, "{}", stderr(o));
    }
}
