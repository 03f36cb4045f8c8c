//! The PAM module's arguments, parsed once into a typed struct.

use std::fmt;
use std::path::PathBuf;

pub const DEFAULT_DB: &str = crate::config::DEFAULT_DB;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModuleArgs {
    /// `db=PATH`: SQLite at PATH, whatever the configuration file says.
    pub db: Option<PathBuf>,
    /// `config=PATH`: the configuration file (default: /etc/apppass/apppass.conf
    /// when it exists).
    pub config: Option<PathBuf>,
    /// `socket=PATH`: apppassd's socket, asked to decide a login when the
    /// module lacks the rights to open the store and the line names none
    /// (no `db=`, no `config=`), only when root listens on it (default:
    /// /run/apppass/apppassd.sock).
    pub socket: Option<PathBuf>,
    pub debug: bool,
    /// `use_first_pass`: never prompt. `try_first_pass` is what
    /// `pam_get_authtok` does by default; both are read by libpam itself.
    pub use_first_pass: bool,
    pub try_first_pass: bool,
    /// `primary_until=YYYY-MM-DD|enrolled`: a token that is no app password
    /// is passed on until then instead of refused.
    pub primary_until: Option<crate::primary_until::PrimaryUntil>,
}

/// An argument the module does not understand, escaped for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError(pub String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn parse(args: &[&[u8]]) -> Result<ModuleArgs, ArgError> {
    let mut out = ModuleArgs::default();
    for &arg in args {
        let shown = crate::escape::bytes_for_message(arg);
        let path_arg = |name: &str, slot: &Option<PathBuf>| -> Result<PathBuf, ArgError> {
            if slot.is_some() {
                return Err(ArgError(format!("{name}= given twice ({shown})")));
            }
            let path = std::str::from_utf8(&arg[name.len() + 1..])
                .map_err(|_| ArgError(format!("{name}= path is not UTF-8 ({shown})")))?;
            if !path.starts_with('/') {
                return Err(ArgError(format!(
                    "{name}= needs an absolute path ({shown})"
                )));
            }
            Ok(PathBuf::from(path))
        };
        match arg {
            b"debug" => out.debug = true,
            b"use_first_pass" => out.use_first_pass = true,
            b"try_first_pass" => out.try_first_pass = true,
            _ if arg.starts_with(b"db=") => out.db = Some(path_arg("db", &out.db)?),
            _ if arg.starts_with(b"config=") => out.config = Some(path_arg("config", &out.config)?),
            _ if arg.starts_with(b"socket=") => out.socket = Some(path_arg("socket", &out.socket)?),
            _ if arg.starts_with(b"primary_until=") => {
                if out.primary_until.is_some() {
                    return Err(ArgError(format!("primary_until= given twice ({shown})")));
                }
                let value = std::str::from_utf8(&arg[b"primary_until=".len()..])
                    .map_err(|_| ArgError(format!("primary_until= is not UTF-8 ({shown})")))?;
                out.primary_until =
                    Some(crate::primary_until::PrimaryUntil::parse(value).map_err(ArgError)?);
            }
            _ => return Err(ArgError(format!("unknown module argument '{shown}'"))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_known_arguments() {
        assert_eq!(parse(&[]).unwrap(), ModuleArgs::default());
        let a = parse(&[b"db=/srv/a.db", b"debug", b"use_first_pass"]).unwrap();
        assert_eq!(a.db, Some(PathBuf::from("/srv/a.db")));
        let c = parse(&[b"config=/etc/apppass/other.conf"]).unwrap();
        assert_eq!(c.config, Some(PathBuf::from("/etc/apppass/other.conf")));
        assert!(a.debug && a.use_first_pass && !a.try_first_pass);
        assert!(parse(&[b"try_first_pass"]).unwrap().try_first_pass);
        let s = parse(&[b"socket=/run/x/apppassd.sock"]).unwrap();
        assert_eq!(s.socket, Some(PathBuf::from("/run/x/apppassd.sock")));
    }

    #[test]
    fn random_arguments_never_panic_and_errors_carry_no_control_characters() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(3);
        let pieces: [&[u8]; 13] = [
            b"db=",
            b"socket=",
            b"primary_until=",
            b"2027-03-01",
            b"enrolled",
            b"config=",
            b"/",
            b"debug",
            b"use_first_pass",
            b"\n",
            b"\xff",
            b"=",
            b"x",
        ];
        for _ in 0..20_000 {
            let args: Vec<Vec<u8>> = (0..rng.gen_range(0..4))
                .map(|_| {
                    (0..rng.gen_range(0..4))
                        .flat_map(|_| pieces[rng.gen_range(0..pieces.len())].to_vec())
                        .collect()
                })
                .collect();
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            if let Err(e) = parse(&refs) {
                assert!(!e.0.chars().any(char::is_control), "{e}");
            }
        }
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(parse(&[b"db=relative.db"]).is_err());
        assert!(parse(&[b"db="]).is_err());
        assert!(parse(&[b"db=/a", b"db=/b"]).is_err());
        assert!(parse(&[b"config=etc/x"]).is_err());
        assert!(parse(&[b"config=/a", b"config=/b"]).is_err());
        assert!(parse(&[b"socket=run/apppassd.sock"]).is_err());
        assert!(parse(&[b"socket=/a", b"socket=/b"]).is_err());
        assert!(parse(&[b"nullok"]).is_err());
        assert!(parse(&[b"DEBUG"]).is_err());
        let e = parse(&[b"x\n"]).unwrap_err();
        assert!(!e.0.contains('\n'), "escaped: {e}");
    }
}
