//! argon2id PHC hashes and the 16-bit pre-filter tag.
//!
//! A login computes the cheap tag for each candidate password first and runs
//! argon2 only where the tag matches: one verify for a right password, and for
//! a wrong one none except with probability about n/65536.

use crate::secret::NormalizedSecret;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use hmac::{Hmac, Mac};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

pub const TAG_SALT_LEN: usize = 16;
const ARGON2_SALT_LEN: usize = 16;

/// Highest argon2 parameters the module accepts from a PHC string: a
/// tampered or careless store must not make a login cost seconds or GiBs.
pub const MAX_M_COST_KIB: u32 = 65536;
pub const MAX_T_COST: u32 = 10;
pub const MAX_P_COST: u32 = 1;

/// Lowest argon2 parameters accepted from a PHC string: the ones apppass
/// hashes with (OWASP's minimum for argon2id). apppass never makes a
/// cheaper hash, so a cheaper one was put there by hand (an edited export
/// or backup, a write into the store) and would make the password cheap to
/// guess from a copy of the store; it is refused wherever a hash is read.
pub const MIN_M_COST_KIB: u32 = 19456;
pub const MIN_T_COST: u32 = 2;

/// What is stored for one password; never the secret itself.
pub struct Credential {
    pub phc: String,
    pub tag: u16,
    pub tag_salt: [u8; TAG_SALT_LEN],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashError {
    /// The stored string is not a well-formed argon2id PHC string.
    Malformed,
    /// Parameters above the caps or below the floor, or other than
    /// argon2id v19.
    Unsupported(String),
    /// Working memory could not be had.
    OutOfMemory,
    /// argon2 itself failed (cannot happen with checked parameters).
    Internal,
}

impl fmt::Display for HashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HashError::Malformed => {
                f.write_str("stored password hash is not a valid argon2id PHC string")
            }
            HashError::Unsupported(why) => write!(f, "stored password hash is not accepted: {why}"),
            HashError::OutOfMemory => f.write_str("could not allocate argon2 working memory"),
            HashError::Internal => f.write_str("argon2 failed"),
        }
    }
}

impl std::error::Error for HashError {}

/// The exact 16-bit tag: the first two bytes of HMAC-SHA256 keyed with the
/// password's own random salt over the normalised secret.
pub fn tag(tag_salt: &[u8], secret: &NormalizedSecret) -> u16 {
    // HMAC accepts keys of any length, so new_from_slice cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(tag_salt) else {
        return 0;
    };
    mac.update(secret.as_bytes());
    let out = mac.finalize().into_bytes();
    u16::from_be_bytes([out[0], out[1]])
}

/// Hashes a new secret with the default (OWASP) argon2id parameters and
/// makes its tag with a fresh salt.
pub fn make_credential<R: RngCore + CryptoRng>(
    secret: &NormalizedSecret,
    rng: &mut R,
) -> Result<Credential, HashError> {
    let mut salt = [0u8; ARGON2_SALT_LEN];
    rng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| HashError::Internal)?;
    let phc = Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|_| HashError::Internal)?
        .to_string();
    let mut tag_salt = [0u8; TAG_SALT_LEN];
    rng.fill_bytes(&mut tag_salt);
    Ok(Credential {
        tag: tag(&tag_salt, secret),
        phc,
        tag_salt,
    })
}

/// Where argon2's working memory comes from. The PAM module maps a fresh
/// region per verify so nothing accumulates in a long-lived host; the CLI
/// uses the heap.
pub trait Argon2Memory {
    /// At least `count` blocks, or `None` when they cannot be had.
    fn blocks(&mut self, count: usize) -> Option<&mut [Block]>;
    /// Called after every use: wipe or release the blocks.
    fn finished(&mut self);
}

/// Heap-backed working memory, wiped after each use.
#[derive(Default)]
pub struct HeapMemory(Vec<Block>);

