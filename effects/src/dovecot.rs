//! Dovecot's auth cache, flushed after a change so it takes effect at once.

use std::path::Path;

/// Tells Dovecot to forget cached logins of `user`, so a revoke or a new
/// password takes effect at once. Never fails the command. doveadm exits 0
/// even when it could not reach Dovecot (it prints an `Error:` line and
/// "0 cache entries flushed"), so success is read from its output: no
/// error line and the "N cache entries flushed" line.
pub fn flush(dovecot_config: Option<&Path>, user: &str) {
    let doveadm = ["/usr/bin/doveadm", "/usr/local/bin/doveadm"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(doveadm) = doveadm else {
        if dovecot_config.is_some() {
            eprintln!(
                "apppass: --dovecot-config given but doveadm is not installed; no cache flushed"
            );
        }
        return;
    };
    // No Dovecot running anywhere: there is no cache to flush. One that
    // runs with a configuration doveadm cannot find is reported below.
    if dovecot_config.is_none() && !dovecot_running() {
        return;
    }
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    if let Some(conf) = dovecot_config {
        args.push("-c".into());
        args.push(conf.into());
    }
    for a in ["auth", "cache", "flush", "--", user] {
        args.push(a.into());
    }
    let shown = apppass_core::escape::for_message(user);
    let output = std::process::Command::new(doveadm)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output();
    match output.as_ref().map(flush_result) {
        Ok(Ok(count)) => eprintln!(
            "apppass: flushed Dovecot's auth cache for {shown} ({count} entries)"
        ),
        Ok(Err(why)) => eprintln!(
            "apppass: warning: Dovecot's auth cache was NOT flushed for {shown} ({why}); until you run\n  {}\na cached login of {shown} may keep working for up to auth_cache_ttl (give Dovecot's configuration with --dovecot-config FILE if it is not the default)",
            shell_words(doveadm, &args)
        ),
        Err(e) => eprintln!(
            "apppass: warning: could not run {doveadm} ({e}); Dovecot's auth cache was NOT flushed for {shown}"
        ),
    }
}

/// The number of entries doveadm reports flushed, or why it did not flush.
fn flush_result(out: &std::process::Output) -> Result<u64, String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let problem = stderr
        .lines()
        .find(|l| l.starts_with("Error:") || l.starts_with("Fatal:") || l.starts_with("Panic:"));
    if let Some(line) = problem {
        return Err(apppass_core::escape::for_message(line.trim()));
    }
    if !out.status.success() {
        return Err(format!("doveadm exited with {}", out.status));
    }
    stdout
        .lines()
        .find_map(|l| {
            l.strip_suffix(" cache entries flushed")?
                .trim()
                .parse()
                .ok()
        })
        .ok_or_else(|| "doveadm did not confirm the flush".to_string())
}

/// A command line the administrator can paste: every argument quoted
/// where the shell would split or expand it.
fn shell_words(program: &str, args: &[std::ffi::OsString]) -> String {
    let quote = |w: &str| {
        if !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b))
        {
            w.to_string()
        } else {
            format!("'{}'", w.replace('\'', "'\\''"))
        }
    };
    std::iter::once(program.to_string())
        .chain(
            args.iter()
                .map(|a| quote(&apppass_core::escape::for_message(&a.to_string_lossy()))),
        )
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a Dovecot master process runs on this host.
fn dovecot_running() -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return true;
    };
    procs.flatten().any(|p| {
        std::fs::read_to_string(p.path().join("comm")).is_ok_and(|c| c.trim_end() == "dovecot")
    })
}
