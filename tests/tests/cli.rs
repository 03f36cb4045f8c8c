//! The `apppass` command as administrators and scripts use it.

use apppass_e2e::fixture::{apppass_bin, stderr, stdout, Fixture};
use apppass_e2e::pam::{login, PAM_SUCCESS};
use std::os::unix::fs::PermissionsExt;

const U: &str = "carol@example.org";

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap()
}

fn is_secret(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 4
        && groups
            .iter()
            .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_lowercase()))
}

#[test]
fn init_is_idempotent_and_makes_private_files() {
    let f = Fixture::uninitialised();
    let first = f.apppass(&["init"]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    assert!(stderr(&first).contains("created the store"));
    let again = f.apppass(&["init"]);
    assert_eq!(code(&again), 0);
    assert!(stderr(&again).contains("up to date"), "{}", stderr(&again));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(f.db.parent().unwrap()), 0o700);
    assert_eq!(mode(&f.db), 0o600);
    assert_eq!(mode(&f.key()), 0o600);
}

#[test]
fn generate_prints_only_the_password_on_stdout() {
    let f = Fixture::new();
    let out = f.apppass(&[
        "generate",
        U,
        "--virtual",
        "--service",
        "imap",
        "--label",
        "Phone",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.ends_with('\n'));
    assert!(is_secret(text.trim_end()), "{text:?}");
    assert!(
        !stderr(&out).contains(text.trim_end()),
        "the secret is not repeated on stderr"
    );
}

#[test]
fn generate_json_has_the_contract_fields() {
    let f = Fixture::new();
    let out = f.apppass(&[
        "generate",
        U,
        "--virtual",
        "--service",
        "imap",
        "--service",
        "POP3",
        "--label",
        "Phone",
        "--expires",
        "2099-12-31",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["id"].as_i64().unwrap() > 0);
    assert_eq!(v["user"], U);
    assert_eq!(v["label"], "Phone");
    assert_eq!(v["services"], serde_json::json!(["imap", "pop3"]));
    assert!(is_secret(v["password"].as_str().unwrap()));
    assert!(v["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(v["expires_at"], "2099-12-31T23:59:59Z");
}

#[test]
fn generate_refusals_are_usage_errors_with_a_sentence() {
    let f = Fixture::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "generate",
                "no-such-user-xyz",
                "--service",
                "imap",
                "--label",
                "L",
            ],
            "--virtual",
        ),
        (
            &["generate", "root", "--service", "imap", "--label", "L"],
            "--allow-root",
        ),
        (
            &[
                "generate",
                U,
                "--virtual",
                "--service",
                "imap",
                "--label",
                "",
            ],
            "label",
        ),
        (
            &[
                "generate",
                U,
                "--virtual",
                "--service",
                "im ap",
                "--label",
                "L",
            ],
            "service",
        ),
        (
            &[
                "generate",
                U,
                "--virtual",
                "--service",
                "imap",
                "--label",
                "L",
                "--expires",
                "90m",
            ],
            "expiry",
        ),
        (
            &[
                "generate",
                U,
                "--virtual",
                "--service",
                "imap",
                "--label",
                "L",
                "--expires",
                "2001-01-01",
            ],
            "past",
        ),
        (&["generate", U, "--virtual", "--label", "L"], "--service"),
        (
            &[
                "generate",
                U,
                "--virtual",
                "--service",
                "imap",
                "--any-service",
                "--label",
                "L",
            ],
            "cannot be used",
        ),
        (
            &[
                "generate",
                "a:b",
                "--virtual",
                "--service",
                "imap",
                "--label",
                "L",
            ],
            "':'",
        ),
    ];
    for (args, hint) in cases {
        let out = f.apppass(args);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(hint), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty());
    }
    assert!(
        f.list_json(&["--all"]).as_array().unwrap().is_empty(),
        "nothing written"
    );
}

