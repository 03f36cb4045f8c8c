//! Writes the man pages (apppass.8 and apppass-COMMAND.8, section 8) and
//! bash/zsh completions into the directory given, from the clap definition,
//! so they cannot drift from `--help`: `cargo run --example mangen -- OUTDIR`.

use clap_complete::Shell;
use std::path::{Path, PathBuf};

fn page(cmd: clap::Command, file: &Path) -> std::io::Result<()> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .section("8")
        .manual("System Administration")
        .render(&mut buf)?;
    std::fs::write(file, buf)
}

/// The page of `sub`, called as `parents` then its name, and of each of
/// its own subcommands (`apppass report primary-use` gets
/// apppass-report-primary-use.8).
fn pages(sub: &clap::Command, parents: &[&str], out: &Path) -> std::io::Result<()> {
    let mut called: Vec<&str> = parents.to_vec();
    called.push(sub.get_name());
    let name = called.join("-");
    let page_of = sub
        .clone()
        .name(name.clone())
        .display_name(name.clone())
        .bin_name(called.join(" "));
    page(page_of, &out.join(format!("{name}.8")))?;
    for inner in sub.get_subcommands().filter(|c| c.get_name() != "help") {
        pages(inner, &called, out)?;
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/man".into()),
    );
    std::fs::create_dir_all(&out)?;
    let cmd = apppass_cli::cli::command();
    page(cmd.clone(), &out.join("apppass.8"))?;
    for sub in cmd.get_subcommands() {
        pages(sub, &["apppass"], &out)?;
    }
    for (shell, file) in [(Shell::Bash, "apppass.bash"), (Shell::Zsh, "_apppass")] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), "apppass", &mut buf);
        std::fs::write(out.join(file), buf)?;
    }
    Ok(())
}
