//! Dovecot's configuration: which PAM services its passdbs ask for, whether
//! each has a PAM file, and how long its auth cache keeps an answer. Reads
//! `doveconf -n` when given, else the files (2.3 and 2.4 syntax) from
//! /etc/dovecot/dovecot.conf with their includes.

use super::{read, under, watcher, Finding, Severity};
use std::path::{Path, PathBuf};

/// Longer than this, a cached login outlives a revoke made elsewhere
/// (another host sharing the store, a primary password change) noticeably.
const LONGEST_CACHE_TTL_SECS: u64 = 300;

#[derive(Debug, Clone)]
struct Setting {
    key: String,
    value: String,
    file: Option<PathBuf>,
    line: usize,
}

#[derive(Debug, Clone, Default)]
struct Section {
    kind: String,
    name: Option<String>,
    settings: Vec<Setting>,
    children: Vec<Section>,
    file: Option<PathBuf>,
    line: usize,
}

impl Section {
    fn get(&self, key: &str) -> Option<&Setting> {
        self.settings.iter().rev().find(|s| s.key == key)
    }
}

struct Parser<'a> {
    root: &'a Path,
    /// Open sections, the outermost first.
    stack: Vec<Section>,
    /// Where an included file that is not a regular one is reported.
    found: &'a mut Vec<Finding>,
}

impl Parser<'_> {
    fn set(&mut self, key: &str, value: &str, file: Option<&Path>, line: usize) {
        let quoted = unquote(value);
        let top = self.stack.last_mut().map(|s| &mut s.settings);
        let Some(settings) = top else { return };
        let value = match quoted {
            Some(v) => v,
            // `protocols = $protocols imap` (2.3) or `$SET:protocols` (2.4)
            // appends; Dovecot expands only a value not in quotes.
            None => {
                let previous = settings
                    .iter()
                    .rev()
                    .find(|s| s.key == key)
                    .map(|s| s.value.clone())
                    .unwrap_or_default();
                value
                    .replace(&format!("$SET:{key}"), &previous)
                    .replace(&format!("${key}"), &previous)
                    .trim()
                    .to_string()
            }
        };
        settings.push(Setting {
            key: key.to_string(),
            value,
            file: file.map(Path::to_path_buf),
            line,
        });
    }

    /// Reads `text`: a file Dovecot reads when `file` is given, else
    /// doveconf's output. In a file a `#` outside quotes starts a comment
    /// wherever it is, and a line ending in `\` goes on in the next. In
    /// doveconf's output only a line starting with `#` is a comment: it
    /// quotes a value holding a `#`, except where it hides a secret inside
    /// one (`args = cache_key=#hidden_use-P_to_show# pop3`).
    fn text(&mut self, text: &str, file: Option<&Path>, depth: usize) {
        let mut pending = String::new();
        let mut start = 0;
        for (i, raw) in text.lines().enumerate() {
            let l = match file {
                Some(_) => strip_comment(raw).trim(),
                None if raw.trim_start().starts_with('#') => "",
                None => raw.trim(),
            };
            if l.is_empty() {
                continue;
            }
            if pending.is_empty() {
                start = i + 1;
            }
            if let (Some(_), Some(part)) = (file, l.strip_suffix('\\')) {
                pending.push_str(part.trim_end());
                pending.push(' ');
                continue;
            }
            if pending.is_empty() {
                self.line(l, file, start, depth);
            } else {
                pending.push_str(l);
                let whole = std::mem::take(&mut pending);
                self.line(&whole, file, start, depth);
            }
        }
    }

    /// One logical line, as Dovecot's parser splits it: the key runs to a
    /// blank or `=`; then `= value`, `{` (after a section name) or nothing.
    fn line(&mut self, l: &str, file: Option<&Path>, line: usize, depth: usize) {
        let end = l
            .find(|c: char| c.is_whitespace() || c == '=')
            .unwrap_or(l.len());
        let (key, rest) = (&l[..end], l[end..].trim_start());
        if key == "!include" || key == "!include_try" {
            if let Some(f) = file {
                let pattern = unquote(rest).unwrap_or_else(|| rest.to_string());
                self.include(f, &pattern, depth);
            }
            return;
        }
        if let Some(value) = rest.strip_prefix('=') {
            self.set(key, value.trim(), file, line);
            return;
        }
        if key == "}" && rest.is_empty() {
            if self.stack.len() > 1 {
                if let Some(done) = self.stack.pop() {
                    if let Some(parent) = self.stack.last_mut() {
                        parent.children.push(done);
                    }
                }
            }
            return;
        }
        if let Some(head) = l.strip_suffix('{') {
            let mut words = head.split_whitespace();
            let kind = words.next().unwrap_or("").to_string();
            let name = words.next().map(|w| unquote(w).unwrap_or_else(|| w.into()));
            self.stack.push(Section {
                kind,
                name,
                file: file.map(Path::to_path_buf),
                line,
                ..Section::default()
            });
        }
    }

    fn include(&mut self, from: &Path, pattern: &str, depth: usize) {
        if depth > 8 {
            return;
        }
        let host_path = if pattern.starts_with('/') {
            PathBuf::from(pattern)
        } else {
            from.parent().unwrap_or(Path::new("/")).join(pattern)
        };
        for host_file in glob(self.root, &host_path) {
            if let Some(text) = read::config(self.root, &host_file, "Dovecot", self.found) {
                self.text(&text, Some(&host_file), depth + 1);
            }
        }
    }
}

