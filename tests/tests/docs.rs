//! The documentation cannot drift from the code: every flag is in the man
//! pages, every module argument in pam_apppass(8), the pam-auth-update
//! profile only ever touches the password stack, and the README's
//! walk-through shows what apppass prints (readme_output).

use apppass_e2e::fixture::{apppass_bin, target_dir};
use std::path::Path;
use std::process::Command;

mod readme_output;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn help(args: &[&str]) -> String {
    let out = Command::new(apppass_bin())
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn flags(text: &str) -> Vec<String> {
    let mut found: Vec<String> = text
        .split(|c: char| {
            c.is_whitespace() || c == ',' || c == '[' || c == ']' || c == '<' || c == '='
        })
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches(['.', ')', ':']).to_string())
        .collect();
    found.sort();
    found.dedup();
    found
}

/// apppass's commands, as `apppass --help` lists them.
fn commands() -> Vec<String> {
    let text = help(&[]);
    let list = &text[text.find("Commands:").expect("a command list")..];
    list.lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_cli_flag_is_in_the_man_pages() {
    let mangen = target_dir().join("examples/mangen");
    assert!(
        mangen.exists(),
        "{} is built by cargo test",
        mangen.display()
    );
    let out = tempfile::tempdir().unwrap();
    assert!(Command::new(&mangen)
        .arg(out.path())
        .status()
        .unwrap()
        .success());
    let mut pages = String::new();
    for entry in std::fs::read_dir(out.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "8") {
            pages.push_str(&std::fs::read_to_string(&p).unwrap().replace("\\-", "-"));
        }
    }
    let commands = commands();
    assert!(commands.len() >= 15, "{commands:?}");
    let mut all = flags(&help(&[]));
    for c in &commands {
        assert!(pages.contains(&format!("apppass-{c}")), "no page for {c}");
        all.extend(flags(&help(&[c.as_str()])));
    }
    assert!(all.len() > 12, "{all:?}");
    for flag in all {
        assert!(
            pages.contains(&flag),
            "{flag} is missing from the man pages"
        );
    }
}

#[test]
fn every_module_argument_is_in_pam_apppass_8() {
    let page = std::fs::read_to_string(repo().join("packaging/man/pam_apppass.8")).unwrap();
    for arg in [
        "db=",
        "config=",
        "socket=",
        "try_first_pass",
        "use_first_pass",
        "debug",
    ] {
        assert!(page.contains(arg), "{arg}");
    }
    // Every key of the configuration file, as the parser knows them.
    let config = std::fs::read_to_string(repo().join("core/src/config.rs")).unwrap();
    for key in [
        "store",
        "db",
        "conninfo",
        "admin_conninfo",
        "key",
        "login_checker",
    ] {
        assert!(
            config.contains(&format!("\"{key}\"")),
            "the parser lost {key}"
        );
        assert!(
            page.contains(&format!(".BR {key} \" = \""))
                || page.contains(&format!(".BI {key} \" = \"")),
            "{key} is not in CONFIGURATION"
        );
    }
    let src = std::fs::read_to_string(repo().join("core/src/module_args.rs")).unwrap();
    for arg in [
        "b\"debug\"",
        "b\"use_first_pass\"",
        "b\"try_first_pass\"",
        "b\"db=\"",
        "b\"config=\"",
        "b\"socket=\"",
    ] {
        assert!(
            src.contains(arg),
            "the parser no longer knows {arg}: update this test and the page"
        );
    }
}

#[test]
fn the_pam_auth_update_profile_is_password_only_and_off_by_default() {
    let profile = std::fs::read_to_string(repo().join("packaging/pam-configs/apppass")).unwrap();
    assert!(profile.contains("Default: no"));
    assert!(profile.contains("Password-Type: Additional"));
    assert!(profile
        .lines()
        .any(|l| l.trim() == "optional\tpam_apppass.so"
            || l.split_whitespace().eq(["optional", "pam_apppass.so"])));
    for forbidden in ["Auth:", "Auth-Type", "Account:", "Session:"] {
        assert!(
            !profile.contains(forbidden),
            "{forbidden}: app passwords must never reach common-auth"
        );
    }
}

#[test]
fn example_pam_files_hand_the_token_to_pam_unix() {
    for entry in std::fs::read_dir(repo().join("packaging/pam.d")).unwrap() {
        let p = entry.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("pam_apppass.so"), "{}", p.display());
        for line in text
            .lines()
            .filter(|l| l.starts_with("auth") && l.contains("pam_unix.so"))
        {
            assert!(line.contains("try_first_pass"), "{}: {line}", p.display());
        }
    }
}

