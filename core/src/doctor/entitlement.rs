//! `entitled-group` naming a group NSS does not know: nobody with a passwd
//! entry may then use an app password.

use super::{Finding, SchemaSeen, Severity};

pub(super) fn check(seen: Option<&SchemaSeen>, found: &mut Vec<Finding>) {
    let Some(group) = seen.and_then(|s| s.entitled_group.as_deref()) else {
        return;
    };
    let problem = match crate::groups::gid(group) {
        Ok(Some(_)) => return,
        Ok(None) => format!(
            "entitled-group names the group {}, which the group database does not know: every app password of a user with a passwd entry is refused at login",
            crate::escape::for_message(group)
        ),
        Err(e) => format!(
            "entitled-group names the group {}, which NSS cannot look up (error {e}): app password logins of system users fail",
            crate::escape::for_message(group)
        ),
    };
    found.push(Finding {
        check: "entitled-group-missing",
        severity: Severity::Critical,
        file: None,
        line: None,
        problem,
        fix: format!(
            "make the group again (addgroup {0}) or check NSS, or lift the rule with 'apppass config entitled-group none'",
            crate::escape::for_message(group)
        ),
    });
}