/// The line up to its comment: Dovecot's rule, a `#` outside single or
/// double quotes (where `\` escapes) starts one, even inside a word.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' => return &line[..i],
            None => {}
        }
    }
    line
}

/// A value wholly in single or double quotes, unquoted and unescaped as
/// Dovecot does; `None` when it is not quoted.
fn unquote(value: &str) -> Option<String> {
    let first = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let inner = value
        .strip_prefix(first)
        .and_then(|v| v.strip_suffix(first))?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => break,
        }
    }
    Some(out)
}

/// Host paths matching `pattern`, whose file name may hold one `*`.
fn glob(root: &Path, pattern: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (
        pattern.parent(),
        pattern.file_name().and_then(|n| n.to_str()),
    ) else {
        return Vec::new();
    };
    let Some((pre, post)) = name.split_once('*') else {
        return vec![pattern.to_path_buf()];
    };
    let Ok(entries) = std::fs::read_dir(under(root, dir)) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(pre) && n.ends_with(post) && n.len() >= pre.len() + post.len())
        .map(|n| dir.join(n))
        .collect();
    out.sort();
    out
}

fn parse(root: &Path, text: &str, file: Option<&Path>, found: &mut Vec<Finding>) -> Section {
    let mut p = Parser {
        root,
        stack: vec![Section::default()],
        found,
    };
    p.text(text, file, 0);
    while p.stack.len() > 1 {
        if let Some(done) = p.stack.pop() {
            if let Some(parent) = p.stack.last_mut() {
                parent.children.push(done);
            }
        }
    }
    p.stack.pop().unwrap_or_default()
}

/// A PAM passdb: the service it names and the protocols it serves.
struct PamPassdb {
    service: String,
    protocols: Option<Vec<String>>,
    caches: bool,
    /// What its cache key holds besides user and service: 2.3's
    /// `cache_key=` value (`HIDDEN` when doveconf -n hid it), 2.4's field
    /// values, which 2.4 adds to the key it makes itself.
    key: String,
    file: Option<PathBuf>,
    line: usize,
}

