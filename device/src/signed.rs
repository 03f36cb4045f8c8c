//! The profile as apppassd and apppass hand it out: built, then signed
//! when apppass.conf says so.

use crate::profile::{build, ProfileError, ProfileFor};
use apppass_core::setup::DeviceSetup;
use zeroize::Zeroizing;

/// The profile's bytes for `p`, signed with apppass.conf's certificate
/// when one is named; the error is a sentence for the user.
pub fn profile_for(setup: &DeviceSetup, p: &ProfileFor) -> Result<Zeroizing<Vec<u8>>, String> {
    let plain = build(setup, p).map_err(|e: ProfileError| e.to_string())?;
    match (&setup.sign_cert, &setup.sign_key) {
        (Some(cert), Some(key)) => crate::sign::sign(&plain, cert, key).map(Zeroizing::new),
        _ => Ok(plain),
    }
}