#[test]
fn root_needs_allow_root_and_upper_case_names_warn() {
    let f = Fixture::new();
    let out = f.apppass(&[
        "generate",
        "root",
        "--service",
        "imap",
        "--label",
        "L",
        "--allow-root",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = f.apppass(&[
        "generate",
        "Carol@Example.org",
        "--virtual",
        "--service",
        "imap",
        "--label",
        "L",
    ]);
    assert_eq!(code(&out), 0);
    assert!(stderr(&out).contains("upper-case"), "{}", stderr(&out));
}

#[test]
fn duplicate_labels_and_the_limit_are_usage_errors() {
    let f = Fixture::new();
    f.generate(U, &["imap"], "iPhone Mail");
    let out = f.apppass(&[
        "generate",
        U,
        "--virtual",
        "--service",
        "imap",
        "--label",
        "IPHONE MAIL",
    ]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("already has an active app password labelled"));
    assert_eq!(code(&f.apppass(&["config", "max-active", "1"])), 0);
    let out = f.apppass(&[
        "generate",
        U,
        "--virtual",
        "--service",
        "imap",
        "--label",
        "Other",
    ]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("limit"), "{}", stderr(&out));
}

#[test]
fn config_shows_and_changes_max_active_and_self_service_services() {
    let f = Fixture::new();
    assert_eq!(
        stdout(&f.apppass(&["config"])),
        "max-active 25\nself-service-services none\nidle-expiry off\nentitled-group none\nnotify off\nnotify-from none\nnotify-domain none\n"
    );
    let ss = |args: &[&str]| {
        let mut all = vec!["config", "self-service-services"];
        all.extend_from_slice(args);
        f.apppass(&all)
    };
    assert_eq!(code(&ss(&["IMAP,submission"])), 0);
    assert_eq!(stdout(&ss(&[])), "imap,submission\n");
    for refused in ["sudo", "imap,sshd", "apppass", "*"] {
        let out = ss(&[refused]);
        assert_eq!(code(&out), 2, "{refused}: {}", stderr(&out));
    }
    assert_eq!(
        stdout(&ss(&[])),
        "imap,submission\n",
        "a refusal changes nothing"
    );
    assert_eq!(code(&ss(&["none"])), 0);
    assert_eq!(stdout(&ss(&[])), "none\n");
    assert_eq!(stdout(&f.apppass(&["config", "max-active"])), "25\n");
    assert_eq!(code(&f.apppass(&["config", "max-active", "30"])), 0);
    assert_eq!(stdout(&f.apppass(&["config", "max-active"])), "30\n");
    assert_eq!(code(&f.apppass(&["config", "max-active", "0"])), 2);
    assert_eq!(code(&f.apppass(&["config", "max-active", "lots"])), 2);
    assert_eq!(code(&f.apppass(&["config", "colour"])), 2);
}

#[test]
fn list_shows_active_by_default_and_everything_with_all() {
    let f = Fixture::new();
    f.generate(U, &["imap"], "Keep");
    f.generate(U, &["*"], "Gone");
    f.generate("dave@example.org", &["pop3"], "Dave");
    assert_eq!(
        code(&f.apppass(&["revoke", U, "--label", "gone", "--reason", "lost"])),
        0
    );
    let active = f.list_json(&[U]);
    assert_eq!(active.as_array().unwrap().len(), 1);
    let all = f.list_json(&["--all"]);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 3);
    let gone = all.iter().find(|r| r["label"] == "Gone").unwrap();
    assert_eq!(gone["status"], "revoked");
    assert_eq!(gone["services"], serde_json::json!(["*"]));
    assert!(gone["revoked_at"].as_str().unwrap().ends_with('Z'));
    for field in [
        "id",
        "user",
        "label",
        "services",
        "created_at",
        "expires_at",
        "last_used_at",
        "last_used_service",
        "last_used_rhost",
        "addresses",
        "revoked_at",
        "status",
    ] {
        assert!(gone.get(field).is_some(), "missing {field}");
    }
    f.expire_at("Dave", -10);
    let all = f.list_json(&["--all", "dave@example.org"]);
    assert_eq!(all[0]["status"], "expired");
    let table = stdout(&f.apppass(&["list", "--all"]));
    assert!(table.starts_with("ID  USER"), "{table}");
    assert!(
        table.contains("revoked") && table.contains("expired"),
        "{table}"
    );
}

#[test]
fn revoke_by_id_label_or_all_and_its_errors() {
    let f = Fixture::new();
    f.generate(U, &["imap"], "One");
    f.generate(U, &["imap"], "Two");
    f.generate(U, &["imap"], "Three");
    let id = f.list_json(&[U])[0]["id"].as_i64().unwrap().to_string();
    assert_eq!(code(&f.apppass(&["revoke", U, &id])), 0);
    assert_eq!(code(&f.apppass(&["revoke", U, &id])), 1, "already revoked");
    assert_eq!(code(&f.apppass(&["revoke", U, "9999"])), 1);
    assert_eq!(code(&f.apppass(&["revoke", U, "--label", "nope"])), 1);
    assert_eq!(code(&f.apppass(&["revoke", U])), 2, "nothing chosen");
    assert_eq!(
        code(&f.apppass(&["revoke", U, &id, "--all"])),
        2,
        "two choices"
    );
    assert_eq!(
        code(&f.apppass(&["revoke", U, "--all", "--reason", "left the company"])),
        0
    );
    assert!(f.list_json(&[U]).as_array().unwrap().is_empty());
    assert_eq!(code(&f.apppass(&["revoke", U, "--all"])), 1);
}

#[test]
fn history_records_the_lifecycle() {
    let f = Fixture::new();
    f.generate(U, &["imap"], "One");
    f.generate(U, &["imap"], "Two");
    f.apppass(&["revoke", U, "--label", "one", "--reason", "lost phone"]);
    f.expire_at("Two", -100);
    let h = f.history_json(U);
    let events: Vec<(String, String)> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().into(),
                e["label"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(events.contains(&("generated".into(), "One".into())));
    assert!(events.contains(&("revoked".into(), "One".into())));
    assert!(events.contains(&("expired".into(), "Two".into())));
    let revoked = h
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "revoked")
        .unwrap();
    assert_eq!(revoked["reason"], "lost phone");
    for field in ["at", "event", "id", "label", "reason"] {
        assert!(revoked.get(field).is_some(), "missing {field}");
    }
}

#[test]
fn verify_checks_without_side_effects() {
    let f = Fixture::new();
    let pw = f.generate(U, &["imap"], "Phone");
    let before = std::fs::read(&f.db).unwrap();
    let ok = f.apppass_stdin(
        &["verify", U, "--service", "imap"],
        format!("{pw}\n").as_bytes(),
    );
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    let wrong = f.apppass_stdin(
        &["verify", U, "--service", "imap"],
        b"aaaa-bbbb-cccc-dddd\n",
    );
    assert_eq!(code(&wrong), 1);
    let other = f.apppass_stdin(
        &["verify", U, "--service", "pop3"],
        format!("{pw}\n").as_bytes(),
    );
    assert_eq!(code(&other), 1);
    let junk = f.apppass_stdin(&["verify", U, "--service", "imap"], b"hunter2\n");
    assert_eq!(code(&junk), 1);
    assert!(
        !stderr(&junk).contains("hunter2"),
        "the candidate is never echoed"
    );
    assert_eq!(
        f.list_json(&[U])[0]["last_used_at"],
        serde_json::Value::Null
    );
    assert_eq!(
        std::fs::read(&f.db).unwrap(),
        before,
        "the store file is untouched"
    );
}

#[test]
fn backup_produces_a_store_that_logs_in() {
    let f = Fixture::new();
    let pw = f.generate(U, &["mail"], "Phone");
    let dest_dir = f.dir.path().join("backups");
    std::fs::create_dir(&dest_dir).unwrap();
    std::fs::set_permissions(&dest_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let dest = dest_dir.join("copy.db");
    let out = f.apppass(&["backup", dest.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read(dest_dir.join("key")).unwrap(),
        std::fs::read(f.key()).unwrap()
    );
    assert_eq!(
        code(&f.apppass(&["backup", dest.to_str().unwrap()])),
        3,
        "never overwrites"
    );
    f.service(
        "mail",
        &format!("auth required @MODULE@ db={}\n", dest.display()),
    );
    assert_eq!(login(&f.confdir, "mail", U, pw.as_bytes()).0, PAM_SUCCESS);
}

/// An export is text anyone can edit: import applies generate's rules to
/// labels and the login's floor to hashes, and stores nothing it refuses.
#[test]
fn import_refuses_what_generate_refuses_and_stores_nothing() {
    let f = Fixture::new();
    f.generate(U, &["mail"], "Phone");
    let export = f.dir.path().join("export.json");
    let out = f.apppass(&["export", export.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
    let phc = doc["passwords"][0]["phc"].as_str().unwrap().to_string();
    assert!(phc.contains("$m=19456,t=2,p=1$"), "{phc}");
    type Edit = fn(&mut serde_json::Value, &str);
    let cases: [(&str, Edit, &str); 3] = [
        (
            "bell.json",
            |d, _| d["passwords"][0]["label"] = "Ph\u{7}one".into(),
            "passwords[0]: the label contains a control character",
        ),
        (
            "escape.json",
            |d, _| d["events"][0]["label"] = "Ph\u{1b}[2Jone".into(),
            "events[0]: the label contains a control character",
        ),
        (
            "cheap.json",
            |d, phc| d["passwords"][0]["phc"] = phc.replace("m=19456,t=2", "m=8,t=1").into(),
            "passwords[0]: stored password hash is not accepted: m=8 t=1 p=1 is below the floor",
        ),
    ];
    for (name, edit, want) in cases {
        let mut bad = doc.clone();
        edit(&mut bad, &phc);
        let file = f.dir.path().join(name);
        std::fs::write(&file, bad.to_string()).unwrap();
        let target = Fixture::new();
        let out = target.apppass(&["import", file.to_str().unwrap()]);
        assert_eq!(code(&out), 2, "{name}: {}", stderr(&out));
        let msg = stderr(&out);
        assert!(msg.contains(want), "{name}: {msg}");
        assert_eq!(msg.trim_end().lines().count(), 1, "one sentence: {msg}");
        assert!(!msg.contains(&phc[30..]), "no hash in the message: {msg}");
        assert!(
            target.list_json(&["--all"]).as_array().unwrap().is_empty(),
            "{name}: nothing imported"
        );
    }
}

#[test]
fn store_problems_exit_3_with_the_path_and_mode() {
    let f = Fixture::uninitialised();
    let out = f.apppass(&["list"]);
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("apppass init"), "{}", stderr(&out));
    let f = Fixture::new();
    std::fs::set_permissions(&f.db, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = f.apppass(&["list"]);
    assert_eq!(code(&out), 3);
    let msg = stderr(&out);
    assert!(
        msg.contains(&f.db.display().to_string()) && msg.contains("0666"),
        "{msg}"
    );
    assert_eq!(msg.trim_end().lines().count(), 1, "one sentence: {msg}");
}

#[test]
fn the_db_can_come_from_the_environment() {
    let f = Fixture::new();
    f.generate(U, &["imap"], "Phone");
    let out = std::process::Command::new(apppass_bin())
        .args(["list", "--json"])
        .env("APPPASS_DB", &f.db)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()[0]["user"],
        U
    );
}

#[test]
fn help_teaches_every_command_and_bad_flags_are_usage_errors() {
    let out = std::process::Command::new(apppass_bin())
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0);
    let help = stdout(&out);
    for cmd in [
        "init",
        "generate",
        "list",
        "revoke",
        "history",
        "verify",
        "config",
        "backup",
        "Exit status",
    ] {
        assert!(help.contains(cmd), "{cmd}");
    }
    let out = std::process::Command::new(apppass_bin())
        .arg("--frobnicate")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
}

/// `apppass generate` with stdout closed, a broken pipe or a full device:
/// the password was never seen, so it must not be stored.
#[test]
fn generate_stores_nothing_when_the_password_cannot_be_written() {
    let f = Fixture::new();
    let bin = apppass_bin();
    let base = format!(
        "{} --db {} generate {U} --virtual --service imap --label",
        bin.display(),
        f.db.display()
    );
    for (label, redirect) in [
        ("Closed", ">&-"),
        ("Full", ">/dev/full"),
        ("Pipe", "| (exec 0<&-; sleep 1)"),
    ] {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "{base} {label} {redirect}; echo \"exit=${{PIPESTATUS[0]}}\" >&2"
            ))
            .output()
            .unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{label}: {err}");
        assert!(err.contains("nothing was stored"), "{label}: {err}");
        assert!(err.contains("exit=2"), "{label}: {err}");
    }
    assert!(
        f.list_json(&["--all"]).as_array().unwrap().is_empty(),
        "no password nobody saw"
    );
    // The history does not claim one was generated either.
    assert!(f.history_json(U).as_array().unwrap().is_empty());
}

#[test]
fn list_all_shows_why_a_password_was_revoked() {
    let f = Fixture::new();
    f.generate(U, &["imap"], "Phone");
    let out = f.apppass(&["revoke", U, "--label", "Phone", "--reason", "phone lost"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(f.row(U, "Phone")["revoked_reason"], "phone lost");
    let table = stdout(&f.apppass(&["list", "--all"]));
    assert!(
        table.contains("REVOKE REASON") && table.contains("phone lost"),
        "{table}"
    );
}

#[test]
fn a_configuration_file_that_cannot_be_used_is_refused_naming_file_and_line() {
    let f = Fixture::new();
    let conf = f.dir.path().join("apppass.conf");
    let run = |text: &str, mode: u32| {
        std::fs::write(&conf, text).unwrap();
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = std::process::Command::new(apppass_e2e::fixture::apppass_bin())
            .arg("--config")
            .arg(&conf)
            .args(["list"])
            .env_remove("APPPASS_DB")
            .env_remove("APPPASS_CONFIG")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run("store = sqlite\ncolour = blue\n", 0o600);
    assert_eq!(code, Some(3));
    assert!(
        err.contains(&format!("{}, line 2", conf.display())) && err.contains("colour"),
        "{err}"
    );
    let (code, err) = run(
        "store = postgresql\nconninfo = host=db user=u password=secret-here\n",
        0o644,
    );
    assert_eq!(code, Some(3));
    assert!(
        err.contains("world-readable") && !err.contains("secret-here"),
        "{err}"
    );
    let (code, err) = run("store = sqlite\n", 0o666);
    assert_eq!(code, Some(3));
    assert!(err.contains("0666"), "{err}");
    // A usable file naming an SQLite store works.
    let (code, err) = run(&format!("db = {}\n", f.db.display()), 0o600);
    assert_eq!(code, Some(0), "{err}");
    let missing = std::process::Command::new(apppass_e2e::fixture::apppass_bin())
        .args(["--config", "/nonexistent/apppass.conf", "list"])
        .env_remove("APPPASS_DB")
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(3), "a named file must exist");
}

#[test]
fn history_says_who_made_each_change() {
    let f = Fixture::new();
    let user = "hana@example.org";
    f.generate(user, &["imap"], "Phone");
    let out = f.apppass(&["revoke", user, "--label", "Phone"]);
    assert!(out.status.success());
    let uid = apppass_core::sys::uid();
    let h = f.history_json(user);
    for e in h.as_array().unwrap() {
        assert_eq!(e["by"], "admin", "{e}");
        assert_eq!(e["by_uid"], uid, "{e}");
    }
    let table = stdout(&f.apppass(&["history", user]));
    assert!(table.lines().next().unwrap().contains("BY"), "{table}");
    assert!(table.contains(&format!("admin (uid {uid})")), "{table}");
}

#[test]
fn backup_refuses_a_store_whose_key_the_configuration_puts_elsewhere() {
    let f = Fixture::new();
    let keydir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(keydir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let key = keydir.path().join("key");
    std::fs::copy(f.db.with_file_name("key"), &key).unwrap();
    let conf = f.dir.path().join("apppass.conf");
    std::fs::write(
        &conf,
        format!("db = {}\nkey = {}\n", f.db.display(), key.display()),
    )
    .unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(apppass_bin())
            .arg("--config")
            .arg(&conf)
            .args(args)
            .env_remove("APPPASS_DB")
            .output()
            .unwrap()
    };
    assert_eq!(
        code(&run(&["list"])),
        0,
        "the store works with its key elsewhere"
    );
    let out = run(&["backup", f.dir.path().join("b.db").to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("keeps the key beside the store"),
        "{}",
        stderr(&out)
    );
}