fn pam_passdbs(s: &Section, protocol: Option<&str>, v24: bool, out: &mut Vec<PamPassdb>) {
    for c in &s.children {
        if c.kind == "protocol" {
            pam_passdbs(c, c.name.as_deref(), v24, out);
            continue;
        }
        if c.kind != "passdb" {
            pam_passdbs(c, protocol, v24, out);
            continue;
        }
        let driver = c
            .get("driver")
            .map(|d| d.value.clone())
            .or_else(|| c.name.clone())
            .unwrap_or_default();
        if driver != "pam" {
            continue;
        }
        let (service, caches, key) = if v24 {
            let name = c
                .get("service_name")
                .map_or("dovecot".into(), |s| s.value.clone());
            let fields = c
                .children
                .iter()
                .filter(|f| f.kind == "fields")
                .flat_map(|f| f.settings.iter().map(|s| s.value.as_str()))
                .collect::<Vec<_>>()
                .join(" ");
            (name, true, fields)
        } else {
            pam_args(&c.get("args").map(|a| a.value.clone()).unwrap_or_default())
        };
        out.push(PamPassdb {
            service,
            protocols: protocol.map(|p| vec![p.to_string()]),
            caches,
            key,
            file: c.file.clone(),
            line: c.line,
        });
    }
}

/// A 2.3 PAM passdb's `args`: the service it names, whether it sets a
/// cache key, and the key. As Dovecot reads them, words split at blanks:
/// options are `name=value` or `-session`; a last word that is neither is
/// the service, else it is `dovecot`. A value doveconf -n hides stays one
/// word (`cache_key=#hidden_use-P_to_show#`), so the service is still seen.
fn pam_args(args: &str) -> (String, bool, String) {
    let words: Vec<&str> = args.split_whitespace().collect();
    let service = words
        .last()
        .filter(|w| !w.contains('=') && **w != "-session")
        .map_or("dovecot", |w| w);
    let key = words.iter().find_map(|w| w.strip_prefix("cache_key="));
    let shown = match key {
        Some(k) if k.contains("#hidden") => HIDDEN.to_string(),
        Some(k) => k.to_string(),
        None => String::new(),
    };
    (service.to_string(), key.is_some(), shown)
}

/// A cache key doveconf -n hid (it hides every `…key=` value).
const HIDDEN: &str = "(hidden)";

/// Whether a cache key (or 2.4's field values) holds the client's address.
fn keys_on_address(key: &str) -> bool {
    [
        "%r",
        "%{rip}",
        "%{remote_ip",
        "%{real_rip}",
        "%{real_remote_ip",
    ]
    .iter()
    .any(|v| key.contains(v))
}

/// The PAM service Dovecot asks for a `protocol` login with `template`.
fn expand(template: &str, protocol: &str) -> String {
    if template == "*" {
        return protocol.to_string();
    }
    ["%{protocol}", "%{service}", "%Ls", "%s"]
        .iter()
        .fold(template.to_string(), |t, v| t.replace(v, protocol))
}

fn per_protocol(template: &str) -> bool {
    template == "*"
        || ["%{protocol}", "%{service}", "%Ls", "%s"]
            .iter()
            .any(|v| template.contains(v))
}

/// `1 hour`, `5 mins`, `3600`, `1h`, `30 s` as seconds.
fn seconds(value: &str) -> Option<u64> {
    let v = value.trim();
    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
    let n: u64 = digits.parse().ok()?;
    let unit = v[digits.len()..].trim().to_ascii_lowercase();
    let per = match unit.as_str() {
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 7 * 86_400,
        "ms" | "msec" | "msecs" => return Some(n / 1000),
        _ => return None,
    };
    Some(n * per)
}

/// `0`, `1M`, `10 k` as bytes (only whether it is zero matters).
fn size_is_zero(value: &str) -> bool {
    value
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse::<u64>()
        .is_ok_and(|n| n == 0)
}