impl Argon2Memory for HeapMemory {
    fn blocks(&mut self, count: usize) -> Option<&mut [Block]> {
        if self.0.len() < count {
            self.0.resize(count, Block::default());
        }
        Some(&mut self.0[..count])
    }
    fn finished(&mut self) {
        for block in self.0.iter_mut() {
            *block = Block::default();
        }
    }
}

/// A stored hash parsed and checked against the caps and the floor.
pub struct StoredHash {
    params: Params,
    salt: Vec<u8>,
    expected: Vec<u8>,
}

impl StoredHash {
    pub fn parse(phc: &str) -> Result<Self, HashError> {
        let hash = PasswordHash::new(phc).map_err(|_| HashError::Malformed)?;
        if hash.algorithm != argon2::ARGON2ID_IDENT {
            return Err(HashError::Unsupported(format!(
                "algorithm {}",
                hash.algorithm
            )));
        }
        if hash.version != Some(Version::V0x13 as u32) {
            return Err(HashError::Unsupported(
                "argon2 version other than 19".into(),
            ));
        }
        let params = Params::try_from(&hash).map_err(|_| HashError::Malformed)?;
        if params.p_cost() > MAX_P_COST
            || params.m_cost() > MAX_M_COST_KIB
            || params.t_cost() > MAX_T_COST
        {
            return Err(HashError::Unsupported(format!(
                "m={} t={} p={} exceeds the limit m={MAX_M_COST_KIB} t={MAX_T_COST} p={MAX_P_COST}",
                params.m_cost(),
                params.t_cost(),
                params.p_cost()
            )));
        }
        if params.m_cost() < MIN_M_COST_KIB || params.t_cost() < MIN_T_COST {
            return Err(HashError::Unsupported(format!(
                "m={} t={} p={} is below the floor m={MIN_M_COST_KIB} t={MIN_T_COST} p=1",
                params.m_cost(),
                params.t_cost(),
                params.p_cost()
            )));
        }
        let salt = hash.salt.ok_or(HashError::Malformed)?;
        let mut buf = [0u8; 64];
        let salt = salt
            .decode_b64(&mut buf)
            .map_err(|_| HashError::Malformed)?
            .to_vec();
        let expected = hash.hash.ok_or(HashError::Malformed)?.as_bytes().to_vec();
        Ok(Self {
            params,
            salt,
            expected,
        })
    }

    pub fn block_count(&self) -> usize {
        self.params.block_count()
    }

