//! The Debian package `make deb` builds (make check builds it before the
//! tests): lintian finds nothing, it holds exactly the files `make install`
//! puts in place, its systemd units pass `systemd-analyze verify`, and
//! debian/copyright lists the crates Cargo.lock compiles in. Installing,
//! logging in and purging are in debian13.rs (a root of its own);
//! piuparts runs in `make package-check`.

use apppass_e2e::fixture::{stderr, target_dir};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .canonicalize()
        .unwrap()
}

/// The package's version, from debian/changelog.
fn version() -> String {
    let out = Command::new("dpkg-parsechangelog")
        .args(["-S", "Version"])
        .current_dir(repo())
        .output()
        .expect("dpkg-parsechangelog (dpkg-dev; make check installs it)");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// target/deb/NAME_VERSION_ARCH.deb, or a loud skip when `make deb` has
/// not run.
fn built(test: &str, name: &str) -> Option<PathBuf> {
    let arch = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .unwrap();
    let arch = String::from_utf8_lossy(&arch.stdout).trim().to_string();
    let path = target_dir().join(format!("../deb/{name}_{}_{arch}.deb", version()));
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "\n*** SKIPPED {test}: no {} (make check builds it with make deb) ***\n",
            path.display()
        );
        None
    }
}

fn tool(test: &str, name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("\n*** SKIPPED {test}: {name} is not installed (make check installs it) ***\n");
    }
    found
}

#[test]
fn the_package_version_is_the_crates_version() {
    let cargo = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let crates = cargo
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap();
    assert_eq!(version(), crates, "debian/changelog and Cargo.toml");
}

#[test]
fn lintian_finds_no_error_and_no_warning() {
    let test = "lintian_finds_no_error_and_no_warning";
    if !tool(test, "lintian") || built(test, "libpam-apppass").is_none() {
        return;
    }
    let arch = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .unwrap();
    let changes = target_dir().join(format!(
        "../deb/apppass_{}_{}.changes",
        version(),
        String::from_utf8_lossy(&arch.stdout).trim()
    ));
    let out = Command::new("lintian")
        .args(["--profile", "debian", "--fail-on", "error,warning"])
        .arg(&changes)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    println!("lintian {}:\n{report}{}", changes.display(), stderr(&out));
    let flagged: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("E: ") || l.starts_with("W: "))
        .collect();
    assert!(flagged.is_empty(), "lintian: {flagged:#?}");
    assert!(out.status.success(), "lintian failed: {}", stderr(&out));
}

/// Every path in the package, without the leading `.`, symlinks by name.
fn package_paths(deb: &Path) -> BTreeSet<String> {
    let out = Command::new("dpkg-deb")
        .arg("-c")
        .arg(deb)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(" ./"))
        .map(|(_, p)| {
            let p = p.split(" -> ").next().unwrap();
            format!("/{}", p.trim_end_matches('/'))
        })
        .filter(|p| p != "/")
        .collect()
}

fn tree_paths(root: &Path) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = e.path();
            all.insert(format!("/{}", path.strip_prefix(root).unwrap().display()));
            if e.file_type().unwrap().is_dir() {
                todo.push(path);
            }
        }
    }
    all
}

#[test]
fn the_package_holds_exactly_what_make_install_installs() {
    let test = "the_package_holds_exactly_what_make_install_installs";
    let Some(deb) = built(test, "libpam-apppass") else {
        return;
    };
    let dest = tempfile::tempdir().unwrap();
    let out = Command::new("make")
        .args(["--no-print-directory", "-s", "install-files"])
        .arg(format!("DESTDIR={}", dest.path().display()))
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(out.status.success(), "make install-files: {}", stderr(&out));
    let installed = tree_paths(dest.path());
    let packaged = package_paths(&deb);
    let only_make: Vec<_> = installed.difference(&packaged).collect();
    let only_deb: Vec<_> = packaged.difference(&installed).collect();
    assert!(
        only_make.is_empty() && only_deb.is_empty(),
        "only make install: {only_make:#?}\nonly the package: {only_deb:#?}"
    );
    for must in [
        "/lib/x86_64-linux-gnu/security/pam_apppass.so",
        "/usr/sbin/apppass",
        "/usr/sbin/apppassd",
        "/usr/sbin/apppass-web",
        "/usr/share/man/man8/apppass.8.gz",
        "/usr/share/man/man8/apppassd.8.gz",
        "/usr/share/man/man8/apppass-web.8.gz",
        "/usr/share/man/man8/pam_apppass.8.gz",
        "/usr/share/doc/libpam-apppass/copyright",
        "/usr/share/doc/libpam-apppass/changelog.gz",
        "/etc/apppass/apppass.conf",
        "/etc/pam.d/apppass",
        "/etc/pam.d/apppass-web",
        "/etc/fail2ban/filter.d/apppass.conf",
        "/lib/systemd/system/apppassd.socket",
        "/lib/systemd/system/apppass-web.service",
    ] {
        assert!(packaged.contains(must), "{must} is not in the package");
    }
}