/// The 2.3 snippets under this host's Dovecot 2.3 (Debian 12); the 2.4
/// ones are parsed by Debian 13's in the debian13 tests.
#[test]
fn the_shipped_dovecot_2_3_snippets_parse() {
    let dir = repo().join("packaging/dovecot/2.3");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let snippet = entry.unwrap().path().canonicalize().unwrap();
        let name = snippet.file_name().unwrap().to_string_lossy().into_owned();
        let tmp = tempfile::tempdir().unwrap();
        let conf = tmp.path().join("dovecot.conf");
        std::fs::write(
            &conf,
            format!(
                "protocols = imap pop3 submission\nbase_dir = {}\nssl = no\n!include {}\n",
                tmp.path().join("run").display(),
                snippet.display()
            ),
        )
        .unwrap();
        let out = Command::new("doveconf")
            .arg("-c")
            .arg(&conf)
            .arg("-n")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let wanted = if name.contains("postfix") {
            "/var/spool/postfix/private/auth"
        } else {
            "driver = pam"
        };
        assert!(text.contains(wanted), "{name}: {text}");
        seen += 1;
    }
    assert_eq!(seen, 4);
}

/// Every snippet exists for both versions, under the same name.
#[test]
fn every_dovecot_snippet_has_a_2_3_and_a_2_4_version() {
    let names = |v: &str| {
        let mut n: Vec<String> = std::fs::read_dir(repo().join("packaging/dovecot").join(v))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names("2.3"), names("2.4"));
    for (v, debian) in [("2.3", "Debian 12"), ("2.4", "Debian 13")] {
        for n in names(v) {
            let text =
                std::fs::read_to_string(repo().join("packaging/dovecot").join(v).join(&n)).unwrap();
            assert!(
                text.starts_with(&format!("# Dovecot {v} ({debian})")),
                "{v}/{n} says which version it is for"
            );
        }
    }
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).unwrap()
}

/// The section of the README under `heading`, up to the next `## `.
fn section(text: &str, heading: &str) -> String {
    let start = text.find(heading).unwrap_or_else(|| panic!("no {heading}"));
    let rest = &text[start + heading.len()..];
    rest[..rest.find("\n## ").unwrap_or(rest.len())].to_string()
}

#[test]
fn the_readme_introduces_every_command() {
    let text = readme().replace('\n', " ");
    let intro = &text[..text.find("## ").unwrap()];
    for c in commands() {
        assert!(
            intro.contains(&format!("`{c}`")),
            "the README's introduction does not name apppass {c}"
        );
    }
}

#[test]
fn the_readme_lists_every_service_any_service_leaves_out() {
    let text = readme().replace('\n', " ");
    for s in apppass_core::policy::PRIVILEGED_SERVICES
        .iter()
        .chain(apppass_core::policy::SELF_SERVICE_SERVICES)
    {
        assert!(text.contains(&format!("`{s}`")), "{s} is not in the README");
    }
}

#[test]
fn the_readme_says_what_dovecot_does_to_login_names_by_default() {
    let out = Command::new("doveconf")
        .args(["-d", "auth_username_format"])
        .output()
        .unwrap();
    let default = String::from_utf8_lossy(&out.stdout);
    assert!(default.contains("%Lu"), "{default}");
    let text = readme().replace('\n', " ");
    assert!(
        text.contains("`auth_username_format = %Lu` is its default"),
        "the README must say Dovecot lower-cases by default"
    );
    assert!(!text.contains("lower-cases logins only if"));
}

#[test]
fn the_walk_through_warns_about_protocols_without_a_pam_file_and_how_to_test_dovecot() {
    let walk = section(&readme(), "## Walk-through");
    assert!(walk.contains("args = %s"), "{walk}");
    assert!(
        walk.contains("/etc/pam.d/other"),
        "the fallback is explained where %s is shown"
    );
    assert!(walk.contains("doveadm auth test -x service=imap"));
    assert!(
        walk.contains("apppass doctor"),
        "doctor finds a missing file"
    );
    // Dovecot's stock passdb asks for `dovecot`: the check through Dovecot
    // fails until a per-protocol snippet replaces it.
    let check = walk.find("# doveadm auth test").unwrap();
    assert!(walk[..check].contains("auth-system.conf.ext"), "{walk}");
    let dovecot = section(&readme(), "### Dovecot (IMAP, POP3, submission)");
    assert!(
        dovecot.contains("with a block but no PAM file"),
        "the recommended form still falls back to `other` for a protocol it names"
    );
}