    /// Runs argon2 once in the caller's memory and compares in constant time.
    pub fn verify<M: Argon2Memory>(
        &self,
        secret: &NormalizedSecret,
        memory: &mut M,
    ) -> Result<bool, HashError> {
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone());
        let mut out = Zeroizing::new(vec![0u8; self.expected.len()]);
        let result = match memory.blocks(self.block_count()) {
            Some(blocks) => argon
                .hash_password_into_with_memory(secret.as_bytes(), &self.salt, &mut out, blocks)
                .map_err(|_| HashError::Internal),
            None => Err(HashError::OutOfMemory),
        };
        memory.finished();
        result?;
        Ok(bool::from(out.as_slice().ct_eq(&self.expected)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordVerifier;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn secret(s: &str) -> NormalizedSecret {
        NormalizedSecret::from_candidate(s.as_bytes()).unwrap()
    }

    #[test]
    fn credential_round_trip_and_wrong_password() {
        let mut rng = StdRng::seed_from_u64(3);
        let right = secret("abcd-efgh-ijkl-mnop");
        let cred = make_credential(&right, &mut rng).unwrap();
        assert!(
            cred.phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            cred.phc
        );
        let stored = StoredHash::parse(&cred.phc).unwrap();
        let mut mem = HeapMemory::default();
        assert!(stored.verify(&right, &mut mem).unwrap());
        assert!(!stored
            .verify(&secret("abcd-efgh-ijkl-mnoq"), &mut mem)
            .unwrap());
        // The crate's own verifier agrees, so the PHC string is standard.
        let parsed = PasswordHash::new(&cred.phc).unwrap();
        assert!(Argon2::default()
            .verify_password(right.as_bytes(), &parsed)
            .is_ok());
        // Memory is wiped after use.
        assert!(mem.0.iter().all(|b| b.as_ref().iter().all(|&w| w == 0)));
    }

    #[test]
    fn tag_is_exactly_sixteen_bits_of_salted_hmac() {
        let s = secret("abcdefghijklmnop");
        let salt = [9u8; TAG_SALT_LEN];
        let mut mac = Hmac::<Sha256>::new_from_slice(&salt).unwrap();
        mac.update(b"abcdefghijklmnop");
        let full = mac.finalize().into_bytes();
        assert_eq!(tag(&salt, &s), u16::from_be_bytes([full[0], full[1]]));
        assert_ne!(
            tag(&[1u8; 16], &s),
            tag(&[2u8; 16], &s),
            "the salt changes the tag"
        );
    }

    #[test]
    fn tag_of_stored_credential_matches_only_the_right_secret_mostly() {
        let mut rng = StdRng::seed_from_u64(5);
        let right = secret("abcdefghijklmnop");
        let cred = make_credential(&right, &mut rng).unwrap();
        assert_eq!(tag(&cred.tag_salt, &right), cred.tag);
        // Of 20,000 wrong secrets, about 0.3 share the tag; allow a few.
        let collisions = (0..20_000)
            .filter(|_| tag(&cred.tag_salt, &NormalizedSecret::generate(&mut rng)) == cred.tag)
            .count();
        assert!(collisions <= 5, "{collisions}");
    }

    #[test]
    fn parameters_above_the_caps_are_refused() {
        let s = secret("abcdefghijklmnop");
        for (m, t, p) in [(65537, 2, 1), (19456, 11, 1), (19456, 2, 2)] {
            let params = Params::new(m, t, p, None).unwrap();
            let salt = SaltString::encode_b64(&[1u8; 16]).unwrap();
            let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(s.as_bytes(), &salt)
                .unwrap()
                .to_string();
            assert!(
                matches!(StoredHash::parse(&phc), Err(HashError::Unsupported(_))),
                "{phc}"
            );
        }
    }

    #[test]
    fn parameters_below_the_floor_are_refused() {
        let s = secret("abcdefghijklmnop");
        for (m, t) in [(8, 1), (19456, 1), (19455, 2), (65536, 1), (4096, 10)] {
            let params = Params::new(m, t, 1, None).unwrap();
            let salt = SaltString::encode_b64(&[1u8; 16]).unwrap();
            let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(s.as_bytes(), &salt)
                .unwrap()
                .to_string();
            match StoredHash::parse(&phc) {
                Err(HashError::Unsupported(why)) => {
                    assert!(why.contains("below the floor"), "{why}")
                }
                other => panic!("{phc} gave {:?}", other.err()),
            }
        }
    }

    #[test]
    fn raised_parameters_within_the_caps_are_read_from_the_string() {
        let s = secret("abcdefghijklmnop");
        let params = Params::new(32768, 3, 1, None).unwrap();
        let salt = SaltString::encode_b64(&[1u8; 16]).unwrap();
        let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(s.as_bytes(), &salt)
            .unwrap()
            .to_string();
        let stored = StoredHash::parse(&phc).unwrap();
        assert_eq!(stored.block_count(), 32768);
        assert!(stored.verify(&s, &mut HeapMemory::default()).unwrap());
    }

    #[test]
    fn other_algorithms_and_garbage_are_refused() {
        let s = secret("abcdefghijklmnop");
        let salt = SaltString::encode_b64(&[1u8; 16]).unwrap();
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(s.as_bytes(), &salt)
            .unwrap()
            .to_string();
        assert!(matches!(
            StoredHash::parse(&argon2i),
            Err(HashError::Unsupported(_))
        ));
        assert_eq!(StoredHash::parse("").err(), Some(HashError::Malformed));
        assert_eq!(
            StoredHash::parse("$argon2id$v=19$m=19456,t=2,p=1$").err(),
            Some(HashError::Malformed)
        );
    }
}
