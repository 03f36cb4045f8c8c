//! Mail to account holders about what happens to their app passwords, as
//! Google's users get. Nothing here runs at a login: the module only writes
//! what it writes anyway (the history, the primary password's use). The
//! command, apppassd and `apppass deliver` collect what is new into the
//! store's outbox ([`collect`]), each notification once whichever host
//! collects it, and hand what is due to the host's MTA ([`outbox`]).

pub mod collect;
pub mod message;
pub mod outbox;

use crate::admin::AdminError;
use crate::policy::PolicyError;
use crate::store::{Finish, Store, StoreError, WriteError};

/// Text setting: `mail` when notifications are on.
pub const NOTIFY: &str = "notify";
/// Text setting: the `From:` address.
pub const NOTIFY_FROM: &str = "notify_from";
/// Text setting: the domain of users named without one.
pub const NOTIFY_DOMAIN: &str = "notify_domain";
/// Setting: the last history entry collected.
pub const CURSOR: &str = "notify_cursor";

/// What `apppass config` shows and the senders read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotifySettings {
    pub mail: bool,
    pub from: Option<String>,
    pub domain: Option<String>,
}

pub fn settings(store: &mut dyn Store) -> Result<NotifySettings, StoreError> {
    Ok(NotifySettings {
        mail: store.text_setting(NOTIFY)?.as_deref() == Some("mail"),
        from: store.text_setting(NOTIFY_FROM)?,
        domain: store.text_setting(NOTIFY_DOMAIN)?,
    })
}

fn bad(why: String) -> AdminError {
    AdminError::Policy(PolicyError::Label(why))
}

/// Turns notifications on (`mail`) or off. Turned on, they start from now:
/// what happened before is not mailed.
pub fn set_mode(store: &mut dyn Store, mail: bool) -> Result<(), AdminError> {
    let last = store.last_event_id()?;
    let was = store.text_setting(NOTIFY)?;
    store
        .write(None, &mut |w| {
            if mail && was.as_deref() != Some("mail") {
                w.set_setting(CURSOR, last)?;
            }
            w.set_text_setting(NOTIFY, mail.then_some("mail"))?;
            Ok(Finish::Commit)
        })
        .map_err(WriteError::into_store_error)?;
    Ok(())
}

/// An address as apppass puts it in a header: `local@domain`, printable
/// ASCII without spaces, quotes, commas or angle brackets, at most 254
/// characters, so no header can be forged through it.
pub fn valid_address(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && valid_domain(domain)
        && text.len() <= 254
        && local
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"(),:;<>@[\\]".contains(&b))
}

/// A domain name: letters, digits, hyphens and dots, at most 253.
pub fn valid_domain(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Sets `notify-from` (`None`: root@ the host's name, as the MTA makes it).
pub fn set_from(store: &mut dyn Store, from: Option<&str>) -> Result<(), AdminError> {
    if let Some(f) = from {
        if !valid_address(f) {
            return Err(bad(format!(
                "{} is not a mail address apppass can put in From: (local@domain, no spaces, quotes or brackets)",
                crate::escape::for_message(f)
            )));
        }
    }
    set_text(store, NOTIFY_FROM, from)
}

/// Sets `notify-domain` (`None`: users named without a domain are mailed
/// at their local mailbox).
pub fn set_domain(store: &mut dyn Store, domain: Option<&str>) -> Result<(), AdminError> {
    if let Some(d) = domain {
        if !valid_domain(d) {
            return Err(bad(format!(
                "{} is not a domain name (letters, digits, hyphens and dots)",
                crate::escape::for_message(d)
            )));
        }
    }
    set_text(store, NOTIFY_DOMAIN, domain)
}

fn set_text(store: &mut dyn Store, name: &str, value: Option<&str>) -> Result<(), AdminError> {
    store
        .write(None, &mut |w| {
            w.set_text_setting(name, value)?;
            Ok(Finish::Commit)
        })
        .map_err(WriteError::into_store_error)?;
    Ok(())
}

/// Where mail for `user` goes: the name itself when it is an address,
/// USER@DOMAIN with `notify-domain`, else the local mailbox USER; `None`
/// when that could not be put in a header safely.
pub fn recipient(user: &str, domain: Option<&str>) -> Option<String> {
    if user.contains('@') {
        return valid_address(user).then(|| user.to_owned());
    }
    match domain {
        Some(d) => {
            let a = format!("{user}@{d}");
            valid_address(&a).then_some(a)
        }
        None => valid_address(&format!("{user}@localhost")).then(|| user.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_that_could_forge_a_header_are_refused() {
        assert!(valid_address("apppass@mail.example.org"));
        for bad in [
            "a b@example.org",
            "a@example.org\r\nBcc: x@y",
            "a,b@example.org",
            "<a>@example.org",
            "a@",
            "@example.org",
            "a@-x.org",
            "a@x..org",
        ] {
            assert!(!valid_address(bad), "{bad:?}");
        }
        assert_eq!(
            recipient("alice", Some("example.org")).as_deref(),
            Some("alice@example.org")
        );
        assert_eq!(recipient("alice", None).as_deref(), Some("alice"));
        assert_eq!(
            recipient("bob@example.net", Some("example.org")).as_deref(),
            Some("bob@example.net")
        );
        assert_eq!(recipient("bob smith", Some("example.org")), None);
    }
}