#[test]
fn the_readme_explains_restore_and_a_lost_key() {
    let text = section(&readme(), "## Backups, restores and the key");
    for needle in [
        "apppass restore",
        "init --new-key",
        "key replaced",
        "-wal",
        "not made with",
    ] {
        assert!(text.contains(needle), "{needle}");
    }
}

#[test]
fn the_readme_tells_how_to_run_on_postgresql_and_what_it_costs() {
    let text = section(&readme(), "## Several hosts: PostgreSQL");
    for needle in [
        "CREATE ROLE apppass_login",
        "store = postgresql",
        "sslmode=verify-full",
        "target_session_attrs=read-write",
        "apppass init",
        "copy that key",
        "PAM_AUTHINFO_UNAVAIL",
        "auth_cache_ttl",
        "apppass export",
        "apppass --config /etc/apppass/apppass.conf import",
        "a new connection for every login",
        "the connection kept by the process",
    ] {
        assert!(text.contains(needle), "{needle}");
    }
}

#[test]
fn the_readme_tells_users_how_to_manage_their_own_passwords() {
    let text = section(&readme(), "## Letting users manage their own app passwords");
    for needle in [
        "apppass config self-service-services imap,submission",
        "apppass generate --service imap --label \"iPhone Mail\"",
        "apppass revoke --label",
        "pam_oath.so",
        "apppassd --socket /run/apppass/apppassd.sock",
        "exit 4",
    ] {
        assert!(text.contains(needle), "{needle}");
    }
}

#[test]
fn every_apppassd_flag_is_in_its_man_page() {
    let page = std::fs::read_to_string(repo().join("packaging/man/apppassd.8"))
        .unwrap()
        .replace("\\-", "-");
    let out = Command::new(apppass_e2e::fixture::apppassd_bin())
        .arg("--help")
        .output()
        .unwrap();
    let all = flags(&String::from_utf8_lossy(&out.stdout));
    assert!(all.len() >= 6, "{all:?}");
    for flag in all {
        assert!(page.contains(&flag), "{flag} is missing from apppassd(8)");
    }
}