pub(super) fn check(root: &Path, doveconf: Option<&str>, found: &mut Vec<Finding>) {
    let conf_file = Path::new("/etc/dovecot/dovecot.conf");
    let (conf, shown) = match doveconf {
        Some(text) => (parse(root, text, None, found), "doveconf -n".to_string()),
        None => match read::config(root, conf_file, "Dovecot", found) {
            Some(text) => (
                parse(root, &text, Some(conf_file), found),
                conf_file.display().to_string(),
            ),
            None => return,
        },
    };
    let v24 = conf.get("dovecot_config_version").is_some();
    let mut protocols: Vec<String> = match conf.get("protocols") {
        Some(p) => p.value.split_whitespace().map(str::to_owned).collect(),
        None => ["imap", "pop3", "lmtp"].map(String::from).to_vec(),
    };
    // 2.4 may list them as `protocols { imap = yes }`.
    for c in conf.children.iter().filter(|c| c.kind == "protocols") {
        for s in &c.settings {
            if s.value == "yes" && !protocols.contains(&s.key) {
                protocols.push(s.key.clone());
            }
        }
    }
    // LMTP delivers mail; it never checks a password.
    protocols.retain(|p| p != "lmtp" && p != "none");
    let postfix = contains_listener(&conf, "postfix");
    if postfix && !protocols.iter().any(|p| p == "smtp") {
        // Postfix's SMTP AUTH through Dovecot SASL arrives as service smtp.
        protocols.push("smtp".into());
    }
    let mut passdbs = Vec::new();
    pam_passdbs(&conf, None, v24, &mut passdbs);
    let pam_d = under(root, Path::new("/etc/pam.d"));
    let mut reported = Vec::new();
    for db in &passdbs {
        let templated = per_protocol(&db.service);
        let protos = db.protocols.clone().unwrap_or_else(|| protocols.clone());
        let services: Vec<(String, Option<String>)> = if templated {
            protos
                .iter()
                .map(|p| (expand(&db.service, p), Some(p.clone())))
                .collect()
        } else {
            vec![(db.service.clone(), None)]
        };
        for (service, protocol) in services {
            if service.contains('%') || service.contains('/') || reported.contains(&service) {
                continue;
            }
            if pam_d.join(&service).exists() {
                continue;
            }
            reported.push(service.clone());
            let form = if v24 {
                "service_name = %{protocol}"
            } else {
                "args = %s"
            };
            found.push(Finding {
                check: "dovecot-pam-service-missing",
                severity: Severity::Warning,
                file: db.file.clone().or_else(|| Some(PathBuf::from(&shown))),
                line: (db.line > 0).then_some(db.line),
                problem: match &protocol {
                    Some(p) => format!(
                        "Dovecot's passdb asks PAM for the service '{service}' ({form}) for {p} logins, and /etc/pam.d/{service} does not exist: libpam falls back to /etc/pam.d/other, which on Debian accepts the primary password and no app password"
                    ),
                    None => format!(
                        "Dovecot's passdb asks PAM for the service '{service}', and /etc/pam.d/{service} does not exist: libpam falls back to /etc/pam.d/other"
                    ),
                },
                fix: format!(
                    "create /etc/pam.d/{service} from the Dovecot example in /usr/share/doc/libpam-apppass/examples/ (pam_apppass, then pam_unix with try_first_pass)"
                ),
            });
        }
    }
    let cache_on = conf
        .get("auth_cache_size")
        .is_some_and(|s| !size_is_zero(&s.value));
    if !cache_on {
        return;
    }
    if let Some(crate::config::PrimaryChoice::Dovecot { .. }) = super::primary::configured(root) {
        let size = conf.get("auth_cache_size");
        found.push(Finding {
            check: "primary-dovecot-cache",
            severity: Severity::Warning,
            file: size
                .and_then(|s| s.file.clone())
                .or_else(|| Some(PathBuf::from(&shown))),
            line: size.map(|s| s.line).filter(|l| *l > 0),
            problem: "apppass reads primary passwords from Dovecot's passdb (primary = dovecot) and Dovecot's auth cache is on: a reset of a primary password is seen, and the user's app passwords revoked, only once the cached lookup expires (auth_cache_ttl)".into(),
            fix: "after a reset run doveadm auth cache flush USER, keep auth_cache_ttl short, or add use_cache = no to the passdb of protocol apppass (2.4)".into(),
        });
    }
    let mut keys: Vec<&PamPassdb> = passdbs.iter().filter(|d| d.caches).collect();
    // doveconf -n hides 2.3's cache_key values: look for them in the files.
    let from_files;
    if doveconf.is_some() && keys.iter().any(|d| d.key == HIDDEN) {
        let mut ignored = Vec::new();
        from_files = read::config(root, conf_file, "Dovecot", &mut ignored)
            .map(|text| {
                let mut dbs = Vec::new();
                let files = parse(root, &text, Some(conf_file), &mut ignored);
                pam_passdbs(&files, None, v24, &mut dbs);
                dbs
            })
            .unwrap_or_default();
        keys = from_files.iter().filter(|d| d.caches).collect();
    }
    if let Some(db) = keys
        .iter()
        .find(|d| d.key != HIDDEN && !keys_on_address(&d.key))
    {
        let (what, fix) = if v24 {
            (
                "keys it on the user and the PAM service only".to_string(),
                "add `fields { apppass_client = %{remote_ip} }` to the PAM passdb, as the shipped auth-apppass-*.conf.ext in /usr/share/doc/libpam-apppass/examples/dovecot/2.4/ do, and reload Dovecot",
            )
        } else {
            (
                format!("keys it on cache_key={} only", db.key),
                "add the client's address to the key: args = cache_key=%u%s%r %s (cache_key=%u%r with one service), as the shipped auth-apppass-*.conf.ext in /usr/share/doc/libpam-apppass/examples/dovecot/2.3/ do, and reload Dovecot",
            )
        };
        found.push(Finding {
            check: "dovecot-auth-cache-key",
            severity: Severity::Warning,
            file: db.file.clone().or_else(|| Some(PathBuf::from(&shown))),
            line: (db.line > 0).then_some(db.line),
            problem: format!(
                "Dovecot's auth cache is on and {what}, without the client's address: a password limited with --from that logged in from its network is let in from any other address by the cached success, and a login from a new address never reaches pam_apppass, so a revoke cannot end that connection"
            ),
            fix: fix.into(),
        });
    }
    let ttl = conf.get("auth_cache_ttl");
    let secs = ttl.and_then(|t| seconds(&t.value)).unwrap_or(3600);
    if !keys.is_empty() && secs > LONGEST_CACHE_TTL_SECS && !watcher::runs_under(root) {
        found.push(Finding {
            check: "dovecot-auth-cache-ttl",
            severity: Severity::Warning,
            file: ttl
                .and_then(|t| t.file.clone())
                .or_else(|| Some(PathBuf::from(&shown))),
            line: ttl.map(|t| t.line).filter(|l| *l > 0),
            problem: format!(
                "Dovecot caches successful logins for {} ({secs} s) and apppass watch is not running: a password wiped by a primary password change found at a login, expired, or revoked from another host keeps logging in from the cache until then (apppass flushes it at once only for the commands run on this host)",
                ttl.map_or("1 hour, the default".to_string(), |t| t.value.clone())
            ),
            fix: "systemctl enable --now apppass-watch.service (it flushes the cache for every change, wherever it is made), or set auth_cache_ttl = 5 mins (or less) in /etc/dovecot/conf.d/10-auth.conf".into(),
        });
    }
}