#[test]
fn the_package_marks_the_administrators_files_as_conffiles_and_its_binaries_stripped() {
    let test = "the_package_marks_the_administrators_files_as_conffiles_and_its_binaries_stripped";
    let Some(deb) = built(test, "libpam-apppass") else {
        return;
    };
    let out = Command::new("dpkg-deb")
        .args(["-I"])
        .arg(&deb)
        .arg("conffiles")
        .output()
        .unwrap();
    let conffiles: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let want: BTreeSet<String> = [
        "/etc/apppass/apppass.conf",
        "/etc/fail2ban/filter.d/apppass.conf",
        "/etc/pam.d/apppass",
        "/etc/pam.d/apppass-web",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(conffiles, want);

    let fields = Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&deb)
        .args(["Depends", "Suggests"])
        .output()
        .unwrap();
    let fields = String::from_utf8_lossy(&fields.stdout);
    for lib in ["libc6 (>=", "libpam0g (>=", "libsqlite3-0 (>="] {
        assert!(fields.contains(lib), "versioned {lib}: {fields}");
    }
    assert!(!fields.contains("Depends: libpq5"), "{fields}");

    let dir = tempfile::tempdir().unwrap();
    let x = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(x.success());
    for bin in [
        "usr/sbin/apppass",
        "usr/sbin/apppassd",
        "usr/sbin/apppass-web",
        "lib/x86_64-linux-gnu/security/pam_apppass.so",
    ] {
        let out = Command::new("readelf")
            .args(["-S", "-W"])
            .arg(dir.path().join(bin))
            .output()
            .unwrap();
        let sections = String::from_utf8_lossy(&out.stdout);
        assert!(
            !sections.contains(".debug_info") && !sections.contains(".symtab"),
            "{bin} is not stripped:\n{sections}"
        );
    }
    let dbgsym = built(test, "libpam-apppass-dbgsym").expect("the -dbgsym package");
    let listed = package_paths(&dbgsym);
    assert!(
        listed
            .iter()
            .filter(|p| p.starts_with("/usr/lib/debug/.build-id/") && p.ends_with(".debug"))
            .count()
            >= 4,
        "{listed:#?}"
    );
}

#[test]
fn the_units_pass_systemd_analyze_verify() {
    let test = "the_units_pass_systemd_analyze_verify";
    if !tool(test, "systemd-analyze") {
        return;
    }
    let Some(deb) = built(test, "libpam-apppass") else {
        return;
    };
    // A root with this host's units (the targets ours hang on) and the
    // package's files: verify then checks our units, their ExecStart
    // binaries and their users of the units they name.
    let root = tempfile::tempdir().unwrap();
    let units = root.path().join("lib/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    for e in std::fs::read_dir("/lib/systemd/system").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_file() && !name.starts_with("apppass") {
            std::fs::copy(e.path(), units.join(&name)).unwrap();
        }
    }
    let x = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(root.path())
        .status()
        .unwrap();
    assert!(x.success());
    // What every Debian system has that a unit runs besides our binaries:
    // apppass-web.service gives its socket's directory to www-data.
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/chgrp", bin.join("chgrp")).unwrap();
    let ours = [
        "apppassd.socket",
        "apppassd.service",
        "apppass-web.service",
        "apppass-watch.service",
        "apppass-check-primary.service",
        "apppass-check-primary.timer",
    ];
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", root.path().display()))
        .args(ours.map(|u| units.join(u)))
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify:\n{said}"
    );
    // verify cannot look for man pages inside a root: each Documentation=
    // page is in the package.
    for unit in ours {
        let text = std::fs::read_to_string(units.join(unit)).unwrap();
        for page in text
            .lines()
            .filter_map(|l| l.strip_prefix("Documentation=man:"))
        {
            let (name, section) = page.trim_end_matches(')').split_once('(').unwrap();
            let path = root
                .path()
                .join(format!("usr/share/man/man{section}/{name}.{section}.gz"));
            assert!(path.exists(), "{unit} names {page}, not in the package");
        }
    }
}

#[test]
fn debian_copyright_lists_the_crates_of_cargo_lock() {
    let out = Command::new(repo().join("packaging/copyright.sh"))
        .env("CARGO", env!("CARGO"))
        .output()
        .unwrap();
    assert!(out.status.success(), "copyright.sh: {}", stderr(&out));
    let fresh = String::from_utf8_lossy(&out.stdout);
    let committed = std::fs::read_to_string(repo().join("debian/copyright")).unwrap();
    assert!(
        fresh == committed,
        "debian/copyright is out of date with Cargo.lock: run make copyright"
    );
    // Every licence a crate names has its text.
    let names: BTreeSet<&str> = committed
        .lines()
        .filter_map(|l| l.strip_prefix("License: "))
        .collect();
    let header = committed.split("\n\n").next().unwrap();
    let mut crates = 0;
    for line in header.lines() {
        // " name 1.2.3: MIT OR Apache-2.0"
        let Some((krate, expr)) = line.strip_prefix(' ').and_then(|l| l.split_once(": ")) else {
            continue;
        };
        if !krate
            .split_once(' ')
            .is_some_and(|(_, v)| v.starts_with(|c: char| c.is_ascii_digit()))
        {
            continue;
        }
        crates += 1;
        for id in expr
            .split(|c: char| c.is_whitespace() || "()/".contains(c))
            .filter(|w| !w.is_empty() && !["OR", "AND", "WITH", "LLVM-exception"].contains(w))
        {
            assert!(names.contains(id), "no License: {id} paragraph ({line})");
        }
    }
    assert!(crates > 50, "{crates} crates listed");
}
