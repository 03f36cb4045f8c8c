//! Group membership through NSS, for `entitled-group`: a user is a member
//! when the group is their primary group or lists them (`getgrouplist`,
//! which asks every NSS source, LDAP and SSSD included). An FFI edge, like
//! `sys`.
#![allow(unsafe_code)]

use std::ffi::CString;

/// A group's ID, `Ok(None)` when there is no such group, `Err(errno)` when
/// NSS could not answer.
pub fn gid(group: &str) -> Result<Option<libc::gid_t>, i32> {
    let Ok(name) = CString::new(group) else {
        return Ok(None);
    };
    crate::sys::nss_entry(
        // SAFETY: every pointer is valid for the call and the length is the
        // buffer's size.
        |grp, buf, len, result| unsafe { libc::getgrnam_r(name.as_ptr(), grp, buf, len, result) },
        |g: &libc::group| g.gr_gid,
    )
}

/// Whether `user` is in group `gid`: `Ok(None)` for a user without a
/// passwd entry (a virtual mail user, whom groups do not concern).
pub fn is_member(user: &str, gid: libc::gid_t) -> Result<Option<bool>, i32> {
    let Some(primary) = crate::sys::passwd_gid(user)? else {
        return Ok(None);
    };
    if primary == gid {
        return Ok(Some(true));
    }
    let Ok(name) = CString::new(user) else {
        return Ok(None);
    };
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut n = groups.len() as libc::c_int;
        // SAFETY: groups holds n entries; getgrouplist writes at most n and
        // says how many it needed.
        let rc = unsafe { libc::getgrouplist(name.as_ptr(), primary, groups.as_mut_ptr(), &mut n) };
        if rc >= 0 {
            groups.truncate(n.max(0) as usize);
            return Ok(Some(groups.contains(&gid)));
        }
        if n as usize <= groups.len() || groups.len() >= 1 << 16 {
            return Err(libc::EIO);
        }
        groups.resize(n as usize, 0);
    }
}

/// Whether `user` may have app passwords where only members of `group`
/// may: `Ok(true)` for members and for users without a passwd entry.
pub fn entitled(user: &str, group: &str) -> Result<bool, String> {
    let why = |e: i32| {
        format!(
            "cannot look up the group {} or the user's groups (error {e}); check NSS",
            crate::escape::for_message(group)
        )
    };
    match gid(group).map_err(why)? {
        // A group gone from NSS entitles nobody (doctor reports it).
        None => Ok(crate::sys::passwd_uid(user).map_err(why)?.is_none()),
        Some(g) => Ok(is_member(user, g).map_err(why)?.unwrap_or(true)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_in_its_primary_group_and_not_in_nogroup() {
        let root = gid("root").unwrap().expect("group root exists");
        assert_eq!(is_member("root", root), Ok(Some(true)));
        if let Ok(Some(nogroup)) = gid("nogroup") {
            assert_eq!(is_member("root", nogroup), Ok(Some(false)));
        }
        assert_eq!(gid("no-such-group-apppass"), Ok(None));
        assert_eq!(is_member("no-such-user-apppass", root), Ok(None));
        assert_eq!(entitled("no-such-user-apppass", "root"), Ok(true));
        assert_eq!(entitled("root", "no-such-group-apppass"), Ok(false));
    }
}