fn contains_listener(s: &Section, word: &str) -> bool {
    s.children.iter().any(|c| {
        (c.kind == "unix_listener" && c.name.as_deref().is_some_and(|n| n.contains(word)))
            || contains_listener(c, word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_syntaxes_name_their_pam_services() {
        let v23 = parse(
            Path::new("/nonexistent"),
            "protocols = imap\nprotocols = $protocols pop3 # more\npassdb {\n  driver = pam\n  args = cache_key=%u%s %s\n}\nprotocol sieve {\n  passdb {\n    driver = pam\n    args = managesieve\n  }\n}\n",
            Some(Path::new("/etc/dovecot/dovecot.conf")),
            &mut Vec::new(),
        );
        assert_eq!(v23.get("protocols").unwrap().value, "imap pop3");
        let mut dbs = Vec::new();
        pam_passdbs(&v23, None, false, &mut dbs);
        assert_eq!(dbs.len(), 2);
        assert_eq!(dbs[0].service, "%s");
        assert!(dbs[0].caches);
        assert_eq!(dbs[1].service, "managesieve");
        assert_eq!(
            dbs[1].protocols.as_deref(),
            Some(&["sieve".to_string()][..])
        );
        let v24 = parse(
            Path::new("/nonexistent"),
            "dovecot_config_version = 2.4.1\npassdb pam {\n  service_name = %{protocol}\n}\n",
            None,
            &mut Vec::new(),
        );
        let mut dbs = Vec::new();
        pam_passdbs(&v24, None, true, &mut dbs);
        assert_eq!(dbs[0].service, "%{protocol}");
        assert_eq!(expand(&dbs[0].service, "imap"), "imap");
        assert_eq!(expand("dovecot-%s", "pop3"), "dovecot-pop3");
        assert_eq!(expand("*", "pop3"), "pop3");
    }

    fn services(conf: &Section, v24: bool) -> Vec<String> {
        let mut dbs = Vec::new();
        pam_passdbs(conf, None, v24, &mut dbs);
        dbs.into_iter().map(|d| d.service).collect()
    }

    #[test]
    fn doveconf_output_keeps_a_hash_inside_a_value() {
        let none = Path::new("/nonexistent");
        // doveconf -n of auth-apppass-protocols.conf.ext (2.3.19).
        let dump = "# 2.3.19.1 (9b53102964): /etc/dovecot/dovecot.conf\n# OS: Linux\npassdb {\n  args = /dev/null\n  driver = passwd-file\n}\nprotocols = imap pop3\nprotocol imap {\n  passdb {\n    args = cache_key=#hidden_use-P_to_show# imap\n    driver = pam\n    name = \n  }\n}\nprotocol pop3 {\n  passdb {\n    args = cache_key=#hidden_use-P_to_show# pop3\n    driver = pam\n    name = \n  }\n}\n";
        let conf = parse(none, dump, None, &mut Vec::new());
        assert_eq!(services(&conf, false), ["imap", "pop3"]);
        // auth-apppass-service.conf.ext: `cache_key=%u%s %s`, hidden or not.
        for args in ["cache_key=#hidden_use-P_to_show# %s", "cache_key=%u%s %s"] {
            let text = format!("passdb {{\n  args = {args}\n  driver = pam\n}}\n");
            let mut dbs = Vec::new();
            let conf = parse(none, &text, None, &mut Vec::new());
            pam_passdbs(&conf, None, false, &mut dbs);
            assert_eq!(dbs[0].service, "%s", "{args}");
            assert!(dbs[0].caches, "{args}");
        }
        // doveconf quotes a value holding a `#` it did not put there.
        let text = "passdb {\n  args = \"\\\"cache_key=%u #q\\\" imap\"\n  driver = pam\n}\n";
        assert_eq!(
            services(&parse(none, text, None, &mut Vec::new()), false),
            ["imap"]
        );
    }

    #[test]
    fn files_are_read_as_dovecots_parser_reads_them() {
        let file = Some(Path::new("/etc/dovecot/dovecot.conf"));
        let read = |text: &str| parse(Path::new("/nonexistent"), text, file, &mut Vec::new());
        let pam = |args: &str| format!("passdb {{\n  driver = pam\n  args = {args}\n}}\n");
        // A `#` starts a comment even inside a word (Dovecot warns)...
        assert_eq!(
            services(&read(&pam("cache_key=%u%s#x pop3 # why")), false),
            ["dovecot"]
        );
        // ...but not inside quotes, single or double, where `\` escapes.
        assert_eq!(services(&read(&pam("'a # b' pop3")), false), ["pop3"]);
        assert_eq!(
            services(&read(&pam("\"a \\\" # b\" pop3")), false),
            ["pop3"]
        );
        assert_eq!(services(&read(&pam("\"cache_key=%u %s\"")), false), ["%s"]);
        // A line ending in `\` goes on, and the passdb keeps its first line.
        let conf = read("passdb {\n  driver = pam\n  args = cache_key=%u \\\n    # a comment line\n    pop3\n}\n");
        assert_eq!(services(&conf, false), ["pop3"]);
        assert_eq!(conf.children[0].get("args").unwrap().line, 3);
        // Options are not services; `*` is the old name for the protocol.
        assert_eq!(services(&read(&pam("imap -session")), false), ["dovecot"]);
        assert_eq!(
            services(&read(&pam("failure_show_msg=yes")), false),
            ["dovecot"]
        );
        assert_eq!(services(&read(&pam("*")), false), ["*"]);
        // 2.4 appends with $SET:name; a quoted value is not expanded.
        let conf = read("protocols = imap\nprotocols = $SET:protocols pop3\nx = \"$x\"\n");
        assert_eq!(conf.get("protocols").unwrap().value, "imap pop3");
        assert_eq!(conf.get("x").unwrap().value, "$x");
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(seconds("1 hour"), Some(3600));
        assert_eq!(seconds("5 mins"), Some(300));
        assert_eq!(seconds("3600"), Some(3600));
        assert_eq!(seconds("2h"), Some(7200));
        assert!(size_is_zero("0"));
        assert!(!size_is_zero("1 M"));
    }

    fn key_findings(root: &Path, doveconf: Option<&str>) -> Vec<Finding> {
        let mut found = Vec::new();
        check(root, doveconf, &mut found);
        found.retain(|f| f.check == "dovecot-auth-cache-key");
        found
    }

    #[test]
    fn a_cache_key_without_the_client_address_is_a_finding() {
        let none = Path::new("/nonexistent");
        let cache = "auth_cache_size = 1M\nauth_cache_ttl = 1 min\n";
        let v23 = |args: &str| format!("{cache}passdb {{\n  driver = pam\n  args = {args}\n}}\n");
        for (args, findings) in [
            ("cache_key=%u%s %s", 1),
            ("cache_key=%u dovecot", 1),
            ("cache_key=%u%s%r %s", 0),
            ("cache_key=%u%r dovecot", 0),
            ("cache_key=%{user}%{service}%{rip} %s", 0),
            // No key: 2.3 does not cache a PAM passdb at all.
            ("%s", 0),
        ] {
            assert_eq!(
                key_findings(none, Some(&v23(args))).len(),
                findings,
                "{args}"
            );
        }
        // The cache off: nothing to say.
        let off = "auth_cache_size = 0\npassdb {\n  driver = pam\n  args = cache_key=%u%s %s\n}\n";
        assert!(key_findings(none, Some(off)).is_empty());

        let v24 = |fields: &str| {
            format!("dovecot_config_version = 2.4.1\n{cache}passdb pam {{\n  service_name = %{{protocol}}\n{fields}}}\n")
        };
        let found = key_findings(none, Some(&v24("")));
        assert_eq!(found.len(), 1);
        assert!(
            found[0].fix.contains("apppass_client = %{remote_ip}"),
            "{}",
            found[0].fix
        );
        let shipped = "  fields {\n    apppass_client = %{remote_ip}\n  }\n";
        assert!(key_findings(none, Some(&v24(shipped))).is_empty());
    }

    #[test]
    fn a_cache_key_doveconf_hides_is_read_from_the_files() {
        let root = tempfile::tempdir().unwrap();
        let conf = root.path().join("etc/dovecot/dovecot.conf");
        std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
        let dump = "auth_cache_size = 1M\npassdb {\n  args = cache_key=#hidden_use-P_to_show# %s\n  driver = pam\n}\n";
        for (key, findings) in [("%u%s", 1), ("%u%s%r", 0)] {
            let file = format!("auth_cache_size = 1M\npassdb {{\n  driver = pam\n  args = cache_key={key} %s\n}}\n");
            std::fs::write(&conf, file).unwrap();
            let found = key_findings(root.path(), Some(dump));
            assert_eq!(found.len(), findings, "{key}: {found:?}");
        }
        // Files that cannot be read: nothing known, nothing said.
        std::fs::remove_file(&conf).unwrap();
        assert!(key_findings(root.path(), Some(dump)).is_empty());
    }
}
