//! CSRF tokens. A signed-in form carries an HMAC of the session token; the
//! sign-in form carries an HMAC of a random value in a cookie of its own.
//! A forged request from another site has neither cookie (SameSite=Strict)
//! nor any way to compute the token.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

const LABEL: &[u8] = b"apppass-web csrf v1";

/// The token for forms made under `secret` (a session or sign-in cookie).
pub fn token(secret: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        // HMAC takes keys of any length; this is never reached.
        return String::new();
    };
    mac.update(LABEL);
    <base64ct::Base64UrlUnpadded as base64ct::Encoding>::encode_string(&mac.finalize().into_bytes())
}

/// Whether `given` is the token for `secret`, compared in constant time.
pub fn valid(secret: &str, given: Option<&str>) -> bool {
    let Some(given) = given else {
        return false;
    };
    let expected = token(secret);
    !secret.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// A fresh random secret for a cookie.
pub fn random() -> String {
    use rand::RngCore;
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    <base64ct::Base64UrlUnpadded as base64ct::Encoding>::encode_string(&raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_to_their_secret() {
        let a = random();
        let b = random();
        assert_ne!(a, b);
        assert!(valid(&a, Some(&token(&a))));
        assert!(!valid(&a, Some(&token(&b))));
        assert!(!valid(&a, None));
        assert!(!valid(&a, Some("")));
        assert!(!valid("", Some(&token(""))));
    }
}
