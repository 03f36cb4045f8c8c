//! `apppass doctor`: whether this host is wired safely. Reads files only
//! (and `doveconf -n`'s output and the store's schema, which the front end
//! gathers): the PAM stacks, Dovecot's configuration, the store's and key's
//! permissions, the store's schema. Every path
//! is looked up under a root directory, `/` on a real host, so tests check
//! fixture trees without touching the host.

mod dovecot;
mod entitlement;
mod files;
mod pam;
mod primary;
mod read;
mod schema;
mod watcher;

pub use schema::{store_under, SchemaSeen};

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Something lets strangers in, or locks people out.
    Critical,
    /// Something weakens a guarantee or will surprise.
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
        }
    }
}

/// One problem found, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// A stable name for scripts and tests: `pam-common-auth`...
    pub check: &'static str,
    pub severity: Severity,
    /// The file, as a path on the host (without the root prefix).
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub problem: String,
    pub fix: String,
}

/// What the doctor reads besides files.
#[derive(Debug, Default)]
pub struct Inputs {
    /// `doveconf -n`'s output, when Dovecot is installed and the root is `/`.
    pub doveconf: Option<String>,
    /// The store's schema, when the front end could open the store.
    pub schema: Option<SchemaSeen>,
}

/// Examines the host under `root` and returns every finding, most severe first.
pub fn examine(root: &Path, inputs: &Inputs) -> Vec<Finding> {
    let mut found = Vec::new();
    pam::check(root, &mut found);
    dovecot::check(root, inputs.doveconf.as_deref(), &mut found);
    files::check_all(root, &mut found);
    schema::check(inputs.schema.as_ref(), &mut found);
    watcher::check(root, &mut found);
    primary::check(root, inputs.schema.as_ref(), &mut found);
    entitlement::check(inputs.schema.as_ref(), &mut found);
    found.sort_by(|a, b| (a.severity, &a.file, a.line).cmp(&(b.severity, &b.file, b.line)));
    found
}

/// `path` (absolute on the host) under `root`.
fn under(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}