#[test]
fn every_apppassd_operation_is_in_its_man_page() {
    // The protocol crate's own summary at the top of its lib.rs names each
    // operation as "op":"NAME"; the man page must document every one.
    let source: String = std::fs::read_to_string(repo().join("protocol/src/lib.rs"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("//!"))
        .collect();
    let page = std::fs::read_to_string(repo().join("packaging/man/apppassd.8"))
        .unwrap()
        .replace("\\-", "-")
        .replace("\\(dq", "\"");
    let mut ops: Vec<&str> = source
        .split("\"op\":\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    ops.push("resume");
    ops.sort_unstable();
    ops.dedup();
    assert!(ops.len() >= 9, "{ops:?}");
    for op in ops {
        let word = |i: usize| {
            let before = page[..i].chars().next_back().unwrap_or(' ');
            let after = page[i + op.len()..].chars().next().unwrap_or(' ');
            !before.is_alphanumeric() && before != '-' && !after.is_alphanumeric() && after != '-'
        };
        assert!(
            page.match_indices(op).any(|(i, _)| word(i)),
            "the operation {op} is missing from apppassd(8)"
        );
    }
}

#[test]
fn the_readme_sets_up_the_web_page_behind_nginx_with_its_pictures() {
    let text = section(&readme(), "## The self-service web page");
    for needle in [
        "examples/nginx/apppass-web.conf",
        "systemctl enable --now apppassd.socket apppass-web",
        "web_auth = dovecot:/run/dovecot/auth-client",
        "pam_oath.so",
        "--tls-cert",
        "docs/web-phone.png",
        "docs/web-desktop.png",
        "docs/web-setup-phone.png",
        "docs/web-setup-desktop.png",
        "/.well-known/autoconfig/mail/config-v1.1.xml",
        // Without systemd: started as the unit starts it, kept by hand.
        "install -d -o apppass-web -g www-data -m 0750 /run/apppass-web",
        "apppass-web --listen unix:/run/apppass-web/http.sock",
        "service nginx start",
        "/etc/rc.local",
        "@reboot",
        "supervisor",
    ] {
        assert!(text.contains(needle), "{needle}");
    }
    for picture in [
        "docs/web-phone.png",
        "docs/web-desktop.png",
        "docs/web-setup-phone.png",
        "docs/web-setup-desktop.png",
    ] {
        assert!(repo().join(picture).exists(), "{picture}");
    }
    let unit =
        std::fs::read_to_string(repo().join("packaging/systemd/apppass-web.service")).unwrap();
    assert!(
        unit.contains("--listen unix:/run/apppass-web/http.sock")
            && unit.contains("User=apppass-web")
    );
    // nginx's headers are believed because only its workers may enter the
    // socket's directory.
    assert!(unit.contains("RuntimeDirectory=apppass-web"));
    assert!(unit.contains("RuntimeDirectoryMode=0750"));
    assert!(unit.contains("ExecStartPre=+/bin/chgrp www-data /run/apppass-web"));
    let nginx = std::fs::read_to_string(repo().join("packaging/nginx/apppass-web.conf")).unwrap();
    assert!(nginx.contains("proxy_pass http://unix:/run/apppass-web/http.sock:;"));
    let apache = std::fs::read_to_string(repo().join("packaging/apache/apppass-web.conf")).unwrap();
    assert!(apache.contains("ProxyPass        / unix:/run/apppass-web/http.sock|http://localhost/"));
}

#[test]
fn every_apppass_web_flag_is_in_its_man_page() {
    let page = std::fs::read_to_string(repo().join("packaging/man/apppass-web.8"))
        .unwrap()
        .replace("\\-", "-");
    let out = Command::new(apppass_e2e::fixture::apppass_web_bin())
        .arg("--help")
        .output()
        .unwrap();
    let all = flags(&String::from_utf8_lossy(&out.stdout));
    assert!(all.len() >= 4, "{all:?}");
    for flag in all {
        assert!(
            page.contains(&flag),
            "{flag} is missing from apppass-web(8)"
        );
    }
}

#[test]
fn the_readme_shows_the_targets_of_the_published_bench_run() {
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/bench/report.json")).unwrap(),
    )
    .unwrap();
    let text = section(&readme(), "## Performance");
    assert!(text.contains("](docs/bench/chart.svg)"));
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 20, "the README's table has a row per target");
    for t in targets {
        // A ratio, or a figure itself with its unit (a revoke's reach).
        let shown = match t["unit"].as_str() {
            Some(unit) => format!("{:.3} {unit}", t["value"].as_f64().unwrap()),
            None => format!("{:.2}×", t["ratio"].as_f64().unwrap()),
        };
        assert!(
            text.contains(&shown),
            "{}: {shown} is not in the README",
            t["name"]
        );
        let verdict = if t["met"].as_bool().unwrap() {
            "| met |"
        } else {
            "| not met |"
        };
        assert!(text.contains(verdict), "{}", t["name"]);
    }
}

#[test]
fn the_readme_wires_calendars_and_contacts_behind_nginx() {
    let text = section(
        &readme(),
        "### Calendars and contacts: nginx and Radicale (CalDAV, CardDAV)",
    );
    for needle in [
        "libnginx-mod-http-auth-pam radicale",
        "login_checker = www-data dav",
        "`dav` as `/etc/pam.d/dav`",
        "`radicale/config` as `/etc/radicale/config`",
        "`radicale/override.conf` as\n  `/etc/systemd/system/radicale.service.d/override.conf`",
        "`/run/radicale/radicale.sock`",
        "`nginx/dav.conf` as `/etc/nginx/sites-available/dav`",
        "--service dav",
        "quarter of apppassd's places",
    ] {
        assert!(text.contains(needle), "{needle}");
    }
    let shipped = |p: &str| std::fs::read_to_string(repo().join(p)).unwrap();
    let nginx = shipped("packaging/nginx/dav.conf");
    for needle in [
        "auth_pam_service_name \"dav\";",
        "proxy_set_header X-Remote-User $remote_user;",
        "proxy_pass http://unix:/run/radicale/radicale.sock:;",
    ] {
        assert!(nginx.contains(needle), "{needle}");
    }
    let radicale = shipped("packaging/radicale/config");
    assert!(radicale.contains("type = http_x_remote_user"));
    // Radicale's own server, on TCP, is never the one serving this file.
    assert!(!radicale.contains("hosts"));
    let unit = shipped("packaging/radicale/override.conf");
    assert!(unit.contains("ExecStart=/usr/bin/gunicorn --bind unix:/run/radicale/radicale.sock "));
    assert!(shipped("packaging/apppass.conf").contains("#login_checker = www-data dav"));
    let makefile = shipped("Makefile");
    for needle in [
        "packaging/nginx/dav.conf",
        "packaging/radicale/config packaging/radicale/override.conf",
        "libnginx-mod-http-auth-pam",
        "gunicorn",
        "python3-caldav",
    ] {
        assert!(makefile.contains(needle), "{needle}");
    }
}
